"""The price rules of DOMAIN.md ("Due dates and alerts"), as pure functions on pandas frames.

Input frames hold integer money only (``*_units`` = 1/10,000 yuan per package, int64);
comparisons against policy ratios are exact integer cross-multiplications
(``price × den > reference × (den + num)`` for a tolerance ``num/den``). Medians of
integers are exact at double scale: the median of int64 values below 2**52 is a
multiple of 0.5 that float64 holds exactly, so ``2 × median`` is an exact integer.
Decimals appear only at the edge, in the findings (value, threshold, evidence), rounded
half-up to 4 places (interchange.money).

Each rule returns a list of finding dicts whose keys are the fields of
settlement.services.alert_engine.AlertFinding (price_monitor.services.scan converts).

Frames (columns):

- orders: ``source_id, hospital_code, region_code`` (the hospital's), ``product_code,
  enterprise_code`` (distributor), ``order_date`` (datetime64), ``price_units, qty``;
- awards: ``product_code, round_code, enterprise_code, supply_region_code, prefix,
  prefix_len, start_date, end_date, award_price_units``;
- references: ``product_code, category, manufacturer_code, source, region_code, prefix,
  prefix_len, effective_from, price_units``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from interchange.money import round_price
from parties.policy import policy_value

KIND_PRICE_ABOVE_AWARD = "PRICE_ABOVE_AWARD"
KIND_PRICE_ABOVE_LISTING = "PRICE_ABOVE_LISTING"
KIND_LISTING_ABOVE_REFERENCE = "LISTING_ABOVE_REFERENCE"
KIND_PRICE_SPIKE = "PRICE_SPIKE"
KIND_PRICE_OUTLIER = "PRICE_OUTLIER"
KIND_RETAIL_ABOVE_LISTING = "RETAIL_ABOVE_LISTING"
PRICE_KINDS = (
    KIND_PRICE_ABOVE_AWARD,
    KIND_PRICE_ABOVE_LISTING,
    KIND_LISTING_ABOVE_REFERENCE,
    KIND_PRICE_SPIKE,
    KIND_PRICE_OUTLIER,
    KIND_RETAIL_ABOVE_LISTING,
)

# DOMAIN.md severities.
SEVERITY = {
    KIND_PRICE_ABOVE_AWARD: "high",
    KIND_PRICE_ABOVE_LISTING: "high",
    KIND_LISTING_ABOVE_REFERENCE: "medium",
    KIND_PRICE_SPIKE: "medium",
    KIND_PRICE_OUTLIER: "medium",
    KIND_RETAIL_ABOVE_LISTING: "medium",
}
HOSPITAL_PRODUCT = "hospital_product"
PRODUCT_REGION = "product_region"

# Robust z-score (Iglewicz & Hoaglin): 0.6745 · (x − median) / MAD.
ROBUST_Z_FACTOR = Fraction(6745, 10000)
EVIDENCE_MAX_LINES = 10  # order lines named in a finding's evidence

ORDER_COLUMNS = (
    "source_id",
    "hospital_code",
    "region_code",
    "product_code",
    "enterprise_code",
    "order_date",
    "price_units",
    "qty",
)
AWARD_COLUMNS = (
    "product_code",
    "round_code",
    "enterprise_code",
    "supply_region_code",
    "prefix",
    "prefix_len",
    "start_date",
    "end_date",
    "award_price_units",
)
REFERENCE_COLUMNS = (
    "product_code",
    "category",
    "manufacturer_code",
    "source",
    "region_code",
    "prefix",
    "prefix_len",
    "effective_from",
    "price_units",
)

PolicyLookup = Callable[[str, str | None], object]


# --------------------------------------------------------------------------- helpers


def price_dec(units) -> Decimal:
    """1/10,000-yuan integer (or an exact Fraction of it) → Decimal yuan, 4 places half-up."""
    return round_price(Decimal(Fraction(units).numerator) / Decimal(Fraction(units).denominator) / 10000)


def ratio_dec(num, den) -> Decimal:
    """num / den as a Decimal rounded half-up to 4 places (den > 0)."""
    f = Fraction(num) / Fraction(den)
    return round_price(Decimal(f.numerator) / Decimal(f.denominator))


def _fraction(value) -> tuple[int, int]:
    return Fraction(Decimal(str(value))).as_integer_ratio()


def policy_fractions(
    name: str, regions: pd.Series, policy: PolicyLookup = policy_value
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the policy ratio ``name`` for the row's region as exact (num, den) int64
    arrays. One policy look-up per distinct region, not per row."""
    if len(regions) == 0:
        return np.zeros(0, dtype="int64"), np.ones(0, dtype="int64")
    uniques = pd.unique(regions)
    table = {r: _fraction(policy(name, r)) for r in uniques}
    num = regions.map({r: v[0] for r, v in table.items()}).to_numpy(dtype="int64")
    den = regions.map({r: v[1] for r, v in table.items()}).to_numpy(dtype="int64")
    return num, den


