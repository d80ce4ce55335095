"""The price scan: order lines → frames → rules → the alert engine, per (region, month).

``prices_scan(period=…, region_code=…)`` scans one region, or every province when no
region is given (the partition a Celery worker takes: price_monitor.tasks). Inside a
partition the steps are separately atomic (the build of the month's observations, kept
for the index and history pages — the rules read the order lines themselves; only the
groups a read-only comparison finds out of step with their sources are built, since the
import receiver normally has built them — then one ``alerts_sync`` per kind) so a long scan never holds the alert rows locked while pandas
works; each step is idempotent, so a scan that dies half-way is simply run again.

"The scanned region" of PRICE_OUTLIER (peers) is the partition: a province scan
compares a hospital with every hospital of the province buying the product that month.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from parties.models import Region
from price_monitor.periods import period_check, period_last_day, period_shift
from price_monitor.selectors import frames
from price_monitor.services import rules
from price_monitor.services.observations import (
    ObservationBuild,
    observations_build,
    observations_stale,
    partition_prefix,
)
from procurement.models import OrderLine
from settlement.services.alert_engine import AlertFinding, alerts_sync

KINDS = rules.PRICE_KINDS
LOOKUP_BATCH = 900  # ids per IN (...) when naming order lines in evidence (SQLite's variable limit)


@dataclass
class PriceScanResult:
    region_prefix: str
    period: str
    order_lines: int = 0
    observations: ObservationBuild | None = None  # None: nothing built (every group in step, or build=False)
    stale_groups: tuple[str, ...] = ()  # the observation groups found stale and built
    findings: dict[str, int] = field(default_factory=dict)
    synced: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    notified_users: set[int] = field(default_factory=set)

    def summary(self) -> str:
        found = ", ".join(f"{k}={v}" for k, v in self.findings.items())
        return (
            f"{self.region_prefix or '*'} {self.period}: {self.order_lines} order lines, {self.seconds:.1f}s; {found}"
        )


def scan_prefixes(region_code: str | None) -> list[str]:
    """The partitions of a scan: the region given, else every province (``370000`` → ``37``)."""
    if region_code:
        return [partition_prefix(region_code)]
    provinces = Region.objects.filter(Q(code__endswith="0000")).values_list("code", flat=True)
    prefixes = sorted({partition_prefix(c) for c in provinces})
    return prefixes or [""]


def prices_scan(
    *, period: str, region_code: str | None = None, as_of: dt.date | None = None, user=None
) -> list[PriceScanResult]:
    """Every price rule for ``period`` in each partition; see the module docstring."""
    from settlement.services.notifications import notifications_send_digests_on_commit

    period_check(period)
    results = [
        prices_scan_partition(region_prefix=p, period=period, as_of=as_of, user=user, digest=False)
        for p in scan_prefixes(region_code)
    ]
    users = set().union(*(r.notified_users for r in results)) if results else set()
    if users:
        notifications_send_digests_on_commit(user_ids=users)
    return results


def prices_scan_partition(
    *,
    region_prefix: str,
    period: str,
    as_of: dt.date | None = None,
    user=None,
    build: bool = True,
    digest: bool = True,
    undated: bool = True,
) -> PriceScanResult:
    """``undated=False`` leaves the kinds that have no month (LISTING_ABOVE_REFERENCE, one
    alert per product/region) alone: when two months of one partition are scanned at once
    (the daily scan's first days rescan last month), only the latest may judge them, or
    whichever finished last would win."""
    started = time.perf_counter()
    period_check(period)
    prefix = partition_prefix(region_prefix)
    as_of = as_of or timezone.localdate()
    result = PriceScanResult(region_prefix=prefix, period=period)

    if build:
        # The rules read the order lines themselves (selectors.frames.order_prices); the
        # scanned month's observations are brought in step for the index and history pages,
        # built only for the groups found stale: after an import the receiver has built them.
        result.stale_groups = observations_stale(region_prefix=prefix, period=period)
        if result.stale_groups:
            result.observations = observations_build(region_prefix=prefix, period=period, groups=result.stale_groups)

    findings = price_findings(region_prefix=prefix, period=period, result=result)
    _name_order_lines(findings)
    for kind in KINDS:
        if kind == rules.KIND_LISTING_ABOVE_REFERENCE and not undated:
            continue
        sync = alerts_sync(
            kind=kind,
            region_prefix=prefix,
            period="" if kind == rules.KIND_LISTING_ABOVE_REFERENCE else period,
            findings=[AlertFinding(**f) for f in findings[kind]],
            as_of=as_of,
            user=user,
            digest=digest,
        )
        result.findings[kind] = len(findings[kind])
        result.synced[kind] = sync.as_dict()
        result.notified_users |= sync.notified_users
    result.seconds = time.perf_counter() - started
    return result


def price_findings(*, region_prefix: str, period: str, result: PriceScanResult | None = None) -> dict[str, list[dict]]:
    """The findings of every price kind for one partition (reads only; observations must exist)."""
    month_end = period_last_day(period)
    orders = frames.order_prices(region_prefix=region_prefix, period=period)
    previous = frames.order_prices(region_prefix=region_prefix, period=period_shift(period, -1))
    awards = frames.awards_frame()
    references = frames.references_frame(until=month_end)
    if result is not None:
        result.order_lines = len(orders)
    policy_region = region_prefix.ljust(6, "0") if region_prefix else None
    return {
        rules.KIND_PRICE_ABOVE_AWARD: rules.rule_price_above_award(orders, awards, period=period),
        rules.KIND_PRICE_ABOVE_LISTING: rules.rule_price_above_listing(orders, references, period=period),
        rules.KIND_LISTING_ABOVE_REFERENCE: rules.rule_listing_above_reference(
            references, as_of=month_end, region_prefix=region_prefix
        ),
        rules.KIND_PRICE_SPIKE: rules.rule_price_spike(
            orders, previous, period=period, manufacturers=frames.manufacturers()
        ),
        rules.KIND_PRICE_OUTLIER: rules.rule_price_outlier(
            orders, period=period, policy_region=policy_region, peer_region_prefix=region_prefix
        ),
        rules.KIND_RETAIL_ABOVE_LISTING: rules.rule_retail_above_listing(
            references, as_of=month_end, period=period, region_prefix=region_prefix
        ),
    }


def _name_order_lines(findings: dict[str, list[dict]]) -> None:
    """Replace the order-line ids in evidence by their natural keys (order_no/line_no), one
    query per LOOKUP_BATCH ids over all findings."""
    ids = sorted({i for fs in findings.values() for f in fs for i in f["evidence"].get("order_line_ids", ())})
    keys: dict[int, str] = {}
    for start in range(0, len(ids), LOOKUP_BATCH):
        chunk = ids[start : start + LOOKUP_BATCH]
        for pk, no, line in OrderLine.objects.filter(pk__in=chunk).values_list("pk", "order_no", "line_no"):
            keys[pk] = f"{no}/{line}"
    for fs in findings.values():
        for f in fs:
            line_ids = f["evidence"].pop("order_line_ids", None)
            if line_ids is not None:
                f["evidence"]["order_lines"] = [keys[i] for i in line_ids if i in keys]
