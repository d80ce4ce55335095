"""/api/v1/alerts/: scoping (another party's alert is 404), filters, constant queries,
transitions with reasons and Idempotency-Key replay; the ``alerts`` export."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from interchange.exports import exports_registry
from parties.models import Role
from settlement.api.alert_views import MSG_ANALYST_ONLY
from settlement.models import Alert
from settlement.services.alert_engine import MSG_REASON_REQUIRED, AlertFinding, alerts_sync
from tests.factories import (
    BureauFactory,
    EnterpriseFactory,
    HospitalFactory,
    RegionFactory,
    UserFactory,
    bureau_user,
    enterprise_user,
    hospital_user,
)

pytestmark = pytest.mark.django_db

D = dt.date(2026, 10, 20)


@pytest.fixture
def world():
    """Two hospitals in 威海 (3710) and one in 日照 (3711); one enterprise; alerts of each."""
    weihai = RegionFactory(code="371002")
    rizhao = RegionFactory(code="371102")
    h1, h2, h3 = HospitalFactory(region=weihai), HospitalFactory(region=weihai), HospitalFactory(region=rizhao)
    ent, other_ent = EnterpriseFactory(), EnterpriseFactory()

    def f(key, hospital, enterprise="", severity="medium", **kw):
        return AlertFinding(
            subject_type="invoice_line",
            subject_key=key,
            severity=severity,
            region_code=hospital.region_id,
            hospital_code=hospital.code,
            enterprise_code=enterprise,
            **kw,
        )

    alerts_sync(
        kind="PAYMENT_OVERDUE",
        region_prefix="3710",
        period=None,
        as_of=D,
        findings=[
            f("A/1", h1, ent.credit_code, "high", stage="exception", responsible="enterprise", amount=Decimal("10.00")),
            f("B/1", h2, other_ent.credit_code, stage="awaiting_batch", responsible="bureau", amount=Decimal("20.00")),
        ],
    )
    alerts_sync(
        kind="PAYMENT_OVERDUE",
        region_prefix="3711",
        period=None,
        as_of=D,
        findings=[f("C/1", h3, ent.credit_code, "critical", stage="awaiting_bank", responsible="bank")],
    )
    alerts_sync(
        kind="PRICE_ABOVE_AWARD",
        region_prefix="3710",
        period="2026-09",
        as_of=D,
        findings=[
            AlertFinding(
                subject_type="hospital_product",
                subject_key=f"{h1.code}/X1",
                severity="high",
                region_code=h1.region_id,
                period="2026-09",
                hospital_code=h1.code,
            )
        ],
    )
    city = BureauFactory(region=RegionFactory(code="371000"))
    return {
        "h1": h1,
        "h3": h3,
        "ent": ent,
        "ent_user": enterprise_user(ent),
        "h1_user": hospital_user(h1),
        "operator": bureau_user(city),
        "analyst": bureau_user(city, role=Role.PRICE_ANALYST),
        "admin": UserFactory(role=Role.ADMIN),
    }


def client_for(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def keys(response) -> list[str]:
    return sorted(r["subject_key"] for r in response.json()["results"])


def test_each_party_sees_its_own_alerts(world):
    assert keys(client_for(world["ent_user"]).get("/api/v1/alerts/")) == ["A/1", "C/1"]
    assert keys(client_for(world["h1_user"]).get("/api/v1/alerts/")) == ["A/1", f"{world['h1'].code}/X1"]
    assert keys(client_for(world["operator"]).get("/api/v1/alerts/")) == ["A/1", "B/1", f"{world['h1'].code}/X1"]
    assert len(keys(client_for(world["admin"]).get("/api/v1/alerts/"))) == 4


def test_filters_and_bad_filter_values(world):
    c = client_for(world["admin"])
    assert keys(c.get("/api/v1/alerts/?kind=PAYMENT_OVERDUE&severity=critical")) == ["C/1"]
    assert keys(c.get("/api/v1/alerts/?status=open&kind=PRICE_ABOVE_AWARD")) == [f"{world['h1'].code}/X1"]
    r = c.get("/api/v1/alerts/?severity=urgent")
    assert r.status_code == 400 and r.json()["code"] == "invalid" and "severity" in r.json()["detail"]


def test_the_list_makes_a_constant_number_of_queries(world):
    c = client_for(world["admin"])
    with CaptureQueriesContext(connection) as few:
        c.get("/api/v1/alerts/")
    alerts_sync(
        kind="RECEIPT_PENDING",
        region_prefix="3710",
        period=None,
        as_of=D,
        findings=[
            AlertFinding(subject_type="delivery_line", subject_key=f"DL{i}/1", severity="medium", region_code="371002")
            for i in range(30)
        ],
    )
    with CaptureQueriesContext(connection) as many:
        r = c.get("/api/v1/alerts/")
    assert r.json()["count"] == 34
    assert len(many) == len(few)


def test_detail_of_another_partys_alert_is_404(world):
    other = Alert.objects.get(subject_key="B/1").alert_no
    r = client_for(world["ent_user"]).get(f"/api/v1/alerts/{other}/")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    mine = Alert.objects.get(subject_key="A/1").alert_no
    body = client_for(world["ent_user"]).get(f"/api/v1/alerts/{mine}/").json()
    assert body["stage"] == "exception" and body["events"][0]["action"] == "created" and body["amount"] == "10.00"


def test_acknowledge_is_idempotent_with_a_key(world):
    no = Alert.objects.get(subject_key="A/1").alert_no
    c = client_for(world["ent_user"])
    first = c.post(f"/api/v1/alerts/{no}/acknowledge/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = c.post(f"/api/v1/alerts/{no}/acknowledge/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 200 and first.json()["status"] == "acknowledged"
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert Alert.objects.get(alert_no=no).events.filter(action="acknowledged").count() == 1
    # a different body under the same key is a conflict
    assert (
        c.post(
            f"/api/v1/alerts/{no}/acknowledge/", {"reason": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
        ).status_code
        == 409
    )


def test_confirm_needs_an_analyst_and_a_reason(world):
    no = Alert.objects.get(kind="PRICE_ABOVE_AWARD").alert_no
    r = client_for(world["operator"]).post(f"/api/v1/alerts/{no}/confirm/", {"reason": "x"}, format="json")
    assert r.status_code == 403 and r.json()["detail"] == MSG_ANALYST_ONLY
    analyst = client_for(world["analyst"])
    r = analyst.post(f"/api/v1/alerts/{no}/confirm/", {"reason": " "}, format="json")
    assert (
        r.status_code == 400
        and r.json()["code"] == "reason_required"
        and r.json()["fields"]["reason"] == [MSG_REASON_REQUIRED]
    )
    r = analyst.post(f"/api/v1/alerts/{no}/confirm/", {"reason": "核实高于中选价 / verified"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert r.json()["events"][-1]["reason"] == "核实高于中选价 / verified"
    # dismissing a confirmed alert is a conflict; confirming a payment alert is refused
    r = analyst.post(f"/api/v1/alerts/{no}/dismiss/", {"reason": "x"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    pay = Alert.objects.get(subject_key="A/1").alert_no
    r = analyst.post(f"/api/v1/alerts/{pay}/dismiss/", {"reason": "x"}, format="json")
    assert r.status_code == 400 and r.json()["code"] == "not_price_kind"


def test_transition_on_another_partys_alert_is_404(world):
    no = Alert.objects.get(subject_key="C/1").alert_no  # 日照: outside the 威海 analyst's region
    r = client_for(world["analyst"]).post(f"/api/v1/alerts/{no}/acknowledge/", {}, format="json")
    assert r.status_code == 404
    assert Alert.objects.get(alert_no=no).status == "open"


def test_anonymous_gets_nothing():
    assert APIClient().get("/api/v1/alerts/").status_code in (401, 403)


def test_alerts_export_is_scoped_and_has_the_interchange_columns(world):
    spec = exports_registry()["alerts"]
    assert spec.columns == (
        "alert_no",
        "kind",
        "severity",
        "status",
        "subject_type",
        "subject_key",
        "period",
        "value",
        "threshold",
        "message",
        "created_at",
    )
    rows = list(spec.rows(user=world["ent_user"]))
    assert sorted(r[5] for r in rows) == ["A/1", "C/1"]
    price = list(spec.rows(user=world["admin"], period="2026-09"))
    assert [(r[1], r[6]) for r in price] == [("PRICE_ABOVE_AWARD", "2026-09")]
    assert all(isinstance(r[10], str) and r[10].endswith("+08:00") for r in rows)