def _covering(left: pd.DataFrame, right: pd.DataFrame, *, region_col: str) -> pd.DataFrame:
    """Rows of ``right`` (by product) whose region prefix covers ``left[region_col]``.

    Region coverage (INTERCHANGE.md) is a prefix test; prefixes have 2, 4 or 6 digits,
    so one equi-join per prefix length does it without a per-row loop."""
    parts = []
    for n in sorted(right["prefix_len"].unique()):
        r = right[right["prefix_len"] == n]
        l_ = left.assign(prefix=left[region_col].str.slice(0, int(n)))
        parts.append(l_.merge(r, on=["product_code", "prefix"], how="inner"))
    if not parts:
        return left.iloc[0:0].assign(prefix="").merge(right, on=["product_code", "prefix"], how="inner")
    return pd.concat(parts, ignore_index=True)


def _finding(**kw) -> dict:
    base = {
        "subject_type": "",
        "subject_key": "",
        "severity": "",
        "region_code": "",
        "period": "",
        "value": None,
        "threshold": None,
        "message": "",
        "evidence": {},
        "hospital_code": "",
        "enterprise_code": "",
    }
    base.update(kw)
    return base


def _median2(values: pd.core.groupby.SeriesGroupBy) -> pd.Series:
    """2 × the median, exact as int64 (see module docstring)."""
    return np.rint(values.median() * 2).astype("int64")


def reference_in_force(references: pd.DataFrame, *, on: dt.date | pd.Timestamp) -> pd.DataFrame:
    """The price in force on ``on`` per (product, source, region): latest effective_from ≤ on."""
    ts = pd.Timestamp(on)
    r = references[references["effective_from"] <= ts]
    return r.sort_values("effective_from", kind="stable").drop_duplicates(
        ["product_code", "source", "region_code"], keep="last"
    )


def attach_award(orders: pd.DataFrame, awards: pd.DataFrame) -> pd.DataFrame:
    """Orders with the award covering each (inner join: orders without one are dropped).

    Covering: the round's period contains the order date and the supply region covers the
    hospital's region; most specific supply region first, then the lowest award price."""
    keys = orders[["product_code", "region_code", "order_date"]].drop_duplicates()
    cand = _covering(keys, awards, region_col="region_code")
    cand = cand[(cand["start_date"] <= cand["order_date"]) & (cand["order_date"] <= cand["end_date"])]
    cand = cand.sort_values(
        ["product_code", "region_code", "order_date", "prefix_len", "award_price_units", "round_code"],
        ascending=[True, True, True, False, True, True],
        kind="stable",
    ).drop_duplicates(["product_code", "region_code", "order_date"], keep="first")
    cand = cand[["product_code", "region_code", "order_date", "award_price_units", "round_code", "supply_region_code"]]
    return orders.merge(cand, on=["product_code", "region_code", "order_date"], how="inner")


def attach_listing(
    frame: pd.DataFrame, references: pd.DataFrame, *, date_col: str, region_col: str, source: str = "listing"
) -> pd.DataFrame:
    """``frame`` with the listing price in force on ``frame[date_col]`` from the most specific
    region covering ``frame[region_col]`` (inner join) as ``listing_units`` / ``listing_region``
    (``source`` picks another reference source by the same rule, under the same column names).

    A region whose listings all start after the date does not count: the next larger
    covering region with a price in force answers."""
    listings = references.loc[
        references["source"] == source,
        ["product_code", "prefix", "prefix_len", "effective_from", "price_units", "region_code"],
    ].rename(columns={"price_units": "listing_units", "region_code": "listing_region"})
    keys = frame[["product_code", region_col, date_col]].drop_duplicates()
    cand = _covering(keys, listings, region_col=region_col)
    cand = cand[cand["effective_from"] <= cand[date_col]]
    cand = cand.sort_values(
        ["product_code", region_col, date_col, "prefix_len", "effective_from"],
        ascending=[True, True, True, False, False],
        kind="stable",
    ).drop_duplicates(["product_code", region_col, date_col], keep="first")
    cols = ["product_code", region_col, date_col, "listing_units", "listing_region"]
    return frame.merge(cand[cols], on=["product_code", region_col, date_col], how="inner")


