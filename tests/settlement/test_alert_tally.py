"""The alert tally (AlertTally): a region's alerts counted by triggers, read by the inbox."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from settlement.models import Alert, AlertTally
from settlement.selectors.alerts import alert_count_by_tally, fold_alert_tally
from settlement.services.alert_engine import AlertFinding, alerts_sync
from tests.factories import BureauFactory, RegionFactory, UserFactory, bureau_user
from tests.worker.support import blocker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
D = dt.date(2026, 10, 20)
PREFIXES = ("", "37", "3710", "371002", "3720", "372001", "38")


def sync(keys, region, prefix, kind="SUPPLY_DELAY"):
    found = [
        AlertFinding(subject_type="order_line", subject_key=k, severity="medium", region_code=region) for k in keys
    ]
    return alerts_sync(kind=kind, region_prefix=prefix, period=None, findings=found, as_of=D)


def tally(prefix: str) -> int:
    return sum(AlertTally.objects.filter(region_code__startswith=prefix).values_list("n", flat=True))


def counted(prefix: str) -> int:
    return Alert.objects.filter(region_code__startswith=prefix).count()


def assert_exact():
    assert {p: tally(p) for p in PREFIXES} == {p: counted(p) for p in PREFIXES}


def test_the_tally_follows_every_insert_move_and_delete_and_a_fold_keeps_it():
    # given alerts created by two syncs in two regions
    sync([f"A/{i}" for i in range(5)], "371002", "3710")
    sync([f"B/{i}" for i in range(3)], "372001", "3720")
    assert counted("37") == 8
    assert_exact()
    # one row per region at most once each sync has folded
    assert AlertTally.objects.count() == 2
    # when an alert moves region, and another is deleted
    moved = Alert.objects.filter(region_code="371002").first()
    Alert.objects.filter(pk=moved.pk).update(region_code="372001")
    Alert.objects.filter(region_code="372001").exclude(pk=moved.pk).first().delete()
    # then the tally still equals the count, for every prefix, before and after a fold
    assert (counted("3710"), counted("3720")) == (4, 3)
    assert_exact()
    fold_alert_tally()
    assert_exact()
    assert AlertTally.objects.count() == 2
    # and a status change writes nothing to it
    rows = AlertTally.objects.count()
    Alert.objects.update(status="acknowledged")
    assert AlertTally.objects.count() == rows


def test_a_fold_does_not_wait_for_rows_another_transaction_holds():
    sync(["A/1", "A/2"], "371002", "3710")
    sync(["B/1"], "372001", "3720")
    Alert.objects.filter(region_code="372001").update(region_code="371002")  # two more rows
    held = list(AlertTally.objects.order_by("id").values_list("id", flat=True))[:1]
    with blocker() as other:
        other.execute("SELECT id FROM settlement_alerttally WHERE id = %s FOR UPDATE", held)
        # while another transaction holds one row, the fold takes the others and does not wait
        with connection.cursor() as ours:
            ours.execute("SET lock_timeout = '2s'")
        try:
            fold_alert_tally()
        finally:
            with connection.cursor() as ours:
                ours.execute("RESET lock_timeout")
        assert AlertTally.objects.filter(pk=held[0]).exists()
        assert_exact()
    fold_alert_tally()
    assert_exact()
    assert AlertTally.objects.count() == 1  # all of it in 371002 now (the 3720 row folded to 0: gone)


def test_the_province_inbox_is_counted_from_the_tally_and_equals_the_alerts():
    sync([f"A/{i}" for i in range(4)], "371002", "3710")
    sync([f"B/{i}" for i in range(2)], "372001", "3720")
    city = bureau_user(BureauFactory(region=RegionFactory(code="371000")), role="price_analyst")
    province = bureau_user(BureauFactory(region=RegionFactory(code="370000")), role="price_analyst")
    admin = UserFactory(role="admin", is_superuser=True)
    assert (alert_count_by_tally(city), alert_count_by_tally(province), alert_count_by_tally(admin)) == (4, 6, 6)
    client = APIClient()
    client.force_authenticate(province)
    with CaptureQueriesContext(connection) as seen:
        page = client.get("/api/v1/alerts/", {"page_size": 2})
    assert page.status_code == 200 and page.data["count"] == 6 and len(page.data["results"]) == 2
    assert not [q for q in seen.captured_queries if 'COUNT(*) AS "__count" FROM "settlement_alert"' in q["sql"]]
    # a filtered inbox is counted from the alerts themselves
    with CaptureQueriesContext(connection) as seen:
        filtered = client.get("/api/v1/alerts/", {"status": "open", "page_size": 2})
    assert filtered.data["count"] == 6
    assert [q for q in seen.captured_queries if 'COUNT(*) AS "__count" FROM "settlement_alert"' in q["sql"]]
