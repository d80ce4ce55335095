from django.core.management.base import BaseCommand

from settlement.management.commands._batch_cli import acting_user, parse_date, refused
from settlement.services.batch_rules import SettlementError
from settlement.services.batches import batch_create


class Command(BaseCommand):
    help = "建立结算批次 / build a settlement batch for a region and cut-off; prints its number"

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="region code, e.g. 371000")
        parser.add_argument("--cutoff", required=True, help="YYYY-MM-DD: lines accepted on or before it")
        parser.add_argument("--user", required=True)

    def handle(self, *args, **opts):
        user = acting_user(opts["user"])
        cutoff = parse_date(opts["cutoff"], "--cutoff")
        try:
            batch = batch_create(region_code=opts["region"], cutoff=cutoff, user=user)
        except SettlementError as exc:
            raise refused(exc) from exc
        self.stdout.write(batch.no)
