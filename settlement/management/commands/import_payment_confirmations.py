import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from interchange.readers import UnreadableFile, read_table
from interchange.tables import INPUT_TABLES
from settlement.management.commands._batch_cli import acting_user, refused
from settlement.services.batch_rules import SettlementError
from settlement.services.payments import confirmation_rows_from_frame, payment_confirmations_apply


class Command(BaseCommand):
    help = "导入银行支付回单 / import payment_confirmations (CSV/XLSX); strict unless --lenient"

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--user", required=True)
        parser.add_argument("--lenient", action="store_true")

    def handle(self, *args, **opts):
        user = acting_user(opts["user"])
        path = Path(opts["file"])
        if not path.exists():
            raise CommandError(f"文件不存在 / no such file: {path}")
        try:
            raw = read_table(path, INPUT_TABLES["payment_confirmations"])
        except UnreadableFile as exc:
            raise CommandError(str(exc)) from exc
        if raw.missing:
            raise CommandError(f"缺少必填列 / missing required columns: {', '.join(raw.missing)}")
        rows, cell_errors = confirmation_rows_from_frame(raw.frame)
        try:
            report = payment_confirmations_apply(
                rows=rows, user=user, source=path.name, lenient=opts["lenient"], cell_errors=cell_errors
            )
        except SettlementError as exc:
            self._write_errors(path, exc.details)
            raise refused(exc) from exc
        if report.errors:
            self._write_errors(path, [e.as_dict() for e in report.errors])
        self.stdout.write(
            f"rows={report.rows} created={report.created} skipped={report.skipped} paid={report.paid} "
            f"failed={report.failed} errors={len(report.errors)} batches_paid={','.join(report.batches_paid) or '-'}"
        )

    def _write_errors(self, path: Path, errors: list[dict]) -> None:
        if not errors:
            return
        out = path.with_name(path.stem + ".errors.csv")
        try:
            with out.open("w", encoding="utf-8-sig", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=["row", "column", "value", "code", "reason"])
                writer.writeheader()
                writer.writerows(errors)
        except OSError:
            return
        self.stderr.write(f"错误报告 / error report: {out}")
        for e in errors[:20]:
            self.stderr.write(f"row {e['row']} {e['column']}={e['value']!r}: {e['reason']}")
