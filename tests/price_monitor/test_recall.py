"""Recall on the generated S data set: every injected price fault of faults.csv is an alert.

``generate_demo --scale S --seed 7`` writes the province with its fault manifest;
``import_dir`` loads it; ``scan_prices`` runs each month. Each price fault of the
manifest (tables orders / reference_prices; the invoice-level PRICE_ABOVE_AWARD rows are
matching exception codes, not price alerts) must be found as an alert of the same kind,
subject and month. More alerts than faults is allowed in general (collateral cases).
PRICE_SPIKE is per product and the hospitals' city, PRICE_OUTLIER per product among the
hospitals of the province (the scan's partition) on both sides, so those match exactly.
"""

from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import call_command, get_commands

from settlement.models import Alert

PRICE_FAULTS = (
    "PRICE_ABOVE_AWARD",
    "PRICE_ABOVE_LISTING",
    "LISTING_ABOVE_REFERENCE",
    "PRICE_SPIKE",
    "PRICE_OUTLIER",
    "RETAIL_ABOVE_LISTING",
)
HOSPITAL_PRODUCT_FAULTS = ("PRICE_ABOVE_AWARD", "PRICE_ABOVE_LISTING", "PRICE_OUTLIER")


def expected_alert(fault: dict, *, as_of_period: str) -> tuple[str, str, str]:
    """(kind, subject_key, period) of the alert that should report a manifest row."""
    kind, key = fault["fault"], fault["key"]
    parts = key.split("/")
    if kind in HOSPITAL_PRODUCT_FAULTS:  # hospital/product/period
        return kind, "/".join(parts[:2]), parts[2]
    if kind == "PRICE_SPIKE":  # product/region, "period=YYYY-MM …" in detail
        return kind, key, fault["detail"].split()[0].removeprefix("period=")
    if kind == "LISTING_ABOVE_REFERENCE":  # product/region, no period
        return kind, key, ""
    return kind, key, as_of_period  # RETAIL_ABOVE_LISTING: prices in force at the data's as-of date


@pytest.mark.django_db
def test_every_injected_price_fault_is_found(tmp_path):
    commands = get_commands()
    if "generate_demo" not in commands or "import_dir" not in commands:
        pytest.skip("generate_demo / import_dir not available yet (interchange features)")
    # given the S data set with seed 7, imported
    out = tmp_path / "s7"
    call_command("generate_demo", "--scale", "S", "--seed", "7", "--out", str(out), stdout=StringIO())
    call_command("import_dir", str(out), stdout=StringIO())
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    faults = [
        r
        for r in csv.DictReader((out / "faults.csv").open(encoding="utf-8"))
        if r["fault"] in PRICE_FAULTS and r["table"] in ("orders", "reference_prices")
    ]
    assert faults, "the data set should carry price faults"
    # when every month is scanned
    for period in manifest["months"]:
        call_command("scan_prices", "--period", period, "--as-of", manifest["as_of"], stdout=StringIO())
    # then each fault has its alert
    found = set(Alert.objects.values_list("kind", "subject_key", "period"))
    as_of_period = manifest["as_of"][:7]
    missed = [
        (f["fault"], f["key"], f["detail"]) for f in faults if expected_alert(f, as_of_period=as_of_period) not in found
    ]
    assert missed == []
    # and PRICE_SPIKE is judged on the same unit on both sides (the hospitals' city): the
    # scan raises exactly the spikes the manifest lists, no more
    spikes = {k for k in found if k[0] == "PRICE_SPIKE"}
    assert spikes == {expected_alert(f, as_of_period=as_of_period) for f in faults if f["fault"] == "PRICE_SPIKE"}
    assert spikes, "the data set should carry spikes"
    # and PRICE_OUTLIER too (peers: the province, the scan's partition, on both sides)
    outliers = {k for k in found if k[0] == "PRICE_OUTLIER"}
    assert outliers == {expected_alert(f, as_of_period=as_of_period) for f in faults if f["fault"] == "PRICE_OUTLIER"}
    assert outliers, "the data set should carry outliers"
    assert {f["fault"] for f in faults} <= set(PRICE_FAULTS)
