"""manage.py confirm_statements (--all | --hospital CODE) --period YYYY-MM --user U

An operator's tool for hospitals that confirm outside the system: confirms the open
statements of the month (in the user's region; every region for an admin), each with a
history row naming the operator — all in one set-based transaction (``statements_confirm``):
all of them or, on a refusal, none."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from parties.models import Role
from parties.scoping import sees_everything, user_region_prefix
from settlement.models import Statement, StatementStatus
from settlement.selectors.lines import period_bounds
from settlement.services.statements import StatementError, statements_confirm

REASON = "manage.py confirm_statements"


class Command(BaseCommand):
    help = "批量确认对账单 / confirm the open statements of a month on behalf of hospitals"

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="every hospital the user may act for")
        which.add_argument("--hospital", help="one hospital code")
        parser.add_argument("--period", required=True, help="YYYY-MM, month of acceptance")
        parser.add_argument("--user", required=True, help="the operator responsible")

    def handle(self, *args, **opts):
        user = get_user_model().objects.filter(username=opts["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"用户不存在 / unknown user: {opts['user']}")
        if not (sees_everything(user) or user.role in (Role.BUREAU_OPERATOR, Role.HOSPITAL)):
            raise CommandError("只有经办人员或管理员可以代为确认 / only bureau operators and admins confirm on behalf")
        try:
            period_bounds(opts["period"])
        except ValueError:
            raise CommandError(f"--period 须为 YYYY-MM / --period must be YYYY-MM: {opts['period']!r}") from None
        qs = Statement.objects.filter(period=opts["period"], status=StatementStatus.OPEN)
        if opts["hospital"]:
            qs = qs.filter(hospital_id=opts["hospital"])
        if user.role == Role.HOSPITAL:
            qs = qs.filter(hospital_id=user.hospital_id)
        elif not sees_everything(user):
            qs = qs.filter(hospital__region__code__startswith=user_region_prefix(user) or "-")
        numbers = list(qs.order_by("no").values_list("no", flat=True))
        if opts["hospital"] and not numbers and not Statement.objects.filter(hospital_id=opts["hospital"]).exists():
            raise CommandError(f"该医院没有对账单 / no statements for hospital {opts['hospital']}")
        try:
            confirmed = statements_confirm(statement_nos=numbers, user=user, on_behalf=True, reason=REASON)
        except StatementError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(f"已确认 / confirmed: {len(confirmed)} statements of {opts['period']}")
