"""Agreement progress (DOMAIN.md "Agreement progress"): the purchase window, rates,
statuses at their boundaries, the API, the export and the pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from interchange.exports import exports_registry
from parties.models import Role
from procurement.models import Agreement
from procurement.selectors.progress import agreement_progress, progress_frame
from tests.factories import (
    AgreementFactory,
    BureauFactory,
    DeliveryLineFactory,
    EnterpriseFactory,
    HospitalFactory,
    ProductFactory,
    RegionFactory,
    UserFactory,
    at,
    bureau_user,
    enterprise_user,
    hospital_user,
)

pytestmark = pytest.mark.django_db

YS, YE = dt.date(2026, 1, 1), dt.date(2026, 12, 31)


def receipt(agreement, qty: int, accepted: str, *, rejected: int = 0, ordered: str | None = None):
    """A receipt of ``qty`` delivered packages of the agreement's product, ``rejected`` of them refused."""
    ordered_at = at(ordered or accepted, 8) - dt.timedelta(days=1)
    return DeliveryLineFactory(
        order_line__hospital=agreement.hospital,
        order_line__product=agreement.product,
        order_line__qty=qty,
        order_line__ordered_at=ordered_at,
        qty=qty,
        delivered_at=ordered_at + dt.timedelta(hours=2),
        accepted_qty=qty - rejected,
        rejected_qty=rejected,
        reject_reason="破损 / damaged" if rejected else "",
        received_at=at(accepted, 11),
        accepted_date=dt.date.fromisoformat(accepted),
    )


def one(as_of: dt.date, agreement=None):
    qs = Agreement.objects.filter(pk=agreement.pk) if agreement else Agreement.objects.all()
    (row,) = progress_frame(qs, as_of=as_of).to_dict("records")
    return row


def test_purchased_counts_accepted_receipts_inside_the_window_whatever_the_order_date():
    a = AgreementFactory(year_start=YS, year_end=YE, agreed_qty=1000)
    receipt(a, 100, "2026-01-01", ordered="2025-12-20")  # ordered before the year: counts
    receipt(a, 50, "2026-03-01", rejected=20)  # 30 accepted
    receipt(a, 70, "2025-12-31")  # before the year
    receipt(a, 90, "2026-06-02")  # after D
    other_product = AgreementFactory(hospital=a.hospital, year_start=YS, year_end=YE)
    receipt(other_product, 500, "2026-02-01")
    other_hospital = AgreementFactory(product=a.product, year_start=YS, year_end=YE)
    receipt(other_hospital, 400, "2026-02-01")
    row = one(dt.date(2026, 6, 1), a)
    assert row["purchased_qty"] == 130
    # receipts after year_end do not count even when D is later
    receipt(a, 11, "2027-01-02")
    assert one(dt.date(2027, 3, 1), a)["purchased_qty"] == 220


def test_expected_rate_is_clamped_and_statuses():
    a = AgreementFactory(year_start=YS, year_end=YE, agreed_qty=365)
    (before,) = agreement_progress(UserFactory(role=Role.ADMIN), as_of=dt.date(2025, 12, 1))
    assert (before.expected_rate, before.status) == (Decimal("0.0000"), "on_track")
    (after,) = agreement_progress(UserFactory(role=Role.ADMIN, username="adm2"), as_of=dt.date(2027, 6, 1))
    assert (after.expected_rate, after.status) == (Decimal("1.0000"), "behind")
    receipt(a, 365, "2026-03-01")
    row = one(dt.date(2026, 3, 1), a)
    assert row["status"] == "completed"


def test_lag_of_exactly_ten_points_is_on_track_and_one_package_less_is_behind():
    # D = 2026-05-14 → expected 134/365; agreed 3650 → boundary purchased = 1340 − 365 = 975
    a = AgreementFactory(year_start=YS, year_end=YE, agreed_qty=3650)
    receipt(a, 975, "2026-02-01")
    assert one(dt.date(2026, 5, 14), a)["status"] == "on_track"
    b = AgreementFactory(year_start=YS, year_end=YE, agreed_qty=3650)
    receipt(b, 974, "2026-02-01")
    assert one(dt.date(2026, 5, 14), b)["status"] == "behind"


def test_lag_follows_the_regions_policy(settings):
    settings.POLICY_REGION_OVERRIDES = {"371000": {"AGREEMENT_LAG": Decimal("0.20")}}
    a = AgreementFactory(year_start=YS, year_end=YE, agreed_qty=3650)
    receipt(a, 974, "2026-02-01")  # behind by more than 10 points, less than 20
    assert one(dt.date(2026, 5, 14), a)["status"] == "on_track"


def test_progress_frame_makes_a_constant_number_of_queries():
    for _ in range(2):
        receipt(AgreementFactory(year_start=YS, year_end=YE), 10, "2026-02-01")
    with CaptureQueriesContext(connection) as few:
        progress_frame(Agreement.objects.all(), as_of=dt.date(2026, 6, 1))
    for _ in range(8):
        receipt(AgreementFactory(year_start=YS, year_end=YE), 10, "2026-02-01")
    with CaptureQueriesContext(connection) as many:
        df = progress_frame(Agreement.objects.all(), as_of=dt.date(2026, 6, 1))
    assert len(df) == 10 and len(many) == len(few) == 2  # agreements + one window


# --- API ---------------------------------------------------------------------------------


