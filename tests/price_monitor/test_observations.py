"""Observations: built set-based per (region, month), per package and per minimal unit, idempotent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from price_monitor.models import PriceObservation
from price_monitor.services.observations import observations_build
from tests.factories import (
    DeliveryLineFactory,
    HospitalFactory,
    InvoiceLineFactory,
    OrderLineFactory,
    ProductFactory,
    ReferencePriceFactory,
    RegionFactory,
    at,
)

pytestmark = pytest.mark.django_db


def test_order_line_becomes_observation_per_package_and_per_unit():
    # given an order line at 14.0000 a box of 14 tablets
    product = ProductFactory(units_per_package=14)
    line = OrderLineFactory(product=product, unit_price=Decimal("14.0000"), qty=3)
    # when the partition is built
    build = observations_build(region_prefix="37", period="2026-09")
    # then one observation at 140000 (1/10000 yuan) a box and 1.000000 yuan a tablet
    obs = PriceObservation.objects.get(source="order", source_id=line.pk)
    assert build.orders == 1
    assert (obs.price_units, obs.unit_price_micro) == (140000, 1_000_000)
    assert (obs.qty, obs.period, obs.observed_on) == (3, "2026-09", dt.date(2026, 9, 1))
    assert obs.region_code == line.hospital.region_id and obs.hospital_id == line.hospital_id
    assert obs.enterprise_id == line.distributor_id
    assert obs.comparable_key == f"{product.generic_name}|片剂|10mg"


def test_per_unit_price_is_rounded_half_up_in_integers():
    # given 0.0001 yuan for 200 units (0.5 millionth a unit) and 10.0000 for 3 units
    a = OrderLineFactory(product=ProductFactory(units_per_package=200), unit_price=Decimal("0.0001"))
    b = OrderLineFactory(product=ProductFactory(units_per_package=3), unit_price=Decimal("10.0000"))
    observations_build(region_prefix="", period="2026-09")
    micro = dict(PriceObservation.objects.filter(source="order").values_list("source_id", "unit_price_micro"))
    assert micro[a.pk] == 1  # 0.5 → 1
    assert micro[b.pk] == 3_333_333  # 3.3333333 → 3.333333


def test_package_sizes_of_one_generic_compare_per_unit():
    # given the same generic, form and specification in boxes of 14 and 28
    small = ProductFactory(generic_name="氨氯地平", units_per_package=14)
    big = ProductFactory(generic_name="氨氯地平", units_per_package=28)
    OrderLineFactory(product=small, unit_price=Decimal("14.0000"))
    OrderLineFactory(product=big, unit_price=Decimal("26.6000"))
    observations_build(region_prefix="37", period="2026-09")
    rows = PriceObservation.objects.filter(source="order").values_list("comparable_key", "unit_price_micro")
    # then one comparable group, the bigger box cheaper per tablet
    assert {k for k, _ in rows} == {"氨氯地平|片剂|10mg"}
    assert sorted(u for _, u in rows) == [950_000, 1_000_000]


def test_invoice_lines_and_reference_prices_are_observed():
    # given a blue invoice line, an invoice line without a delivery line, and a reference price
    inv = InvoiceLineFactory(issued_at=dt.date(2026, 9, 3))
    orphan = InvoiceLineFactory(issued_at=dt.date(2026, 9, 3))
    type(orphan).objects.filter(pk=orphan.pk).update(delivery_line=None)
    ref = ReferencePriceFactory(
        product=inv.delivery_line.order_line.product, effective_from=dt.date(2026, 9, 1), source="retail"
    )
    # when the province partition of September is built
    build = observations_build(region_prefix="370000", period="2026-09")
    # then the invoice line (not the orphan) and the reference price are observations
    assert build.invoices == 1 and build.references == 1
    assert PriceObservation.objects.filter(source="invoice", source_id=inv.pk).exists()
    assert not PriceObservation.objects.filter(source="invoice", source_id=orphan.pk).exists()
    obs = PriceObservation.objects.get(source="retail", source_id=ref.pk)
    assert (obs.region_code, obs.qty, obs.hospital_id, obs.price_units) == ("370000", None, None, 120000)


def test_build_is_idempotent_and_follows_deletions():
    # given two order lines built once
    keep = OrderLineFactory()
    gone = OrderLineFactory()
    observations_build(region_prefix="37", period="2026-09")
    # when built again, nothing is written; then one line is deleted and one product corrected
    again = observations_build(region_prefix="37", period="2026-09")
    assert (again.orders, again.deleted) == (0, 0)
    assert PriceObservation.objects.filter(source="order").count() == 2
    gone.delete()
    type(keep.product).objects.filter(pk=keep.product_id).update(units_per_package=10)
    third = observations_build(region_prefix="37", period="2026-09")
    # then the deleted line's observation is gone and the survivor is rewritten per unit
    assert (third.deleted, third.orders) == (1, 1)
    obs = PriceObservation.objects.get(source="order")
    assert (obs.source_id, obs.units_per_package, obs.unit_price_micro) == (keep.pk, 10, 1_000_000)


def test_partitions_are_by_region_and_month():
    # given lines in two districts and two months
    other = HospitalFactory(region=RegionFactory(code="371300"))
    in_part = OrderLineFactory()
    OrderLineFactory(hospital=other)
    OrderLineFactory(ordered_at=at("2026-10-02"))
    # when only 3710 / September is built
    build = observations_build(region_prefix="371000", period="2026-09")
    # then only its line is observed
    assert build.orders == 1
    assert list(PriceObservation.objects.values_list("source_id", flat=True)) == [in_part.pk]


def test_build_is_set_based():
    # given many lines
    for _ in range(30):
        DeliveryLineFactory()
    # when built, the number of statements does not depend on the number of rows
    with CaptureQueriesContext(connection) as ctx:
        build = observations_build(region_prefix="37", period="2026-09")
    assert build.orders == 30
    # per source group: a stale-row DELETE, a probe whether the partition holds any, and
    # one INSERT (plain on a first build, as here; the upsert otherwise)
    skip = ("SAVEPOINT", "RELEASE", "SET LOCAL")  # SET LOCAL work_mem: PostgreSQL only
    sent = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(skip)]
    assert len(sent) == 9
    inserts = [q for q in sent if q.startswith("INSERT")]
    assert len(inserts) == 3 and not any("ON CONFLICT" in q for q in inserts)
    # and a rebuild sends the upsert for the orders (the one group with rows), writing nothing
    with CaptureQueriesContext(connection) as ctx:
        assert observations_build(region_prefix="37", period="2026-09").written == 0
    upserts = [q["sql"] for q in ctx.captured_queries if "ON CONFLICT" in q["sql"]]
    assert len(upserts) == 1 and "'order' AS source" in upserts[0]


def test_bad_period_is_refused():
    from price_monitor.periods import PeriodError

    with pytest.raises(PeriodError):
        observations_build(region_prefix="37", period="2026-13")


def test_build_limited_to_one_group_leaves_the_others():
    # given an order line and a reference price of September, both observed
    line = OrderLineFactory()
    ref = ReferencePriceFactory(effective_from=dt.date(2026, 9, 1))
    observations_build(region_prefix="37", period="2026-09")
    # when the reference price is corrected and only the references are rebuilt (a reference-price import)
    type(ref).objects.filter(pk=ref.pk).update(price=Decimal("11.0000"))
    build = observations_build(region_prefix="37", period="2026-09", groups=("references",))
    # then the order observation was not touched and the reference one rebuilt
    assert (build.orders, build.references) == (0, 1)
    assert PriceObservation.objects.filter(source="order", source_id=line.pk).exists()
    assert PriceObservation.objects.get(source="listing", source_id=ref.pk).price_units == 110000
    with pytest.raises(ValueError):
        observations_build(region_prefix="37", period="2026-09", groups=("orders", "bogus"))


def _rows():
    fields = [f.attname for f in PriceObservation._meta.concrete_fields if f.attname != "id"]
    return sorted(PriceObservation.objects.values_list(*fields))


def test_first_build_writes_what_the_upsert_writes(monkeypatch):
    # given order lines, invoice lines and a reference price of September
    from price_monitor.services import observations

    product = ProductFactory(units_per_package=3)
    lines = [OrderLineFactory(product=product, unit_price=Decimal(f"1{i}.0001"), qty=i + 1) for i in range(3)]
    InvoiceLineFactory(delivery_line=DeliveryLineFactory(order_line=lines[0]), unit_price=Decimal("10.0001"))
    ReferencePriceFactory(product=product, effective_from=dt.date(2026, 9, 3))
    # when the first build of the month takes the plain INSERT (nothing observed yet)
    first = observations_build(region_prefix="37", period="2026-09")
    plain = _rows()
    # and the same month is built again from nothing through the upsert alone
    PriceObservation.objects.all().delete()
    probe = observations._partition_observed
    monkeypatch.setattr(observations, "_partition_observed", lambda g: probe(g).replace(" LIMIT", " OR 1 = 1 LIMIT"))
    again = observations_build(region_prefix="37", period="2026-09")
    # then both wrote the same rows
    assert (first.orders, first.invoices, first.references) == (again.orders, again.invoices, again.references)
    assert plain == _rows() and len(plain) == 5


def test_first_build_of_a_month_takes_over_a_line_observed_under_another():
    # given an order line observed in September, then moved to October at its source
    from procurement.models import OrderLine

    line = OrderLineFactory(unit_price=Decimal("10.0000"), ordered_at=at("2026-09-30", 9))
    observations_build(region_prefix="37", period="2026-09")
    OrderLine.objects.filter(pk=line.pk).update(ordered_at=at("2026-10-01", 9), order_date=dt.date(2026, 10, 1))
    # when October is built for the first time (September not rebuilt since)
    build = observations_build(region_prefix="37", period="2026-10")
    # then the plain INSERT met the unique key and the upsert moved the observation
    obs = PriceObservation.objects.get(source="order", source_id=line.pk)
    assert build.orders == 1 and (obs.period, obs.observed_on) == ("2026-10", dt.date(2026, 10, 1))
    assert PriceObservation.objects.count() == 1
    # and a rebuild of either month writes nothing more
    assert observations_build(region_prefix="37", period="2026-10").written == 0
    assert observations_build(region_prefix="37", period="2026-09").deleted == 0
