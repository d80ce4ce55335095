"""Keep the observations in step with imports: after orders, invoices or reference prices
are imported, rebuild the (region, month) partitions they touched (after commit, as
Celery tasks, so a worker per partition can share a big import)."""

from __future__ import annotations

from django.db import transaction

from price_monitor.services.observations import GROUP_INVOICES, GROUP_ORDERS, GROUP_REFERENCES, partition_prefix

# imported table → the observation group it feeds
OBSERVED_TABLES = {"orders": GROUP_ORDERS, "invoices": GROUP_INVOICES, "reference_prices": GROUP_REFERENCES}
# More partitions than this in one month (a province-wide import): one build per province
# reads the month's rows once instead of once per district.
MAX_PARTITIONS_PER_MONTH = 8


def covering_partitions(partitions) -> list[tuple[str, str]]:
    """(prefix, month) pairs without those another pair of the same month already covers."""
    by_month: dict[str, set[str]] = {}
    for region, month in partitions:
        by_month.setdefault(month, set()).add(partition_prefix(region))
    out = []
    for month, prefixes in sorted(by_month.items()):
        kept: list[str] = []
        for p in sorted(prefixes, key=lambda s: (len(s), s)):
            if not any(p.startswith(k) for k in kept):
                kept.append(p)
        if len(kept) > MAX_PARTITIONS_PER_MONTH:
            kept = sorted({p[:2] for p in kept})
        out.extend((p, month) for p in sorted(kept))
    return out


def on_table_imported(sender, *, table: str, partitions=(), tables=None, **kwargs) -> None:
    """One build per (prefix, month) with the groups of every observed table that touched it
    (``tables``: all the tables of an ``import_dir``, see ``interchange.signals.deferred``)."""
    if tables is None:
        tables = {table: partitions}
    builds: dict[tuple[str, str], list[str]] = {}
    for name, parts in tables.items():
        if name not in OBSERVED_TABLES or not parts:
            continue
        for prefix, month in covering_partitions(parts):
            groups = builds.setdefault((prefix, month), [])
            if OBSERVED_TABLES[name] not in groups:
                groups.append(OBSERVED_TABLES[name])
    if not builds:
        return
    from price_monitor.tasks import observations_build_task

    for (prefix, month), groups in sorted(builds.items()):
        transaction.on_commit(lambda p=prefix, m=month, g=groups: observations_build_task.delay(p, m, g))


on_table_imported.merges_tables = True
