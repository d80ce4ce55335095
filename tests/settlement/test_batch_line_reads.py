"""A party's batch lines: found through its invoice lines (batch lines carry no index by
party), the enterprise's expected payments through the approved batches only. What each
party sees must not change with the path."""

from __future__ import annotations

import datetime as dt

import pytest

from parties.policy import policy_value
from settlement.exports_batches import batch_lines_rows
from settlement.selectors.batches import batch_lines_for
from settlement.selectors.receivables import expected_pay_dates
from settlement.services.batches import batch_approve, batch_create, batch_submit
from tests.factories import (
    EnterpriseFactory,
    HospitalFactory,
    RegionFactory,
    batch_staff,
    enterprise_user,
    hospital_user,
    pay_instruction,
    settleable_line,
)

pytestmark = pytest.mark.django_db
CUTOFF = dt.date(2026, 9, 30)


@pytest.fixture
def world():
    """Two hospitals, two distributors, four lines in one approved batch; a fifth line
    of another province in no batch."""
    staff = batch_staff()
    h1, h2 = HospitalFactory(), HospitalFactory()
    d1, d2 = EnterpriseFactory(), EnterpriseFactory()
    lines = {
        "h1d1": settleable_line(h1, d1, amount="10.00", accepted="2026-09-01"),
        "h1d2": settleable_line(h1, d2, amount="20.00", accepted="2026-09-02"),
        "h2d1": settleable_line(h2, d1, amount="30.00", accepted="2026-09-03"),
        "h2d1b": settleable_line(h2, d1, amount="40.00", accepted="2026-09-04"),
    }
    other = HospitalFactory(region=RegionFactory(code="110101"))
    settleable_line(other, d1, amount="50.00", accepted="2026-09-05")
    batch = batch_create(region_code="371000", cutoff=CUTOFF, user=staff[1])
    batch_submit(batch_no=batch.no, user=staff[1])
    batch = batch_approve(batch_no=batch.no, user=staff[2])
    return staff, batch, (h1, h2), (d1, d2), lines


def _invoice_lines(qs) -> set[int]:
    return set(qs.values_list("invoice_line_id", flat=True))


def test_each_party_sees_exactly_its_own_batch_lines(world):
    staff, batch, (h1, h2), (d1, d2), lines = world
    ids = {k: v.pk for k, v in lines.items()}
    assert _invoice_lines(batch_lines_for(hospital_user(h1))) == {ids["h1d1"], ids["h1d2"]}
    assert _invoice_lines(batch_lines_for(hospital_user(h2))) == {ids["h2d1"], ids["h2d1b"]}
    assert _invoice_lines(batch_lines_for(enterprise_user(d1))) == {ids["h1d1"], ids["h2d1"], ids["h2d1b"]}
    assert _invoice_lines(batch_lines_for(enterprise_user(d2))) == {ids["h1d2"]}
    assert _invoice_lines(batch_lines_for(staff[1])) == set(ids.values())
    # the batch's lines carry the same parties as their invoice lines
    for line in batch.lines.select_related("invoice_line"):
        assert (line.hospital_id, line.distributor_id) == (
            line.invoice_line.hospital_id,
            line.invoice_line.distributor_id,
        )


def test_the_batch_lines_export_follows_the_same_scope(world):
    _staff, batch, (h1, _h2), (d1, _d2), _lines = world
    # columns: batch, invoice, line, hospital, distributor, amount, the three parts
    rows = list(batch_lines_rows(user=hospital_user(h1)))
    assert sorted((r[0], r[3], str(r[5])) for r in rows) == [(batch.no, h1.pk, "10.00"), (batch.no, h1.pk, "20.00")]
    rows = list(batch_lines_rows(user=enterprise_user(d1), batch=batch.no))
    assert sorted(str(r[5]) for r in rows) == ["10.00", "30.00", "40.00"]
    assert {r[4] for r in rows} == {d1.pk}


def test_expected_payments_list_a_partys_unpaid_lines_until_paid(world):
    staff, batch, (h1, _h2), (d1, d2), _lines = world
    days = int(policy_value("BANK_PAYMENT_DAYS", batch.region_id))
    expected = batch.approved_at.astimezone(dt.timezone(dt.timedelta(hours=8))).date() + dt.timedelta(days=days)
    mine = expected_pay_dates(user=enterprise_user(d1))
    assert [str(r["amount"]) for r in mine] == ["10.00", "30.00", "40.00"]  # oldest due first
    assert {r["batch_no"] for r in mine} == {batch.no}
    assert {r["expected_pay_date"] for r in mine} == {expected}
    assert [str(r["amount"]) for r in expected_pay_dates(user=hospital_user(h1))] == ["10.00", "20.00"]
    # when d1's instruction is paid, its lines leave the list; d2's stay until the batch is paid
    pay_instruction(staff[1], batch.instructions.get(distributor=d1))
    assert expected_pay_dates(user=enterprise_user(d1)) == []
    assert [str(r["amount"]) for r in expected_pay_dates(user=hospital_user(h1))] == ["20.00"]
    assert [str(r["amount"]) for r in expected_pay_dates(user=enterprise_user(d2))] == ["20.00"]
    pay_instruction(staff[1], batch.instructions.get(distributor=d2))
    batch.refresh_from_db()
    assert batch.status == "paid"
    assert expected_pay_dates(user=enterprise_user(d2)) == []
    assert expected_pay_dates(user=staff[1]) == []


def test_lines_of_a_batch_not_yet_approved_are_not_expected(world):
    staff, _batch, (h1, _h2), (d1, _d2), _lines = world
    settleable_line(h1, d1, amount="70.00", accepted="2026-10-01")
    draft = batch_create(region_code="371000", cutoff=dt.date(2026, 10, 31), user=staff[1])
    assert draft.line_count == 1
    assert "70.00" not in [str(r["amount"]) for r in expected_pay_dates(user=enterprise_user(d1))]
    assert len(expected_pay_dates(user=enterprise_user(d1))) == 3
