from django.core.management.base import BaseCommand

from procurement.services.prepayments import prepayments_compute
from settlement.management.commands._batch_cli import acting_user, parse_date, refused
from settlement.services.batch_rules import SettlementError


class Command(BaseCommand):
    help = "计算医保基金预付 / compute prepayments of the agreements starting on a day (idempotent); --pay records them paid"

    def add_arguments(self, parser):
        parser.add_argument("--year-start", required=True, help="YYYY-MM-DD")
        parser.add_argument("--pay", action="store_true", help="record them as paid out (needs --user)")
        parser.add_argument("--user", default=None)

    def handle(self, *args, **opts):
        year_start = parse_date(opts["year_start"], "--year-start")
        user = acting_user(opts["user"]) if (opts["pay"] or opts["user"]) else None
        try:
            result = prepayments_compute(year_start=year_start, user=user, pay=opts["pay"])
        except SettlementError as exc:
            raise refused(exc) from exc
        self.stdout.write(
            f"created={result.created} updated={result.updated} unchanged={result.unchanged} paid={result.paid} "
            f"conflicts={','.join(result.conflicts) or '-'}"
        )
