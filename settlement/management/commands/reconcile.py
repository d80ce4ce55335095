"""manage.py reconcile [--region R] [--period YYYY-MM]: run matching and gather the newly
matched lines into statements, in one pass per partition (each line written once). Without
--region the partitions are the hospitals' regions without those another one covers, packed
into the fewest passes of at most ``RECONCILE_PASS_LINES`` lines (bounded memory), of sizes as
even as the regions allow; prints what changed and the speed."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from parties.identifiers import REGION_CODE_RE
from parties.models import Region
from settlement.selectors.lines import period_bounds
from settlement.services.matching import MatchResult, invoices_match, reconcile_passes


class Command(BaseCommand):
    help = "对账 / run matching (and build statements) for a region and month, or for everything"

    def add_arguments(self, parser):
        parser.add_argument("--region", help="region code of the hospitals, e.g. 371000 (with everything below it)")
        parser.add_argument(
            "--period", help="YYYY-MM: invoices issued, or deliveries delivered or accepted, that month"
        )

    def handle(self, *args, region=None, period=None, **opts):
        if region is not None and (not REGION_CODE_RE.match(region) or not Region.objects.filter(code=region).exists()):
            raise CommandError(f"未知的区划代码 / unknown region code: {region!r}")
        if period is not None:
            try:
                period_bounds(period)
            except ValueError:
                raise CommandError(f"--period 须为 YYYY-MM / --period must be YYYY-MM: {period!r}") from None
        # One pass per region given, else the hospitals' regions packed into passes (reconcile_passes).
        passes = [[region]] if region is not None else reconcile_passes()
        started = time.monotonic()
        total = MatchResult()
        for prefixes in passes:
            result = invoices_match(region_prefix=prefixes, period=period, build_statements=True)
            total = total + result
            if opts.get("verbosity", 1) >= 2:
                self.stdout.write(
                    f"{','.join(prefixes)} {period or '*'}: {result.lines_checked} lines, {result.lines_changed} changed"
                )
        seconds = time.monotonic() - started
        rate = total.lines_checked / total.seconds if total.seconds else 0.0
        statuses = ", ".join(f"{k} {v}" for k, v in total.by_status.items()) or "-"
        codes = ", ".join(f"{k} {v}" for k, v in total.by_code.items()) or "-"
        self.stdout.write(
            f"对账完成 / matched: {total.lines_checked} lines checked, {total.lines_changed} changed, "
            f"{total.frozen} frozen in {seconds:.1f}s ({rate:,.0f} lines/s)\n"
            f"  status: {statuses}\n  codes: {codes}\n"
            f"对账单 / statements: {total.statement_lines_added} lines added, "
            f"{len(total.statements_created)} statements created"
        )
