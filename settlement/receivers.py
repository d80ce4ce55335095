"""Reactions of settlement to documents arriving (connected in SettlementConfig.ready).

When deliveries, receipts or invoices are imported (or a hospital confirms a receipt on
its page, announced the same way), matching is enqueued for each (hospital region,
month) partition the new rows touched, after the import's transaction commits; a receipt
confirmed on a page or through the API names its delivery lines, and only their invoice
lines are matched. Under
``interchange.signals.deferred()`` (``import_dir``) the receiver is called once for all
the directory's tables, so each partition is matched once, not once per table.
"""

from __future__ import annotations

from django.db import transaction

from interchange.signals import table_imported

# The tables whose rows change a match result (orders and awards arrive before the
# invoices that use them; a late award is picked up by ``manage.py reconcile``).
MATCHING_TABLES = frozenset({"deliveries", "receipts", "invoices"})


# At most this many delivery lines are matched by themselves; more go by partition.
LINES_BY_THEMSELVES = 500


def enqueue_matching(
    sender=None, *, table: str, partitions=(), user=None, tables=None, delivery_lines=None, **kwargs
) -> None:
    """``delivery_lines`` (receipts confirmed on a page or through the API: ``{id: hospital
    region}``): only their invoice lines are matched, not the (region, month) partitions."""
    if tables is None:
        tables = {table: partitions}
    from settlement.tasks.matching import match_delivery_lines, match_partition

    if delivery_lines and table in MATCHING_TABLES and len(tables) == 1 and len(delivery_lines) <= LINES_BY_THEMSELVES:
        ids, regions = sorted(delivery_lines), sorted(set(delivery_lines.values()))
        transaction.on_commit(lambda: match_delivery_lines.delay(ids, regions))
        return
    wanted = {tuple(p) for t, parts in tables.items() if t in MATCHING_TABLES for p in parts or ()}
    if not wanted:
        return

    for region, period in sorted(wanted):
        transaction.on_commit(lambda r=region, p=period: match_partition.delay(r, p))


enqueue_matching.merges_tables = True


def connect() -> None:
    table_imported.connect(enqueue_matching, dispatch_uid="settlement.enqueue_matching")
