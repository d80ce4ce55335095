"""Statements (对账单): building, confirming, disputing; API, pages, commands, task and receiver."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from interchange.signals import table_imported
from parties.models import Role
from settlement.models import ExceptionCode, InvoiceLine, MatchStatus, Statement, StatementEvent, StatementStatus
from settlement.selectors.statements import statements_with_totals
from settlement.services import statements as svc
from settlement.services.matching import invoices_match
from settlement.services.statements import StatementError, statement_confirm, statement_dispute, statements_build
from settlement.tasks.matching import match_partition
from tests.factories import (
    BureauFactory,
    DeliveryLineFactory,
    EnterpriseFactory,
    HospitalFactory,
    InvoiceLineFactory,
    OrderLineFactory,
    RegionFactory,
    UserFactory,
    at,
    bureau_user,
    enterprise_user,
    hospital_user,
)

pytestmark = pytest.mark.django_db


def settleable_candidate(hospital, distributor, *, accepted="2026-09-10", qty=10, price="10.0000", **kw):
    """A blue line that matching will match, accepted on ``accepted``."""
    order = OrderLineFactory(
        hospital=hospital, distributor=distributor, qty=qty, unit_price=Decimal(price), ordered_at=at(accepted, 8)
    )
    delivery = DeliveryLineFactory(
        order_line=order,
        qty=qty,
        delivered_at=at(accepted, 9),
        accepted_qty=qty,
        rejected_qty=0,
        received_at=at(accepted, 11),
        accepted_date=dt.date.fromisoformat(accepted),
    )
    return InvoiceLineFactory(delivery_line=delivery, **kw)


@pytest.fixture
def parties():
    return HospitalFactory(), EnterpriseFactory()


def build():
    invoices_match()
    return statements_build()


def statement_of(line) -> Statement:
    line.refresh_from_db()
    return line.statement


# --- building --------------------------------------------------------------------------


def test_matched_lines_of_a_hospital_distributor_and_month_share_one_statement(parties):
    hospital, distributor = parties
    a = settleable_candidate(hospital, distributor, accepted="2026-09-03")
    b = settleable_candidate(hospital, distributor, accepted="2026-09-28")
    result = build()
    statement = statement_of(a)
    assert statement == statement_of(b)
    assert (statement.period, statement.sequence, statement.status) == ("2026-09", 0, StatementStatus.OPEN)
    assert statement.deadline == dt.date(2026, 10, 5)  # STATEMENT_CONFIRM_DAY of the next month
    assert statement.no.startswith("STMT2026")
    assert result.lines_added == 2 and result.statements_created == [statement.no]
    assert list(statement.events.values_list("action", "reason")) == [("created", ""), ("lines_added", "2")]


def test_statements_split_by_distributor_and_by_month_of_acceptance(parties):
    hospital, distributor = parties
    sept = settleable_candidate(hospital, distributor, accepted="2026-09-30")
    octo = settleable_candidate(hospital, distributor, accepted="2026-10-01")
    other = settleable_candidate(hospital, EnterpriseFactory(), accepted="2026-09-30")
    build()
    assert len({statement_of(sept).pk, statement_of(octo).pk, statement_of(other).pk}) == 3
    assert statement_of(octo).deadline == dt.date(2026, 11, 5)


def test_the_deadline_follows_the_regions_policy(parties, settings):
    hospital, distributor = parties
    settings.POLICY_REGION_OVERRIDES = {"371000": {"STATEMENT_CONFIRM_DAY": 10}}
    line = settleable_candidate(hospital, distributor, accepted="2026-12-15")
    build()
    assert statement_of(line).deadline == dt.date(2027, 1, 10)


def test_exceptions_pending_and_red_lines_are_not_gathered_and_rebuilding_adds_nothing(parties):
    hospital, distributor = parties
    bad = settleable_candidate(hospital, distributor, amount=Decimal("1.00"))
    pending = settleable_candidate(hospital, distributor)
    invoices_match(invoice_line_ids=[bad.pk])
    result = statements_build()
    assert result.lines_added == 0 and Statement.objects.count() == 0
    assert statement_of(pending) is None
    build()
    assert statements_build().lines_added == 0


def test_an_open_statement_takes_later_lines_a_confirmed_one_gets_a_supplement(parties):
    hospital, distributor = parties
    first = settleable_candidate(hospital, distributor)
    build()
    second = settleable_candidate(hospital, distributor, accepted="2026-09-20")
    result = build()
    assert statement_of(second) == statement_of(first)
    assert result.statements_extended == [statement_of(first).no]
    statement_confirm(statement_no=statement_of(first).no, user=hospital_user(hospital))
    late = settleable_candidate(hospital, distributor, accepted="2026-09-21")
    build()
    supplement = statement_of(late)
    assert supplement != statement_of(first)
    assert (supplement.period, supplement.sequence, supplement.supplementary) == ("2026-09", 1, True)


def test_totals_count_the_settleable_lines_by_aggregate(parties):
    hospital, distributor = parties
    a = settleable_candidate(hospital, distributor, qty=3)
    settleable_candidate(hospital, distributor, qty=4)
    build()
    statement = statement_of(a)
    statement_dispute(
        statement_no=statement.no, invoice_line_ids=[a.pk], reason="数量不符", user=hospital_user(hospital)
    )
    totals = statements_with_totals(Statement.objects.filter(pk=statement.pk)).get()
    assert (totals.line_count, totals.amount, totals.disputed_count) == (1, Decimal("40.00"), 1)


# --- confirming ------------------------------------------------------------------------


@pytest.fixture
def open_statement(parties):
    hospital, distributor = parties
    line = settleable_candidate(hospital, distributor)
    build()
    return statement_of(line)


def test_the_hospital_confirms_once_and_again_is_idempotent(open_statement):
    nurse = hospital_user(open_statement.hospital)
    confirmed = statement_confirm(statement_no=open_statement.no, user=nurse)
    assert confirmed.status == StatementStatus.CONFIRMED and confirmed.confirmed_by == nurse
    stamp = confirmed.confirmed_at
    again = statement_confirm(statement_no=open_statement.no, user=nurse)
    assert again.confirmed_at == stamp
    assert StatementEvent.objects.filter(statement=open_statement, action=svc.ACTION_CONFIRMED).count() == 1
    # the contract: the line is now settleable
    assert (
        InvoiceLine.objects.filter(
            match_status=MatchStatus.MATCHED, statement__status=StatementStatus.CONFIRMED
        ).count()
        == 1
    )


def test_another_hospital_cannot_confirm_and_gets_not_found(open_statement):
    with pytest.raises(StatementError) as refused:
        statement_confirm(statement_no=open_statement.no, user=hospital_user(HospitalFactory()))
    assert refused.value.code == svc.CODE_NOT_FOUND and refused.value.status == 404
    open_statement.refresh_from_db()
    assert open_statement.status == StatementStatus.OPEN


def test_the_distributor_sees_the_statement_but_cannot_confirm_it(open_statement):
    with pytest.raises(StatementError) as refused:
        statement_confirm(statement_no=open_statement.no, user=enterprise_user(open_statement.distributor))
    assert refused.value.code == svc.CODE_NOT_ALLOWED and refused.value.status == 403


def test_an_operator_confirms_on_behalf_only_in_the_bureaus_region(open_statement):
    inside = bureau_user(BureauFactory(region=RegionFactory(code="371000")))
    outside = bureau_user(BureauFactory(region=RegionFactory(code="320000")))
    with pytest.raises(StatementError) as refused:
        statement_confirm(statement_no=open_statement.no, user=outside, on_behalf=True)
    assert refused.value.status == 404
    with pytest.raises(StatementError):
        statement_confirm(statement_no=open_statement.no, user=inside)  # not without on_behalf
    done = statement_confirm(statement_no=open_statement.no, user=inside, on_behalf=True, reason="电话确认")
    assert done.status == StatementStatus.CONFIRMED
    assert open_statement.events.get(action=svc.ACTION_CONFIRMED).reason == "电话确认"


# --- disputing -------------------------------------------------------------------------


def test_a_disputed_line_is_an_exception_that_keeps_its_statement_and_reason(open_statement):
    nurse = hospital_user(open_statement.hospital)
    line = open_statement.lines.get()
    statement_dispute(
        statement_no=open_statement.no, invoice_line_ids=[line.pk], reason="单价不符 / price wrong", user=nurse
    )
    line.refresh_from_db()
    assert line.match_status == MatchStatus.EXCEPTION
    assert line.exception_codes == ExceptionCode.DISPUTED
    assert line.statement == open_statement and line.dispute_reason == "单价不符 / price wrong"
    event = open_statement.events.get(action=svc.ACTION_DISPUTED)
    assert (event.invoice_line, event.user, event.reason) == (line, nurse, "单价不符 / price wrong")
    # matching keeps it; confirming leaves it out of what is settleable
    invoices_match()
    line.refresh_from_db()
    assert line.exception_codes == "DISPUTED" and line.statement == open_statement
    statement_confirm(statement_no=open_statement.no, user=nurse)
    assert not InvoiceLine.objects.filter(match_status=MatchStatus.MATCHED, statement__status="confirmed").exists()


def test_a_corrected_invoice_reenters_matching_and_the_statements(open_statement):
    nurse = hospital_user(open_statement.hospital)
    line = open_statement.lines.get()
    statement_dispute(statement_no=open_statement.no, line_keys=[f"{line.invoice_no}/1"], reason="数量错误", user=nurse)
    statement_confirm(statement_no=open_statement.no, user=nurse)
    # the distributor reverses the line and issues a new blue line
    InvoiceLineFactory(
        delivery_line=line.delivery_line,
        kind="red",
        original_invoice_no=line.invoice_no,
        qty=-10,
        amount=Decimal("-100.00"),
        issued_at=dt.date(2026, 9, 25),
    )
    corrected = InvoiceLineFactory(delivery_line=line.delivery_line, issued_at=dt.date(2026, 9, 26))
    build()
    line.refresh_from_db()
    corrected.refresh_from_db()
    assert line.match_status == MatchStatus.REVERSED and line.statement == open_statement
    assert corrected.match_status == MatchStatus.MATCHED
    assert corrected.statement.sequence == 1  # the month's statement was confirmed


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"invoice_line_ids": [], "reason": "x"}, svc.CODE_LINES_REQUIRED),
        ({"invoice_line_ids": [999999], "reason": "x"}, svc.CODE_LINE_NOT_ON_STATEMENT),
        ({"line_keys": ["garbage"], "reason": "x"}, svc.CODE_LINE_NOT_ON_STATEMENT),
        ({"invoice_line_ids": "LINE", "reason": "  "}, svc.CODE_REASON_REQUIRED),
    ],
)
def test_a_dispute_needs_a_reason_and_lines_of_the_statement(open_statement, kwargs, code):
    line = open_statement.lines.get()
    if kwargs.get("invoice_line_ids") == "LINE":
        kwargs = {**kwargs, "invoice_line_ids": [line.pk]}
    with pytest.raises(StatementError) as refused:
        statement_dispute(statement_no=open_statement.no, user=hospital_user(open_statement.hospital), **kwargs)
    assert refused.value.code == code and refused.value.status == 400
    line.refresh_from_db()
    assert line.dispute_reason == ""


def test_disputing_twice_with_the_same_reason_changes_nothing_another_reason_is_refused(open_statement):
    nurse = hospital_user(open_statement.hospital)
    line = open_statement.lines.get()
    for _ in range(2):
        statement_dispute(statement_no=open_statement.no, invoice_line_ids=[line.pk], reason="破损", user=nurse)
    assert open_statement.events.filter(action=svc.ACTION_DISPUTED).count() == 1
    with pytest.raises(StatementError) as refused:
        statement_dispute(statement_no=open_statement.no, invoice_line_ids=[line.pk], reason="另一原因", user=nurse)
    assert refused.value.code == svc.CODE_ALREADY_DISPUTED


def test_a_confirmed_statement_takes_no_more_disputes(open_statement):
    nurse = hospital_user(open_statement.hospital)
    statement_confirm(statement_no=open_statement.no, user=nurse)
    with pytest.raises(StatementError) as refused:
        statement_dispute(
            statement_no=open_statement.no, invoice_line_ids=[open_statement.lines.get().pk], reason="x", user=nurse
        )
    assert refused.value.code == svc.CODE_NOT_OPEN and refused.value.status == 409


# --- API -------------------------------------------------------------------------------


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_lists_statements_scoped_with_totals(open_statement):
    other = settleable_candidate(HospitalFactory(), EnterpriseFactory())
    build()
    seller = api(enterprise_user(open_statement.distributor)).get("/api/v1/statements/")
    assert seller.status_code == 200
    assert [s["no"] for s in seller.data["results"]] == [open_statement.no]
    assert seller.data["results"][0]["line_count"] == 1 and seller.data["results"][0]["amount"] == "100.00"
    nurse = api(hospital_user(open_statement.hospital)).get("/api/v1/statements/", {"status": "open"})
    assert [s["no"] for s in nurse.data["results"]] == [open_statement.no]
    assert statement_of(other).no not in [s["no"] for s in nurse.data["results"]]


def test_api_detail_has_lines_and_another_hospital_gets_404(open_statement):
    detail = api(hospital_user(open_statement.hospital)).get(f"/api/v1/statements/{open_statement.no}/")
    assert detail.status_code == 200
    (line,) = detail.data["lines"]
    assert line["qty"] == 10 and line["amount"] == "100.00" and line["match_status"] == "matched"
    stranger = api(hospital_user(HospitalFactory())).get(f"/api/v1/statements/{open_statement.no}/")
    assert stranger.status_code == 404 and stranger.data["code"] == svc.CODE_NOT_FOUND


def test_api_confirm_is_idempotent_and_scoped(open_statement):
    url = f"/api/v1/statements/{open_statement.no}/confirm/"
    stranger = api(hospital_user(HospitalFactory())).post(url)
    assert stranger.status_code == 404 and stranger.data["code"] == svc.CODE_NOT_FOUND
    assert api(enterprise_user(open_statement.distributor)).post(url).status_code == 403
    nurse = api(hospital_user(open_statement.hospital))
    first = nurse.post(url, HTTP_IDEMPOTENCY_KEY="c-1")
    assert first.status_code == 200 and first.data["status"] == "confirmed"
    assert nurse.post(url, HTTP_IDEMPOTENCY_KEY="c-1").headers["Idempotent-Replayed"] == "true"
    assert nurse.post(url).status_code == 200
    assert open_statement.events.filter(action="confirmed").count() == 1


def test_api_dispute(open_statement):
    line = open_statement.lines.get()
    url = f"/api/v1/statements/{open_statement.no}/dispute/"
    nurse = api(hospital_user(open_statement.hospital))
    no_reason = nurse.post(url, {"reason": "", "invoice_line_ids": [line.pk]}, format="json")
    assert no_reason.status_code == 400 and no_reason.data["code"] == svc.CODE_REASON_REQUIRED
    assert "reason" in no_reason.data["fields"]
    done = nurse.post(url, {"reason": "数量不符", "lines": [f"{line.invoice_no}/{line.line_no}"]}, format="json")
    assert done.status_code == 200
    assert done.data["lines"][0]["dispute_reason"] == "数量不符" and done.data["disputed_count"] == 1
    stranger = api(hospital_user(HospitalFactory())).post(
        url, {"reason": "x", "invoice_line_ids": [line.pk]}, format="json"
    )
    assert stranger.status_code == 404
    # the distributor sees the reason
    seen = api(enterprise_user(open_statement.distributor)).get(f"/api/v1/statements/{open_statement.no}/")
    assert seen.data["lines"][0]["dispute_reason"] == "数量不符"


# --- pages -----------------------------------------------------------------------------


def test_pages_list_show_confirm_and_dispute(client, open_statement):
    nurse = hospital_user(open_statement.hospital)
    client.force_login(nurse)
    listing = client.get(reverse("settlement-statements"))
    assert listing.status_code == 200 and open_statement.no in listing.content.decode()
    detail = client.get(reverse("settlement-statement-detail", args=[open_statement.no]))
    assert detail.status_code == 200 and detail.context["may_act"] is True
    line = open_statement.lines.get()
    client.post(
        reverse("settlement-statement-dispute", args=[open_statement.no]),
        {"invoice_line_id": line.pk, "reason": "破损"},
    )
    line.refresh_from_db()
    assert line.dispute_reason == "破损"
    client.post(reverse("settlement-statement-confirm", args=[open_statement.no]))
    open_statement.refresh_from_db()
    assert open_statement.status == StatementStatus.CONFIRMED


def test_pages_answer_404_for_another_hospitals_statement(client, open_statement):
    client.force_login(hospital_user(HospitalFactory()))
    assert client.get(reverse("settlement-statement-detail", args=[open_statement.no])).status_code == 404
    assert client.post(reverse("settlement-statement-confirm", args=[open_statement.no])).status_code == 404
    open_statement.refresh_from_db()
    assert open_statement.status == StatementStatus.OPEN


# --- commands, task, receiver ------------------------------------------------------------


def test_confirm_statements_command(open_statement):
    operator = bureau_user(BureauFactory(region=RegionFactory(code="371000")), username="op1")
    out = StringIO()
    call_command("confirm_statements", "--all", "--period", "2026-09", "--user", operator.username, stdout=out)
    assert "1" in out.getvalue()
    open_statement.refresh_from_db()
    assert open_statement.status == StatementStatus.CONFIRMED and open_statement.confirmed_by == operator
    # running again finds nothing left to confirm
    out = StringIO()
    call_command(
        "confirm_statements",
        "--hospital",
        open_statement.hospital_id,
        "--period",
        "2026-09",
        "--user",
        "op1",
        stdout=out,
    )
    assert "0" in out.getvalue()


@pytest.mark.parametrize(
    "argv",
    [
        ["--all", "--period", "2026-09", "--user", "nobody"],
        ["--all", "--period", "2026-9", "--user", "admin1"],
        ["--hospital", "H37100299999", "--period", "2026-09", "--user", "admin1"],
    ],
)
def test_confirm_statements_command_refuses_bad_input(argv):
    UserFactory(username="admin1", role=Role.ADMIN)
    with pytest.raises(CommandError):
        call_command("confirm_statements", *argv)


def test_reconcile_command_matches_and_builds(parties):
    hospital, distributor = parties
    line = settleable_candidate(hospital, distributor)
    out = StringIO()
    call_command("reconcile", "--region", "371002", "--period", "2026-09", stdout=out)
    line.refresh_from_db()
    assert line.match_status == MatchStatus.MATCHED and line.statement is not None
    assert "1 lines checked" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("reconcile", "--region", "999999")
    with pytest.raises(CommandError):
        call_command("reconcile", "--period", "2026-13")


def test_the_task_is_safe_to_run_twice(parties):
    hospital, distributor = parties
    settleable_candidate(hospital, distributor)
    first = match_partition("371002", "2026-09")
    second = match_partition("371002", "2026-09")
    assert first["lines_changed"] == 1 and first["statement_lines_added"] == 1
    assert second["lines_changed"] == 0 and second["statement_lines_added"] == 0


def test_an_invoice_import_enqueues_matching_after_commit(parties, django_capture_on_commit_callbacks):
    hospital, distributor = parties
    line = settleable_candidate(hospital, distributor)
    with django_capture_on_commit_callbacks(execute=True):
        table_imported.send(sender=None, table="invoices", partitions={("371002", "2026-09")}, user=None)
        table_imported.send(sender=None, table="products", partitions={("371002", "2026-09")}, user=None)
    line.refresh_from_db()
    assert line.match_status == MatchStatus.MATCHED and line.statement is not None


def test_a_confirmation_of_fewer_lines_than_the_statement_now_has_is_refused(open_statement, parties):
    # given the hospital looked at the statement with one line, then matching added a second
    nurse = hospital_user(open_statement.hospital)
    settleable_candidate(*parties, accepted="2026-09-12")
    build()
    # when it confirms what it saw
    with pytest.raises(StatementError) as refused:
        statement_confirm(statement_no=open_statement.no, user=nurse, expected_lines=1)
    # then it is asked to look again; confirming with the current count works
    assert refused.value.code == svc.CODE_CHANGED and refused.value.status == 409
    response = api(nurse).post(f"/api/v1/statements/{open_statement.no}/confirm/", {"expected_lines": 1}, format="json")
    assert response.status_code == 409 and response.data["code"] == svc.CODE_CHANGED
    assert statement_confirm(statement_no=open_statement.no, user=nurse, expected_lines=2).status == "confirmed"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_confirmations_racing_for_one_statement_record_one_event():
    import threading

    from django.db import connection

    hospital, distributor = HospitalFactory(), EnterpriseFactory()
    settleable_candidate(hospital, distributor)
    build()
    statement = Statement.objects.get()
    nurses = [hospital_user(hospital), hospital_user(hospital)]
    barrier = threading.Barrier(2)
    results = []

    def worker(user):
        try:
            barrier.wait()
            results.append(statement_confirm(statement_no=statement.no, user=user).confirmed_by_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(u,)) for u in nurses]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statement.refresh_from_db()
    assert statement.status == StatementStatus.CONFIRMED
    assert results == [statement.confirmed_by_id] * 2
    assert statement.events.filter(action=svc.ACTION_CONFIRMED).count() == 1