def dearest_lines(lines: pd.DataFrame, keys: list[str], *, by: str = "price_units") -> pd.DataFrame:
    """Per group of ``keys``: the row with the largest ``by``, ties to the smallest source_id,
    so the answer does not depend on the order the database returned the rows in (no sort)."""
    top = lines[lines[by] == lines.groupby(keys, observed=True)[by].transform("max")]
    return top[top["source_id"] == top.groupby(keys, observed=True)["source_id"].transform("min")]


def _worst_lines(lines: pd.DataFrame, *, excess: pd.Series) -> pd.DataFrame:
    """Per (hospital, product): the line with the largest excess, plus counts and the excess money."""
    keys = ["hospital_code", "product_code"]
    lines = lines.assign(_excess=excess, _excess_amount=(excess * lines["qty"]).astype("int64"))
    lines = lines.astype({"hospital_code": str, "product_code": str, "enterprise_code": str, "region_code": str})
    g = lines.groupby(keys, observed=True, sort=True)
    stats = g.agg(
        lines=("source_id", "size"),
        total_qty=("qty", "sum"),
        excess_amount_units=("_excess_amount", "sum"),
    )
    first_ids = lines.sort_values("source_id", kind="stable").groupby(keys, observed=True).head(EVIDENCE_MAX_LINES)
    ids = first_ids.groupby(keys, observed=True)["source_id"].agg(list).rename("source_ids")
    worst = dearest_lines(lines, keys, by="_excess")
    out = worst.set_index(keys).join(stats).join(ids).reset_index()
    return out.sort_values(keys, kind="stable")


def _worst_above(lines: pd.DataFrame, ref_col: str) -> pd.DataFrame:
    """The order lines priced above ``lines[ref_col]``, reduced by ``_worst_lines`` (empty if none)."""
    lines = lines[lines["price_units"] > lines[ref_col]]
    if lines.empty:
        return lines
    return _worst_lines(lines, excess=lines["price_units"] - lines[ref_col])


def _above_tolerance(m: pd.DataFrame, name: str, value_col: str, ref_col: str, policy: PolicyLookup) -> pd.DataFrame:
    """Rows of ``m`` with ``value_col`` > ``ref_col`` × (1 + policy ratio ``name`` of the row's
    region), exact; the ratio is kept as ``_num`` / ``_den``."""
    num, den = policy_fractions(name, m["region_code"], policy)
    fire = m[value_col].to_numpy() * den > m[ref_col].to_numpy() * (den + num)
    return m.assign(_num=num, _den=den)[fire]


def _hospital_product_finding(r: dict, kind: str, *, period: str, **kw) -> dict:
    """A finding on one (hospital, product) of a worst-line / hospital-median record ``r``."""
    return _finding(
        subject_type=HOSPITAL_PRODUCT,
        subject_key=f"{r['hospital_code']}/{r['product_code']}",
        severity=SEVERITY[kind],
        region_code=r["region_code"],
        period=period,
        **kw,
        hospital_code=r["hospital_code"],
        enterprise_code=r["enterprise_code"],
    )


def _product_region_finding(r: dict, kind: str, **kw) -> dict:
    """A finding on one (product, region) of record ``r``."""
    return _finding(
        subject_type=PRODUCT_REGION,
        subject_key=f"{r['product_code']}/{r['region_code']}",
        severity=SEVERITY[kind],
        region_code=r["region_code"],
        **kw,
    )


