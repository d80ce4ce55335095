"""Set-based confirmation (``statements_confirm``, used by ``manage.py confirm_statements``):
the same statements, history rows and refusals as ``statement_confirm`` one by one, all or
nothing, idempotent."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from parties.models import Role
from settlement.models import Statement, StatementEvent, StatementStatus
from settlement.services.statements import (
    CODE_NOT_ALLOWED,
    CODE_NOT_FOUND,
    StatementError,
    statement_confirm,
    statements_confirm,
)
from tests.factories import (
    BureauFactory,
    EnterpriseFactory,
    HospitalFactory,
    RegionFactory,
    StatementFactory,
    UserFactory,
    bureau_user,
    hospital_user,
)

pytestmark = pytest.mark.django_db

REASON = "电话确认 / confirmed by phone"


def history() -> list[tuple]:
    return list(
        StatementEvent.objects.order_by("id").values_list(
            "statement__no", "user__username", "action", "from_status", "to_status", "reason", "invoice_line_id"
        )
    )


def states() -> list[tuple]:
    return list(Statement.objects.order_by("no").values_list("no", "status", "confirmed_by__username"))


@pytest.fixture
def statements():
    home, other = HospitalFactory(), HospitalFactory(region=RegionFactory(code="371102"))
    distributor = EnterpriseFactory()
    made = [
        StatementFactory(hospital=home, distributor=distributor, period="2026-09"),
        StatementFactory(hospital=home, distributor=EnterpriseFactory(), period="2026-09"),
        StatementFactory(hospital=other, distributor=distributor, period="2026-09"),
    ]
    return made


def test_many_at_once_equal_one_by_one(statements):
    operator = UserFactory(username="admin-op", role=Role.ADMIN)
    numbers = sorted(s.no for s in statements)
    # given the reference: each confirmed on its own, in number order
    for no in numbers:
        statement_confirm(statement_no=no, user=operator, on_behalf=True, reason=REASON)
    reference = (states(), history())
    Statement.objects.update(status=StatementStatus.OPEN, confirmed_at=None, confirmed_by=None)
    StatementEvent.objects.all().delete()
    # when they are confirmed together
    confirmed = statements_confirm(statement_nos=numbers, user=operator, on_behalf=True, reason=REASON)
    # then statuses, who and the history rows are the same
    assert confirmed == numbers
    assert (states(), history()) == reference
    assert all(s.confirmed_at is not None for s in Statement.objects.all())


def test_confirming_again_changes_nothing(statements):
    operator = UserFactory(username="admin-op", role=Role.ADMIN)
    numbers = [s.no for s in statements]
    statements_confirm(statement_nos=numbers[:1], user=operator, on_behalf=True)
    stamp = Statement.objects.get(no=numbers[0]).confirmed_at
    before = history()
    confirmed = statements_confirm(statement_nos=numbers, user=operator, on_behalf=True)
    assert confirmed == numbers[1:]
    assert Statement.objects.get(no=numbers[0]).confirmed_at == stamp
    assert len(history()) == len(before) + 2
    assert statements_confirm(statement_nos=numbers, user=operator, on_behalf=True) == []
    assert len(history()) == len(before) + 2


def test_an_unknown_number_refuses_all_and_changes_nothing(statements):
    operator = UserFactory(username="admin-op", role=Role.ADMIN)
    with pytest.raises(StatementError) as err:
        statements_confirm(statement_nos=[statements[0].no, "STMT2026999999"], user=operator, on_behalf=True)
    assert err.value.code == CODE_NOT_FOUND and err.value.status == 404 and "STMT2026999999" in err.value.message
    assert {s[1] for s in states()} == {StatementStatus.OPEN} and history() == []


def test_scope_is_checked_for_every_statement(statements):
    home, other = statements[0], statements[2]
    # an operator of the home city acts for its hospitals only: the other city's statement is "not found"
    operator = bureau_user(BureauFactory(region=RegionFactory(code="371000")), username="op-3710")
    with pytest.raises(StatementError) as err:
        statements_confirm(statement_nos=[home.no, other.no], user=operator, on_behalf=True)
    assert err.value.code == CODE_NOT_FOUND and other.no in err.value.message
    assert history() == []
    assert statements_confirm(statement_nos=[home.no], user=operator, on_behalf=True) == [home.no]
    # a hospital's user confirms its own statements, not another hospital's (not even visible)
    nurse = hospital_user(home.hospital)
    with pytest.raises(StatementError) as err:
        statements_confirm(statement_nos=[statements[1].no, other.no], user=nurse)
    assert err.value.code == CODE_NOT_FOUND
    assert Statement.objects.get(no=statements[1].no).status == StatementStatus.OPEN
    assert statements_confirm(statement_nos=[statements[1].no], user=nurse) == [statements[1].no]
    # a bureau operator without on_behalf sees the statement but may not act
    with pytest.raises(StatementError) as err:
        statements_confirm(statement_nos=[other.no], user=UserFactory(username="admin2", role=Role.ADMIN))
    assert err.value.code == CODE_NOT_ALLOWED and err.value.status == 403


def test_the_command_confirms_the_month_in_one_go(statements):
    UserFactory(username="admin-op", role=Role.ADMIN)
    StatementFactory(hospital=statements[0].hospital, period="2026-10")  # another month stays open
    out = StringIO()
    call_command("confirm_statements", "--all", "--period", "2026-09", "--user", "admin-op", stdout=out)
    assert "confirmed: 3 statements of 2026-09" in out.getvalue()
    assert Statement.objects.filter(status=StatementStatus.CONFIRMED).count() == 3
    assert Statement.objects.get(period="2026-10").status == StatementStatus.OPEN
    assert StatementEvent.objects.filter(action="confirmed", reason="manage.py confirm_statements").count() == 3
    out = StringIO()
    call_command("confirm_statements", "--all", "--period", "2026-09", "--user", "admin-op", stdout=out)
    assert "confirmed: 0 statements" in out.getvalue()


def test_the_command_reports_a_refusal_and_confirms_nothing(statements, monkeypatch):
    UserFactory(username="admin-op", role=Role.ADMIN)
    from settlement.services import statements as svc

    real = svc.statements_confirm

    def with_a_stranger(*, statement_nos, **kw):  # a statement that vanished between listing and confirming
        return real(statement_nos=[*statement_nos, "STMT2026999999"], **kw)

    monkeypatch.setattr("settlement.management.commands.confirm_statements.statements_confirm", with_a_stranger)
    with pytest.raises(CommandError, match="STMT2026999999"):
        call_command("confirm_statements", "--all", "--period", "2026-09", "--user", "admin-op")
    assert Statement.objects.filter(status=StatementStatus.CONFIRMED).count() == 0
