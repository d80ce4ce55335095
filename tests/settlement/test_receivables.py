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