def _order_price_finding(r: dict, kind: str, *, period: str, ref: int, zh: str, en: str, evidence: dict) -> dict:
    """An order-line finding (award / listing): the worst line's price against ``ref``, the
    group's line counts in the message, ``evidence`` followed by the counts and line ids."""
    price = int(r["price_units"])
    return _hospital_product_finding(
        r,
        kind,
        period=period,
        value=price_dec(price),
        threshold=price_dec(ref),
        message=(
            f"{r['hospital_code']} 采购 {r['product_code']} 单价 {price_dec(price)} 元高于{zh} {price_dec(ref)} 元"
            f"（{r['lines']} 行） / order price {price_dec(price)} above the {en} {price_dec(ref)}"
            f" ({r['lines']} lines)"
        ),
        evidence={
            **evidence,
            "lines": int(r["lines"]),
            "qty": int(r["total_qty"]),
            "excess_amount": str(price_dec(int(r["excess_amount_units"]))),
            "order_line_ids": [int(i) for i in r["source_ids"]],
        },
    )


# --------------------------------------------------------------------------- rules


def rule_price_above_award(orders: pd.DataFrame, awards: pd.DataFrame, *, period: str) -> list[dict]:
    """PRICE_ABOVE_AWARD: an order line of the month above the award covering it (hospital/product)."""
    worst = _worst_above(attach_award(orders, awards), "award_price_units")
    out = []
    for r in worst.to_dict("records"):
        price, award = int(r["price_units"]), int(r["award_price_units"])
        out.append(
            _order_price_finding(
                r,
                KIND_PRICE_ABOVE_AWARD,
                period=period,
                ref=award,
                zh="中选价",
                en="award price",
                evidence={
                    "price": str(price_dec(price)),
                    "award_price": str(price_dec(award)),
                    "ratio": str(ratio_dec(price, award)),
                    "round_code": r["round_code"],
                    "supply_region_code": r["supply_region_code"],
                },
            )
        )
    return out


def rule_price_above_listing(orders: pd.DataFrame, references: pd.DataFrame, *, period: str) -> list[dict]:
    """PRICE_ABOVE_LISTING: an order line above the listing price in force on its order date."""
    worst = _worst_above(
        attach_listing(orders, references, date_col="order_date", region_col="region_code"), "listing_units"
    )
    out = []
    for r in worst.to_dict("records"):
        price, listing = int(r["price_units"]), int(r["listing_units"])
        out.append(
            _order_price_finding(
                r,
                KIND_PRICE_ABOVE_LISTING,
                period=period,
                ref=listing,
                zh="挂网价",
                en="listing price",
                evidence={
                    "price": str(price_dec(price)),
                    "listing_price": str(price_dec(listing)),
                    "listing_region_code": r["listing_region"],
                    "ratio": str(ratio_dec(price, listing)),
                },
            )
        )
    return out


def rule_listing_above_reference(
    references: pd.DataFrame, *, as_of: dt.date, region_prefix: str, policy: PolicyLookup = policy_value
) -> list[dict]:
    """LISTING_ABOVE_REFERENCE: listing > lowest province_min/national_min × (1 + REFERENCE_TOLERANCE),
    prices in force on ``as_of`` (the end of the scanned month).

    Which references count for a listing of region R: every ``national_min`` of the
    product (national by definition, whatever region row carries it) and the
    ``province_min`` rows whose region covers R."""
    inforce = reference_in_force(references, on=as_of)
    listings = inforce[(inforce["source"] == "listing") & inforce["region_code"].str.startswith(region_prefix)]
    if listings.empty:
        return []
    listings = listings[["product_code", "manufacturer_code", "region_code", "price_units"]].rename(
        columns={"price_units": "listing_units"}
    )
    national = (
        inforce[inforce["source"] == "national_min"]
        .sort_values(["product_code", "price_units"], kind="stable")
        .drop_duplicates("product_code")[["product_code", "price_units", "region_code"]]
        .rename(columns={"price_units": "ref_units", "region_code": "ref_region"})
        .assign(ref_source="national_min")
    )
    prov = inforce[inforce["source"] == "province_min"]
    prov_cand = _covering(listings.rename(columns={"region_code": "listing_region"}), prov, region_col="listing_region")
    prov_cand = prov_cand[["product_code", "listing_region", "price_units", "region_code"]].rename(
        columns={"listing_region": "region_code", "price_units": "ref_units", "region_code": "ref_region"}
    )
    prov_cand = prov_cand.assign(ref_source="province_min")
    nat_cand = listings[["product_code", "region_code"]].merge(national, on="product_code", how="inner")
    cand = pd.concat([prov_cand, nat_cand], ignore_index=True)
    if cand.empty:
        return []
    lowest = cand.sort_values(
        ["product_code", "region_code", "ref_units", "ref_source"], kind="stable"
    ).drop_duplicates(["product_code", "region_code"], keep="first")
    m = listings.merge(lowest, on=["product_code", "region_code"], how="inner")
    m = _above_tolerance(m, "REFERENCE_TOLERANCE", "listing_units", "ref_units", policy)
    out = []
    for r in m.to_dict("records"):
        listing, ref = int(r["listing_units"]), int(r["ref_units"])
        tol = Fraction(int(r["_num"]), int(r["_den"]))
        threshold = Fraction(ref) * (1 + tol)
        out.append(
            _product_region_finding(
                r,
                KIND_LISTING_ABOVE_REFERENCE,
                period="",
                value=price_dec(listing),
                threshold=price_dec(threshold),
                message=(
                    f"{r['product_code']} 在 {r['region_code']} 的挂网价 {price_dec(listing)} 元高于最低参考价 {price_dec(ref)} 元"
                    f"（{r['ref_source']}）超过 {ratio_dec(tol, 1) * 100:.2f}% / listing price {price_dec(listing)} is more than"
                    f" {ratio_dec(tol, 1) * 100:.2f}% above the lowest reference {price_dec(ref)} ({r['ref_source']})"
                ),
                evidence={
                    "listing_price": str(price_dec(listing)),
                    "reference_price": str(price_dec(ref)),
                    "reference_source": r["ref_source"],
                    "reference_region_code": r["ref_region"],
                    "tolerance": str(ratio_dec(tol, 1)),
                    "ratio": str(ratio_dec(listing, ref)),
                    "as_of": as_of.isoformat(),
                },
                enterprise_code=r["manufacturer_code"],
            )
        )
    return out


