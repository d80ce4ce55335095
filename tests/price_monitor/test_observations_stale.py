"""The scan builds a month's observations only when they are out of step with their sources.

``observations_stale`` compares, read-only, each source row of the partition with the
observation the build would derive from it; the scan builds the groups it names and no
other. Whatever changed at the source (a row added, deleted, repriced or moved, a product
corrected, a hospital moved, an observation lost or tampered with) must be named, and the
observations after the scan must equal a build from nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from parties.models import Hospital
from price_monitor.models import PriceObservation, ReferencePrice
from price_monitor.periods import PeriodError
from price_monitor.services.observations import observations_build, observations_stale
from price_monitor.services.scan import prices_scan
from procurement.models import OrderLine, Product
from settlement.models import Alert, InvoiceLine
from tests.factories import (
    AwardFactory,
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
AS_OF = dt.date(2026, 10, 1)
SEPT = "2026-09"
TABLE = PriceObservation._meta.db_table


@pytest.fixture
def world():
    """September in province 37: an award, order lines of five hospitals (one dearer: above
    award and an outlier), an invoiced delivery of the first line, and a listing price."""
    province = RegionFactory(code="370000")
    product = ProductFactory(units_per_package=3)
    AwardFactory(product=product, supply_region=province, award_price=Decimal("10.0000"))
    lines = [
        OrderLineFactory(product=product, unit_price=Decimal("10.0000"), hospital=HospitalFactory()) for _ in range(4)
    ]
    lines.append(OrderLineFactory(product=product, unit_price=Decimal("12.5000"), hospital=HospitalFactory()))
    invoice = InvoiceLineFactory(delivery_line=DeliveryLineFactory(order_line=lines[0]))
    ref = ReferencePriceFactory(product=product, region=province, effective_from=dt.date(2026, 9, 3))
    return {"province": province, "product": product, "lines": lines, "invoice": invoice, "ref": ref}


def _rows():
    fields = [f.attname for f in PriceObservation._meta.concrete_fields if f.attname != "id"]
    return sorted(PriceObservation.objects.values_list(*fields))


def _from_nothing():
    """The observations a build from nothing writes now (the table is restored afterwards)."""
    kept = list(PriceObservation.objects.all())
    PriceObservation.objects.all().delete()
    observations_build(region_prefix="37", period=SEPT)
    rows = _rows()
    PriceObservation.objects.all().delete()
    PriceObservation.objects.bulk_create(kept)
    return rows


def _observation_writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE")) and TABLE in q["sql"]]


def _alerts():
    return sorted(Alert.objects.values_list("kind", "subject_key", "period", "value", "threshold", "status"))


def test_a_scan_after_the_import_build_builds_nothing(world):
    # given September's observations built as the import receiver builds them
    observations_build(region_prefix="37", period=SEPT)
    before = _rows()
    assert observations_stale(region_prefix="37", period=SEPT) == ()
    # when September is scanned
    with CaptureQueriesContext(connection) as ctx:
        [result] = prices_scan(period=SEPT, as_of=AS_OF)
    # then no observation was written and the rules still ran
    assert _observation_writes(ctx.captured_queries) == []
    assert (result.stale_groups, result.observations) == ((), None)
    assert _rows() == before and len(before) == 7
    assert result.findings["PRICE_ABOVE_AWARD"] == 1 and result.findings["PRICE_OUTLIER"] == 1


def test_a_scan_with_or_without_prebuilt_observations_gives_the_same_result(world):
    # given one database scanned with no observations (the scan builds them) ...
    [cold] = prices_scan(period=SEPT, as_of=AS_OF)
    cold_rows, cold_alerts = _rows(), _alerts()
    assert cold.stale_groups == ("orders", "invoices", "references") and cold.observations.written == 7
    # ... and scanned again after the observations were rebuilt from nothing by the receiver's build
    PriceObservation.objects.all().delete()
    observations_build(region_prefix="37", period=SEPT)
    [warm] = prices_scan(period=SEPT, as_of=AS_OF)
    # then the alerts, the findings and the observations are the same
    assert warm.stale_groups == () and warm.findings == cold.findings
    assert _alerts() == cold_alerts and {a[0] for a in cold_alerts} == {"PRICE_ABOVE_AWARD", "PRICE_OUTLIER"}
    assert _rows() == cold_rows == _from_nothing()


def _add_order(w):
    OrderLineFactory(product=w["product"], unit_price=Decimal("10.0000"), hospital=w["lines"][1].hospital)


def _delete_order(w):
    OrderLine.objects.filter(pk=w["lines"][2].pk).delete()


def _reprice_order(w):  # in place: same rows, same ids, same count
    OrderLine.objects.filter(pk=w["lines"][1].pk).update(unit_price=Decimal("10.0001"))


def _requantify_order(w):
    OrderLine.objects.filter(pk=w["lines"][1].pk).update(qty=11)


def _move_order_to_october(w):
    OrderLine.objects.filter(pk=w["lines"][3].pk).update(
        ordered_at=at("2026-10-02", 9), order_date=dt.date(2026, 10, 2)
    )


def _correct_product(w):
    Product.objects.filter(pk=w["product"].pk).update(units_per_package=6)


def _rename_product(w):
    Product.objects.filter(pk=w["product"].pk).update(specification="0.5g*6")


def _move_hospital_within_province(w):
    Hospital.objects.filter(pk=w["lines"][1].hospital_id).update(region=RegionFactory(code="370200"))


def _move_hospital_out_of_province(w):
    Hospital.objects.filter(pk=w["lines"][1].hospital_id).update(region=RegionFactory(code="440100"))


def _unmatched_invoice_line(w):  # matching later names the delivery line of a NO_DELIVERY line
    InvoiceLine.objects.filter(pk=w["invoice"].pk).update(delivery_line=None)


def _reprice_reference(w):
    ReferencePrice.objects.filter(pk=w["ref"].pk).update(price=Decimal("11.0000"))


def _lose_observation(w):
    PriceObservation.objects.filter(source="order", source_id=w["lines"][0].pk).delete()


def _tamper_observation(w):
    PriceObservation.objects.filter(source="invoice").update(unit_price_micro=1)


def _foreign_observation(w):  # an observation in the partition with no source row
    obs = PriceObservation.objects.get(source="order", source_id=w["lines"][0].pk)
    obs.pk, obs.source_id = None, 10**9
    obs.save()


@pytest.mark.parametrize(
    "change, groups",
    [
        (_add_order, ("orders",)),
        (_delete_order, ("orders",)),
        (_reprice_order, ("orders",)),
        (_requantify_order, ("orders",)),
        (_move_order_to_october, ("orders",)),
        (_correct_product, ("orders", "invoices", "references")),
        (_rename_product, ("orders", "invoices", "references")),
        (_move_hospital_within_province, ("orders",)),
        (_move_hospital_out_of_province, ("orders",)),
        (_unmatched_invoice_line, ("invoices",)),
        (_reprice_reference, ("references",)),
        (_lose_observation, ("orders",)),
        (_tamper_observation, ("invoices",)),
        (_foreign_observation, ("orders",)),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else "-".join(v),
)
def test_every_change_at_the_source_is_found_and_the_scan_rebuilds_it(world, change, groups):
    # given September's observations in step, then one change
    observations_build(region_prefix="37", period=SEPT)
    change(world)
    # when compared, exactly the changed groups are stale
    assert observations_stale(region_prefix="37", period=SEPT) == groups
    # and a scan builds those groups, leaving the observations equal to a build from nothing
    [result] = prices_scan(period=SEPT, as_of=AS_OF)
    assert result.stale_groups == groups and result.observations.written + result.observations.deleted > 0
    assert _rows() == _from_nothing()
    # and then they are in step: a second scan builds nothing
    assert observations_stale(region_prefix="37", period=SEPT) == ()
    [again] = prices_scan(period=SEPT, as_of=AS_OF)
    assert again.observations is None


def test_a_month_without_sources_or_observations_is_in_step():
    RegionFactory(code="370000")
    OrderLineFactory()  # September
    assert observations_stale(region_prefix="37", period="2026-08") == ()
    [result] = prices_scan(period="2026-08", as_of=AS_OF)
    assert result.observations is None and not PriceObservation.objects.exists()


def test_a_group_never_built_is_stale_without_the_comparison(world):
    # given only the references of September built
    observations_build(region_prefix="37", period=SEPT, groups=("references",))
    # when compared: the order and invoice groups, with nothing observed, are stale after one probe each
    with CaptureQueriesContext(connection) as ctx:
        stale = observations_stale(region_prefix="37", period=SEPT)
    assert stale == ("orders", "invoices")
    joins = [q["sql"] for q in ctx.captured_queries if "LEFT JOIN" in q["sql"]]
    assert len(joins) == 1  # the one comparison: of the references


def test_stale_check_refuses_bad_input():
    with pytest.raises(PeriodError):
        observations_stale(region_prefix="37", period="2026-13")
    with pytest.raises(ValueError):
        observations_stale(region_prefix="37", period=SEPT, groups=("orders", "bogus"))
