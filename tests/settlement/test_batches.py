"""Settlement batches: selection, lifecycle, four eyes, one live batch per line, red lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

from settlement.models import BatchEvent, BatchLine, BatchStatus, SettlementBatch
from settlement.services import batch_rules as rules
from settlement.services.batch_rules import SettlementError
from settlement.services.batches import (
    batch_approve,
    batch_cancel,
    batch_create,
    batch_preview,
    batch_reject,
    batch_submit,
)
from settlement.services.ledger import ledger_verify
from tests.factories import (
    EnterpriseFactory,
    FundAllocationFactory,
    HospitalFactory,
    InvoiceLineFactory,
    RegionFactory,
    UserFactory,
    batch_staff,
    red_line_for,
    settleable_line,
)

pytestmark = pytest.mark.django_db
CUTOFF = dt.date(2026, 9, 30)


@pytest.fixture
def staff():
    return batch_staff("371000")


@pytest.fixture
def parties():
    return HospitalFactory(region=RegionFactory(code="371002")), EnterpriseFactory()


def build(staff, cutoff=CUTOFF, region="371000"):
    _bureau, maker, approver, _other = staff
    batch = batch_create(region_code=region, cutoff=cutoff, user=maker)
    batch_submit(batch_no=batch.no, user=maker)
    return batch


def test_create_takes_confirmed_unbatched_lines_of_the_region_up_to_the_cutoff(staff, parties):
    # given lines inside/outside the cut-off, region and contract
    hospital, distributor = parties
    inside = settleable_line(hospital, distributor, amount="100.00", accepted="2026-09-30")
    settleable_line(hospital, distributor, amount="7.00", accepted="2026-10-01")  # after the cut-off
    other_city = HospitalFactory(region=RegionFactory(code="371102"))
    settleable_line(other_city, distributor, amount="9.00")  # 371102 is not inside 3710
    InvoiceLineFactory()  # pending: not matched, no statement
    # when
    batch = batch_create(region_code="371000", cutoff=CUTOFF, user=staff[1])
    # then
    assert list(batch.lines.values_list("invoice_line_id", flat=True)) == [inside.pk]
    assert batch.amount == Decimal("100.00") and batch.line_count == 1
    assert batch.status == BatchStatus.DRAFT and batch.period == "2026-09"
    assert batch.no.startswith("JS")
    assert BatchEvent.objects.filter(batch=batch, action="create", user=staff[1]).exists()
    line = batch.lines.get()
    assert line.due_date == dt.date(2026, 10, 30)  # acceptance + 30 days


def test_a_line_already_in_a_live_batch_is_not_taken_again(staff, parties):
    settleable_line(*parties)
    batch_create(region_code="371000", cutoff=CUTOFF, user=staff[1])
    with pytest.raises(SettlementError) as exc:
        batch_create(region_code="371000", cutoff=CUTOFF, user=staff[1])
    assert exc.value.code == rules.NO_LINES
    assert SettlementBatch.objects.count() == 1  # the refused one left nothing behind


def test_database_refuses_a_line_in_two_live_batches(staff, parties):
    settleable_line(*parties)
    first = build(staff)
    line = first.lines.get()
    second = SettlementBatch.objects.create(
        no="X1", region_id="371000", cutoff=CUTOFF, period="2026-09", created_by=staff[1]
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        BatchLine.objects.create(
            batch=second,
            invoice_line=line.invoice_line,
            hospital=line.hospital,
            distributor=line.distributor,
            amount=line.amount,
            due_date=line.due_date,
        )


def test_preview_gives_totals_and_funding_split_without_writing(staff, parties):
    hospital, distributor = parties
    settleable_line(hospital, distributor, amount="100.00")
    settleable_line(hospital, EnterpriseFactory(), amount="50.00")
    FundAllocationFactory(hospital=hospital, period="2026-09", amount=Decimal("120.00"))
    preview = batch_preview(region_code="371000", cutoff=CUTOFF, user=staff[1])
    assert preview.line_count == 2 and preview.amount == Decimal("150.00")
    assert sorted(r["amount"] for r in preview.by_distributor) == [Decimal("50.00"), Decimal("100.00")]
    (h,) = preview.by_hospital
    assert (h["deducted"], h["prepayment"], h["collection"]) == (Decimal("120.00"), Decimal("0.00"), Decimal("30.00"))
    assert not SettlementBatch.objects.exists()


def test_the_maker_cannot_approve_or_reject_even_as_superuser(staff, parties):
    settleable_line(*parties)
    _b, maker, approver, _o = staff
    boss = UserFactory(is_superuser=True)
    batch = batch_create(region_code="371000", cutoff=CUTOFF, user=boss)
    batch_submit(batch_no=batch.no, user=boss)
    for action in (batch_approve, batch_reject):
        with pytest.raises(SettlementError) as exc:
            action(batch_no=batch.no, user=boss, reason="self")
        assert exc.value.code == rules.FOUR_EYES
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUBMITTED
    assert batch_approve(batch_no=batch.no, user=approver).approved_by == approver


def test_database_holds_four_eyes_against_raw_updates(staff, parties):
    settleable_line(*parties)
    batch = build(staff)
    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementBatch.objects.filter(pk=batch.pk).update(approved_by=batch.created_by)


def test_approve_command_refuses_the_maker(staff, parties):
    # given a batch built and submitted by an approver-role user
    settleable_line(*parties)
    maker = staff[3]
    batch = batch_create(region_code="371000", cutoff=CUTOFF, user=maker)
    call_command("submit_batch", batch.no, "--user", maker.username)
    # when the maker approves it: refused
    with pytest.raises(CommandError, match=rules.FOUR_EYES):
        call_command("approve_batch", batch.no, "--user", maker.username)
    call_command("approve_batch", batch.no, "--user", staff[2].username)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.APPROVED


def test_commands_run_the_lifecycle_and_print_the_number(staff, parties, capsys):
    settleable_line(*parties)
    call_command("create_batch", "--region", "371000", "--cutoff", "2026-09-30", "--user", staff[1].username)
    no = capsys.readouterr().out.strip()
    call_command("submit_batch", no, "--user", staff[1].username)
    call_command("reject_batch", no, "--user", staff[2].username, "--reason", "金额有误")
    batch = SettlementBatch.objects.get(no=no)
    assert batch.status == BatchStatus.REJECTED and batch.reject_reason == "金额有误"
    with pytest.raises(CommandError):
        call_command("create_batch", "--region", "371000", "--cutoff", "30/09/2026", "--user", staff[1].username)
    with pytest.raises(CommandError):
        call_command("submit_batch", no, "--user", "nobody")


def test_operator_role_cannot_approve(staff, parties):
    settleable_line(*parties)
    batch = build(staff)
    other_operator = UserFactory(role="bureau_operator", bureau=staff[0])
    with pytest.raises(SettlementError) as exc:
        batch_approve(batch_no=batch.no, user=other_operator)
    assert exc.value.code == rules.FORBIDDEN and exc.value.status == 403


def test_reject_needs_a_reason_and_releases_the_lines(staff, parties):
    settleable_line(*parties)
    batch = build(staff)
    with pytest.raises(SettlementError) as exc:
        batch_reject(batch_no=batch.no, user=staff[2], reason="  ")
    assert exc.value.code == rules.REASON_REQUIRED
    batch_reject(batch_no=batch.no, user=staff[2], reason="重复")
    assert not BatchLine.objects.filter(batch=batch, live=True).exists()
    again = batch_create(region_code="371000", cutoff=CUTOFF, user=staff[1])
    assert again.line_count == 1
    assert list(batch.events.values_list("action", flat=True)) == ["create", "submit", "reject"]


def test_transitions_follow_the_table(staff, parties):
    settleable_line(*parties)
    batch = batch_create(region_code="371000", cutoff=CUTOFF, user=staff[1])
    with pytest.raises(SettlementError) as exc:
        batch_approve(batch_no=batch.no, user=staff[2])  # a draft is not approvable
    assert exc.value.code == rules.BAD_TRANSITION
    batch_cancel(batch_no=batch.no, user=staff[1], reason="建错了")
    assert SettlementBatch.objects.get(pk=batch.pk).status == BatchStatus.CANCELLED
    with pytest.raises(SettlementError):
        batch_submit(batch_no=batch.no, user=staff[1])


def test_approve_is_idempotent_and_freezes_the_batch(staff, parties):
    settleable_line(*parties)
    batch = build(staff)
    first = batch_approve(batch_no=batch.no, user=staff[2])
    again = batch_approve(batch_no=batch.no, user=staff[3])
    assert again.approved_by == first.approved_by == staff[2]
    assert batch.events.filter(action="approve").count() == 1
    line = BatchLine.objects.get(batch=batch)
    line.amount = Decimal("1.00")
    with pytest.raises(ValueError):
        line.save()
    with pytest.raises(ValueError):
        line.delete()
    assert ledger_verify() == []


def test_another_region_bureau_sees_no_batch(staff, parties):
    settleable_line(*parties)
    batch = build(staff)
    _b, _m, foreign_approver, _o = batch_staff("372000")
    with pytest.raises(SettlementError) as exc:
        batch_approve(batch_no=batch.no, user=foreign_approver)
    assert exc.value.status == 404
    with pytest.raises(SettlementError):
        batch_create(region_code="371000", cutoff=CUTOFF, user=batch_staff("372000")[1])


def test_red_line_after_payment_nets_against_the_distributor_in_the_next_batch(staff, parties):
    # given a paid-out blue line (approved batch) and a red reversal issued afterwards
    hospital, distributor = parties
    blue = settleable_line(hospital, distributor, amount="100.00", accepted="2026-09-02")
    first = build(staff)
    batch_approve(batch_no=first.no, user=staff[2])
    red_line_for(blue, issued_at=dt.date(2026, 10, 3))
    settleable_line(hospital, distributor, amount="180.00", accepted="2026-10-05")
    # when the next batch is built
    second = build(staff, cutoff=dt.date(2026, 10, 31))
    # then the red line is a negative line of the same distributor, netted in its payment
    amounts = sorted(second.lines.values_list("amount", flat=True))
    assert amounts == [Decimal("-100.00"), Decimal("180.00")]
    batch_approve(batch_no=second.no, user=staff[2])
    assert second.instructions.get().amount == Decimal("80.00")
    assert ledger_verify() == []


def test_late_red_line_waits_while_the_distributor_would_net_negative(staff, parties):
    hospital, distributor = parties
    blue = settleable_line(hospital, distributor, amount="100.00")
    first = build(staff)
    batch_approve(batch_no=first.no, user=staff[2])
    red = red_line_for(blue, qty=1, issued_at=dt.date(2026, 10, 3))
    settleable_line(hospital, distributor, amount="30.00", accepted="2026-10-05")  # 30 − 100 < 0
    other = EnterpriseFactory()
    settleable_line(hospital, other, amount="10.00", accepted="2026-10-05")
    second = build(staff, cutoff=dt.date(2026, 10, 31))
    assert not second.lines.filter(invoice_line=red).exists()
    assert second.amount == Decimal("40.00")
    # once the distributor has enough, the red line comes along
    batch_approve(batch_no=second.no, user=staff[2])
    settleable_line(hospital, distributor, amount="150.00", accepted="2026-11-02")
    third = build(staff, cutoff=dt.date(2026, 11, 30))
    assert third.lines.filter(invoice_line=red, amount=Decimal("-100.00")).exists()
    assert third.amount == Decimal("50.00")


def test_red_line_before_batching_comes_in_the_same_batch(staff, parties):
    hospital, distributor = parties
    blue = settleable_line(hospital, distributor, amount="100.00")
    red_line_for(blue, qty=1, issued_at=dt.date(2026, 9, 20))
    blue.qty, blue.amount = 2, Decimal("200.00")  # a 2-package line with 1 reversed
    blue.save()
    batch = build(staff)
    assert sorted(batch.lines.values_list("amount", flat=True)) == [Decimal("-100.00"), Decimal("200.00")]
    approved = batch_approve(batch_no=batch.no, user=staff[2])
    assert approved.instructions.get().amount == Decimal("100.00")
