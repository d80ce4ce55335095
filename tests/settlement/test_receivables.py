"""Receivables and ageing: buckets, scoping, API, export and the dashboard page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from interchange.exports import exports_registry
from settlement.selectors.receivables import receivables_ageing
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
AS_OF = dt.date(2026, 12, 31)


@pytest.fixture
def world():
    staff = batch_staff()
    h1, h2 = HospitalFactory(), HospitalFactory()
    d1, d2 = EnterpriseFactory(), EnterpriseFactory()
    settleable_line(h1, d1, amount="10.00", accepted="2026-12-31")  # 0 days
    settleable_line(h1, d1, amount="20.00", accepted="2026-12-01")  # 30 days → 0-30
    settleable_line(h1, d1, amount="30.00", accepted="2026-11-30")  # 31 days
    settleable_line(h2, d1, amount="40.00", accepted="2026-10-02")  # 90 days
    settleable_line(h2, d1, amount="50.00", accepted="2026-10-01")  # 91 days
    settleable_line(h2, d2, amount="60.00", accepted="2026-09-01")
    return staff, (h1, h2), (d1, d2)


def test_buckets_by_days_since_acceptance(world):
    staff, (h1, h2), (d1, _d2) = world
    rows = {(r.distributor_credit_code, r.hospital_code): r for r in receivables_ageing(user=staff[1], as_of=AS_OF)}
    a = rows[(d1.pk, h1.pk)].buckets
    assert (a["bucket_0_30"], a["bucket_31_60"]) == (Decimal("30.00"), Decimal("30.00"))
    b = rows[(d1.pk, h2.pk)].buckets
    assert (b["bucket_61_90"], b["bucket_over_90"]) == (Decimal("40.00"), Decimal("50.00"))
    assert rows[(d1.pk, h2.pk)].total == Decimal("90.00")


def test_paid_lines_leave_the_receivables(world):
    staff, _h, (d1, _d2) = world
    batch = batch_create(region_code="371000", cutoff=AS_OF, user=staff[1])
    batch_submit(batch_no=batch.no, user=staff[1])
    batch_approve(batch_no=batch.no, user=staff[2])
    instr = batch.instructions.get(distributor=d1)
    pay_instruction(staff[1], instr, paid_at="2027-01-02T09:00:00", bank_ref="X")
    left = receivables_ageing(user=staff[1], as_of=AS_OF)
    assert [r.distributor_credit_code for r in left] == [world[2][1].pk]


def test_api_gives_the_callers_own_ageing_only(world):
    _staff, _h, (d1, d2) = world
    client = APIClient()
    client.force_authenticate(enterprise_user(d2))
    resp = client.get("/api/v1/receivables/", {"as_of": "2026-12-31"})
    assert resp.status_code == 200
    assert [r["distributor_credit_code"] for r in resp.data["results"]] == [d2.pk]
    assert resp.data["totals"]["total"] == "60.00" and resp.data["results"][0]["bucket_over_90"] == "60.00"
    assert client.get("/api/v1/receivables/", {"as_of": "31/12/2026"}).status_code == 400


def test_bureau_sees_its_region_only(world):
    _staff, _h, (d1, _d2) = world
    elsewhere = HospitalFactory(region=RegionFactory(code="372001"))
    settleable_line(elsewhere, d1, amount="5.00")
    staff = batch_staff("371000")
    codes = {r.hospital_code for r in receivables_ageing(user=staff[1], as_of=AS_OF)}
    assert elsewhere.pk not in codes and len(codes) == 2


def test_receivables_query_count_is_flat(world):
    staff = world[0]
    with CaptureQueriesContext(connection) as few:
        receivables_ageing(user=staff[1], as_of=AS_OF)
    for i in range(5):
        settleable_line(HospitalFactory(), EnterpriseFactory(), amount=f"{i + 1}.00")
    with CaptureQueriesContext(connection) as many:
        receivables_ageing(user=staff[1], as_of=AS_OF)
    assert len(many) == len(few)


def test_export_rows_match_columns(world):
    staff, _h, (d1, _d2) = world
    spec = exports_registry()["receivables"]
    rows = list(spec.rows(user=enterprise_user(d1), as_of="2026-12-31"))
    assert spec.columns[-1] == "total" and len(rows) == 2
    assert all(len(r) == len(spec.columns) for r in rows)


def test_dashboard_page_draws_an_svg_chart(world, client):
    _staff, (h1, _h2), (d1, _d2) = world
    client.force_login(enterprise_user(d1))
    resp = client.get("/receivables/", {"as_of": "2026-12-31"})
    body = resp.content.decode()
    assert resp.status_code == 200 and "<svg" in body and h1.pk in body
    hospital_client = client
    hospital_client.force_login(hospital_user(h1))
    assert "<svg" in hospital_client.get("/receivables/").content.decode()


# --- the acceptance the ageing reads (InvoiceLine.accepted_on, written by matching) ---------


def _accepted_on() -> dict:
    from settlement.models import InvoiceLine

    return dict(InvoiceLine.objects.values_list("id", "accepted_on"))


def test_matching_writes_each_lines_acceptance_and_the_migration_computes_the_same():
    from importlib import import_module

    from settlement.models import InvoiceLine
    from settlement.services.matching import invoices_match
    from tests.factories import DeliveryLineFactory, InvoiceLineFactory

    # given lines on an accepted delivery, a wholly rejected one and one awaiting receipt
    accepted = InvoiceLineFactory(delivery_line=DeliveryLineFactory(received=True))
    rejected = InvoiceLineFactory(
        delivery_line=DeliveryLineFactory(received=True, accepted_qty=0, rejected_qty=10, reject_reason="破损")
    )
    waiting = InvoiceLineFactory(delivery_line=DeliveryLineFactory())
    assert set(_accepted_on().values()) == {None}
    # when they are matched
    invoices_match()
    # then only the accepted delivery's line has an acceptance, its delivery line's date
    got = _accepted_on()
    accepted.delivery_line.refresh_from_db()
    assert accepted.delivery_line.accepted_date is not None
    assert got == {accepted.pk: accepted.delivery_line.accepted_date, rejected.pk: None, waiting.pk: None}
    # and the migration's backfill gives every line the same
    InvoiceLine.objects.update(accepted_on=None)
    backfill = import_module("settlement.migrations.0011_line_reads").BACKFILL
    with connection.cursor() as cursor:
        cursor.execute(backfill)
    assert _accepted_on() == got
    # and matching again changes nothing
    assert invoices_match().lines_changed == 0


def test_a_receipt_makes_the_line_owed_as_it_commits(django_capture_on_commit_callbacks):
    from procurement.services.receipts import receipt_confirm
    from settlement.services.matching import invoices_match
    from tests.factories import DeliveryLineFactory, InvoiceLineFactory

    # given an invoice line whose delivery awaits receipt: nothing is owed yet
    delivery = DeliveryLineFactory(qty=10)
    line = InvoiceLineFactory(delivery_line=delivery, qty=10)
    invoices_match()
    enterprise = enterprise_user(line.distributor)
    assert receivables_ageing(user=enterprise, as_of=AS_OF) == []
    # when the hospital accepts 6 and rejects 4, and the receipt commits
    with django_capture_on_commit_callbacks(execute=True):
        receipt_confirm(
            delivery_line_id=delivery.pk,
            accepted_qty=6,
            rejected_qty=4,
            reject_reason="破损 / damaged",
            received_at=delivery.delivered_at + dt.timedelta(hours=2),
            user=hospital_user(delivery.order_line.hospital),
        )
    # then the line is owed (its whole amount: the exception is the hospital's to dispute),
    # aged from the day of acceptance
    line.refresh_from_db()
    delivery.refresh_from_db()
    assert line.accepted_on == delivery.accepted_date is not None
    rows = receivables_ageing(user=enterprise, as_of=AS_OF)
    assert [(r.hospital_code, r.total) for r in rows] == [(line.hospital_id, line.amount)]
    assert rows[0].buckets["bucket_over_90"] == line.amount  # accepted in September, as of 31 December


def test_a_frozen_line_keeps_its_acceptance(world):
    from settlement.models import InvoiceLine
    from settlement.services.matching import invoices_match

    staff, _h, _d = world
    batch = batch_create(region_code="371000", cutoff=AS_OF, user=staff[1])
    batch_submit(batch_no=batch.no, user=staff[1])
    batch_approve(batch_no=batch.no, user=staff[2])
    before = _accepted_on()
    # even if its stored acceptance were lost, matching does not write a line in an approved batch
    some = next(iter(before))
    InvoiceLine.objects.filter(pk=some).update(accepted_on=None)
    invoices_match()
    after = _accepted_on()
    assert after[some] is None and {k: v for k, v in after.items() if k != some} == {
        k: v for k, v in before.items() if k != some
    }
