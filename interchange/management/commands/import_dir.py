"""``manage.py import_dir DIR [--lenient] [--user U]``: every ``<table>.csv|.xlsx`` in DIR,
in dependency order (INTERCHANGE.md), stopping at the first rejected file.

The files' ``table_imported`` announcements are held back and sent merged when the
directory is done (``interchange.signals.deferred``): matching and the price-observation
build run once for the whole directory, not once per table, also for the files imported
before a rejected one (they are committed)."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from interchange.management.commands._users import user_or_none
from interchange.management.commands.import_table import print_report
from interchange.permissions import MSG_FORBIDDEN, ImportForbidden
from interchange.registry import registered_tables
from interchange.services.imports import table_import
from interchange.signals import deferred

EXTENSIONS = (".csv", ".xlsx")


def files_in(directory: Path) -> list[tuple[str, Path]]:
    """(table, file) for the registered tables found in ``directory``, in dependency order."""
    found = []
    for table in registered_tables():
        for ext in EXTENSIONS:
            candidate = directory / f"{table}{ext}"
            if candidate.is_file():
                found.append((table, candidate))
                break
    return found


class Command(BaseCommand):
    help = "导入目录中的全部表 / import every <table>.csv|.xlsx of a directory in dependency order"

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--lenient", action="store_true")
        parser.add_argument("--user")

    def handle(self, *args, directory, lenient, user, **options):
        root = Path(directory)
        if not root.is_dir():
            raise CommandError(f"目录不存在 / not a directory: {root}")
        who = user_or_none(user)
        files = files_in(root)
        if not files:
            raise CommandError(f"目录中没有可导入的表 / no importable table file in {root}")
        with deferred():
            for table, path in files:
                t0 = time.perf_counter()
                try:
                    report = table_import(table=table, path=path, lenient=lenient, user=who)
                except ImportForbidden:
                    raise CommandError(f"{MSG_FORBIDDEN}: {table}") from None
                elapsed = time.perf_counter() - t0
                print_report(self, report)
                rate = report.read / elapsed if elapsed > 0 else 0.0
                self.stdout.write(f"  {elapsed:.2f}s, {rate:,.0f} rows/s")
                if not report.ok:
                    raise CommandError(f"{table}: 已拒绝 / rejected: {report.reason}")
