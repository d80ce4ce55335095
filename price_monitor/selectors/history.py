"""A product's price history in a region, and the peers of a hospital for one month.

Transaction prices come from the order observations; award and reference lines are the
prices in force at the end of each month, chosen by the rules' own coverage logic
(price_monitor.services.rules), so the chart shows what the scan compared with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from price_monitor.models import ObservationSource
from price_monitor.periods import period_last_day, period_shift, periods_between
from price_monitor.selectors.frames import OBSERVATIONS, awards_frame, references_frame, sql_frame
from price_monitor.services import rules
from price_monitor.services.observations import partition_prefix
from price_monitor.services.rules import price_dec

HISTORY_MONTHS = 12
REFERENCE_SOURCES = ("listing", "province_min", "national_min", "retail", "baseline")


@dataclass
class MonthStats:
    period: str
    lines: int
    low: Decimal
    q1: Decimal
    median: Decimal
    q3: Decimal
    high: Decimal


@dataclass
class PriceHistory:
    product_code: str
    region_code: str
    periods: list[str]
    stats: dict[str, MonthStats] = field(default_factory=dict)  # the region's order prices
    hospital: dict[str, Decimal] = field(default_factory=dict)  # one hospital's median, when asked
    award: dict[str, Decimal] = field(default_factory=dict)
    references: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # source → period → price

    def trimmed(self, *, keep: int = 3) -> PriceHistory:
        """Without the leading months that have no price at all (keeping at least ``keep``)."""
        has = [
            p in self.stats or p in self.hospital or p in self.award or any(p in v for v in self.references.values())
            for p in self.periods
        ]
        first = next((i for i, h in enumerate(has) if h), len(has))
        self.periods = self.periods[min(first, max(len(self.periods) - keep, 0)) :]
        return self

    def series(self, values: dict[str, Decimal]) -> list[Decimal | None]:
        return [values.get(p) for p in self.periods]

    def stat_series(self, name: str) -> list[Decimal | None]:
        return [getattr(self.stats[p], name) if p in self.stats else None for p in self.periods]


def _product_orders(*, product_code: str, region_code: str, periods: list[str]) -> pd.DataFrame:
    sql = (
        "SELECT period, hospital_id, price_units, source_id, enterprise_id, region_code "
        f"FROM {OBSERVATIONS} WHERE source = %s AND product_id = %s AND region_code LIKE %s "
        "AND period >= %s AND period <= %s"
    )
    return sql_frame(
        sql,
        [ObservationSource.ORDER.value, product_code, f"{partition_prefix(region_code)}%", periods[0], periods[-1]],
        ("period", "hospital_code", "price_units", "source_id", "enterprise_code", "region_code"),
        ints=("price_units", "source_id"),
    )


def price_history(
    *, product_code: str, region_code: str, last_period: str, months: int = HISTORY_MONTHS, hospital_code: str = ""
) -> PriceHistory:
    periods = periods_between(period_shift(last_period, 1 - months), last_period)
    history = PriceHistory(product_code=product_code, region_code=region_code, periods=periods)
    orders = _product_orders(product_code=product_code, region_code=region_code, periods=periods)
    if not orders.empty:
        g = orders.groupby("period")["price_units"]
        med2 = np.rint(g.median() * 2).astype("int64")
        q1 = g.quantile(0.25, interpolation="lower").astype("int64")
        q3 = g.quantile(0.75, interpolation="higher").astype("int64")
        for period, n in g.size().items():
            history.stats[str(period)] = MonthStats(
                period=str(period),
                lines=int(n),
                low=price_dec(int(g.min()[period])),
                q1=price_dec(int(q1[period])),
                median=price_dec(Fraction(int(med2[period]), 2)),
                q3=price_dec(int(q3[period])),
                high=price_dec(int(g.max()[period])),
            )
        if hospital_code:
            own = orders[orders["hospital_code"] == hospital_code].groupby("period")["price_units"]
            for period, m2 in np.rint(own.median() * 2).astype("int64").items():
                history.hospital[str(period)] = price_dec(Fraction(int(m2), 2))

    # Prices in force at each month end, for the region (most specific covering region).
    ends = pd.DataFrame(
        {
            "product_code": product_code,
            "region_code": region_code,
            "order_date": [pd.Timestamp(period_last_day(p)) for p in periods],
            "period": periods,
        }
    )
    awards = awards_frame()
    awards = awards[awards["product_code"] == product_code]
    for r in rules.attach_award(ends, awards).to_dict("records"):
        history.award[r["period"]] = price_dec(int(r["award_price_units"]))
    refs = references_frame(until=period_last_day(last_period))
    refs = refs[refs["product_code"] == product_code]
    for source in REFERENCE_SOURCES:
        found = rules.attach_listing(ends, refs, date_col="order_date", region_col="region_code", source=source)
        if source in ("province_min", "national_min"):
            # national/other-province minima: whatever region row carries them (as the rule reads them)
            found = _any_region_in_force(ends, refs, source) if found.empty else found
        if not found.empty:
            history.references[source] = {
                r["period"]: price_dec(int(r["listing_units"])) for r in found.to_dict("records")
            }
    return history


def _any_region_in_force(ends: pd.DataFrame, refs: pd.DataFrame, source: str) -> pd.DataFrame:
    r = refs[refs["source"] == source]
    if r.empty:
        return r
    out = []
    for row in ends.to_dict("records"):  # ≤ HISTORY_MONTHS rows: one per month of the chart
        inforce = rules.reference_in_force(r, on=row["order_date"])
        if not inforce.empty:
            out.append({"period": row["period"], "listing_units": int(inforce["price_units"].min())})
    return pd.DataFrame(out)


@dataclass
class Peers:
    period: str
    region_prefix: str
    medians: list[tuple[str, Decimal]]  # (hospital code, its median order price)
    median: Decimal | None


def peer_medians(*, product_code: str, period: str, region_prefix: str) -> Peers:
    """Each hospital's median order price of the product in the month, among the region's hospitals."""
    orders = _product_orders(product_code=product_code, region_code=region_prefix, periods=[period])
    if orders.empty:
        return Peers(period=period, region_prefix=region_prefix, medians=[], median=None)
    h = rules.hospital_medians(orders.assign(product_code=product_code))
    med4 = int(np.rint(h["x2"].median() * 2))
    return Peers(
        period=period,
        region_prefix=region_prefix,
        medians=[(r["hospital_code"], price_dec(Fraction(int(r["x2"]), 2))) for r in h.to_dict("records")],
        median=price_dec(Fraction(med4, 4)),
    )
