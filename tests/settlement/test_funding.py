"""Funding on approval: allocation, then prepayment, then collection, per hospital,
oldest due date first, split where a source runs out; exact to the fen."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procurement.models import Prepayment
from procurement.services.prepayments import prepayment_pay
from settlement.models import BatchLine, CollectionOrder, JournalLine
from settlement.services.batches import batch_approve, batch_create, batch_submit
from settlement.services.funding import split_funding
from settlement.services.ledger import ledger_verify
from tests.factories import EnterpriseFactory, FundAllocationFactory, HospitalFactory, batch_staff, settleable_line

pytestmark = pytest.mark.django_db
CUTOFF = dt.date(2026, 9, 30)


def approve(staff, cutoff=CUTOFF):
    batch = batch_create(region_code="371000", cutoff=cutoff, user=staff[1])
    batch_submit(batch_no=batch.no, user=staff[1])
    return batch_approve(batch_no=batch.no, user=staff[2])


def parts(batch, hospital):
    lines = BatchLine.objects.filter(batch=batch, hospital=hospital)
    return [
        (line.amount, line.deducted_amount, line.prepayment_amount, line.collection_amount)
        for line in lines.order_by("due_date", "invoice_line__invoice_no")
    ]


def prepay(hospital, amount: str, user, year_start=dt.date(2026, 1, 1)):
    """A prepayment recorded as paid out through the service (so the ledger has it)."""
    row = Prepayment.objects.create(hospital=hospital, year_start=year_start, amount=Decimal(amount))
    return prepayment_pay(prepayment_id=row.pk, user=user)


@pytest.fixture
def world():
    return batch_staff(), HospitalFactory(), EnterpriseFactory()


def test_allocation_covers_everything(world):
    staff, hospital, distributor = world
    settleable_line(hospital, distributor, amount="100.00")
    settleable_line(hospital, distributor, amount="0.55")
    FundAllocationFactory(hospital=hospital, period="2026-09", amount=Decimal("1000.00"))
    batch = approve(staff)
    assert all(d == a and p == c == 0 for a, d, p, c in parts(batch, hospital))
    assert (batch.deducted_amount, batch.prepayment_amount, batch.collection_amount) == (Decimal("100.55"), 0, 0)
    assert not CollectionOrder.objects.exists()


def test_allocation_part_then_prepayment_then_collection_splitting_lines(world):
    # given 3 lines (due 10-01, 10-02, 10-03), allocation 120, prepayment 50
    staff, hospital, distributor = world
    settleable_line(hospital, distributor, amount="100.00", accepted="2026-09-01")
    settleable_line(hospital, distributor, amount="60.00", accepted="2026-09-02")
    settleable_line(hospital, distributor, amount="40.00", accepted="2026-09-03")
    FundAllocationFactory(hospital=hospital, period="2026-09", amount=Decimal("120.00"))
    pp = prepay(hospital, "50.00", staff[1])
    # when approved
    batch = approve(staff)
    # then oldest first: 100 from the allocation, 60 = 20 allocation + 40 prepayment, 40 = 10 prepayment + 30 collection
    assert parts(batch, hospital) == [
        (Decimal("100.00"), Decimal("100.00"), Decimal("0.00"), Decimal("0.00")),
        (Decimal("60.00"), Decimal("20.00"), Decimal("40.00"), Decimal("0.00")),
        (Decimal("40.00"), Decimal("0.00"), Decimal("10.00"), Decimal("30.00")),
    ]
    order = CollectionOrder.objects.get()
    assert order.amount == Decimal("30.00") and order.hospital == hospital and order.no.startswith("TS")
    pp.refresh_from_db()
    assert pp.used_amount == Decimal("50.00") and pp.balance == 0
    assert ledger_verify() == []


def test_no_allocation_row_means_zero(world):
    staff, hospital, distributor = world
    settleable_line(hospital, distributor, amount="99.99")
    batch = approve(staff)
    assert parts(batch, hospital) == [(Decimal("99.99"), Decimal("0.00"), Decimal("0.00"), Decimal("99.99"))]
    assert CollectionOrder.objects.get().amount == Decimal("99.99")


def test_earlier_approved_batches_of_the_period_used_part_of_the_allocation(world):
    staff, hospital, distributor = world
    FundAllocationFactory(hospital=hospital, period="2026-09", amount=Decimal("150.00"))
    settleable_line(hospital, distributor, amount="100.00", accepted="2026-09-05")
    approve(staff, cutoff=dt.date(2026, 9, 10))
    settleable_line(hospital, distributor, amount="100.00", accepted="2026-09-20")
    second = approve(staff, cutoff=dt.date(2026, 9, 30))
    assert parts(second, hospital) == [(Decimal("100.00"), Decimal("50.00"), Decimal("0.00"), Decimal("50.00"))]
    assert ledger_verify() == []


def test_prepayment_of_a_later_year_or_unpaid_is_not_used(world):
    staff, hospital, distributor = world
    settleable_line(hospital, distributor, amount="10.00")
    prepay(hospital, "100.00", staff[1], year_start=dt.date(2027, 1, 1))
    Prepayment.objects.create(
        hospital=hospital, year_start=dt.date(2025, 1, 1), amount=Decimal("100.00")
    )  # not paid out
    batch = approve(staff)
    assert parts(batch, hospital)[0][3] == Decimal("10.00")


def test_per_hospital_parts_add_up_to_the_batch_amount_to_the_fen(world):
    staff, _h, distributor = world
    hospitals = [HospitalFactory() for _ in range(3)]
    for i, h in enumerate(hospitals):
        for j in range(4):
            settleable_line(
                h, distributor, amount=f"{13 + i * 7 + j}.{(j * 37) % 100:02d}", accepted=f"2026-09-{j + 1:02d}"
            )
    FundAllocationFactory(hospital=hospitals[0], period="2026-09", amount=Decimal("25.01"))
    FundAllocationFactory(hospital=hospitals[1], period="2026-09", amount=Decimal("0.00"))
    prepay(hospitals[1], "33.33", staff[1])
    batch = approve(staff)
    total = Decimal("0.00")
    for h in hospitals:
        rows = parts(batch, h)
        for amount, d, p, c in rows:
            assert d + p + c == amount
        total += sum(r[0] for r in rows)
    assert total == batch.amount == batch.deducted_amount + batch.prepayment_amount + batch.collection_amount
    entry_lines = JournalLine.objects.filter(entry__batch=batch)
    assert sum(x.debit for x in entry_lines) == sum(x.credit for x in entry_lines)


@settings(max_examples=60, deadline=None)
@given(
    amounts=st.lists(st.integers(min_value=-5000, max_value=200000), min_size=1, max_size=30),
    allocation=st.integers(min_value=0, max_value=300000),
    prepayment=st.integers(min_value=0, max_value=300000),
)
def test_split_rule_is_exact_ordered_and_never_overspends(amounts, allocation, prepayment):
    # given lines of two hospitals (fen; negatives are red lines)
    df = pd.DataFrame(
        {
            "id": range(len(amounts)),
            "hospital_id": ["H1" if i % 2 else "H2" for i in range(len(amounts))],
            "due_date": [dt.date(2026, 9, 1) + dt.timedelta(days=i % 5) for i in range(len(amounts))],
            "invoice_no": [f"{i:020d}" for i in range(len(amounts))],
            "invoice_code": "",
            "line_no": 1,
            "amount_fen": amounts,
        }
    )
    out = split_funding(df, {"H1": allocation, "H2": allocation // 2}, {"H1": prepayment})
    # then every line adds up, parts are in range, and net deduction ≤ allocation
    assert (out["deducted_fen"] + out["prepayment_fen"] + out["collection_fen"] == out["amount_fen"]).all()
    assert (out["prepayment_fen"] >= 0).all() and (out["collection_fen"] >= 0).all()
    per = out.groupby("hospital_id")[["deducted_fen", "prepayment_fen"]].sum()
    assert per.loc["H1", "deducted_fen"] <= allocation if "H1" in per.index else True
    if "H2" in per.index:
        assert per.loc["H2", "deducted_fen"] <= allocation // 2
        assert per.loc["H2", "prepayment_fen"] == 0
    if "H1" in per.index:
        assert per.loc["H1", "prepayment_fen"] <= prepayment
