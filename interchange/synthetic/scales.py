"""How big each synthetic province is, and the calendar it lives in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interchange.synthetic.formats import DAY_S, day_number, month_number, month_start_day

# The data ends with this month; the manifest's as-of date is its last day.
LAST_MONTH = "2026-10"
# Old listings and the pre-集采 baseline take effect here; reference prices a year later.
PRICE_HISTORY_FROM = "2025-01-01"
REFERENCE_FROM = "2026-01-01"


@dataclass(frozen=True)
class Scale:
    name: str
    cities: int
    hospitals: int
    distributors: int  # distributor-only enterprises
    both: int  # manufacturer and distributor
    manufacturers: int  # manufacturer-only enterprises
    products: int
    months: int  # default number of months of orders
    lines_per_month: int  # order lines, roughly
    fault_rate: float  # injected faults of each kind per order line
    min_faults: int  # of each kind, whatever the size

    def fault_count(self, n_lines: int, factor: float = 1.0) -> int:
        return max(self.min_faults, round(self.fault_rate * factor * n_lines))


SCALES: dict[str, Scale] = {
    "S": Scale("S", 3, 30, 7, 3, 12, 40, 3, 1_500, 1 / 4000, 3),
    "M": Scale("M", 8, 1_000, 30, 6, 100, 300, 2, 300_000, 1 / 4000, 3),
    "L": Scale("L", 16, 5_000, 80, 15, 250, 400, 2, 1_500_000, 1 / 4000, 3),
}


@dataclass(frozen=True)
class Calendar:
    months: np.ndarray  # months since 1970-01 with orders, ascending
    cutoff_day: int  # first day after the data (nothing happens on or after it)
    as_of_day: int  # last day of the data: the D at which derived faults are judged
    year_start_day: int  # agreement year start = every round's start
    year_end_day: int
    price_history_day: int
    reference_day: int

    @property
    def cutoff_s(self) -> int:
        """Shanghai wall-clock second at which the data stops."""
        return self.cutoff_day * DAY_S

    @property
    def first_day(self) -> int:
        return month_start_day(int(self.months[0]))


def build_calendar(n_months: int) -> Calendar:
    if n_months < 1:
        raise ValueError("months must be at least 1")
    last = month_number(LAST_MONTH)
    months = np.arange(last - n_months + 1, last + 1, dtype=np.int64)
    cutoff_day = month_start_day(last + 1)
    # AGREEMENT_BEHIND needs D ≥ year_start + 3 calendar months, so the agreement year
    # starts no later than three months before the last month.
    year_start_month = min(int(months[0]), last - 3)

    return Calendar(
        months=months,
        cutoff_day=cutoff_day,
        as_of_day=cutoff_day - 1,
        year_start_day=month_start_day(year_start_month),
        year_end_day=month_start_day(year_start_month + 12) - 1,
        price_history_day=day_number(PRICE_HISTORY_FROM),
        reference_day=day_number(REFERENCE_FROM),
    )
