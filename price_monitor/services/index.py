"""Monthly fixed-basket (Laspeyres) price index of transaction prices, per category and region.

Items are comparable groups (generic name, dosage form, specification), priced per
minimal unit so a change of package size is not a price change. For month t against
base month 0:

    I_t = 100 × Σ_i q0_i · p_t,i / Σ_i q0_i · p0_i

with q0_i the minimal units bought in the base month and p_i the month's quantity-weighted
mean unit price (Σ amount / Σ units, in 1/1,000,000 yuan, rounded half-up). An item not
bought in month t drops out of both sums for that month (matched-model); ``coverage`` is
the share of the base basket's value that was priced. Transaction price = the order unit
price in the month of the order date (DOMAIN.md), so the inputs are order observations.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
from django.db import transaction

from interchange.money import round_price
from price_monitor.models import PriceIndex
from price_monitor.selectors.frames import OBSERVATIONS, sql_frame
from price_monitor.services.observations import partition_prefix

CATEGORIES = ("drug", "consumable")
INDEX_BASE = 100
_RATIO_QUANTUM = Decimal("0.0001")


@dataclass(frozen=True)
class IndexPoint:
    period: str
    value: Decimal  # base = 100, 4 places
    items: int
    basket_items: int
    coverage: Decimal  # 0..1, 4 places


def index_inputs(*, region_code: str, category: str) -> pd.DataFrame:
    """Per (period, comparable group): Σ amount (1/10,000 yuan) and Σ minimal units bought."""
    sql = (
        "SELECT period, comparable_key, SUM(qty * price_units), SUM(qty * units_per_package) "
        f"FROM {OBSERVATIONS} WHERE source = 'order' AND category = %s AND region_code LIKE %s "
        "GROUP BY period, comparable_key"
    )
    prefix = partition_prefix(region_code)
    return sql_frame(
        sql, [category, f"{prefix}%"], ("period", "item", "amount_units", "unit_qty"), ints=("amount_units", "unit_qty")
    )


def laspeyres(inputs: pd.DataFrame, *, base_period: str | None = None) -> list[IndexPoint]:
    """The index series of ``inputs`` (index_inputs' frame); base = first month when not given."""
    inputs = inputs[inputs["unit_qty"] > 0]
    if inputs.empty:
        return []
    base_period = base_period or inputs["period"].min()
    # 1/1,000,000 yuan per unit, half-up: amount_units × 100 / units.
    inputs = inputs.assign(p=(inputs["amount_units"] * 200 + inputs["unit_qty"]) // (inputs["unit_qty"] * 2))
    base = inputs.loc[inputs["period"] == base_period, ["item", "unit_qty", "p"]].rename(
        columns={"unit_qty": "q0", "p": "p0"}
    )
    if base.empty:
        return []
    # Python ints (object) so Σ q·p never overflows int64 (10^7 units × 10^11 micro-yuan).
    base = base.assign(v0=base["q0"].astype(object) * base["p0"].astype(object))
    total_v0 = sum(base["v0"])
    m = inputs.merge(base, on="item", how="inner")
    m = m.assign(vt=m["q0"].astype(object) * m["p"].astype(object))
    out = []
    for period, g in m.groupby("period", sort=True):
        num, den = sum(g["vt"]), sum(g["v0"])
        if den == 0:
            continue
        out.append(
            IndexPoint(
                period=str(period),
                value=round_price(Decimal(num * INDEX_BASE) / Decimal(den)),
                items=len(g),
                basket_items=len(base),
                coverage=(Decimal(den) / Decimal(total_v0)).quantize(_RATIO_QUANTUM) if total_v0 else Decimal(0),
            )
        )
    return out


def price_index_series(*, region_code: str, category: str, base_period: str | None = None) -> list[IndexPoint]:
    """Read-only: computed from the observations now."""
    return laspeyres(index_inputs(region_code=region_code, category=category), base_period=base_period)


@transaction.atomic
def price_index_refresh(*, region_code: str, category: str, base_period: str | None = None) -> int:
    """Store the series (replacing the stored one of the same region, category and base)."""
    points = price_index_series(region_code=region_code, category=category, base_period=base_period)
    if not points:
        return 0
    base = base_period or points[0].period
    PriceIndex.objects.filter(region_code=region_code, category=category, base_period=base).delete()
    PriceIndex.objects.bulk_create(
        [
            PriceIndex(
                region_code=region_code,
                category=category,
                base_period=base,
                period=p.period,
                value=p.value,
                items=p.items,
                basket_items=p.basket_items,
                coverage=p.coverage,
            )
            for p in points
        ]
    )
    return len(points)
