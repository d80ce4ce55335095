"""``scan_alerts [--as-of YYYY-MM-DD] [--region R] [--kind K …] [--user U]``: the non-price alert scan.

Judges today's documents with the given date as today (default: today, Asia/Shanghai);
idempotent (running it twice for the same date changes nothing the second time). Sends
one e-mail digest per notified user at the end.
"""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from parties.identifiers import REGION_CODE_RE
from parties.models import Region, User
from settlement.services.alert_scans import SCAN_KINDS, alerts_scan_partition, scan_partitions
from settlement.services.notifications import notifications_send_digests

MSG_BAD_DATE = "日期格式须为 YYYY-MM-DD / date must be YYYY-MM-DD: {value}"
MSG_UNKNOWN_REGION = "未知区划 / unknown region: {code}"
MSG_UNKNOWN_KIND = "未知预警类型 / unknown alert kind: {kind}"
MSG_UNKNOWN_USER = "未知用户 / unknown user: {username}"


class Command(BaseCommand):
    help = "预警扫描（付款、验收、对账单、托收、约定量、供应） / scan late-payment, receipt, statement, collection, agreement and supply alerts"

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of", default=None, help="扫描日期 / judge the documents with this date as today (YYYY-MM-DD)"
        )
        parser.add_argument("--region", default=None, help="区划代码 / region code (default: every region)")
        parser.add_argument("--kind", action="append", default=None, help="预警类型，可重复 / alert kind (repeatable)")
        parser.add_argument("--user", default=None, help="负责人 / the person responsible for the run")

    def handle(self, *args, as_of, region, kind, user, **options):
        try:
            day = dt.date.fromisoformat(as_of) if as_of else timezone.localdate()
        except ValueError:
            raise CommandError(MSG_BAD_DATE.format(value=as_of)) from None
        if region is not None and (not REGION_CODE_RE.match(region) or not Region.objects.filter(code=region).exists()):
            raise CommandError(MSG_UNKNOWN_REGION.format(code=region))
        kinds = tuple(kind or SCAN_KINDS)
        for k in kinds:
            if k not in SCAN_KINDS:
                raise CommandError(MSG_UNKNOWN_KIND.format(kind=k))
        person = None
        if user:
            person = User.objects.filter(username=user).first()
            if person is None:
                raise CommandError(MSG_UNKNOWN_USER.format(username=user))

        started = time.monotonic()
        totals: dict[str, dict[str, int]] = {
            k: dict.fromkeys(("created", "updated", "escalated", "resolved", "reopened"), 0) for k in kinds
        }
        partitions = scan_partitions(region)
        for prefix in partitions:
            for k, result in alerts_scan_partition(
                region_prefix=prefix, as_of=day, kinds=kinds, user=person, digest=False
            ).items():
                for name, n in result.as_dict().items():
                    totals[k][name] += n
        mails = notifications_send_digests()
        for k, t in totals.items():
            self.stdout.write(f"{k:<22} " + " ".join(f"{name}={n}" for name, n in t.items()))
        self.stdout.write(
            f"扫描日期 / as of {day.isoformat()}: {len(partitions)} 个分区 / partitions, "
            f"{mails} 封摘要邮件 / digests, {time.monotonic() - started:.1f}s"
        )
