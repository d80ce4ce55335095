"""医保基金预付: compute (award price, rounding once), pay out, recover, clear, export."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from interchange.exports import exports_registry
from procurement.models import Prepayment
from procurement.services.prepayments import prepayment_clear, prepayment_recover, prepayments_compute
from settlement.models import CollectionOrder, CollectionStatus, JournalEntry
from settlement.services.batch_rules import REASON_REQUIRED, SettlementError
from settlement.services.batches import batch_approve, batch_create, batch_submit
from settlement.services.ledger import ledger_verify
from tests.factories import (
    AgreementFactory,
    AwardFactory,
    EnterpriseFactory,
    HospitalFactory,
    ProductFactory,
    RegionFactory,
    RoundFactory,
    batch_staff,
    settleable_line,
)

pytestmark = pytest.mark.django_db
Y = dt.date(2026, 1, 1)


@pytest.fixture
def agreed():
    rnd = RoundFactory()
    product = ProductFactory()
    hospital = HospitalFactory(region=RegionFactory(code="371002"))
    AwardFactory(round=rnd, product=product, supply_region=RegionFactory(code="370000"), award_price=Decimal("3.3333"))
    AwardFactory(round=rnd, product=product, supply_region=RegionFactory(code="371000"), award_price=Decimal("5.0001"))
    AwardFactory(round=rnd, product=product, supply_region=RegionFactory(code="372000"), award_price=Decimal("1.0000"))
    AgreementFactory(round=rnd, product=product, hospital=hospital, agreed_qty=7, year_start=Y)
    other = ProductFactory()
    AwardFactory(round=rnd, product=other, supply_region=RegionFactory(code="370000"), award_price=Decimal("0.0101"))
    AgreementFactory(round=rnd, product=other, hospital=hospital, agreed_qty=3, year_start=Y)
    AgreementFactory(
        round=rnd,
        product=other,
        hospital=hospital,
        agreed_qty=999,
        year_start=dt.date(2027, 1, 1),
        year_end=dt.date(2027, 12, 31),
    )
    return hospital


def test_rate_times_agreed_amount_with_the_most_specific_award_rounded_once(agreed):
    # 7 × 5.0001 (city award beats the province's) + 3 × 0.0101 = 35.0310; × 0.30 = 10.5093 → 10.51
    result = prepayments_compute(year_start=Y)
    assert result.created == 1
    assert Prepayment.objects.get(hospital=agreed).amount == Decimal("10.51")


@override_settings(POLICY_REGION_OVERRIDES={"371000": {"PREPAYMENT_RATE": Decimal("0.50")}})
def test_the_rate_follows_the_hospitals_region(agreed):
    prepayments_compute(year_start=Y)
    assert Prepayment.objects.get(hospital=agreed).amount == Decimal("17.52")  # 35.031 × 0.5 = 17.5155


def test_compute_is_idempotent_and_pay_records_it_once(agreed):
    staff = batch_staff()
    call_command("compute_prepayments", "--year-start", "2026-01-01")
    again = prepayments_compute(year_start=Y)
    assert (again.created, again.unchanged) == (0, 1)
    call_command("compute_prepayments", "--year-start", "2026-01-01", "--pay", "--user", staff[1].username)
    call_command("compute_prepayments", "--year-start", "2026-01-01", "--pay", "--user", staff[1].username)
    row = Prepayment.objects.get()
    assert row.paid_at is not None and row.paid_by == staff[1]
    assert JournalEntry.objects.filter(kind="prepayment_paid").count() == 1
    with pytest.raises(CommandError):
        call_command("compute_prepayments", "--year-start", "2026-13-01")


def test_recover_takes_back_the_balance_once(agreed):
    staff = batch_staff()
    prepayments_compute(year_start=Y, user=staff[1], pay=True)
    with pytest.raises(SettlementError) as exc:
        prepayment_recover(hospital_code=agreed.pk, user=staff[1], reason="")
    assert exc.value.code == REASON_REQUIRED
    assert prepayment_recover(hospital_code=agreed.pk, user=staff[1], reason="通报: 托收逾期") == Decimal("10.51")
    assert prepayment_recover(hospital_code=agreed.pk, user=staff[1], reason="again") == Decimal("0.00")
    row = Prepayment.objects.get()
    assert row.recovered_amount == Decimal("10.51") and row.balance == 0
    assert ledger_verify() == []


def test_year_end_clearing_pays_open_collections_and_closes_the_prepayment():
    # given a hospital whose prepayment of 50 is used up by a batch of 105
    staff = batch_staff()
    hospital, distributor = HospitalFactory(), EnterpriseFactory()
    Prepayment.objects.create(hospital=hospital, year_start=Y, amount=Decimal("50.00"))
    from procurement.services.prepayments import prepayments_pay

    prepayments_pay(year_start=Y, user=staff[1])
    settleable_line(hospital, distributor, amount="105.00")
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    batch_submit(batch_no=batch.no, user=staff[1])
    batch_approve(batch_no=batch.no, user=staff[2])
    order = CollectionOrder.objects.get()
    assert order.amount == Decimal("55.00")  # 105 − 50 from the prepayment
    # when cleared with nothing left: nothing is offset, the prepayment is closed
    row = prepayment_clear(hospital_code=hospital.pk, year_start=Y, user=staff[1])
    assert row.cleared_at is not None and row.used_amount == Decimal("50.00")
    order.refresh_from_db()
    assert order.status == CollectionStatus.ISSUED and order.cleared_amount == 0
    assert ledger_verify() == []


def test_clearing_offsets_the_remaining_balance_against_collections():
    staff = batch_staff()
    hospital, distributor = HospitalFactory(), EnterpriseFactory()
    settleable_line(hospital, distributor, amount="30.00")
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    batch_submit(batch_no=batch.no, user=staff[1])
    batch_approve(batch_no=batch.no, user=staff[2])  # no allocation, no prepayment yet → collection 30
    Prepayment.objects.create(hospital=hospital, year_start=dt.date(2026, 10, 1), amount=Decimal("45.00"))
    from procurement.services.prepayments import prepayments_pay

    prepayments_pay(year_start=dt.date(2026, 10, 1), user=staff[1])
    row = prepayment_clear(hospital_code=hospital.pk, year_start=dt.date(2026, 10, 1), user=staff[1], reason="年终清算")
    order = CollectionOrder.objects.get()
    assert order.status == CollectionStatus.PAID and order.cleared_amount == Decimal("30.00")
    assert row.cleared_amount == Decimal("45.00") and row.balance == 0
    assert prepayment_clear(hospital_code=hospital.pk, year_start=dt.date(2026, 10, 1), user=staff[1]) == row
    assert ledger_verify() == []


def test_prepayments_export_has_balances(agreed):
    staff = batch_staff()
    prepayments_compute(year_start=Y, user=staff[1], pay=True)
    spec = exports_registry()["prepayments"]
    (row,) = list(spec.rows(user=staff[1]))
    assert spec.columns == (
        "hospital_code",
        "year_start",
        "amount",
        "paid_at",
        "used_amount",
        "recovered_amount",
        "balance",
    )
    assert row[0] == agreed.pk and row[2] == Decimal("10.51") and row[-1] == Decimal("10.51")


def test_usable_prepayments_are_locked_in_pk_order_and_used_oldest_year_first():
    # given: prepayments created so that pk order differs from (hospital, year) order
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from parties.models import Hospital
    from procurement.services.prepayments import _usable

    h_b, h_a = HospitalFactory(code="H37100200002"), HospitalFactory(code="H37100200001")
    now = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    rows = [
        Prepayment.objects.create(hospital=h, year_start=y, amount=Decimal("10.00"), paid_at=now)
        for h, y in ((h_b, Y), (h_a, dt.date(2026, 6, 1)), (h_a, Y))
    ]

    # when: they are read for use with locks
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        got = _usable(Hospital.objects.filter(code__in=[h_a.code, h_b.code]).values("code"), dt.date(2026, 9, 1), lock=True)

    # then: the locking statement orders by pk only; the result is hospital, oldest year first
    (sql,) = [q["sql"] for q in ctx.captured_queries if "prepayment" in q["sql"]]
    assert sql.rstrip().endswith(("FOR UPDATE", "FOR UPDATE NOWAIT")) or connection.vendor == "sqlite"
    order_by = sql.split("ORDER BY", 1)[1]
    assert '"id" ASC' in order_by and "hospital" not in order_by and "year_start" not in order_by
    assert [r.pk for r in got] == [rows[2].pk, rows[1].pk, rows[0].pk]
