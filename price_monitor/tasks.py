"""Thin Celery tasks of price monitoring: take ids/codes, call a service, safe to run twice.

Beat (config/schedule.py, owned by the alerts feature) runs ``price_scan_daily`` once a
day; it fans out one ``price_scan_partition`` per province so several workers share it.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from price_monitor.periods import period_of, period_shift
from price_monitor.services.index import price_index_refresh
from price_monitor.services.observations import observations_build
from price_monitor.services.scan import prices_scan_partition, scan_prefixes

# Orders of the last days of a month keep arriving for a few days: rescan it too.
PREVIOUS_MONTH_RESCAN_DAYS = 5


@shared_task(name="price_monitor.price_scan_partition")
def price_scan_partition(period: str, region_prefix: str, as_of: str | None = None) -> dict:
    result = prices_scan_partition(
        region_prefix=region_prefix, period=period, as_of=dt.date.fromisoformat(as_of) if as_of else None
    )
    return {"region_prefix": result.region_prefix, "period": period, "findings": result.findings}


@shared_task(name="price_monitor.price_scan_daily")
def price_scan_daily(today: str | None = None) -> dict:
    day = dt.date.fromisoformat(today) if today else timezone.localdate()
    periods = [period_of(day)]
    if day.day <= PREVIOUS_MONTH_RESCAN_DAYS:
        periods.insert(0, period_shift(periods[0], -1))
    prefixes = scan_prefixes(None)
    for period in periods:
        for prefix in prefixes:
            price_scan_partition.delay(period, prefix, day.isoformat())
    for prefix in prefixes:
        price_index_refresh_task.delay(prefix.ljust(6, "0") if prefix else "")
    return {"periods": periods, "partitions": len(prefixes)}


@shared_task(name="price_monitor.observations_build")
def observations_build_task(region_prefix: str, period: str, groups: list[str] | None = None) -> int:
    kwargs = {"groups": tuple(groups)} if groups else {}
    return observations_build(region_prefix=region_prefix, period=period, **kwargs).written


@shared_task(name="price_monitor.price_index_refresh")
def price_index_refresh_task(region_code: str) -> int:
    return sum(price_index_refresh(region_code=region_code, category=c) for c in ("drug", "consumable"))
