"""The cost of the busiest list endpoints (benchmarks/load): a fixed number of queries
whatever the number of rows, and the same answer as the row-by-row rendering they replace.

- ``GET /lines/``: token, count, page (ids picked without joins, then those lines joined);
- ``GET /alerts/``: rendered from ``values()`` by ``AlertSerializer``'s own fields;
- ``GET /receivables/``: token and one aggregate query (blue and late red lines, UNION ALL).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from settlement.api.alert_views import AlertListView, AlertSerializer
from settlement.api.statement_views import LineSerializer, line_data
from settlement.models import Alert, BatchLine, InvoiceKind, InvoiceLine, MatchStatus
from settlement.selectors.alerts import alerts_for
from settlement.selectors.lines import LineFilters, LineStage, StagedLineRows, invoice_lines_with_stage
from settlement.selectors.receivables import BUCKET_AGES, BUCKETS, receivables_ageing
from settlement.services.alert_engine import AlertFinding, alerts_sync
from tests.factories import (
    EnterpriseFactory,
    HospitalFactory,
    RegionFactory,
    UserFactory,
    enterprise_user,
    red_line_for,
    settleable_line,
)
from tests.settlement.test_lines import line_for, make_lines, put_in_batch

pytestmark = pytest.mark.django_db


def as_json(data) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


# --- /lines/ ---------------------------------------------------------------------------------


@pytest.fixture
def seller():
    return EnterpriseFactory()


@pytest.fixture
def lines_of_every_stage(seller):
    """Lines on a statement, in batches (open, approved, paid), awaiting receipt, reversed."""
    make_lines(seller, 7)
    lines = list(InvoiceLine.objects.filter(distributor=seller).order_by("pk"))
    put_in_batch(lines[0], "draft")
    put_in_batch(lines[1], "approved")
    put_in_batch(lines[2], "approved", paid=True)
    InvoiceLine.objects.filter(pk=lines[3].pk).update(match_status=MatchStatus.REVERSED)
    line_for(seller, received=False)  # awaiting receipt
    line_for(seller, issued_at=dt.date(2026, 8, 3))  # another month, pending matching
    return enterprise_user(seller)


def test_staged_rows_render_as_the_serializer_renders_the_lines(lines_of_every_stage):
    user = lines_of_every_stage
    stages = set()
    for filters in (LineFilters(), LineFilters(period="2026-08"), *(LineFilters(stage=s) for s in LineStage.LABELS)):
        expected = LineSerializer(invoice_lines_with_stage(user, filters), many=True).data
        rows = StagedLineRows(user, filters)
        assert rows.count() == len(expected)
        got = [line_data(r) for start in range(0, len(expected), 3) for r in rows[start : start + 3]]  # pages of 3
        assert as_json(got) == as_json(expected)
        stages |= {r["stage"] for r in got}
    assert {LineStage.PAID, LineStage.IN_BATCH, LineStage.REVERSED, LineStage.AWAITING_RECEIPT} <= stages


def test_staged_rows_refuse_what_the_queryset_refuses(seller):
    user = enterprise_user(seller)
    for filters in (LineFilters(stage="nowhere"), LineFilters(period="2026-13")):
        with pytest.raises(ValueError):
            invoice_lines_with_stage(user, filters)
        with pytest.raises(ValueError):
            StagedLineRows(user, filters)


def test_lines_api_pages_cost_three_queries_whatever_their_size(seller, api, django_assert_num_queries):
    client = api(enterprise_user(seller))
    make_lines(seller, 3)
    with django_assert_num_queries(3):  # token, count, page
        small = client.get("/api/v1/lines/")
    make_lines(seller, 60)
    with django_assert_num_queries(3):
        full = client.get("/api/v1/lines/")
    with django_assert_num_queries(3):
        staged = client.get("/api/v1/lines/", {"stage": "awaiting_confirmation", "page": 2})
    assert small.data["count"] == 3 and full.data["count"] == 63 and len(full.data["results"]) == 50
    assert staged.data["count"] == 63 and len(staged.data["results"]) == 13
    first_page_keys = {r["key"] for r in full.data["results"]}
    assert first_page_keys.isdisjoint(r["key"] for r in staged.data["results"])


def test_an_empty_lines_list_needs_no_page_query(seller, api, django_assert_num_queries):
    client = api(enterprise_user(seller))
    with django_assert_num_queries(2):  # token, count
        response = client.get("/api/v1/lines/")
    assert response.status_code == 200 and response.data["count"] == 0 and response.data["results"] == []


def test_lines_api_past_the_last_page_is_404(seller, api):
    make_lines(seller, 2)
    response = api(enterprise_user(seller)).get("/api/v1/lines/", {"page": 2})
    assert response.status_code == 404


# --- /alerts/ --------------------------------------------------------------------------------


@pytest.fixture
def alerts():
    region = RegionFactory(code="371002")
    hospital = HospitalFactory(region=region)
    findings = [
        AlertFinding(
            subject_type="invoice_line",
            subject_key=f"A{i}/1",
            severity=("medium", "high")[i % 2],
            region_code=region.code,
            hospital_code=hospital.code,
            amount=Decimal(f"{i}.50") if i % 3 else None,
            stage="exception",
            responsible="enterprise",
            evidence={"days_overdue": i},
        )
        for i in range(12)
    ]
    alerts_sync(
        kind="PAYMENT_OVERDUE", region_prefix="3710", period=None, as_of=dt.date(2026, 10, 20), findings=findings
    )
    return UserFactory(role="admin")


def test_alert_rows_render_as_the_serializer_renders_the_alerts(alerts):
    qs = alerts_for(alerts)
    expected = AlertSerializer(qs, many=True).data
    got = AlertListView.render_rows(qs.values(*AlertListView.render_rows.fields))
    assert len(got) == 12 and as_json(got) == as_json(expected)
    assert any(r["amount"] is None for r in got) and any(r["resolved_at"] is None for r in got)


def test_alert_list_reads_no_evidence_and_a_fixed_number_of_queries(alerts, api):
    client = api(alerts)
    with CaptureQueriesContext(connection) as few:
        first = client.get("/api/v1/alerts/", {"page_size": 2})
    with CaptureQueriesContext(connection) as many:
        full = client.get("/api/v1/alerts/", {"page_size": 500})
    assert len(many) == len(few) and first.data["count"] == full.data["count"] == Alert.objects.count() == 12
    page_sql = many.captured_queries[-1]["sql"]
    assert "evidence" not in page_sql and "LIMIT" in page_sql.upper()
    assert full.data["results"][0]["alert_no"] == Alert.objects.order_by("-created_at", "-id")[0].alert_no


# --- /receivables/ ---------------------------------------------------------------------------


AS_OF = dt.date(2026, 12, 31)


def ageing_line_by_line(user, as_of: dt.date) -> dict:
    """The definition, one line at a time: unpaid blue lines by acceptance age, late red lines negative."""
    paid = set(BatchLine.objects.paid().values_list("invoice_line_id", flat=True))

    def bucket(accepted: dt.date) -> str:
        age = (as_of - accepted).days
        return next(b for b in BUCKETS if BUCKET_AGES[b][0] <= age <= (BUCKET_AGES[b][1] or age))

    out: dict = defaultdict(lambda: dict.fromkeys(BUCKETS, Decimal("0.00")))
    for line in InvoiceLine.objects.select_related("delivery_line", "reverses__delivery_line"):
        if line.pk in paid or line.issued_at > as_of:
            continue
        if line.kind == InvoiceKind.BLUE:
            dl = line.delivery_line
            if line.match_status == MatchStatus.REVERSED or not dl or not dl.accepted_qty or dl.accepted_date > as_of:
                continue
            out[line.distributor_id, line.hospital_id][bucket(dl.accepted_date)] += line.net_amount or line.amount
        elif line.reverses_id in paid and line.reverses.delivery_line.accepted_date <= as_of:
            out[line.distributor_id, line.hospital_id][bucket(line.reverses.delivery_line.accepted_date)] += line.amount
    return {key: buckets for key, buckets in out.items() if any(buckets.values())}


@pytest.fixture
def receivables_world():
    h1, h2 = HospitalFactory(), HospitalFactory()
    d1, d2 = EnterpriseFactory(), EnterpriseFactory()
    for accepted in ("2026-12-31", "2026-12-01", "2026-11-30", "2026-10-02", "2026-10-01", "2026-06-01"):
        settleable_line(h1, d1, amount="10.25", accepted=accepted)
        settleable_line(h2, d1, amount="3.10", accepted=accepted)
    settleable_line(h2, d2, amount="60.00", accepted="2026-09-01")
    settleable_line(h1, d2, amount="7.00", accepted="2027-01-05")  # accepted after the as-of date
    paid_blue = settleable_line(h1, d2, amount="40.00", accepted="2026-11-15")
    assert BatchLine.objects.paid().filter(pk=put_in_batch(paid_blue, "paid", paid=True).pk).exists()
    red_line_for(paid_blue, qty=1, issued_at=dt.date(2026, 12, 20))  # owed back
    return UserFactory(role="admin")


def test_receivables_equal_the_line_by_line_definition(receivables_world):
    rows = receivables_ageing(user=receivables_world, as_of=AS_OF)
    expected = ageing_line_by_line(receivables_world, AS_OF)
    assert {(r.distributor_credit_code, r.hospital_code): r.buckets for r in rows} == expected
    assert any(v < 0 for buckets in expected.values() for v in buckets.values())  # the late red line counts
    assert [(r.distributor_credit_code, r.hospital_code) for r in rows] == sorted(expected)
    assert all(r.distributor_name and r.hospital_name for r in rows)


def test_receivables_api_is_three_queries_whatever_the_number_of_parties(
    receivables_world, api, django_assert_num_queries
):
    client = api(receivables_world)
    with django_assert_num_queries(3):  # token, one aggregate, the parties' names
        before = client.get("/api/v1/receivables/", {"as_of": AS_OF.isoformat()})
    for _ in range(5):
        settleable_line(HospitalFactory(), EnterpriseFactory(), amount="1.00", accepted="2026-12-30")
    with django_assert_num_queries(3):
        after = client.get("/api/v1/receivables/", {"as_of": AS_OF.isoformat()})
    assert after.data["count"] == before.data["count"] + 5
    assert Decimal(after.data["totals"]["total"]) == Decimal(before.data["totals"]["total"]) + 5
