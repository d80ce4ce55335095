"""Each non-price alert kind at its boundary, auto-resolution, and the scan's idempotency
(DOMAIN.md "Due dates and alerts")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail

from settlement.models import Alert, AlertEvent, InvoiceLine, Statement
from settlement.services.alert_scans import alerts_scan, alerts_scan_all, overdue_severity, scan_partitions
from tests.factories import (
    AgreementFactory,
    AwardFactory,
    DeliveryLineFactory,
    EnterpriseFactory,
    HospitalFactory,
    InvoiceLineFactory,
    OrderLineFactory,
    ProductFactory,
    RegionFactory,
    RoundFactory,
    at,
    enterprise_user,
    hospital_user,
    paid_instruction_for,
)

pytestmark = pytest.mark.django_db

PREFIX = "3710"


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def scan(kind: str, as_of: str, prefix: str = PREFIX):
    return alerts_scan(kind=kind, region_prefix=prefix, as_of=d(as_of))


def alerts(kind: str, **kw):
    return list(Alert.objects.filter(kind=kind, **kw).order_by("subject_key"))


def matched_line(accepted: str, **kw) -> InvoiceLine:
    """A blue line accepted on ``accepted`` (Shanghai date), matched and not in any statement."""
    dl = DeliveryLineFactory(
        received=True,
        order_line__ordered_at=at(accepted, 8) - dt.timedelta(days=2),
        delivered_at=at(accepted, 9) - dt.timedelta(days=1),
        received_at=at(accepted, 11),
    )
    return InvoiceLineFactory(delivery_line=dl, match_status="matched", net_qty=dl.accepted_qty, **kw)


def statement_for(
    line: InvoiceLine, *, status: str = "open", deadline: str = "2026-10-05", no: str = "ST202609000001"
) -> Statement:
    st = Statement.objects.create(
        no=no,
        hospital=line.hospital,
        distributor=line.distributor,
        period="2026-09",
        status=status,
        deadline=d(deadline),
        confirmed_at=at(deadline, 9) if status == "confirmed" else None,
    )
    InvoiceLine.objects.filter(pk=line.pk).update(statement=st)
    return st


# --- PAYMENT_DUE_SOON / PAYMENT_OVERDUE -------------------------------------------------


def test_due_date_boundaries_due_soon_then_overdue():
    # given a line accepted 2026-09-01: due 2026-10-01 (30 days)
    line = matched_line("2026-09-01")
    # when scanned 8 days before the due date: nothing yet
    scan("PAYMENT_DUE_SOON", "2026-09-23")
    assert alerts("PAYMENT_DUE_SOON") == []
    # 7 days before: due soon (low)
    scan("PAYMENT_DUE_SOON", "2026-09-24")
    (soon,) = alerts("PAYMENT_DUE_SOON")
    assert (soon.severity, soon.value, soon.subject_key) == ("low", Decimal("7"), f"{line.invoice_no}/1")
    # due today: still due soon (0 days), not overdue
    scan("PAYMENT_DUE_SOON", "2026-10-01")
    scan("PAYMENT_OVERDUE", "2026-10-01")
    assert alerts("PAYMENT_DUE_SOON", status="open")[0].value == Decimal("0")
    assert alerts("PAYMENT_OVERDUE") == []
    # due yesterday (D = due + 1): overdue by one day, and due-soon resolves
    scan("PAYMENT_DUE_SOON", "2026-10-02")
    scan("PAYMENT_OVERDUE", "2026-10-02")
    (over,) = alerts("PAYMENT_OVERDUE")
    assert (over.severity, over.value, over.amount) == ("medium", Decimal("1"), line.amount)
    assert over.evidence["due_date"] == "2026-10-01"
    assert alerts("PAYMENT_DUE_SOON")[0].status == "resolved"


def test_acceptance_date_is_the_shanghai_calendar_date():
    # given a receipt at 2026-09-01T16:30Z = 2026-09-02 00:30 in Shanghai → due 2026-10-02
    dl = DeliveryLineFactory(
        received=True,
        order_line__ordered_at=at("2026-08-30"),
        delivered_at=at("2026-08-31"),
        received_at=dt.datetime(2026, 9, 1, 16, 30, tzinfo=dt.UTC),
        accepted_date=d("2026-09-02"),
    )
    InvoiceLineFactory(delivery_line=dl, match_status="matched")
    scan("PAYMENT_OVERDUE", "2026-10-02")
    assert alerts("PAYMENT_OVERDUE") == []
    scan("PAYMENT_OVERDUE", "2026-10-03")
    assert len(alerts("PAYMENT_OVERDUE")) == 1


@pytest.mark.parametrize(
    ("days", "severity"), [(1, "medium"), (15, "medium"), (16, "high"), (60, "high"), (61, "critical")]
)
def test_overdue_severity_bands(days, severity):
    assert overdue_severity(days, medium_max=15, high_max=60) == severity


def test_overdue_escalates_through_the_bands_with_history():
    matched_line("2026-09-01")  # due 2026-10-01
    for day in ("2026-10-16", "2026-10-17", "2026-11-30", "2026-12-01"):
        scan("PAYMENT_OVERDUE", day)
    (alert,) = alerts("PAYMENT_OVERDUE")
    assert (alert.severity, alert.value) == ("critical", Decimal("61"))
    assert list(alert.events.values_list("action", "to_severity")) == [
        ("created", "medium"),
        ("escalated", "high"),
        ("escalated", "critical"),
    ]


def test_end_of_next_month_rule_by_region(settings):
    # given 威海 (371000) pays by the end of the month after acceptance
    settings.POLICY_REGION_OVERRIDES = {"371000": {"PAYMENT_TERM_RULE": "end_of_next_month"}}
    matched_line("2026-09-01")  # due 2026-10-31
    scan("PAYMENT_OVERDUE", "2026-10-31")
    assert alerts("PAYMENT_OVERDUE") == []
    scan("PAYMENT_OVERDUE", "2026-11-01")
    (alert,) = alerts("PAYMENT_OVERDUE")
    assert alert.evidence["due_date"] == "2026-10-31"


def test_reversed_rejected_and_other_region_lines_are_not_concerned():
    reversed_line = matched_line("2026-09-01")
    InvoiceLine.objects.filter(pk=reversed_line.pk).update(match_status="reversed", net_qty=0)
    rejected = DeliveryLineFactory(
        order_line__ordered_at=at("2026-08-30"),
        accepted_qty=0,
        rejected_qty=10,
        reject_reason="破损 / damaged",
        received_at=at("2026-09-01"),
        accepted_date=d("2026-09-01"),
    )
    InvoiceLineFactory(delivery_line=rejected, qty=10, match_status="exception", exception_codes="QTY_EXCEEDS_ACCEPTED")
    elsewhere = HospitalFactory(region=RegionFactory(code="371102"))
    matched_line("2026-09-01", hospital=elsewhere)
    scan("PAYMENT_OVERDUE", "2026-11-01")
    # then only the reversed line's delivery (now with no live invoice) waits for an invoice
    assert [(a.subject_type, a.stage) for a in alerts("PAYMENT_OVERDUE")] == [("delivery_line", "awaiting_invoice")]


# --- one test per stage -------------------------------------------------------------------


def test_stage_awaiting_invoice_names_the_enterprise():
    dl = DeliveryLineFactory(received=True, order_line__ordered_at=at("2026-08-29"))  # accepted 2026-08-31
    scan("PAYMENT_OVERDUE", "2026-10-05")
    (alert,) = alerts("PAYMENT_OVERDUE")
    assert (alert.subject_type, alert.subject_key) == ("delivery_line", f"{dl.delivery_no}/1")
    assert (alert.stage, alert.responsible, alert.enterprise_code) == (
        "awaiting_invoice",
        "enterprise",
        dl.order_line.distributor_id,
    )
    assert alert.amount == Decimal("100.00") and "待企业开票" in alert.message and " / " in alert.message


def test_stage_exception_names_the_enterprise():
    line = matched_line("2026-09-01")
    InvoiceLine.objects.filter(pk=line.pk).update(match_status="exception", exception_codes="PRICE_DIFFERS_FROM_ORDER")
    scan("PAYMENT_OVERDUE", "2026-10-05")
    (alert,) = alerts("PAYMENT_OVERDUE")
    assert (alert.subject_type, alert.stage, alert.responsible) == ("invoice_line", "exception", "enterprise")
    assert alert.evidence["exception_codes"] == "PRICE_DIFFERS_FROM_ORDER"


def test_stage_awaiting_hospital_confirmation_names_the_hospital():
    line = matched_line("2026-09-01")
    statement_for(line, status="open")
    scan("PAYMENT_OVERDUE", "2026-10-05")
    (alert,) = alerts("PAYMENT_OVERDUE")
    assert (alert.stage, alert.responsible, alert.hospital_code) == (
        "awaiting_hospital_confirmation",
        "hospital",
        line.hospital_id,
    )
    assert alert.evidence["statement_no"] == "ST202609000001"


def test_stage_awaiting_batch_names_the_bureau():
    line = matched_line("2026-09-01")
    statement_for(line, status="confirmed")
    scan("PAYMENT_OVERDUE", "2026-10-05")
    (alert,) = alerts("PAYMENT_OVERDUE")
    assert (alert.stage, alert.responsible) == ("awaiting_batch", "bureau")


def test_stage_changes_are_followed_by_the_same_alert():
    line = matched_line("2026-09-01")
    InvoiceLine.objects.filter(pk=line.pk).update(match_status="exception", exception_codes="DISPUTED")
    scan("PAYMENT_OVERDUE", "2026-10-05")
    InvoiceLine.objects.filter(pk=line.pk).update(match_status="matched", exception_codes="")
    statement_for(line, status="confirmed")
    scan("PAYMENT_OVERDUE", "2026-10-06")
    (alert,) = alerts("PAYMENT_OVERDUE")
    assert (alert.stage, alert.responsible) == ("awaiting_batch", "bureau")
    event = alert.events.get(action="stage_changed")
    assert event.changes == {"stage": ["exception", "awaiting_batch"], "responsible": ["enterprise", "bureau"]}


# --- RECEIPT_PENDING ---------------------------------------------------------------------


def test_receipt_pending_day_5_vs_day_6_and_resolution():
    # given a delivery on 2026-09-10 with no receipt
    dl = DeliveryLineFactory(order_line__ordered_at=at("2026-09-09"), delivered_at=at("2026-09-10", 15))
    scan("RECEIPT_PENDING", "2026-09-15")  # day 5
    assert alerts("RECEIPT_PENDING") == []
    scan("RECEIPT_PENDING", "2026-09-16")  # day 6
    (alert,) = alerts("RECEIPT_PENDING")
    assert (alert.subject_key, alert.severity, alert.value, alert.responsible) == (
        f"{dl.delivery_no}/1",
        "medium",
        Decimal("6"),
        "hospital",
    )
    # when the hospital confirms, the next scan resolves it
    dl.accepted_qty, dl.rejected_qty, dl.received_at, dl.accepted_date = (
        dl.qty,
        0,
        at("2026-09-16", 17),
        d("2026-09-16"),
    )
    dl.save()
    result = scan("RECEIPT_PENDING", "2026-09-17")
    assert result.resolved == 1 and alerts("RECEIPT_PENDING")[0].status == "resolved"


# --- STATEMENT_UNCONFIRMED --------------------------------------------------------------


def test_statement_unconfirmed_after_its_deadline_only():
    line = matched_line("2026-09-01")
    st = statement_for(line, status="open", deadline="2026-10-05")
    scan("STATEMENT_UNCONFIRMED", "2026-10-05")  # the deadline day itself: still in time
    assert alerts("STATEMENT_UNCONFIRMED") == []
    scan("STATEMENT_UNCONFIRMED", "2026-10-06")
    (alert,) = alerts("STATEMENT_UNCONFIRMED")
    assert (alert.subject_type, alert.subject_key, alert.responsible, alert.amount) == (
        "statement",
        st.no,
        "hospital",
        line.amount,
    )
    # when confirmed (late), it resolves
    Statement.objects.filter(pk=st.pk).update(status="confirmed", confirmed_at=at("2026-10-07"))
    scan("STATEMENT_UNCONFIRMED", "2026-10-07")
    assert alerts("STATEMENT_UNCONFIRMED")[0].status == "resolved"


# --- AGREEMENT_BEHIND ---------------------------------------------------------------------


def _agreement_with_purchases(purchased: int, *, agreed: int = 1000):
    product = ProductFactory()
    agreement = AgreementFactory(
        product=product, agreed_qty=agreed, year_start=d("2026-01-01"), year_end=d("2026-12-31")
    )
    if purchased:
        DeliveryLineFactory(
            received=True,
            qty=purchased,
            order_line__hospital=agreement.hospital,
            order_line__product=product,
            order_line__qty=purchased,
            order_line__ordered_at=at("2026-02-01"),
        )
    return agreement


def test_agreement_lag_of_exactly_ten_points_is_on_track():
    # D = 2026-05-14: expected = 134/365; with agreed 365·k the boundary is exact.
    # completion = expected − 0.10 exactly ⇔ purchased/3650 = 134/365 − 1/10 ⇔ purchased = 1340 − 365 = 975
    on_the_line = _agreement_with_purchases(975, agreed=3650)
    one_short = _agreement_with_purchases(974, agreed=3650)
    scan("AGREEMENT_BEHIND", "2026-05-14")
    (alert,) = alerts("AGREEMENT_BEHIND")
    assert alert.subject_key == f"{one_short.round.code}/{one_short.hospital_id}/{one_short.product_id}/2026-01-01"
    assert alert.value == Decimal("0.2668") and alert.responsible == "hospital"
    assert on_the_line.pk != one_short.pk


def test_agreement_behind_waits_three_calendar_months_then_resolves_when_caught_up():
    agreement = _agreement_with_purchases(0)
    scan("AGREEMENT_BEHIND", "2026-03-31")  # before year_start + 3 months (2026-04-01)
    assert alerts("AGREEMENT_BEHIND") == []
    scan("AGREEMENT_BEHIND", "2026-04-01")
    assert len(alerts("AGREEMENT_BEHIND", status="open")) == 1
    DeliveryLineFactory(
        received=True,
        qty=300,
        order_line__hospital=agreement.hospital,
        order_line__product=agreement.product,
        order_line__qty=300,
        order_line__ordered_at=at("2026-03-30"),
    )
    scan("AGREEMENT_BEHIND", "2026-04-02")
    assert alerts("AGREEMENT_BEHIND")[0].status == "resolved"


# --- SUPPLY_DELAY -----------------------------------------------------------------------


def _awarded_order(ordered_at: dt.datetime, qty: int = 10):
    product = ProductFactory()
    AwardFactory(product=product, round=RoundFactory())
    return OrderLineFactory(product=product, qty=qty, ordered_at=ordered_at)


def test_supply_delay_47_vs_49_hours_and_the_fact_stays():
    on_time = _awarded_order(at("2026-09-01", 10))
    late = _awarded_order(at("2026-09-01", 10))
    DeliveryLineFactory(order_line=on_time, delivered_at=on_time.ordered_at + dt.timedelta(hours=47))
    DeliveryLineFactory(order_line=late, delivered_at=late.ordered_at + dt.timedelta(hours=49))
    scan("SUPPLY_DELAY", "2026-09-03")  # deadline 2026-09-03 10:00 is within D
    (alert,) = alerts("SUPPLY_DELAY")
    assert (alert.subject_key, alert.value, alert.threshold, alert.responsible, alert.enterprise_code) == (
        f"{late.order_no}/1",
        Decimal("0"),
        Decimal("10"),
        "enterprise",
        late.distributor_id,
    )
    # later scans still hold the fact (the late delivery completed, the alert stays open)
    result = scan("SUPPLY_DELAY", "2026-09-10")
    assert result.resolved == 0 and alerts("SUPPLY_DELAY")[0].status == "open"


def test_supply_delay_waits_until_the_deadline_falls_within_d_and_only_for_awarded_products():
    awarded = _awarded_order(at("2026-09-01", 10))
    OrderLineFactory(ordered_at=at("2026-09-01", 10))  # no award covers it
    scan("SUPPLY_DELAY", "2026-09-02")  # deadline 2026-09-03 10:00 is after the end of D
    assert alerts("SUPPLY_DELAY") == []
    scan("SUPPLY_DELAY", "2026-09-03")
    assert [a.subject_key for a in alerts("SUPPLY_DELAY")] == [f"{awarded.order_no}/1"]


def test_supply_delay_partial_delivery_and_award_out_of_region():
    product = ProductFactory()
    AwardFactory(product=product, supply_region=RegionFactory(code="371100"))  # 日照 only
    OrderLineFactory(product=product, ordered_at=at("2026-09-01"))  # a 威海 hospital: not covered
    partial = _awarded_order(at("2026-09-01"), qty=10)
    DeliveryLineFactory(order_line=partial, qty=6, delivered_at=at("2026-09-02"))
    scan("SUPPLY_DELAY", "2026-09-05")
    (alert,) = alerts("SUPPLY_DELAY")
    assert (alert.subject_key, alert.value) == (f"{partial.order_no}/1", Decimal("6"))


# --- the whole scan ----------------------------------------------------------------------


def test_scan_twice_for_the_same_date_creates_nothing_new(django_capture_on_commit_callbacks):
    # given a little of everything
    ent = EnterpriseFactory()
    enterprise_user(ent, email="e@example.com")
    line = matched_line("2026-09-01", distributor=ent)
    InvoiceLine.objects.filter(pk=line.pk).update(match_status="exception", exception_codes="PARTY_MISMATCH")
    unreceived = DeliveryLineFactory(order_line__ordered_at=at("2026-09-20"))
    hospital_user(unreceived.order_line.hospital, email="h@example.com")
    _awarded_order(at("2026-09-25"))  # undelivered
    _agreement_with_purchases(0)
    with django_capture_on_commit_callbacks(execute=True):
        first = alerts_scan_all(as_of=d("2026-10-10"))
    kinds = set(Alert.objects.values_list("kind", flat=True))
    assert first.created == Alert.objects.count() > 0
    assert {"PAYMENT_OVERDUE", "RECEIPT_PENDING", "SUPPLY_DELAY", "AGREEMENT_BEHIND"} <= kinds
    # one digest each: the enterprise holds the exception line, the hospital the receipt
    assert sorted(m.to[0] for m in mail.outbox) == ["e@example.com", "h@example.com"]
    events = AlertEvent.objects.count()
    mail.outbox.clear()
    # when the same scan runs again
    with django_capture_on_commit_callbacks(execute=True):
        second = alerts_scan_all(as_of=d("2026-10-10"))
    # then nothing is created, changed or mailed
    assert second.as_dict() == {"created": 0, "updated": 0, "escalated": 0, "resolved": 0, "reopened": 0}
    assert AlertEvent.objects.count() == events and mail.outbox == []


def test_partitions_are_cities_inside_the_region_most_hospitals_first():
    HospitalFactory(region=RegionFactory(code="371002"))
    HospitalFactory(region=RegionFactory(code="371102"))
    HospitalFactory(region=RegionFactory(code="320102"))
    assert scan_partitions() == ["3201", "3710", "3711"]
    assert scan_partitions("370000") == ["3710", "3711"]
    assert scan_partitions("371002") == ["371002"]
    # a city with more hospitals comes first (workers take the large partitions first)
    HospitalFactory.create_batch(2, region=RegionFactory(code="371103"))
    assert scan_partitions() == ["3711", "3201", "3710"]
    assert scan_partitions("370000") == ["3711", "3710"]


# --- stages held by batches and the bank; collection orders (settlement.models.batches) ----


def _batch(status: str, *, cutoff: str = "2026-09-30"):
    from parties.models import Role
    from settlement.models import SettlementBatch
    from tests.factories import BureauFactory, UserFactory, bureau_user

    bureau = BureauFactory()
    maker = bureau_user(bureau)
    approved = status in ("approved", "paid")
    return SettlementBatch.objects.create(
        no=f"B{SettlementBatch.objects.count() + 1:06d}",
        region=bureau.region,
        cutoff=d(cutoff),
        period=cutoff[:7],
        status=status,
        created_by=maker,
        approved_by=UserFactory(role=Role.BUREAU_APPROVER, bureau=bureau) if approved else None,
        approved_at=at(cutoff) if approved else None,
    )


def _in_batch(line: InvoiceLine, batch, *, paid: bool = False):
    from settlement.models import BatchLine

    funded = batch.status in ("approved", "paid")
    batch_line = BatchLine.objects.create(
        batch=batch,
        invoice_line=line,
        hospital=line.hospital,
        distributor=line.distributor,
        amount=line.amount,
        due_date=d("2026-10-01"),
        deducted_amount=line.amount if funded else None,
        prepayment_amount=Decimal("0.00") if funded else None,
        collection_amount=Decimal("0.00") if funded else None,
    )
    if paid:
        paid_instruction_for(batch, line.distributor, paid_at=at("2026-10-03"))
    return batch_line


def _confirmed_line() -> InvoiceLine:
    line = matched_line("2026-09-01")
    statement_for(line, status="confirmed")
    return line


@pytest.mark.parametrize("status", ["draft", "submitted"])
def test_stage_awaiting_approval_names_the_bureau(status):
    line = _confirmed_line()
    _in_batch(line, _batch(status))
    scan("PAYMENT_OVERDUE", "2026-10-05")
    (alert,) = alerts("PAYMENT_OVERDUE")
    assert (alert.stage, alert.responsible) == ("awaiting_approval", "bureau")


def test_stage_awaiting_bank_names_the_bank_and_due_soon_skips_approved_batches():
    line = _confirmed_line()
    _in_batch(line, _batch("approved"))
    scan("PAYMENT_DUE_SOON", "2026-09-28")
    assert alerts("PAYMENT_DUE_SOON") == []  # in an approved batch: not "due soon"
    scan("PAYMENT_OVERDUE", "2026-10-05")
    (alert,) = alerts("PAYMENT_OVERDUE")
    assert (alert.stage, alert.responsible) == ("awaiting_bank", "bank")


def test_a_rejected_batch_releases_the_line_back_to_awaiting_batch():
    from settlement.models import BatchLine, SettlementBatch

    line = _confirmed_line()
    batch = _batch("submitted")
    _in_batch(line, batch)
    BatchLine.objects.filter(invoice_line=line).update(live=False)
    approver = SettlementBatch.objects.get(pk=batch.pk).created_by.bureau.users.exclude(pk=batch.created_by_id).first()
    approver = approver or _batch("draft").created_by
    SettlementBatch.objects.filter(pk=batch.pk).update(
        status="rejected", rejected_by=approver, reject_reason="退回 / back"
    )
    scan("PAYMENT_OVERDUE", "2026-10-05")
    assert alerts("PAYMENT_OVERDUE")[0].stage == "awaiting_batch"


def test_a_paid_line_raises_nothing_and_resolves_its_alert():
    line = _confirmed_line()
    scan("PAYMENT_OVERDUE", "2026-10-05")
    assert alerts("PAYMENT_OVERDUE")[0].status == "open"
    _in_batch(line, _batch("paid"), paid=True)
    scan("PAYMENT_OVERDUE", "2026-10-06")
    assert alerts("PAYMENT_OVERDUE")[0].status == "resolved"


def test_collection_overdue_after_its_term_then_resolved_when_paid():
    from settlement.models import CollectionOrder

    line = _confirmed_line()
    batch = _batch("approved")
    order = CollectionOrder.objects.create(
        no="TS2026000001", batch=batch, hospital=line.hospital, amount=Decimal("500.00"), due_date=d("2026-10-16")
    )
    CollectionOrder.objects.filter(pk=order.pk).update(issued_at=at("2026-10-01"))
    scan("COLLECTION_OVERDUE", "2026-10-16")  # issue + 15 days: still in time
    assert alerts("COLLECTION_OVERDUE") == []
    scan("COLLECTION_OVERDUE", "2026-10-17")
    (alert,) = alerts("COLLECTION_OVERDUE")
    assert (alert.subject_type, alert.subject_key, alert.severity, alert.responsible, alert.hospital_code) == (
        "collection",
        "TS2026000001",
        "high",
        "hospital",
        line.hospital_id,
    )
    CollectionOrder.objects.filter(pk=order.pk).update(status="paid", paid_at=at("2026-10-17"))
    scan("COLLECTION_OVERDUE", "2026-10-18")
    assert alerts("COLLECTION_OVERDUE")[0].status == "resolved"
