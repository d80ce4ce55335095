"""Celery tasks of the alert scans: thin, take codes and ISO dates, safe to run twice.

Beat (config/schedule.py) runs ``alerts_scan_daily`` once a day. With a broker and a
result backend it fans out one ``alerts_scan_partition`` per city and sends the e-mail
digests when all have finished (a chord); otherwise (eager mode, or no result backend to
join on) it scans the partitions in turn and sends the digests at the end. Either way a
user gets one digest per scan. ``acks_late``: a worker lost mid-scan gives the message
back and the rerun changes nothing that was already done (the scan is idempotent).
"""

from __future__ import annotations

import datetime as dt

from celery import chord, group, shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from settlement.services.alert_scans import SCAN_KINDS, alerts_scan_all, alerts_scan_partition, scan_partitions
from settlement.services.notifications import notifications_send_digests

RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 3}


def _day(as_of: str | None) -> dt.date:
    return dt.date.fromisoformat(as_of) if as_of else timezone.localdate()


@shared_task(name="settlement.alerts_scan_partition", acks_late=True, **RETRY)
def alerts_scan_partition_task(region_prefix: str, as_of: str, kinds: list[str] | None = None) -> dict:
    results = alerts_scan_partition(
        region_prefix=region_prefix, as_of=_day(as_of), kinds=tuple(kinds or SCAN_KINDS), digest=False
    )
    return {kind: r.as_dict() for kind, r in results.items()}


@shared_task(name="settlement.alerts_send_digests", acks_late=True)
def alerts_send_digests_task(*_partition_results) -> int:
    return notifications_send_digests()


@shared_task(name="settlement.alerts_scan_daily", acks_late=True, **RETRY)
def alerts_scan_daily(as_of: str | None = None, region: str | None = None, kinds: list[str] | None = None) -> dict:
    day = _day(as_of)
    kinds = list(kinds or SCAN_KINDS)
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.CELERY_RESULT_BACKEND:
        total = alerts_scan_all(as_of=day, region=region, kinds=kinds)
        return {"as_of": day.isoformat(), "mode": "inline", **total.as_dict()}
    partitions = scan_partitions(region)
    chord(group(alerts_scan_partition_task.s(p, day.isoformat(), kinds) for p in partitions))(
        alerts_send_digests_task.s()
    )
    return {"as_of": day.isoformat(), "mode": "fan-out", "partitions": len(partitions)}
