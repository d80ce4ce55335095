"""The main job on the embedded default, from nothing to a paid batch (INTERFACES.md `demo`).

migrate → generate the S province → import it → match → build and confirm statements →
prepayments → build, submit and approve (two users) a batch → bank confirmations with
one failure and its reissue → scan alerts and prices → verify the ledger → summary.

A second run starts clean: the demo owns the database it runs on, so it refuses to
touch one that holds anything but its own earlier run unless --force is given.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import secrets
import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count, Sum

DEMO_MARKER_USER = "demo_admin"
# (username, role, organisation option) — organisations filled in once the data is loaded.
DEMO_ROLES = [
    ("demo_operator", "bureau_operator", "region"),
    ("demo_approver", "bureau_approver", "region"),
    ("demo_analyst", "price_analyst", "region"),
    ("demo_hospital", "hospital", "hospital"),
    ("demo_enterprise", "enterprise", "enterprise"),
]
PROVINCE = "370000"


class Command(BaseCommand):
    help = "演示：从零生成一个省的数据并走完对账、结算、支付、预警全流程 / the main job end to end on a demo province"

    def add_arguments(self, parser):
        parser.add_argument("--scale", default="S", choices=["S", "M", "L"])
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--out", default=None, help="folder for the generated files (default var/demo_data)")
        parser.add_argument("--force", action="store_true", help="wipe a database that holds other data")

    def handle(self, *args, scale, seed, out, force, **opts):
        self.t0 = time.monotonic()
        out_dir = Path(out) if out else Path(settings.BASE_DIR) / "var" / "demo_data"
        self.step("数据库迁移 / migrate")
        call_command("migrate", interactive=False, verbosity=0)
        self.start_clean(force)

        self.step(f"生成演示数据 / generate province (scale {scale}, seed {seed})")
        self.quiet("generate_demo", scale=scale, seed=seed, out=str(out_dir))
        manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
        months: list[str] = manifest["months"]
        as_of = dt.date.fromisoformat(manifest["as_of"])

        self.step("导入 / import_dir")
        self.quiet("import_dir", str(out_dir))
        users, passwords = self.create_users()
        op, ap, analyst = users["demo_operator"], users["demo_approver"], users["demo_analyst"]

        self.step("对账 / reconcile")
        self.quiet("reconcile")
        self.step("医院确认对账单 / hospitals confirm statements (operator on their behalf)")
        for period in months:
            self.quiet("confirm_statements", all=True, period=period, user=op.username)

        self.step("预付金 / prepayments")
        year_start = manifest.get("agreement_year", {}).get("start")
        if year_start:
            self.quiet("compute_prepayments", year_start=year_start, pay=True, user=op.username)

        self.step("结算批次：生成、提交、复核 / batch: create, submit, approve (four eyes)")
        batch_no = self.quiet("create_batch", region=PROVINCE, cutoff=as_of.isoformat(), user=op.username).strip().split()[-1]
        self.quiet("submit_batch", batch_no, user=op.username)
        self.quiet("approve_batch", batch_no, user=ap.username)

        self.step("银行回单（一笔失败后重发）/ bank confirmations, one failure and its reissue")
        failed_no = self.pay_batch(batch_no, out_dir, op, fail_one=True)

        self.step("预警扫描 / scan alerts")
        self.quiet("scan_alerts", as_of=as_of.isoformat(), user=op.username)
        self.step("价格扫描 / scan prices")
        for period in months:
            self.quiet("scan_prices", period=period, as_of=as_of.isoformat(), user=analyst.username)

        self.step("账务核验 / verify_ledger")
        ledger_out = self.quiet("verify_ledger")

        self.summary(batch_no, failed_no, as_of, ledger_out, passwords)

    # -- steps ---------------------------------------------------------------------------

    def step(self, label: str) -> None:
        self.stdout.write(f"[{time.monotonic() - self.t0:6.1f}s] {label}")

    def quiet(self, name: str, *args, **kwargs) -> str:
        buf, err = io.StringIO(), io.StringIO()
        try:
            call_command(name, *args, stdout=buf, stderr=err, **kwargs)
        except CommandError as exc:
            raise CommandError(f"{name}: {exc}\n{buf.getvalue()[-2000:]}{err.getvalue()[-2000:]}") from exc
        return buf.getvalue()

    def start_clean(self, force: bool) -> None:
        from parties.models import Region, User

        has_data = Region.objects.exists()
        ours = User.objects.filter(username=DEMO_MARKER_USER).exists()
        if has_data and not (ours or force):
            raise CommandError(
                "数据库中已有非演示数据，未做任何修改；如确需清空请加 --force / the database holds other data; "
                "nothing was changed (use --force to wipe it)"
            )
        if has_data:
            self.step("清空上次演示数据 / wiping the previous demo run")
            call_command("flush", interactive=False, verbosity=0)

    def create_users(self) -> tuple[dict, dict]:
        from parties.models import Enterprise, Hospital
        from parties.services.users import user_create

        hospital = Hospital.objects.annotate(n=Count("invoice_lines")).order_by("-n", "code").first()
        enterprise = (
            Enterprise.objects.filter(role__in=["distributor", "both"])
            .annotate(n=Count("invoice_lines"))
            .order_by("-n", "credit_code")
            .first()
        )
        orgs = {
            "region": {"region_code": PROVINCE},
            "hospital": {"hospital_code": hospital.code},
            "enterprise": {"enterprise_code": enterprise.credit_code},
        }
        users, passwords = {}, {}
        for username, role, org in [(DEMO_MARKER_USER, "admin", None), *DEMO_ROLES]:
            password = secrets.token_urlsafe(9)
            users[username] = user_create(
                username=username,
                role=role,
                password=password,
                superuser=(username == DEMO_MARKER_USER),
                **(orgs[org] if org else {}),
            )
            passwords[username] = (role, password)
        return users, passwords

    def pay_batch(self, batch_no: str, out_dir: Path, user, *, fail_one: bool) -> str | None:
        """Write the bank's confirmation file (all success but one), import it, reissue the failure, pay it."""
        from settlement.models import PaymentInstruction
        from settlement.services.payments import instruction_reissue

        instructions = list(PaymentInstruction.objects.filter(batch__no=batch_no, status="issued").order_by("no"))
        failed_no = instructions[0].no if (fail_one and instructions) else None
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

        def write(path: Path, rows: list[PaymentInstruction], failed: str | None) -> None:
            with path.open("w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["instruction_no", "payee_credit_code", "amount", "status", "paid_at", "bank_ref"])
                for i in rows:
                    ok = i.no != failed
                    w.writerow([i.no, i.distributor_id, f"{i.amount:.2f}", "success" if ok else "failed", now, f"BR{i.no}" if ok else ""])

        # Outside the data folder: import_dir would otherwise take it as an input table next run.
        bank_dir = out_dir.parent / f"{out_dir.name}_bank"
        bank_dir.mkdir(parents=True, exist_ok=True)
        first = bank_dir / "payment_confirmations.csv"
        write(first, instructions, failed_no)
        self.quiet("import_payment_confirmations", str(first), user=user.username)
        if failed_no:
            new = instruction_reissue(instruction_no=failed_no, user=user, reason="收款账户信息已核实更正 / payee bank details corrected")
            second = bank_dir / "payment_confirmations_reissue.csv"
            write(second, [new], None)
            self.quiet("import_payment_confirmations", str(second), user=user.username)
        return failed_no

    def summary(self, batch_no: str, failed_no: str | None, as_of: dt.date, ledger_out: str, passwords: dict) -> None:
        from settlement.models import Alert, BatchLine, InvoiceLine, SettlementBatch

        matched = InvoiceLine.objects.filter(kind="blue", match_status="matched").aggregate(n=Count("id"), s=Sum("net_amount"))
        exceptions = InvoiceLine.objects.filter(kind="blue", match_status="exception").aggregate(n=Count("id"), s=Sum("net_amount"))
        paid = BatchLine.objects.paid().aggregate(n=Count("id"), s=Sum("amount"))
        batch = SettlementBatch.objects.get(no=batch_no)
        overdue = (
            Alert.objects.filter(kind="PAYMENT_OVERDUE", status__in=["open", "acknowledged"])
            .values("responsible")
            .annotate(n=Count("id"), s=Sum("amount"))
            .order_by("responsible")
        )
        by_kind = Alert.objects.values("kind").annotate(n=Count("id")).order_by("kind")

        def money(v) -> str:
            return f"{(v or Decimal('0')):,.2f}"

        w = self.stdout.write
        w("")
        w("=" * 72)
        w(f"演示完成 / demo finished in {time.monotonic() - self.t0:.1f}s — 数据截至 / data as of {as_of}  ({connection.vendor})")
        w(f"  已匹配 / matched:      {matched['n']:>7} 行 lines  {money(matched['s']):>18} 元")
        w(f"  异常 / exceptions:     {exceptions['n']:>7} 行 lines  {money(exceptions['s']):>18} 元")
        w(f"  批次 / batch {batch.no}: {batch.get_status_display()}  金额 amount {money(batch.amount)} 元 "
          f"(基金抵扣 {money(batch.deducted_amount)} / 预付金 {money(batch.prepayment_amount)} / 托收 {money(batch.collection_amount)})")
        w(f"  已支付 / paid:         {paid['n']:>7} 行 lines  {money(paid['s']):>18} 元" + (f"  (失败后重发 / reissued: {failed_no})" if failed_no else ""))
        w("  逾期未付（按责任方）/ overdue by responsible party:")
        for row in overdue:
            w(f"    {row['responsible'] or '-':<12} {row['n']:>6} 条  {money(row['s']):>18} 元")
        w("  预警（按类型）/ alerts by kind:")
        for row in by_kind:
            w(f"    {row['kind']:<24} {row['n']:>6}")
        w(f"  账务核验 / verify_ledger: {ledger_out.strip().splitlines()[-1] if ledger_out.strip() else 'OK'}")
        w("")
        w("登录查看 / to look around:  .venv/bin/python manage.py runserver  →  http://127.0.0.1:8000/")
        for username, (role, password) in passwords.items():
            w(f"    {username:<16} {password:<14} {role}")
        w("=" * 72)
