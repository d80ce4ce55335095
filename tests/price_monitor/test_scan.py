"""The scan end to end: database → observations → rules → alerts (one per subject and month)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from price_monitor.services.scan import prices_scan
from settlement.models import Alert, AlertEvent
from tests.factories import (
    AwardFactory,
    HospitalFactory,
    OrderLineFactory,
    ProductFactory,
    ReferencePriceFactory,
    RegionFactory,
    at,
)

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2026, 10, 1)


@pytest.fixture
def province():
    return RegionFactory(code="370000")


def test_scan_raises_price_above_award_with_evidence(province):
    # given an award of 10 and an order line at 10.5 in September
    award = AwardFactory(supply_region=province, award_price=Decimal("10.0000"))
    line = OrderLineFactory(product=award.product, unit_price=Decimal("10.5000"), qty=4)
    # when September is scanned
    [result] = prices_scan(period="2026-09", as_of=AS_OF)
    # then one high alert about hospital/product carries the evidence
    alert = Alert.objects.get(kind="PRICE_ABOVE_AWARD")
    assert result.findings["PRICE_ABOVE_AWARD"] == 1 and result.order_lines == 1
    assert alert.subject_key == f"{line.hospital_id}/{award.product_id}"
    assert (alert.severity, alert.period, alert.status) == ("high", "2026-09", "open")
    assert (alert.value, alert.threshold) == (Decimal("10.5000"), Decimal("10.0000"))
    assert alert.evidence["order_lines"] == [f"{line.order_no}/1"]
    assert alert.evidence["excess_amount"] == "2.0000"
    assert alert.enterprise_code == line.distributor_id
    assert alert.region_code == "371002" and alert.hospital_code == line.hospital_id


def test_rescan_updates_instead_of_duplicating_and_resolves_when_cleared(province):
    award = AwardFactory(supply_region=province, award_price=Decimal("10.0000"))
    line = OrderLineFactory(product=award.product, unit_price=Decimal("10.5000"))
    prices_scan(period="2026-09", as_of=AS_OF)
    # when scanned again
    prices_scan(period="2026-09", as_of=AS_OF)
    assert Alert.objects.filter(kind="PRICE_ABOVE_AWARD").count() == 1
    # and the offending line disappears (e.g. corrected at the source) before a third scan
    line.delete()
    prices_scan(period="2026-09", as_of=AS_OF)
    alert = Alert.objects.get(kind="PRICE_ABOVE_AWARD")
    assert alert.status == "resolved"
    assert AlertEvent.objects.filter(alert=alert, action="resolved").exists()


def test_scan_runs_every_rule_kind(province):
    # given a world where each rule fires once
    city = RegionFactory(code="371000", parent=province)
    product = ProductFactory()
    AwardFactory(product=product, supply_region=province, award_price=Decimal("10.0000"))
    ReferencePriceFactory(product=product, region=province, price=Decimal("11.0000"))  # listing
    ReferencePriceFactory(product=product, region=province, source="national_min", price=Decimal("5.0000"))
    hv = ProductFactory()
    ReferencePriceFactory(product=hv, region=province, price=Decimal("1200.0000"))
    ReferencePriceFactory(product=hv, region=city, source="retail", price=Decimal("1300.0000"))
    # September: four hospitals at 10 and a fifth at 12.5 (above award and listing, and an
    # outlier: MAD = 0, 12.5 > 1.10 × 10); the spike is a second product, 10 in August → 13
    for _ in range(4):
        OrderLineFactory(product=product, unit_price=Decimal("10.0000"), hospital=HospitalFactory())
    OrderLineFactory(product=product, unit_price=Decimal("12.5000"), hospital=HospitalFactory())
    spiky = ProductFactory()
    OrderLineFactory(product=spiky, unit_price=Decimal("10.0000"), ordered_at=at("2026-08-20"))
    OrderLineFactory(product=spiky, unit_price=Decimal("13.0000"))
    # when scanned
    [result] = prices_scan(period="2026-09", as_of=AS_OF)
    # then every kind has its finding
    kinds = set(Alert.objects.values_list("kind", flat=True))
    assert kinds == {
        "PRICE_ABOVE_AWARD",
        "PRICE_ABOVE_LISTING",
        "LISTING_ABOVE_REFERENCE",
        "PRICE_SPIKE",
        "PRICE_OUTLIER",
        "RETAIL_ABOVE_LISTING",
    }
    assert Alert.objects.get(kind="LISTING_ABOVE_REFERENCE").period == ""
    # the spike is reported for the hospitals' city (district 371002 → 371000, DOMAIN.md)
    assert Alert.objects.get(kind="PRICE_SPIKE").subject_key == f"{spiky.code}/371000"
    assert result.findings["PRICE_OUTLIER"] == 1


def test_scan_of_a_region_leaves_other_regions_alone(province):
    award = AwardFactory(supply_region=province, award_price=Decimal("10.0000"))
    other = HospitalFactory(region=RegionFactory(code="371302"))
    OrderLineFactory(product=award.product, unit_price=Decimal("11.0000"))
    OrderLineFactory(product=award.product, unit_price=Decimal("11.0000"), hospital=other)
    # when only Weihai (371000) is scanned
    prices_scan(period="2026-09", region_code="371000", as_of=AS_OF)
    # then only its hospital has an alert
    assert list(Alert.objects.values_list("region_code", flat=True)) == ["371002"]


def test_scan_prices_command(province):
    award = AwardFactory(supply_region=province, award_price=Decimal("10.0000"))
    OrderLineFactory(product=award.product, unit_price=Decimal("11.0000"))
    out = StringIO()
    call_command("scan_prices", "--period", "2026-09", "--region", "370000", "--as-of", "2026-10-01", stdout=out)
    assert "PRICE_ABOVE_AWARD=1" in out.getvalue()
    assert Alert.objects.filter(kind="PRICE_ABOVE_AWARD").count() == 1


@pytest.mark.parametrize("args", [["--period", "2026-9"], ["--period", "2026-09", "--region", "37"]])
def test_scan_prices_command_refuses_bad_input(args):
    with pytest.raises(CommandError):
        call_command("scan_prices", *args, stdout=StringIO())


def test_daily_task_scans_current_month(province, monkeypatch):
    from price_monitor import tasks

    award = AwardFactory(supply_region=province, award_price=Decimal("10.0000"))
    OrderLineFactory(product=award.product, unit_price=Decimal("11.0000"))
    # when the beat task runs on 2026-09-20 (eager Celery) — twice, as a retry would
    summary = tasks.price_scan_daily(today="2026-09-20")
    tasks.price_scan_daily(today="2026-09-20")
    assert summary["periods"] == ["2026-09"]
    assert Alert.objects.filter(kind="PRICE_ABOVE_AWARD", period="2026-09").count() == 1
    # and the province's index is stored (one month: the base, 100)
    from price_monitor.models import PriceIndex

    assert list(PriceIndex.objects.values_list("region_code", "category", "period", "value")) == [
        ("370000", "drug", "2026-09", Decimal("100.0000"))
    ]


def test_daily_task_early_in_a_month_rescans_the_previous_one(province):
    from price_monitor import tasks

    assert tasks.price_scan_daily(today="2026-10-03")["periods"] == ["2026-09", "2026-10"]


def test_a_scan_reads_last_months_order_lines_without_building_their_observations(province):
    # given order lines in August and September (30 % dearer) and a listing price effective in August
    from price_monitor.models import PriceObservation

    award = AwardFactory(supply_region=province, award_price=Decimal("20.0000"))
    august = OrderLineFactory(product=award.product, unit_price=Decimal("10.0000"), ordered_at=at("2026-08-10", 9))
    OrderLineFactory(
        product=award.product, hospital=august.hospital, unit_price=Decimal("13.0000"), ordered_at=at("2026-09-10", 9)
    )
    ReferencePriceFactory(product=award.product, region=province, effective_from=dt.date(2026, 8, 5))
    # when September is scanned with no observations of August
    [result] = prices_scan(period="2026-09", as_of=AS_OF)
    # then the spike against August is found from the order lines (the hospital's city) ...
    city = august.hospital.region_id[:4] + "00"
    assert result.findings["PRICE_SPIKE"] == 1
    assert Alert.objects.get(kind="PRICE_SPIKE").subject_key == f"{award.product_id}/{city}"
    # ... and only September's observations were built
    assert sorted(PriceObservation.objects.values_list("period", "source")) == [("2026-09", "order")]
    # and scanning August itself then builds its order and reference prices, idempotently
    prices_scan(period="2026-08", as_of=AS_OF)
    prices_scan(period="2026-08", as_of=AS_OF)
    assert sorted(PriceObservation.objects.values_list("period", "source")) == [
        ("2026-08", "listing"),
        ("2026-08", "order"),
        ("2026-09", "order"),
    ]


def test_only_the_latest_month_of_a_daily_scan_judges_the_kinds_without_a_month(province, monkeypatch):
    # given: a listing above the national minimum, and a daily scan on the 3rd, which rescans
    # last month beside this one (two partitions of one province would otherwise both sync
    # the one LISTING_ABOVE_REFERENCE alert, the last to finish winning)
    from price_monitor import tasks
    from price_monitor.services import scan

    product = ProductFactory()
    ReferencePriceFactory(product=product, region=province, price=Decimal("11.0000"))
    ReferencePriceFactory(product=product, region=province, source="national_min", price=Decimal("5.0000"))
    calls = []
    real = scan.prices_scan_partition

    def spy(**kwargs):
        calls.append((kwargs["period"], kwargs["undated"]))
        return real(**kwargs)

    monkeypatch.setattr(tasks, "prices_scan_partition", spy)

    # when: the daily scan runs on 2026-10-03
    tasks.price_scan_daily(today="2026-10-03")

    # then: September is scanned without the undated kinds, October with them
    assert calls == [("2026-09", False), ("2026-10", True)]
    assert Alert.objects.filter(kind="LISTING_ABOVE_REFERENCE").count() == 1


def test_a_scan_without_undated_kinds_leaves_their_alerts_alone(province):
    # given: an open LISTING_ABOVE_REFERENCE alert from a scan of October
    from price_monitor.services.scan import prices_scan_partition

    product = ProductFactory()
    ReferencePriceFactory(product=product, region=province, price=Decimal("11.0000"))
    ReferencePriceFactory(product=product, region=province, source="national_min", price=Decimal("5.0000"))
    prices_scan_partition(region_prefix="37", period="2026-10", as_of=dt.date(2026, 10, 3))
    alert = Alert.objects.get(kind="LISTING_ABOVE_REFERENCE")
    events = AlertEvent.objects.filter(alert=alert).count()

    # when: September is rescanned without them, after the listing came down
    ReferencePriceFactory(product=product, region=province, price=Decimal("5.0000"), effective_from=dt.date(2026, 9, 1))
    result = prices_scan_partition(region_prefix="37", period="2026-09", as_of=dt.date(2026, 10, 3), undated=False)

    # then: the alert and its history are untouched
    alert.refresh_from_db()
    assert alert.status == "open" and AlertEvent.objects.filter(alert=alert).count() == events
    assert "LISTING_ABOVE_REFERENCE" not in result.synced
