"""Reactions of settlement to documents arriving (connected in SettlementConfig.ready).

When deliveries, receipts or invoices are imported (or a hospital confirms a receipt on
its page, announced the same way), matching is enqueued for each (hospital region,
month) partition the new rows touched, after the import's transaction commits.
"""

from __future__ import annotations

from django.db import transaction

from interchange.signals import table_imported

# The tables whose rows change a match result (orders and awards arrive before the
# invoices that use them; a late award is picked up by ``manage.py reconcile``).
MATCHING_TABLES = frozenset({"deliveries", "receipts", "invoices"})


def enqueue_matching(sender=None, *, table: str, partitions=(), user=None, **kwargs) -> None:
    if table not in MATCHING_TABLES or not partitions:
        return
    from settlement.tasks.matching import match_partition

    for region, period in sorted({tuple(p) for p in partitions}):
        transaction.on_commit(lambda r=region, p=period: match_partition.delay(r, p))


def connect() -> None:
    table_imported.connect(enqueue_matching, dispatch_uid="settlement.enqueue_matching")