def rule_retail_above_listing(
    references: pd.DataFrame,
    *,
    as_of: dt.date,
    period: str,
    region_prefix: str,
    policy: PolicyLookup = policy_value,
) -> list[dict]:
    """RETAIL_ABOVE_LISTING: a designated pharmacy's retail price of a high-value drug (listing ≥
    HIGH_VALUE_PRICE) above the public-hospital listing price, prices in force on ``as_of``;
    the listing is the one of the most specific region covering the retail price's region."""
    inforce = reference_in_force(references, on=as_of)
    retail = inforce[
        (inforce["source"] == "retail")
        & (inforce["category"] == "drug")
        & inforce["region_code"].str.startswith(region_prefix)
    ]
    if retail.empty:
        return []
    retail = retail[["product_code", "manufacturer_code", "region_code", "price_units"]].rename(
        columns={"price_units": "retail_units"}
    )
    retail = retail.assign(as_of=pd.Timestamp(as_of))
    m = attach_listing(retail, references, date_col="as_of", region_col="region_code")
    if m.empty:
        return []
    hv = m["region_code"].map(
        {r: price_to_units_exact(policy("HIGH_VALUE_PRICE", r)) for r in m["region_code"].unique()}
    )
    fire = (m["listing_units"] >= hv.astype("int64")) & (m["retail_units"] > m["listing_units"])
    m = m.assign(_hv=hv)[fire]
    out = []
    for r in m.to_dict("records"):
        retail_p, listing = int(r["retail_units"]), int(r["listing_units"])
        out.append(
            _product_region_finding(
                r,
                KIND_RETAIL_ABOVE_LISTING,
                period=period,
                value=price_dec(retail_p),
                threshold=price_dec(listing),
                message=(
                    f"{r['product_code']} 在 {r['region_code']} 的药店零售价 {price_dec(retail_p)} 元高于挂网价 {price_dec(listing)} 元"
                    f" / pharmacy retail price {price_dec(retail_p)} above the listing price {price_dec(listing)}"
                ),
                evidence={
                    "retail_price": str(price_dec(retail_p)),
                    "listing_price": str(price_dec(listing)),
                    "listing_region_code": r["listing_region"],
                    "high_value_price": str(price_dec(int(r["_hv"]))),
                    "ratio": str(ratio_dec(retail_p, listing)),
                    "as_of": as_of.isoformat(),
                },
                enterprise_code=r["manufacturer_code"],
            )
        )
    return out


def price_to_units_exact(value) -> int:
    f = Fraction(Decimal(str(value))) * 10000
    return int(f) if f.denominator == 1 else int(f) + 1  # a threshold with >4 decimals: round up (≥ test)


