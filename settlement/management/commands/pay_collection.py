from django.core.management.base import BaseCommand

from settlement.management.commands._batch_cli import acting_user, refused
from settlement.services.batch_rules import SettlementError
from settlement.services.collections import collection_pay


class Command(BaseCommand):
    help = "登记托收到账 / record a collection order as paid by the hospital"

    def add_arguments(self, parser):
        parser.add_argument("collection")
        parser.add_argument("--user", required=True)
        parser.add_argument("--bank-ref", default="")
        parser.add_argument("--reason", default="")

    def handle(self, *args, **opts):
        user = acting_user(opts["user"])
        try:
            order = collection_pay(
                collection_no=opts["collection"], user=user, bank_ref=opts["bank_ref"], reason=opts["reason"]
            )
        except SettlementError as exc:
            raise refused(exc) from exc
        self.stdout.write(f"{order.no} {order.status}")