@pytest.fixture
def two_cities():
    weihai = HospitalFactory(region=RegionFactory(code="371002"))
    rizhao = HospitalFactory(region=RegionFactory(code="371102"))
    behind = AgreementFactory(hospital=weihai, year_start=YS, year_end=YE, agreed_qty=1000)
    ok = AgreementFactory(hospital=weihai, year_start=YS, year_end=YE, agreed_qty=1000)
    receipt(ok, 600, "2026-03-01")
    far = AgreementFactory(hospital=rizhao, year_start=YS, year_end=YE, agreed_qty=1000)
    return {"weihai": weihai, "rizhao": rizhao, "behind": behind, "ok": ok, "far": far}


def api(user, query=""):
    c = APIClient()
    c.force_authenticate(user)
    return c.get(f"/api/v1/agreements/progress/{query}")


def test_api_is_scoped(two_cities):
    h = api(hospital_user(two_cities["weihai"]), "?as_of=2026-06-30").json()
    assert h["count"] == 2 and {r["hospital_code"] for r in h["results"]} == {two_cities["weihai"].code}
    bureau = bureau_user(BureauFactory(region=RegionFactory(code="371000")))
    assert api(bureau, "?as_of=2026-06-30").json()["count"] == 2
    assert api(enterprise_user(EnterpriseFactory()), "?as_of=2026-06-30").json()["count"] == 0


def test_api_rows_filters_and_errors(two_cities):
    admin = UserFactory(role=Role.ADMIN)
    body = api(admin, "?as_of=2026-06-30&status=behind&order=lag").json()
    assert {r["product_code"] for r in body["results"]} == {
        two_cities["behind"].product_id,
        two_cities["far"].product_id,
    }
    assert {(r["status"], r["lag"]) for r in body["results"]} == {("behind", "0.4959")}
    ok = api(
        admin, f"?as_of=2026-06-30&hospital={two_cities['weihai'].code}&product={two_cities['ok'].product_id}"
    ).json()
    (row,) = ok["results"]
    assert (row["purchased_qty"], row["completion_rate"], row["expected_rate"], row["status"]) == (
        600,
        "0.6000",
        "0.4959",
        "on_track",
    )
    assert api(admin, "?as_of=2026-02-30").status_code == 400
    bad = api(admin, "?status=late")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"


def test_agreement_progress_export(two_cities):
    spec = exports_registry()["agreement_progress"]
    assert spec.columns == (
        "round_code",
        "hospital_code",
        "product_code",
        "year_start",
        "agreed_qty",
        "purchased_qty",
        "completion_rate",
        "expected_rate",
        "status",
    )
    rows = list(spec.rows(user=hospital_user(two_cities["weihai"]), as_of=dt.date(2026, 6, 30)))
    assert len(rows) == 2
    ok = next(r for r in rows if r[2] == two_cities["ok"].product_id)
    assert ok[3:] == (YS, 1000, 600, Decimal("0.6000"), Decimal("0.4959"), "on_track")


# --- pages ----------------------------------------------------------------------------------


def test_hospital_page_draws_the_chart_and_the_curve(client, two_cities):
    user = hospital_user(two_cities["weihai"])
    client.force_login(user)
    r = client.get(reverse("agreement-progress") + f"?as_of=2026-06-30&hospital={two_cities['rizhao'].code}")
    html = r.content.decode()
    assert r.status_code == 200 and html.count('class="pbar"') == 2  # its own two, never 日照's
    assert "<script" not in html and "cdn" not in html.lower()
    r = client.get(reverse("agreement-progress") + f"?as_of=2026-06-30&agreement={two_cities['ok'].pk}")
    assert 'class="pcurve"' in r.content.decode() and "600" in r.content.decode()


def test_bureau_overview_sorted_by_lag_and_other_region_is_404(client, two_cities):
    other = HospitalFactory(region=RegionFactory(code="371003"))
    AgreementFactory(hospital=other, year_start=YS, year_end=YE, agreed_qty=10)  # nothing bought
    receipt(AgreementFactory(hospital=other, year_start=YS, year_end=YE, agreed_qty=10), 10, "2026-02-01")  # done
    bureau = bureau_user(BureauFactory(region=RegionFactory(code="371000")))
    client.force_login(bureau)
    html = client.get(reverse("agreement-progress-overview") + "?as_of=2026-06-30").content.decode()
    # mean lag: 威海 (0.4959 + (0.4959 − 0.6))/2 ≈ 0.196; the other (0.4959 + (0.4959 − 1))/2 ≈ −0.004
    assert html.index(two_cities["weihai"].code) < html.index(other.code)
    assert two_cities["rizhao"].code not in html
    assert client.get(reverse("agreement-progress") + f"?hospital={two_cities['rizhao'].code}").status_code == 404
    assert client.get(reverse("agreement-progress")).status_code == 302  # bureau without ?hospital → overview


def test_enterprise_cannot_open_progress_pages(client):
    client.force_login(enterprise_user(EnterpriseFactory()))
    assert client.get(reverse("agreement-progress")).status_code == 403
    assert client.get(reverse("agreement-progress-overview")).status_code == 403


def test_no_agreements_no_rows_and_no_receipt_queries():
    ProductFactory()
    with CaptureQueriesContext(connection) as queries:
        df = progress_frame(Agreement.objects.none(), as_of=dt.date(2026, 1, 1))
    assert df.empty and len(queries) <= 1