def city_codes(regions: pd.Series) -> pd.Series:
    """Each 6-digit region code → its city's code (first 4 digits + "00"): a district
    → its city, a city or a province → itself. A categorical is mapped once per distinct code."""
    if isinstance(regions.dtype, pd.CategoricalDtype):
        cities = pd.Index(regions.cat.categories.astype(str)).str.slice(0, 4) + "00"
        return pd.Series(pd.Categorical(cities[regions.cat.codes.to_numpy()]), index=regions.index)
    return regions.astype(str).str.slice(0, 4) + "00"


def rule_price_spike(
    orders: pd.DataFrame,
    previous: pd.DataFrame,
    *,
    period: str,
    manufacturers: dict[str, str] | None = None,
    policy: PolicyLookup = policy_value,
) -> list[dict]:
    """PRICE_SPIKE: per product and the hospitals' city, the month's median order unit price
    > the previous month's median × (1 + SPIKE_THRESHOLD). ``previous``: last month's orders.

    DOMAIN.md: "product/region (the hospitals' city, their region_code)": a district
    hospital (371002) counts under its city (371000, see ``city_codes``); a hospital
    registered at a city or province code under that code itself."""
    if orders.empty or previous.empty:
        return []
    keys = ["product_code", "region_code"]
    orders = orders.assign(region_code=city_codes(orders["region_code"]))
    previous = previous.assign(region_code=city_codes(previous["region_code"]))
    cur = orders.groupby(keys, observed=True)["price_units"]
    cur = pd.DataFrame(
        {
            "cur2": _median2(cur),
            "lines": cur.size(),
            "hospitals": orders.groupby(keys, observed=True)["hospital_code"].nunique(),
        }
    )
    prev_g = previous.groupby(keys, observed=True)["price_units"]
    prev = pd.DataFrame({"prev2": _median2(prev_g), "prev_lines": prev_g.size()})
    as_str = {"product_code": str, "region_code": str}
    m = cur.reset_index().astype(as_str).merge(prev.reset_index().astype(as_str), on=keys, how="inner")
    m = m.sort_values(keys, kind="stable")
    if m.empty:
        return []
    m = _above_tolerance(m, "SPIKE_THRESHOLD", "cur2", "prev2", policy)
    manufacturers = manufacturers or {}
    out = []
    for r in m.to_dict("records"):
        cur_m, prev_m = Fraction(int(r["cur2"]), 2), Fraction(int(r["prev2"]), 2)
        rate = Fraction(int(r["_num"]), int(r["_den"]))
        out.append(
            _product_region_finding(
                r,
                KIND_PRICE_SPIKE,
                period=period,
                value=price_dec(cur_m),
                threshold=price_dec(prev_m * (1 + rate)),
                message=(
                    f"{r['product_code']} 在 {r['region_code']} 的采购单价中位数由 {price_dec(prev_m)} 元升至 {price_dec(cur_m)} 元"
                    f"（+{(ratio_dec(cur_m, prev_m) - 1) * 100:.2f}%） / median order price rose from {price_dec(prev_m)}"
                    f" to {price_dec(cur_m)}"
                ),
                evidence={
                    "median_price": str(price_dec(cur_m)),
                    "previous_median_price": str(price_dec(prev_m)),
                    "ratio": str(ratio_dec(cur_m, prev_m)),
                    "spike_threshold": str(ratio_dec(rate, 1)),
                    "lines": int(r["lines"]),
                    "previous_lines": int(r["prev_lines"]),
                    "hospitals": int(r["hospitals"]),
                },
                enterprise_code=manufacturers.get(r["product_code"], ""),
            )
        )
    return out


def hospital_medians(orders: pd.DataFrame) -> pd.DataFrame:
    """Per (product, hospital): 2 × the median order unit price (exact int64) and the lines."""
    g = orders.groupby(["product_code", "hospital_code"], observed=True, sort=True)["price_units"]
    out = pd.DataFrame({"x2": _median2(g), "lines": g.size()}).reset_index()
    return out.astype({"product_code": str, "hospital_code": str})


