"""The synthetic province of ``generate_demo`` (scale S): files, identifiers, the flow's
invariants, money formatting, and a manifest that lists every fault it injected.

These tests read the CSV files the way an importer would (text, Decimal), not the
generator's arrays, and need no database.
"""

from __future__ import annotations

import csv
import filecmp
import json
import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from interchange.synthetic import generate
from interchange.tables import INPUT_TABLES
from parties.identifiers import (
    hospital_region_code,
    is_credit_code,
    region_covers,
    region_prefix,
    validate_invoice_number,
    validate_product_code,
)

SHANGHAI = timezone(timedelta(hours=8))

# INTERCHANGE.md, input tables as the importer reads them (payment_confirmations is not generated).
COLUMNS = {name: list(spec.column_names) for name, spec in INPUT_TABLES.items() if name != "payment_confirmations"}
KEYS = {
    "regions": ["region_code"],
    "enterprises": ["credit_code"],
    "hospitals": ["hospital_code"],
    "products": ["product_code"],
    "rounds": ["round_code"],
    "awards": ["round_code", "product_code", "supply_region_code"],
    "agreements": ["round_code", "hospital_code", "product_code", "year_start"],
    "orders": ["order_no", "line_no"],
    "deliveries": ["delivery_no", "line_no"],
    "receipts": ["delivery_no", "line_no"],
    "invoices": ["invoice_code", "invoice_no", "line_no"],
    "fund_allocations": ["hospital_code", "period"],
    "reference_prices": ["product_code", "source", "region_code", "effective_from"],
}
MATCH_CODES = (
    "NO_DELIVERY",
    "NO_RECEIPT",
    "QTY_EXCEEDS_ACCEPTED",
    "PRICE_DIFFERS_FROM_ORDER",
    "PRICE_ABOVE_AWARD",
    "AMOUNT_MISCALCULATED",
    "PARTY_MISMATCH",
)
FAULT_KINDS = (
    *MATCH_CODES,
    "RED_PARTIAL",
    "REVERSED",
    "RECEIPT_PENDING",
    "SUPPLY_DELAY",
    "AGREEMENT_BEHIND",
    "PRICE_ABOVE_LISTING",
    "LISTING_ABOVE_REFERENCE",
    "PRICE_SPIKE",
    "PRICE_OUTLIER",
    "RETAIL_ABOVE_LISTING",
)
PRICE_RE = re.compile(r"^-?\d+\.\d{2,4}$")
AMOUNT_RE = re.compile(r"^-?\d+\.\d{2}$")
CENT = Decimal("0.01")


