"""Review workflow: bulk confirm/dismiss with a reason (service, page, API) and the credit record."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from parties.models import Role
from price_monitor.selectors.alerts import CreditLevel, credit_level, credit_summaries
from price_monitor.services.review import MSG_REASON_REQUIRED, ReviewError, price_alerts_review
from settlement.models import AlertEvent
from tests.factories import BureauFactory, EnterpriseFactory, RegionFactory, UserFactory, bureau_user, enterprise_user
from tests.price_monitor.builders import price_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst():
    province = RegionFactory(code="370000")
    return bureau_user(BureauFactory(region=RegionFactory(code="371000", parent=province)), role=Role.PRICE_ANALYST)


@pytest.fixture
def enterprise():
    return EnterpriseFactory()


# ------------------------------------------------------------------ service


def test_bulk_confirm_records_who_and_why(analyst, enterprise):
    # given two open alerts
    a = price_alert(enterprise_code=enterprise.credit_code)
    b = price_alert(hospital_code="H37100200002", enterprise_code=enterprise.credit_code)
    # when the analyst confirms both with a reason
    result = price_alerts_review(
        alert_nos=[a.alert_no, b.alert_no], decision="confirm", reason="核实属实", user=analyst
    )
    # then both are confirmed, each with a history row naming the analyst and the reason
    assert result.changed == 2
    for alert in (a, b):
        alert.refresh_from_db()
        assert alert.status == "confirmed"
        event = AlertEvent.objects.get(alert=alert, action="confirmed")
        assert (event.user, event.reason, event.from_status) == (analyst, "核实属实", "open")


def test_review_needs_a_reason(analyst):
    a = price_alert()
    with pytest.raises(ReviewError) as exc:
        price_alerts_review(alert_nos=[a.alert_no], decision="dismiss", reason="  ", user=analyst)
    assert exc.value.code == "reason_required" and exc.value.message == str(MSG_REASON_REQUIRED)
    a.refresh_from_db()
    assert a.status == "open"


def test_review_is_all_or_nothing(analyst):
    # given one open alert and one already dismissed
    a = price_alert()
    b = price_alert(hospital_code="H37100200002")
    price_alerts_review(alert_nos=[b.alert_no], decision="dismiss", reason="误报", user=analyst)
    # when both are confirmed together
    with pytest.raises(ReviewError) as exc:
        price_alerts_review(alert_nos=[a.alert_no, b.alert_no], decision="confirm", reason="属实", user=analyst)
    # then neither changes
    assert exc.value.code == "invalid_transition"
    a.refresh_from_db()
    assert a.status == "open"


def test_review_replay_changes_nothing(analyst):
    a = price_alert()
    price_alerts_review(alert_nos=[a.alert_no], decision="confirm", reason="属实", user=analyst)
    again = price_alerts_review(alert_nos=[a.alert_no], decision="confirm", reason="属实", user=analyst)
    assert again.changed == 0
    assert AlertEvent.objects.filter(alert=a, action="confirmed").count() == 1


@pytest.mark.parametrize("decision,nos,code", [("approve", ["AL1"], "invalid_decision"), ("confirm", [], "no_alerts")])
def test_review_refuses_bad_input(analyst, decision, nos, code):
    with pytest.raises(ReviewError) as exc:
        price_alerts_review(alert_nos=nos, decision=decision, reason="x", user=analyst)
    assert exc.value.code == code


def test_review_unknown_alert(analyst):
    with pytest.raises(ReviewError) as exc:
        price_alerts_review(alert_nos=["AL2026NOPE"], decision="confirm", reason="x", user=analyst)
    assert exc.value.code == "not_found"


# ------------------------------------------------------------------ credit record


@pytest.mark.parametrize(
    "counts,level",
    [
        ({}, CreditLevel.NONE),
        ({"medium": 1}, CreditLevel.GENERAL),
        ({"medium": 3}, CreditLevel.SERIOUS),
        ({"high": 1, "medium": 5}, CreditLevel.SERIOUS),
        ({"high": 3}, CreditLevel.PARTICULARLY_SERIOUS),
        ({"critical": 1}, CreditLevel.PARTICULARLY_SERIOUS),
    ],
)
def test_credit_level(counts, level):
    assert credit_level(counts) == level


def test_confirmed_alerts_make_the_credit_record(analyst, enterprise):
    # given a confirmed high alert, a dismissed one and an open one of the enterprise
    confirmed = price_alert(enterprise_code=enterprise.credit_code)
    dismissed = price_alert(hospital_code="H37100200002", enterprise_code=enterprise.credit_code)
    price_alert(hospital_code="H37100200003", enterprise_code=enterprise.credit_code)
    price_alerts_review(alert_nos=[confirmed.alert_no], decision="confirm", reason="属实", user=analyst)
    price_alerts_review(alert_nos=[dismissed.alert_no], decision="dismiss", reason="误报", user=analyst)
    # then its record counts the confirmed one only: 严重失信 for a high alert
    [summary] = credit_summaries(analyst)
    assert (summary.enterprise_code, summary.confirmed, summary.level) == (
        enterprise.credit_code,
        1,
        CreditLevel.SERIOUS,
    )
    assert summary.by_kind == {"PRICE_ABOVE_AWARD": 1}
    # and the enterprise sees its own record, another enterprise nothing
    assert [s.enterprise_code for s in credit_summaries(enterprise_user(enterprise))] == [enterprise.credit_code]
    assert credit_summaries(enterprise_user(EnterpriseFactory())) == []


def test_credit_record_is_scoped_to_the_analysts_region(enterprise):
    # given a confirmed alert in Linyi (3713) and an analyst of Weihai (3710)
    linyi = price_alert(hospital_code="H37130200001", enterprise_code=enterprise.credit_code)
    admin = UserFactory(role=Role.ADMIN)
    price_alerts_review(alert_nos=[linyi.alert_no], decision="confirm", reason="属实", user=admin)
    weihai = bureau_user(BureauFactory(region=RegionFactory(code="371000")), role=Role.PRICE_ANALYST)
    assert credit_summaries(weihai) == []
    assert len(credit_summaries(admin)) == 1


# ------------------------------------------------------------------ pages


def test_inbox_lists_filters_and_bulk_reviews(client, analyst, enterprise):
    # given two alerts in the analyst's region and one outside it
    a = price_alert(enterprise_code=enterprise.credit_code)
    b = price_alert(kind="PRICE_OUTLIER", hospital_code="H37100200002", severity="medium")
    other = price_alert(hospital_code="H37130200001")
    client.force_login(analyst)
    # when the inbox is opened, then filtered by kind
    page = client.get(reverse("price_inbox"))
    filtered = client.get(reverse("price_inbox"), {"kind": "PRICE_OUTLIER"})
    # then it shows its region's alerts only, and the filter narrows them
    assert page.status_code == 200
    assert a.alert_no in page.text and b.alert_no in page.text and other.alert_no not in page.text
    assert b.alert_no in filtered.text and a.alert_no not in filtered.text
    # when both are dismissed in bulk without a reason, nothing changes
    resp = client.post(
        reverse("price_alert_review"), {"alert_no": [a.alert_no, b.alert_no], "decision": "dismiss", "reason": ""}
    )
    assert resp.status_code == 302
    a.refresh_from_db()
    assert a.status == "open"
    # and with a reason both are dismissed
    client.post(
        reverse("price_alert_review"),
        {"alert_no": [a.alert_no, b.alert_no], "decision": "dismiss", "reason": "数据错误"},
    )
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status) == ("dismissed", "dismissed")


def test_inbox_filters_by_product_hospital_enterprise_and_severity(client, analyst, enterprise):
    a = price_alert(enterprise_code=enterprise.credit_code)
    b = price_alert(
        hospital_code="H37100200002", product_code="XA01ABD075A002010100002", severity="medium", kind="PRICE_OUTLIER"
    )
    client.force_login(analyst)
    url = reverse("price_inbox")
    assert b.alert_no not in client.get(url, {"product": "XA01ABD075A002010100001"}).text
    assert a.alert_no not in client.get(url, {"hospital": "H37100200002"}).text
    assert b.alert_no not in client.get(url, {"enterprise": enterprise.credit_code}).text
    assert a.alert_no not in client.get(url, {"severity": "medium"}).text


def test_inbox_query_count_is_constant(client, analyst, django_assert_max_num_queries):
    for i in range(1, 4):
        price_alert(hospital_code=f"H371002{i:05d}")
    client.force_login(analyst)
    with django_assert_max_num_queries(14) as few:
        client.get(reverse("price_inbox"))
    for i in range(4, 30):
        price_alert(hospital_code=f"H371002{i:05d}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("price_inbox"))


def test_review_of_another_regions_alert_is_404(client, analyst):
    other = price_alert(hospital_code="H37130200001")
    client.force_login(analyst)
    resp = client.post(
        reverse("price_alert_review"), {"alert_no": [other.alert_no], "decision": "confirm", "reason": "x"}
    )
    assert resp.status_code == 404
    assert client.get(reverse("price_alert_detail", args=[other.alert_no])).status_code == 404
    other.refresh_from_db()
    assert other.status == "open"


def test_inbox_is_for_analysts(client):
    admin = UserFactory(role=Role.ADMIN, is_superuser=False)
    client.force_login(bureau_user(BureauFactory(), role=Role.BUREAU_OPERATOR))
    assert client.get(reverse("price_inbox")).status_code == 403
    client.force_login(admin)
    assert client.get(reverse("price_inbox")).status_code == 200


def test_credit_pages(client, analyst, enterprise):
    a = price_alert(enterprise_code=enterprise.credit_code)
    price_alerts_review(alert_nos=[a.alert_no], decision="confirm", reason="属实", user=analyst)
    client.force_login(analyst)
    listing = client.get(reverse("price_credit_list"))
    detail = client.get(reverse("price_credit_detail", args=[enterprise.credit_code]))
    assert enterprise.name in listing.text and "严重失信" in listing.text
    assert a.alert_no in detail.text
    # an enterprise opens its own record, not another's
    client.force_login(enterprise_user(enterprise))
    assert client.get(reverse("price_credit_detail", args=[enterprise.credit_code])).status_code == 200
    client.force_login(enterprise_user(EnterpriseFactory()))
    assert client.get(reverse("price_credit_detail", args=[enterprise.credit_code])).status_code == 404


# ------------------------------------------------------------------ API


def test_api_bulk_review_with_idempotency_key(client, analyst):
    a = price_alert()
    client.force_login(analyst)
    url = reverse("api_price_alert_review")
    body = json.dumps({"alert_nos": [a.alert_no], "decision": "confirm", "reason": "属实"})
    first = client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    replay = client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 200 and first.json()["changed"] == 1
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
    a.refresh_from_db()
    assert a.status == "confirmed"


def test_api_review_errors(client, analyst):
    a = price_alert()
    other = price_alert(hospital_code="H37130200001")
    client.force_login(analyst)
    url = reverse("api_price_alert_review")
    no_reason = client.post(
        url, {"alert_nos": [a.alert_no], "decision": "confirm", "reason": ""}, content_type="application/json"
    )
    assert no_reason.status_code == 400
    assert no_reason.json()["code"] == "reason_required"
    assert set(no_reason.json()) == {"code", "detail", "fields"}
    hidden = client.post(
        url, {"alert_nos": [other.alert_no], "decision": "confirm", "reason": "x"}, content_type="application/json"
    )
    assert hidden.status_code == 404
    bad = client.post(
        url, {"alert_nos": [a.alert_no], "decision": "maybe", "reason": "x"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "decision" in bad.json()["fields"]


def test_api_credit_record(client, analyst, enterprise):
    a = price_alert(enterprise_code=enterprise.credit_code)
    price_alerts_review(alert_nos=[a.alert_no], decision="confirm", reason="属实", user=analyst)
    client.force_login(enterprise_user(enterprise))
    listing = client.get(reverse("api_price_credit_list")).json()
    detail = client.get(reverse("api_price_credit_detail", args=[enterprise.credit_code])).json()
    assert [r["enterprise_code"] for r in listing["results"]] == [enterprise.credit_code]
    assert detail["enterprise"]["level"] == "serious"
    assert [r["alert_no"] for r in detail["results"]] == [a.alert_no]
    assert detail["results"][0]["value"] == "12.0000"
    client.force_login(enterprise_user(EnterpriseFactory()))
    assert client.get(reverse("api_price_credit_detail", args=[enterprise.credit_code])).status_code == 404
