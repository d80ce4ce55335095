"""Months (``YYYY-MM``) as the price rules use them: bounds, neighbours, validation."""

from __future__ import annotations

import datetime as dt
import re

from django.utils.translation import gettext_lazy as _

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MSG_PERIOD_FORMAT = _("月份格式须为 YYYY-MM / period must be YYYY-MM")


class PeriodError(ValueError):
    """A period that is not ``YYYY-MM``."""


def period_check(period: str) -> str:
    if not isinstance(period, str) or not PERIOD_RE.match(period):
        raise PeriodError(str(MSG_PERIOD_FORMAT))
    return period


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """[first day, first day of the next month)."""
    period_check(period)
    year, month = int(period[:4]), int(period[5:])
    start = dt.date(year, month, 1)
    end = dt.date(year + (month == 12), month % 12 + 1, 1)
    return start, end


def period_last_day(period: str) -> dt.date:
    return period_bounds(period)[1] - dt.timedelta(days=1)


def period_shift(period: str, months: int) -> str:
    period_check(period)
    n = int(period[:4]) * 12 + int(period[5:]) - 1 + months
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def period_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def periods_between(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive (empty when last < first)."""
    out = []
    p = period_check(first)
    period_check(last)
    while p <= last:
        out.append(p)
        p = period_shift(p, 1)
    return out
