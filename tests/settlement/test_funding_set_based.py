"""The set-based funding (one UPDATE computed by the database, ``funding.fund_lines``)
gives exactly what the row-by-row reference rule ``split_funding`` gives, line by line
and hospital by hospital, on a generated data set with ties, red lines, partly used
allocations and prepayments; and approving twice changes nothing."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from interchange.money import from_fen
from procurement.models import Prepayment
from procurement.services.prepayments import prepayment_pay, prepayments_available_fen
from settlement.models import BatchLine, CollectionOrder, JournalLine, PaymentInstruction
from settlement.services.batches import batch_approve, batch_create, batch_submit
from settlement.services.funding import allocation_available_fen, batch_lines_frame, split_funding
from settlement.services.ledger import ledger_verify
from tests.factories import (
    EnterpriseFactory,
    FundAllocationFactory,
    HospitalFactory,
    batch_staff,
    red_line_for,
    settleable_line,
)

pytestmark = pytest.mark.django_db


def _parts(batch) -> dict[int, tuple[Decimal, Decimal, Decimal, Decimal]]:
    return {
        pk: (a, d, p, c)
        for pk, a, d, p, c in BatchLine.objects.filter(batch=batch).values_list(
            "pk", "amount", "deducted_amount", "prepayment_amount", "collection_amount"
        )
    }


def _build_world(seed: int):
    rnd = random.Random(seed)
    staff = batch_staff()
    hospitals = [HospitalFactory() for _ in range(4)]
    distributors = [EnterpriseFactory() for _ in range(2)]
    # An earlier batch of the same period uses part of hospital 0's allocation.
    for h in hospitals:
        FundAllocationFactory(
            hospital=h, period="2026-09", amount=Decimal(f"{rnd.randint(0, 1500)}.{rnd.randint(0, 99):02d}")
        )
    settleable_line(hospitals[0], distributors[0], amount="123.45", accepted="2026-09-01")
    first = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 3), user=staff[1])
    batch_submit(batch_no=first.no, user=staff[1])
    batch_approve(batch_no=first.no, user=staff[2])
    blues = []
    for i in range(36):
        h, d = hospitals[i % 4], distributors[rnd.randint(0, 1)]
        accepted = f"2026-09-{rnd.choice([5, 5, 6, 9]):02d}"  # many equal due dates: ties
        amount = f"{rnd.randint(1, 400)}.{rnd.randint(0, 99):02d}"
        # Invoice numbers whose order differs between code-point and locale collation.
        kw = {"invoice_no": rnd.choice(["B", "a", "Z", "b"]) + f"{i:04d}"[::-1]} if i % 3 == 0 else {}
        blues.append(settleable_line(h, d, amount=amount, accepted=accepted, **kw))
    for blue in rnd.sample(blues, 6):  # reversals issued before the cut-off: same batch
        red_line_for(blue, issued_at=dt.date(2026, 9, 20))
    for h in hospitals[1:3]:
        row = Prepayment.objects.create(
            hospital=h,
            year_start=dt.date(2026, 1, 1),
            amount=Decimal(f"{rnd.randint(0, 900)}.{rnd.randint(0, 99):02d}"),
        )
        prepayment_pay(prepayment_id=row.pk, user=staff[1])
    return staff


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_set_based_funding_equals_the_reference_rule_line_by_line(seed):
    # given a submitted batch over a generated data set
    staff = _build_world(seed)
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    batch_submit(batch_no=batch.no, user=staff[1])
    hospitals = BatchLine.objects.filter(batch=batch).values("hospital_id")
    available = allocation_available_fen(period=batch.period, hospitals_qs=hospitals, lock=False)
    prepaid = prepayments_available_fen(hospitals_qs=hospitals, as_of=batch.cutoff, lock=False)
    expected = split_funding(batch_lines_frame(batch), available, prepaid)
    assert (expected["amount_fen"] < 0).sum() == 6 and expected["prepayment_fen"].sum() > 0
    # when it is approved (set-based)
    approved = batch_approve(batch_no=batch.no, user=staff[2])
    # then every line has the reference rule's parts, to the fen
    got = _parts(batch)
    assert len(got) == len(expected)
    for row in expected.itertuples(index=False):
        assert got[row.id] == (
            from_fen(row.amount_fen),
            from_fen(row.deducted_fen),
            from_fen(row.prepayment_fen),
            from_fen(row.collection_fen),
        ), row
    # and so do the hospital totals, the collection orders and the batch totals
    per_h = expected.groupby("hospital_id")[["deducted_fen", "prepayment_fen", "collection_fen"]].sum()
    orders = dict(CollectionOrder.objects.filter(batch=batch).values_list("hospital_id", "amount"))
    assert orders == {h: from_fen(c) for h, c in per_h["collection_fen"].items() if c > 0}
    # and each distributor's payment instruction is the sum of its lines over every hospital
    per_d = expected.groupby("distributor_id")["amount_fen"].sum()
    paying = dict(PaymentInstruction.objects.filter(batch=batch).values_list("distributor_id", "amount"))
    assert paying == {d: from_fen(int(f)) for d, f in per_d.items()}
    assert approved.deducted_amount == from_fen(int(per_h["deducted_fen"].sum()))
    assert approved.prepayment_amount == from_fen(int(per_h["prepayment_fen"].sum()))
    assert approved.collection_amount == from_fen(int(per_h["collection_fen"].sum()))
    assert ledger_verify() == []
    # and approving again is a no-op
    lines_before = JournalLine.objects.count()
    batch_approve(batch_no=batch.no, user=staff[3])
    assert _parts(batch) == got
    assert JournalLine.objects.count() == lines_before
    assert PaymentInstruction.objects.filter(batch=batch).count() == len(set(expected["distributor_id"]))


def test_batch_lines_carry_their_invoice_lines_hospital_and_distributor():
    # given a batch over the generated world (blue and red lines, several hospitals)
    staff = _build_world(4)

    # when the batch is built
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])

    # then every line's hospital and distributor are its invoice line's: the copies the
    # database no longer checks with foreign keys of their own (BatchLine.hospital/distributor)
    rows = list(
        BatchLine.objects.filter(batch=batch).values_list(
            "hospital_id", "invoice_line__hospital_id", "distributor_id", "invoice_line__distributor_id"
        )
    )
    assert len(rows) > 30
    assert all(h == ih and d == idist for h, ih, d, idist in rows)


def _reference(batch):
    hospitals = BatchLine.objects.filter(batch=batch).values("hospital_id")
    available = allocation_available_fen(period=batch.period, hospitals_qs=hospitals, lock=False)
    prepaid = prepayments_available_fen(hospitals_qs=hospitals, as_of=batch.cutoff, lock=False)
    expected = split_funding(batch_lines_frame(batch), available, prepaid)
    return {
        row.id: (
            from_fen(row.amount_fen),
            from_fen(row.deducted_fen),
            from_fen(row.prepayment_fen),
            from_fen(row.collection_fen),
        )
        for row in expected.itertuples(index=False)
    }


def test_creation_writes_the_split_and_approval_keeps_it_while_the_same_is_available(monkeypatch):
    # given a batch just created over the generated world
    staff = _build_world(5)
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    # then its lines already carry the reference split against what is available now
    planned = _parts(batch)
    assert planned == _reference(batch)
    assert batch.funding_basis and all(len(v) == 2 for v in batch.funding_basis.values())
    # when it is approved with nothing else approved or paid out in between
    from settlement.services import funding

    def refuse(*args, **kwargs):
        raise AssertionError("the lines were split again")

    monkeypatch.setattr(funding, "fund_lines", refuse)
    batch_submit(batch_no=batch.no, user=staff[1])
    approved = batch_approve(batch_no=batch.no, user=staff[2])
    # then the lines are not written again and the totals are theirs
    assert _parts(batch) == planned
    assert approved.collection_amount == sum(c for _, _, _, c in planned.values())
    assert ledger_verify() == []


def test_splitting_again_writes_only_the_lines_whose_parts_change():
    # given a draft whose lines carry the split against what is available now
    from settlement.services.funding import fund_lines

    staff = _build_world(3)
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    planned = _parts(batch)
    hospitals = BatchLine.objects.filter(batch=batch).values("hospital_id")
    available = allocation_available_fen(period=batch.period, hospitals_qs=hospitals, lock=False)
    prepaid = prepayments_available_fen(hospitals_qs=hospitals, as_of=batch.cutoff, lock=False)
    # when it is split again against the same amounts, then no line is written
    assert fund_lines(batch.id, available, prepaid) == 0
    # when one line has lost its parts, then only that line is written, back to the split
    lost = min(planned)
    BatchLine.objects.filter(pk=lost).update(deducted_amount=None, prepayment_amount=None, collection_amount=None)
    assert fund_lines(batch.id, available, prepaid) == 1
    assert _parts(batch) == planned


def test_approval_splits_again_when_other_amounts_are_available_by_then():
    # given two drafts over the same hospitals' allocations (one per distributor's lines)
    staff = batch_staff()
    hospital = HospitalFactory()
    first_d, second_d = EnterpriseFactory(), EnterpriseFactory()
    FundAllocationFactory(hospital=hospital, period="2026-09", amount=Decimal("150.00"))
    settleable_line(hospital, first_d, amount="100.00", accepted="2026-09-02")
    first = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 3), user=staff[1])
    settleable_line(hospital, second_d, amount="120.00", accepted="2026-09-05")
    second = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    # the second was split against the whole allocation: 120 deducted
    assert [p[1] for p in _parts(second).values()] == [Decimal("120.00")]
    # when the first is approved (it deducts 100) and then the second
    for batch in (first, second):
        batch_submit(batch_no=batch.no, user=staff[1])
        batch_approve(batch_no=batch.no, user=staff[2])
    # then the second was split again against the 50 left: 50 deducted, 70 collected
    assert list(_parts(second).values()) == [(Decimal("120.00"), Decimal("50.00"), Decimal("0.00"), Decimal("70.00"))]
    second.refresh_from_db()
    assert (second.deducted_amount, second.collection_amount) == (Decimal("50.00"), Decimal("70.00"))
    assert ledger_verify() == []


def test_a_draft_without_a_funding_basis_is_split_on_approval():
    # given a draft written before creation planned the split: no basis, parts still null
    staff = _build_world(6)
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    expected = _reference(batch)
    BatchLine.objects.filter(batch=batch).update(deducted_amount=None, prepayment_amount=None, collection_amount=None)
    type(batch).objects.filter(pk=batch.pk).update(funding_basis={})
    # when it is submitted and approved
    batch_submit(batch_no=batch.no, user=staff[1])
    batch_approve(batch_no=batch.no, user=staff[2])
    # then approval split every line by the reference rule
    assert _parts(batch) == expected
    assert ledger_verify() == []
