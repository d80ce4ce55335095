"""``price_report --region R --period YYYY-MM -o FILE``: the monthly monitoring report (XLSX)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from parties.identifiers import REGION_CODE_RE
from parties.models import Region
from price_monitor.periods import PeriodError, period_check
from price_monitor.services.report import price_report_build

MSG_UNKNOWN_REGION = "未知区划 / unknown region: {code}"
MSG_OUTPUT = "无法写入 / cannot write {path}: {error}"


class Command(BaseCommand):
    help = "月度价格监测报告 / write the monthly price monitoring report of a region (XLSX)"

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="区划代码 / region code")
        parser.add_argument("--period", required=True, help="YYYY-MM")
        parser.add_argument("-o", "--output", default=None, help="文件 / output file (default price_report_R_P.xlsx)")

    def handle(self, *args, region, period, output, **options):
        try:
            period_check(period)
        except PeriodError as exc:
            raise CommandError(f"{exc}: {period}") from None
        if not REGION_CODE_RE.match(region) or not Region.objects.filter(code=region).exists():
            raise CommandError(MSG_UNKNOWN_REGION.format(code=region))
        report = price_report_build(region_code=region, period=period)
        path = Path(output or report.filename)
        try:
            path.write_bytes(report.content)
        except OSError as exc:
            raise CommandError(MSG_OUTPUT.format(path=path, error=exc)) from None
        self.stdout.write(str(path))
