from django.core.management.base import BaseCommand

from settlement.management.commands._batch_cli import acting_user, refused
from settlement.services.batch_rules import SettlementError
from settlement.services.batches import batch_submit


class Command(BaseCommand):
    help = "submit a settlement batch (approval by its maker is refused: four eyes)"

    def add_arguments(self, parser):
        parser.add_argument("batch")
        parser.add_argument("--user", required=True)
        parser.add_argument("--reason", default="")

    def handle(self, *args, **opts):
        user = acting_user(opts["user"])
        try:
            batch = batch_submit(batch_no=opts["batch"], user=user, reason=opts["reason"])
        except SettlementError as exc:
            raise refused(exc) from exc
        self.stdout.write(f"{batch.no} {batch.status}")
