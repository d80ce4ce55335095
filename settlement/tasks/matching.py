"""Celery tasks of matching: thin, take a partition, safe to run twice.

``match_partition(region, period)`` re-matches one (hospital region, YYYY-MM) partition (or
the partitions of several regions in one pass: ``region`` a list, as ``reconcile_passes`` groups
them) and gathers its newly matched lines into statements, in one pass (one transaction, each
line written once). Matching writes only what changed and statements take only lines
without one, so a redelivered message (``acks_late``: a worker lost mid-run gives it
back) changes nothing that was already done.

``match_delivery_lines(ids, regions)`` re-matches only the invoice lines of those delivery
lines (what one receipt confirmed on a page or through the API can change) and builds the
statements of the hospitals' regions as the partition's pass would: a few lines instead of
the whole (region, month) partition.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from settlement.services.matching import invoices_match

# OperationalError covers a deadlock or serialization failure between two workers.
RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(name="settlement.match_partition", acks_late=True, **RETRY)
def match_partition(region: str | list[str] | None = None, period: str | None = None) -> dict:
    matched = invoices_match(region_prefix=region, period=period, build_statements=True)
    return {
        "region": region,
        "period": period,
        "lines_checked": matched.lines_checked,
        "lines_changed": matched.lines_changed,
        "by_status": matched.by_status,
        "statement_lines_added": matched.statement_lines_added,
        "statements_created": len(matched.statements_created),
    }


@shared_task(name="settlement.match_delivery_lines", acks_late=True, **RETRY)
def match_delivery_lines(delivery_line_ids: list[int], regions: list[str]) -> dict:
    matched = invoices_match(delivery_line_ids=delivery_line_ids, region_prefix=regions, build_statements=True)
    return {
        "delivery_lines": len(delivery_line_ids),
        "regions": regions,
        "lines_checked": matched.lines_checked,
        "lines_changed": matched.lines_changed,
        "by_status": matched.by_status,
        "statement_lines_added": matched.statement_lines_added,
        "statements_created": len(matched.statements_created),
    }
