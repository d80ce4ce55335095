"""``manage.py import_table TABLE FILE [--lenient] [--user U]``: one file into one table."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from interchange.management.commands._users import user_or_none
from interchange.permissions import MSG_FORBIDDEN, ImportForbidden
from interchange.registry import registered_tables
from interchange.services.imports import ImportReport, UnknownTable, table_import


def print_report(cmd: BaseCommand, report: ImportReport, max_errors: int = 20) -> None:
    c = report.counts()
    cmd.stdout.write(
        f"{report.table} ({report.file}): 读取/read {c['read']}  新增/created {c['created']}  "
        f"更新/updated {c['updated']}  未变/unchanged {c['unchanged']}  拒绝/rejected {c['rejected']}"
    )
    for w in report.warnings:
        cmd.stdout.write(f"  警告/warning: {w}")
    for e in report.error_list(max_errors):
        cmd.stdout.write(f"  row {e['row']} {e['column']}={e['value']!r}: {e['reason']} {e['message']}")
    if report.error_count > max_errors:
        cmd.stdout.write(f"  … {report.error_count - max_errors} more")
    if report.report_path:
        cmd.stdout.write(f"错误报告/error report: {report.report_path}")


class Command(BaseCommand):
    help = "导入一个表 / import one table file (CSV UTF-8/GB18030 or XLSX)"

    def add_arguments(self, parser):
        parser.add_argument("table")
        parser.add_argument("file")
        parser.add_argument("--lenient", action="store_true", help="apply the valid rows, report the bad ones")
        parser.add_argument("--user", help="username responsible for the import (scoping and audit)")

    def handle(self, *args, table, file, lenient, user, **options):
        who = user_or_none(user)
        try:
            report = table_import(table=table, path=file, lenient=lenient, user=who)
        except UnknownTable:
            raise CommandError(
                f"未知的表 / unknown table {table!r}; one of: {', '.join(registered_tables())}"
            ) from None
        except ImportForbidden:
            raise CommandError(f"{MSG_FORBIDDEN}: {table}") from None
        print_report(self, report)
        if not report.ok:
            raise CommandError(f"已拒绝 / rejected: {report.reason}")
