"""batch_create's red lines (one INSERT driven by the red lines, live lines skipped by ON
CONFLICT): the same selection as the preview's row-by-row definition."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from settlement.models import BatchLine, SettlementBatch
from settlement.services import batch_rules as rules
from settlement.services.batch_rules import SettlementError
from settlement.services.batches import batch_approve, batch_create, batch_preview, batch_submit
from tests.factories import (
    EnterpriseFactory,
    HospitalFactory,
    RegionFactory,
    batch_staff,
    red_line_for,
    settleable_line,
)

pytestmark = pytest.mark.django_db
CUTOFF = dt.date(2026, 10, 31)


@pytest.fixture
def world():
    staff = batch_staff("371000")
    h1 = HospitalFactory(region=RegionFactory(code="371002"))
    h2 = HospitalFactory(region=RegionFactory(code="371003"))
    return staff, h1, h2, EnterpriseFactory(), EnterpriseFactory()


def test_red_lines_of_a_line_in_another_live_batch_are_not_taken(world):
    staff, h1, _h2, d1, _d2 = world
    blue = settleable_line(h1, d1, amount="100.00", accepted="2026-09-02")
    first = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])  # a draft holds it
    red_line_for(blue, qty=1, issued_at=dt.date(2026, 10, 3))
    settleable_line(h1, d1, amount="300.00", accepted="2026-10-05")
    second = batch_create(region_code="371000", cutoff=CUTOFF, user=staff[1])
    # the red line's blue line is in a draft (neither this batch nor an approved one)
    assert sorted(second.lines.values_list("amount", flat=True)) == [Decimal("300.00")]
    assert first.lines.count() == 1


def test_created_batch_equals_the_preview_and_a_second_create_finds_nothing(world):
    staff, h1, h2, d1, d2 = world
    paid = settleable_line(h1, d1, amount="80.00", accepted="2026-09-01")
    first = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    batch_submit(batch_no=first.no, user=staff[1])
    batch_approve(batch_no=first.no, user=staff[2])
    red_line_for(paid, issued_at=dt.date(2026, 10, 2))  # late red line, nets against d1
    for i, (h, d) in enumerate([(h1, d1), (h2, d1), (h2, d2), (h1, d2)]):
        blue = settleable_line(h, d, amount=f"{50 + i}.{i:02d}", accepted=f"2026-10-{5 + i:02d}")
        blue.qty, blue.amount = 2, blue.amount * 2
        blue.save()
        red_line_for(blue, qty=1, issued_at=dt.date(2026, 10, 20))  # same-batch red line
    preview = batch_preview(region_code="371000", cutoff=CUTOFF, user=staff[1])
    batch = batch_create(region_code="371000", cutoff=CUTOFF, user=staff[1])
    assert (batch.line_count, batch.amount) == (preview.line_count, preview.amount) == (9, Decimal("126.06"))
    assert BatchLine.objects.filter(batch=batch, amount__lt=0).count() == 5
    # re-running: every line is taken, nothing is kept
    before = (SettlementBatch.objects.count(), BatchLine.objects.count())
    with pytest.raises(SettlementError) as err:
        batch_create(region_code="371000", cutoff=CUTOFF, user=staff[1])
    assert err.value.code == rules.NO_LINES
    assert (SettlementBatch.objects.count(), BatchLine.objects.count()) == before