def rule_price_outlier(
    orders: pd.DataFrame,
    *,
    period: str,
    policy_region: str | None = None,
    peer_region_prefix: str = "",
    policy: PolicyLookup = policy_value,
) -> list[dict]:
    """PRICE_OUTLIER: among the hospitals of the scanned region buying a product in the month
    (≥ OUTLIER_MIN_HOSPITALS distinct), x = a hospital's median order price; robust
    z = 0.6745·(x − median)/MAD over those medians > OUTLIER_Z; when MAD = 0,
    x > median × OUTLIER_MAD_ZERO_RATIO. Only prices above the peers.

    Exact integer arithmetic at growing scale: x2 = 2x (hospital medians), m4 = 4·median,
    d4 = |4x − m4|, mad8 = 8·MAD; z > Z ⇔ 6745·(8x − 8m)·Zden > Znum·10000·mad8."""
    if orders.empty:
        return []
    min_h = int(policy("OUTLIER_MIN_HOSPITALS", policy_region))
    z_num, z_den = _fraction(policy("OUTLIER_Z", policy_region))
    r_num, r_den = _fraction(policy("OUTLIER_MAD_ZERO_RATIO", policy_region))
    h = hospital_medians(orders)
    h["n"] = h.groupby("product_code", observed=True)["hospital_code"].transform("size")
    h = h[h["n"] >= min_h].copy()
    if h.empty:
        return []
    h["m4"] = np.rint(h.groupby("product_code", observed=True)["x2"].transform("median") * 2).astype("int64")
    h["x4"] = h["x2"] * 2
    h["d4"] = (h["x4"] - h["m4"]).abs()
    h["mad8"] = np.rint(h.groupby("product_code", observed=True)["d4"].transform("median") * 2).astype("int64")
    x8, m8, mad8 = h["x4"] * 2, h["m4"] * 2, h["mad8"]
    f_num, f_den = ROBUST_Z_FACTOR.numerator, ROBUST_Z_FACTOR.denominator
    fire_mad = (mad8 > 0) & ((x8 - m8) * f_num * z_den > z_num * f_den * mad8)
    fire_zero = (mad8 == 0) & (h["x4"] * r_den > h["m4"] * r_num)
    hits = h[fire_mad | fire_zero]
    if hits.empty:
        return []
    # The concerned distributor (of the hospital's dearest line) and the hospital's region,
    # looked up for the hits only.
    keys = ["product_code", "hospital_code"]
    pairs = hits[keys]
    lines = orders[
        orders["hospital_code"].isin(pairs["hospital_code"]) & orders["product_code"].isin(pairs["product_code"])
    ]
    lines = lines.astype({"product_code": str, "hospital_code": str}).merge(pairs, on=keys, how="inner")
    top = dearest_lines(lines, keys)[[*keys, "enterprise_code", "region_code"]]
    hits = hits.merge(top.astype({"enterprise_code": str, "region_code": str}), on=keys, how="left")
    hits = hits.sort_values(keys, kind="stable")
    out = []
    for r in hits.to_dict("records"):
        x = Fraction(int(r["x2"]), 2)
        med = Fraction(int(r["m4"]), 4)
        mad = Fraction(int(r["mad8"]), 8)
        if mad > 0:
            z = ROBUST_Z_FACTOR * (x - med) / mad
            threshold = med + Fraction(z_num, z_den) * mad / ROBUST_Z_FACTOR
            how = f"robust z = {ratio_dec(z, 1)} > {ratio_dec(Fraction(z_num, z_den), 1)}"
        else:
            z = None
            threshold = med * Fraction(r_num, r_den)
            how = f"MAD = 0, > {ratio_dec(Fraction(r_num, r_den), 1)} × median"
        out.append(
            _hospital_product_finding(
                r,
                KIND_PRICE_OUTLIER,
                period=period,
                value=price_dec(x),
                threshold=price_dec(threshold),
                message=(
                    f"{r['hospital_code']} 采购 {r['product_code']} 的单价中位数 {price_dec(x)} 元显著高于 {int(r['n'])} 家医院的中位数"
                    f" {price_dec(med)} 元 / median order price {price_dec(x)} is far above the median {price_dec(med)}"
                    f" of {int(r['n'])} hospitals ({how})"
                ),
                evidence={
                    "price": str(price_dec(x)),
                    "peer_median": str(price_dec(med)),
                    "mad": str(price_dec(mad)),
                    "robust_z": str(ratio_dec(z, 1)) if z is not None else None,
                    "ratio": str(ratio_dec(x, med)) if med > 0 else None,
                    "peer_hospitals": int(r["n"]),
                    "peer_region_prefix": peer_region_prefix,
                    "lines": int(r["lines"]),
                },
            )
        )
    return out
