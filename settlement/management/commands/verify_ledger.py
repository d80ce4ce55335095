from django.core.management.base import BaseCommand

from settlement.services.ledger import ledger_verify


class Command(BaseCommand):
    help = "核对台账不变量 / check the money invariants of DOMAIN.md; exit 1 listing the broken ones"

    def handle(self, *args, **opts):
        violations = ledger_verify()
        if not violations:
            self.stdout.write("OK: 台账平衡 / every invariant holds")
            return
        for v in violations:
            self.stderr.write(str(v))
        self.stderr.write(f"{len(violations)} 项不变量被破坏 / invariants broken")
        raise SystemExit(1)
