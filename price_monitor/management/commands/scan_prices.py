"""``scan_prices --period YYYY-MM [--region R] [--as-of YYYY-MM-DD] [--user U]``: the price rules for a month."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from parties.identifiers import REGION_CODE_RE
from parties.models import Region, User
from price_monitor.periods import PeriodError, period_check
from price_monitor.services.scan import prices_scan

MSG_UNKNOWN_REGION = "未知区划 / unknown region: {code}"
MSG_BAD_DATE = "日期格式须为 YYYY-MM-DD / date must be YYYY-MM-DD: {value}"
MSG_UNKNOWN_USER = "未知用户 / unknown user: {username}"


class Command(BaseCommand):
    help = "价格监测规则扫描 / run the price rules for a month (default: every province)"

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="YYYY-MM")
        parser.add_argument("--region", default=None, help="区划代码 / region code (default: all)")
        parser.add_argument("--as-of", default=None, help="扫描日期 / scan date recorded on the alerts (default today)")
        parser.add_argument("--user", default=None, help="负责人 / the person responsible for the run")

    def handle(self, *args, period, region, as_of, user, **options):
        try:
            period_check(period)
        except PeriodError as exc:
            raise CommandError(f"{exc}: {period}") from None
        if region is not None and (not REGION_CODE_RE.match(region) or not Region.objects.filter(code=region).exists()):
            raise CommandError(MSG_UNKNOWN_REGION.format(code=region))
        as_of_date = None
        if as_of:
            try:
                as_of_date = dt.date.fromisoformat(as_of)
            except ValueError:
                raise CommandError(MSG_BAD_DATE.format(value=as_of)) from None
        person = None
        if user:
            person = User.objects.filter(username=user).first()
            if person is None:
                raise CommandError(MSG_UNKNOWN_USER.format(username=user))
        for result in prices_scan(period=period, region_code=region, as_of=as_of_date, user=person):
            self.stdout.write(result.summary())