def read(out: Path, table: str) -> list[dict[str, str]]:
    with (out / f"{table}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def shanghai_date(value: str):
    return ts(value).astimezone(SHANGHAI).date()


def money(qty: int, price: str) -> Decimal:
    return (Decimal(qty) * Decimal(price)).quantize(CENT, rounding=ROUND_HALF_UP)


def invoice_key(row: dict[str, str]) -> str:
    number = f"{row['invoice_code']}-{row['invoice_no']}" if row["invoice_code"] else row["invoice_no"]
    return f"{number}/{row['line_no']}"


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    # given a province generated at scale S
    path = tmp_path_factory.mktemp("demo_s")
    generate(path, scale="S", seed=7)
    return path


@pytest.fixture(scope="module")
def faults(out) -> dict[str, set[str]]:
    """fault → keys, over every table."""
    by_kind: dict[str, set[str]] = defaultdict(set)
    for row in read(out, "faults"):
        by_kind[row["fault"]].add(row["key"])
    return by_kind


@pytest.fixture(scope="module")
def invoice_faults(out) -> dict[str, set[str]]:
    """fault → invoice line keys (PRICE_ABOVE_AWARD is also listed per hospital/product/month)."""
    by_kind: dict[str, set[str]] = defaultdict(set)
    for row in read(out, "faults"):
        if row["table"] == "invoices":
            by_kind[row["fault"]].add(row["key"])
    return by_kind


def test_every_table_has_exactly_the_interchange_columns(out):
    for table, columns in COLUMNS.items():
        with (out / f"{table}.csv").open(encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        assert header == columns, table
        assert read(out, table), f"{table} is empty"
    assert not (out / "payment_confirmations.csv").exists()
    with (out / "faults.csv").open(encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["fault", "table", "key", "detail"]


def test_natural_keys_are_unique(out):
    for table, key in KEYS.items():
        rows = read(out, table)
        keys = {tuple(r[c] for c in key) for r in rows}
        assert len(keys) == len(rows), table


def test_manifest_counts_match_the_files(out):
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scale"] == "S"
    assert manifest["seed"] == 7
    assert manifest["months"] == ["2026-08", "2026-09", "2026-10"]
    assert manifest["as_of"] == "2026-10-31"
    for table in COLUMNS:
        assert manifest["row_counts"][table] == len(read(out, table)), table
    assert 2000 <= manifest["row_counts"]["orders"] <= 6000


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    # when the same scale and seed are generated twice, and once with another seed
    generate(tmp_path / "a", scale="S", seed=11)
    generate(tmp_path / "b", scale="S", seed=11)
    generate(tmp_path / "c", scale="S", seed=12)
    # then the first two are byte-identical and the third differs
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert mismatch == [] and errors == []
    assert len(match) == len(names)
    for table in ("enterprises", "orders", "invoices"):
        assert (tmp_path / "a" / f"{table}.csv").read_bytes() != (tmp_path / "c" / f"{table}.csv").read_bytes()


def test_credit_codes_are_valid_and_every_reference_is_known(out):
    enterprises = read(out, "enterprises")
    codes = {e["credit_code"] for e in enterprises}
    assert all(is_credit_code(c) for c in codes)
    roles = {e["credit_code"]: e["role"] for e in enterprises}
    assert {"distributor", "manufacturer", "both"} <= set(roles.values())
    for e in enterprises:
        if e["role"] != "manufacturer":
            assert re.fullmatch(r"\d{8,30}", e["bank_account"]) and e["bank_name"]
    assert all(p["manufacturer_credit_code"] in codes for p in read(out, "products"))
    assert all(a["enterprise_credit_code"] in codes for a in read(out, "awards"))
    assert all(roles[o["distributor_credit_code"]] in ("distributor", "both") for o in read(out, "orders"))
    assert all(roles[i["distributor_credit_code"]] in ("distributor", "both") for i in read(out, "invoices"))


def test_hospital_codes_embed_a_known_region(out):
    regions = {r["region_code"]: r for r in read(out, "regions")}
    assert regions["370000"]["parent_code"] == ""
    assert all(r["parent_code"] in regions for r in regions.values() if r["parent_code"])
    assert {"371000", "371002", "371003", "371082", "371083"} <= set(regions)
    hospitals = read(out, "hospitals")
    assert 20 <= len(hospitals) <= 40
    for h in hospitals:
        assert re.fullmatch(r"H\d{11}", h["hospital_code"])
        assert hospital_region_code(h["hospital_code"]) == h["region_code"]
        assert h["region_code"] in regions
        assert region_covers("370000", h["region_code"])


def test_product_codes_agree_with_their_category(out):
    products = read(out, "products")
    for p in products:
        validate_product_code(p["product_code"], p["category"])
        assert len(p["product_code"]) == (23 if p["category"] == "drug" else 27)
        assert int(p["units_per_package"]) > 0
        assert p["generic_name"] and p["specification"] and p["package"]
    assert {p["category"] for p in products} == {"drug", "consumable"}
    assert {p["product_code"][0] for p in products} == {"X", "Z", "C"}


def test_invoice_numbers_are_valid_and_some_are_paper(out):
    invoices = read(out, "invoices")
    for i in invoices:
        validate_invoice_number(i["invoice_no"], i["invoice_code"] or None)
        if i["kind"] == "red":
            validate_invoice_number(i["original_invoice_no"], i["original_invoice_code"] or None)
        else:
            assert i["original_invoice_no"] == "" and i["original_invoice_code"] == ""
        assert i["tax_rate"] == "0.13"
    paper = [i for i in invoices if i["invoice_code"]]
    assert 0 < len(paper) < len(invoices) / 2


def test_awards_most_specific_region_matters(out):
    awards = read(out, "awards")
    by_product = defaultdict(dict)
    for a in awards:
        by_product[a["product_code"]][a["supply_region_code"]] = Decimal(a["award_price"])
    city_specific = {p: r for p, r in by_product.items() if "371000" in r}
    assert len(city_specific) >= 2
    assert all(r["371000"] < r["370000"] for r in city_specific.values())
    assert sum(1 for a in awards if a["supply_region_code"] == "370000") > len(awards) / 2


def test_deliveries_reference_order_lines_and_never_exceed_them(out):
    orders = {(o["order_no"], o["line_no"]): o for o in read(out, "orders")}
    delivered = defaultdict(int)
    for d in read(out, "deliveries"):
        order = orders[(d["order_no"], d["order_line_no"])]
        assert int(d["qty"]) > 0
        assert ts(d["delivered_at"]) >= ts(order["ordered_at"])
        assert d["expiry_date"] > d["delivered_at"][:10]
        delivered[(d["order_no"], d["order_line_no"])] += int(d["qty"])
    assert all(q <= int(orders[k]["qty"]) for k, q in delivered.items())
    assert any(q < int(orders[k]["qty"]) for k, q in delivered.items())  # short deliveries exist


def test_receipts_balance_and_follow_their_delivery(out):
    deliveries = {(d["delivery_no"], d["line_no"]): d for d in read(out, "deliveries")}
    orders = {(o["order_no"], o["line_no"]): o for o in read(out, "orders")}
    receipts = read(out, "receipts")
    for r in receipts:
        d = deliveries[(r["delivery_no"], r["line_no"])]
        o = orders[(d["order_no"], d["order_line_no"])]
        accepted, rejected = int(r["accepted_qty"]), int(r["rejected_qty"])
        assert accepted >= 0 and rejected >= 0
        assert accepted + rejected == int(d["qty"])
        assert (rejected > 0) == bool(r["reject_reason"])
        assert ts(r["received_at"]) >= ts(d["delivered_at"]) >= ts(o["ordered_at"])
    assert any(int(r["rejected_qty"]) for r in receipts)
    assert len(receipts) < len(deliveries)  # some deliveries are not confirmed yet


def test_timestamps_mix_zones_and_some_utc_ones_fall_on_the_next_shanghai_day(out):
    stamps = [o["ordered_at"] for o in read(out, "orders")] + [r["received_at"] for r in read(out, "receipts")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|\+08:00)", s) for s in stamps)
    utc = [s for s in stamps if s.endswith("Z")]
    assert utc and len(utc) < len(stamps) / 2
    next_day = [s for s in utc if int(s[11:13]) >= 16]
    assert next_day
    assert all(shanghai_date(s) > ts(s).date() for s in next_day)
    # and every event lies inside the data's months
    assert all("2026-08-01" <= str(shanghai_date(s)) <= "2026-10-31" for s in stamps)


def test_money_is_preformatted_decimal_text(out):
    checks = [
        ("orders", "unit_price", PRICE_RE),
        ("awards", "award_price", PRICE_RE),
        ("reference_prices", "price", PRICE_RE),
        ("invoices", "unit_price", PRICE_RE),
        ("invoices", "amount", AMOUNT_RE),
        ("fund_allocations", "amount", AMOUNT_RE),
    ]
    for table, column, pattern in checks:
        for row in read(out, table):
            value = row[column]
            assert pattern.fullmatch(value), (table, column, value)
            assert "e" not in value.lower()


def test_blue_amounts_are_rounded_half_up_except_the_miscalculated(out, faults):
    miscalculated = faults["AMOUNT_MISCALCULATED"]
    seen_off = set()
    for i in read(out, "invoices"):
        expected = money(abs(int(i["qty"])), i["unit_price"])
        amount = Decimal(i["amount"])
        if i["kind"] == "red":
            assert int(i["qty"]) < 0 and amount == -expected
        elif invoice_key(i) in miscalculated:
            assert abs(amount - expected) > CENT
            seen_off.add(invoice_key(i))
        else:
            assert amount == expected, invoice_key(i)
    assert seen_off == miscalculated


def test_every_fault_kind_is_in_the_manifest(faults):
    for kind in FAULT_KINDS:
        assert len(faults[kind]) >= 2, kind
    assert faults["EDGE_UTC_NEXT_DAY"]
    assert faults["ALLOCATION_SHORT"] and faults["ALLOCATION_MISSING"]


def _covering_award(awards, regions_of_round, product, region, day):
    """Most specific supply region, then lowest price, among awards in force on day."""
    best = None
    for a in awards.get(product, ()):
        start, end = regions_of_round[a["round_code"]]
        if not (start <= day <= end and region_covers(a["supply_region_code"], region)):
            continue
        rank = (-len(region_prefix(a["supply_region_code"])), Decimal(a["award_price"]))
        if best is None or rank < best[0]:
            best = (rank, Decimal(a["award_price"]))
    return None if best is None else best[1]


def test_manifest_lists_exactly_the_matching_exceptions_of_the_data(out, invoice_faults):
    """An independent matcher over the CSV files (DOMAIN.md "Matching rules") finds the
    same exception codes the manifest lists: nothing missing, nothing extra."""
    orders = {(o["order_no"], o["line_no"]): o for o in read(out, "orders")}
    deliveries = {(d["delivery_no"], d["line_no"]): d for d in read(out, "deliveries")}
    receipts = {(r["delivery_no"], r["line_no"]): r for r in read(out, "receipts")}
    hospitals = {h["hospital_code"]: h for h in read(out, "hospitals")}
    rounds = {r["round_code"]: (r["start_date"], r["end_date"]) for r in read(out, "rounds")}
    awards = defaultdict(list)
    for a in read(out, "awards"):
        awards[a["product_code"]].append(a)
    invoices = read(out, "invoices")

    # Red lines reduce the blue line they reverse (same original invoice, seller, delivery line).
    blue = {}
    for i in invoices:
        if i["kind"] == "blue":
            blue[
                (
                    i["invoice_code"],
                    i["invoice_no"],
                    i["distributor_credit_code"],
                    i["delivery_no"],
                    i["delivery_line_no"],
                )
            ] = i
            i["net_qty"], i["net_amount"] = int(i["qty"]), Decimal(i["amount"])
    for i in invoices:
        if i["kind"] == "red":
            target = blue[
                (
                    i["original_invoice_code"],
                    i["original_invoice_no"],
                    i["distributor_credit_code"],
                    i["delivery_no"],
                    i["delivery_line_no"],
                )
            ]
            target["net_qty"] += int(i["qty"])
            target["net_amount"] += Decimal(i["amount"])

    found: dict[str, set[str]] = defaultdict(set)
    reversed_keys = set()
    per_delivery = defaultdict(list)
    for i in blue.values():
        key = invoice_key(i)
        if i["net_qty"] == 0:
            reversed_keys.add(key)
            continue
        if abs(i["net_amount"] - money(i["net_qty"], i["unit_price"])) > CENT:
            found["AMOUNT_MISCALCULATED"].add(key)
        d = deliveries.get((i["delivery_no"], i["delivery_line_no"]))
        if d is None:
            found["NO_DELIVERY"].add(key)
            continue
        o = orders[(d["order_no"], d["order_line_no"])]
        if (i["delivery_no"], i["delivery_line_no"]) not in receipts:
            found["NO_RECEIPT"].add(key)
        else:
            per_delivery[(i["delivery_no"], i["delivery_line_no"])].append(i)
        if Decimal(i["unit_price"]) != Decimal(o["unit_price"]):
            found["PRICE_DIFFERS_FROM_ORDER"].add(key)
        award = _covering_award(
            awards,
            rounds,
            o["product_code"],
            hospitals[o["hospital_code"]]["region_code"],
            str(shanghai_date(o["ordered_at"])),
        )
        if award is not None and Decimal(i["unit_price"]) > award:
            found["PRICE_ABOVE_AWARD"].add(key)
        if i["distributor_credit_code"] != o["distributor_credit_code"] or i["hospital_code"] != o["hospital_code"]:
            found["PARTY_MISMATCH"].add(key)
    for dkey, lines in per_delivery.items():
        accepted = int(receipts[dkey]["accepted_qty"])
        running = 0
        for i in sorted(lines, key=lambda x: (x["issued_at"], x["invoice_no"], int(x["line_no"]))):
            running += i["net_qty"]
            if running > accepted:
                found["QTY_EXCEEDS_ACCEPTED"].add(invoice_key(i))

    for code in MATCH_CODES:
        assert found[code] == invoice_faults[code], code
    assert reversed_keys == invoice_faults["REVERSED"]
    assert not (invoice_faults["RED_PARTIAL"] | invoice_faults["REISSUED"]) & set().union(*found.values())


def test_manifest_lists_the_receipt_and_supply_faults_of_the_data(out, faults):
    as_of = datetime(2026, 10, 31).date()
    receipts = {(r["delivery_no"], r["line_no"]) for r in read(out, "receipts")}
    deliveries = read(out, "deliveries")
    pending = {
        f"{d['delivery_no']}/{d['line_no']}"
        for d in deliveries
        if (d["delivery_no"], d["line_no"]) not in receipts and (as_of - shanghai_date(d["delivered_at"])).days > 5
    }
    assert pending == faults["RECEIPT_PENDING"]

    awarded = {a["product_code"] for a in read(out, "awards")}
    end_of_d = datetime(2026, 11, 1, tzinfo=SHANGHAI)
    in_time = defaultdict(int)
    orders = {(o["order_no"], o["line_no"]): o for o in read(out, "orders")}
    for d in deliveries:
        o = orders[(d["order_no"], d["order_line_no"])]
        if ts(d["delivered_at"]) <= ts(o["ordered_at"]) + timedelta(hours=48):
            in_time[(d["order_no"], d["order_line_no"])] += int(d["qty"])
    delayed = {
        f"{k[0]}/{k[1]}"
        for k, o in orders.items()
        if o["product_code"] in awarded
        and ts(o["ordered_at"]) + timedelta(hours=48) < end_of_d
        and in_time[k] < int(o["qty"])
    }
    assert delayed == faults["SUPPLY_DELAY"]


def test_price_spikes_are_exactly_the_listed_ones(out, faults):
    from statistics import median

    hospitals = {h["hospital_code"]: h["region_code"] for h in read(out, "hospitals")}
    prices = defaultdict(list)
    for o in read(out, "orders"):
        city = hospitals[o["hospital_code"]][:4] + "00"
        prices[(o["product_code"], city, str(shanghai_date(o["ordered_at"]))[:7])].append(Decimal(o["unit_price"]))
    spikes = set()
    for (product, city, month), values in prices.items():
        previous = prices.get(
            (product, city, "2026-09" if month == "2026-10" else "2026-08" if month == "2026-09" else "")
        )
        if previous and median(values) > median(previous) * Decimal("1.2"):
            spikes.add(f"{product}/{city}")
    assert spikes == faults["PRICE_SPIKE"]


def test_reference_prices_carry_listing_faults(out, faults):
    refs = read(out, "reference_prices")
    sources = {r["source"] for r in refs}
    assert sources == {"listing", "province_min", "national_min", "retail", "baseline"}
    listing = {
        r["product_code"]: Decimal(r["price"])
        for r in sorted(refs, key=lambda r: r["effective_from"])
        if r["source"] == "listing" and r["region_code"] == "370000"
    }
    retail_above = {
        f"{r['product_code']}/{r['region_code']}"
        for r in refs
        if r["source"] == "retail" and Decimal(r["price"]) > listing[r["product_code"]]
    }
    assert retail_above == faults["RETAIL_ABOVE_LISTING"]
    assert all(listing[r["product_code"]] >= 1000 for r in refs if r["source"] == "retail")
    awards = {
        a["product_code"]: Decimal(a["award_price"]) for a in read(out, "awards") if a["supply_region_code"] == "370000"
    }
    baselines = [r for r in refs if r["source"] == "baseline"]
    assert baselines and all(Decimal(r["price"]) > awards[r["product_code"]] for r in baselines)
    assert any(r["region_code"] not in ("370000",) for r in refs if r["source"] == "listing")  # a district listing


def test_agreements_cover_awarded_products_in_the_agreement_year(out, faults):
    awards = {(a["round_code"], a["product_code"]) for a in read(out, "awards")}
    agreements = read(out, "agreements")
    assert agreements
    for a in agreements:
        assert (a["round_code"], a["product_code"]) in awards
        assert a["year_start"] == "2026-07-01" and a["year_end"] == "2027-06-30"
        assert int(a["agreed_qty"]) > 0
    keys = {f"{a['round_code']}/{a['hospital_code']}/{a['product_code']}/{a['year_start']}" for a in agreements}
    assert faults["AGREEMENT_BEHIND"] <= keys


def test_fund_allocations_leave_some_hospitals_short_or_without(out, faults):
    hospitals = {h["hospital_code"] for h in read(out, "hospitals")}
    allocations = read(out, "fund_allocations")
    with_rows = {a["hospital_code"] for a in allocations}
    assert faults["ALLOCATION_MISSING"] == hospitals - with_rows
    assert {a["period"] for a in allocations} == {"2026-08", "2026-09", "2026-10"}
    assert all(Decimal(a["amount"]) >= 0 for a in allocations)


def test_manifest_lists_the_order_price_faults_of_the_data(out, faults):
    """PRICE_ABOVE_AWARD, PRICE_ABOVE_LISTING (listing in force on the order date, most
    specific region) and PRICE_OUTLIER (peers of the province: the scan's partition) recomputed from the
    CSV files."""
    from statistics import median

    region_of = {h["hospital_code"]: h["region_code"] for h in read(out, "hospitals")}
    rounds = {r["round_code"]: (r["start_date"], r["end_date"]) for r in read(out, "rounds")}
    awards = defaultdict(list)
    for a in read(out, "awards"):
        awards[a["product_code"]].append(a)
    listings = defaultdict(list)
    for r in read(out, "reference_prices"):
        if r["source"] == "listing":
            listings[r["product_code"]].append(r)

    above_award, above_listing = set(), set()
    per_hospital = defaultdict(list)
    for o in read(out, "orders"):
        region = region_of[o["hospital_code"]]
        day = str(shanghai_date(o["ordered_at"]))
        key = f"{o['hospital_code']}/{o['product_code']}/{day[:7]}"
        price = Decimal(o["unit_price"])
        award = _covering_award(awards, rounds, o["product_code"], region, day)
        if award is not None and price > award:
            above_award.add(key)
        in_force = [
            r
            for r in listings[o["product_code"]]
            if region_covers(r["region_code"], region) and r["effective_from"] <= day
        ]
        listing = max(in_force, key=lambda r: (len(region_prefix(r["region_code"])), r["effective_from"]))
        if price > Decimal(listing["price"]):
            above_listing.add(key)
        per_hospital[(region[:2] + "0000", o["product_code"], day[:7], o["hospital_code"])].append(price)

    peers = defaultdict(dict)
    for (province, product, month, hospital), prices in per_hospital.items():
        peers[(province, product, month)][hospital] = median(prices)
    outliers = set()
    for (_, product, month), medians in peers.items():
        if len(medians) < 5:
            continue
        mid = median(medians.values())
        mad = median(abs(x - mid) for x in medians.values())
        for hospital, x in medians.items():
            flagged = x > mid * Decimal("1.10") if mad == 0 else Decimal("0.6745") * (x - mid) / mad > Decimal("3.5")
            if x > mid and flagged:
                outliers.add(f"{hospital}/{product}/{month}")

    order_faults = defaultdict(set)
    for row in read(out, "faults"):
        if row["table"] == "orders":
            order_faults[row["fault"]].add(row["key"])
    assert above_award == order_faults["PRICE_ABOVE_AWARD"]
    assert above_listing == order_faults["PRICE_ABOVE_LISTING"]
    assert outliers == order_faults["PRICE_OUTLIER"]
