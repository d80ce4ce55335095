"""Thin Celery tasks of price monitoring: take ids/codes, call a service, safe to run twice.

Beat (config/schedule.py, owned by the alerts feature) runs ``price_scan_daily`` once a
day; it fans out one ``price_scan_partition`` per province so several workers share it.

Every task is ``acks_late`` (a worker lost mid-run gives the message back) and safe to run
again: the observation build and each kind's alert sync are atomic and idempotent, and an
index refresh replaces its series in one transaction, one refresh of a region at a time.
A deadlock or serialization failure between two workers is retried.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from price_monitor.periods import period_of, period_shift
from price_monitor.services.index import price_index_refresh
from price_monitor.services.observations import observations_build
from price_monitor.services.scan import prices_scan_partition, scan_prefixes

# Orders of the last days of a month keep arriving for a few days: rescan it too.
PREVIOUS_MONTH_RESCAN_DAYS = 5

RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 3}


@shared_task(name="price_monitor.price_scan_partition", **RETRY)
def price_scan_partition(period: str, region_prefix: str, as_of: str | None = None, undated: bool = True) -> dict:
    result = prices_scan_partition(
        region_prefix=region_prefix,
        period=period,
        as_of=dt.date.fromisoformat(as_of) if as_of else None,
        undated=undated,
    )
    return {"region_prefix": result.region_prefix, "period": period, "findings": result.findings}


@shared_task(name="price_monitor.price_scan_daily", **RETRY)
def price_scan_daily(today: str | None = None) -> dict:
    day = dt.date.fromisoformat(today) if today else timezone.localdate()
    periods = [period_of(day)]
    if day.day <= PREVIOUS_MONTH_RESCAN_DAYS:
        periods.insert(0, period_shift(periods[0], -1))
    prefixes = scan_prefixes(None)
    for period in periods:
        for prefix in prefixes:
            # Only the current month judges the kinds without a month (see prices_scan_partition).
            price_scan_partition.delay(period, prefix, day.isoformat(), period == periods[-1])
    for prefix in prefixes:
        price_index_refresh_task.delay(prefix.ljust(6, "0") if prefix else "")
    return {"periods": periods, "partitions": len(prefixes)}


@shared_task(name="price_monitor.observations_build", **RETRY)
def observations_build_task(region_prefix: str, period: str, groups: list[str] | None = None) -> int:
    kwargs = {"groups": tuple(groups)} if groups else {}
    return observations_build(region_prefix=region_prefix, period=period, **kwargs).written


@shared_task(name="price_monitor.price_index_refresh", **RETRY)
def price_index_refresh_task(region_code: str) -> int:
    # The service deletes the stored series, then inserts the new one: one transaction, so a
    # worker killed in between leaves the old series; a refresh of the same region running
    # at the same time (a redelivered message) waits for this one instead of colliding on the
    # unique index, then replaces what it wrote.
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"price_index_refresh:{region_code}"])
        return sum(price_index_refresh(region_code=region_code, category=c) for c in ("drug", "consumable"))
