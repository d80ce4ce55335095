"""Reactions of settlement to documents arriving (connected in SettlementConfig.ready).

When deliveries, receipts or invoices are imported (or a hospital confirms a receipt on
its page, announced the same way), matching is enqueued for each (hospital region,
month) partition the new rows touched, after the import's transaction commits. Under
``interchange.signals.deferred()`` (``import_dir``) the receiver is called once for all
the directory's tables, so each partition is matched once, not once per table.
"""

from __future__ import annotations

from django.db import transaction

from interchange.signals import table_imported

# The tables whose rows change a match result (orders and awards arrive before the
# invoices that use them; a late award is picked up by ``manage.py reconcile``).
MATCHING_TABLES = frozenset({"deliveries", "receipts", "invoices"})


def enqueue_matching(sender=None, *, table: str, partitions=(), user=None, tables=None, **kwargs) -> None:
    if tables is None:
        tables = {table: partitions}
    wanted = {tuple(p) for t, parts in tables.items() if t in MATCHING_TABLES for p in parts or ()}
    if not wanted:
        return
    from settlement.tasks.matching import match_partition

    for region, period in sorted(wanted):
        transaction.on_commit(lambda r=region, p=period: match_partition.delay(r, p))


enqueue_matching.merges_tables = True


def connect() -> None:
    table_imported.connect(enqueue_matching, dispatch_uid="settlement.enqueue_matching")
