"""``manage.py export TABLE [--as-of D] [--batch B] [--region R] [--period P] [--user U]
--format csv|xlsx -o FILE``: an output table of INTERCHANGE.md.

Without ``--user`` the console acts as an administrator (sees everything); with it, the
rows are scoped to that user exactly as the API would.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from interchange.exports import exports_registry
from interchange.management.commands._users import user_or_none
from interchange.writers import FORMATS, write_table
from parties.models import Role, User


def console_user() -> User:
    """An unsaved administrator: scoping lets it see everything (parties.scoping)."""
    return User(username="console", role=Role.ADMIN, is_superuser=True, is_active=True)


class Command(BaseCommand):
    help = "导出输出表 / export an output table as CSV (UTF-8 with BOM) or XLSX"

    def add_arguments(self, parser):
        parser.add_argument("table")
        parser.add_argument("--as-of", dest="as_of")
        parser.add_argument("--batch")
        parser.add_argument("--region")
        parser.add_argument("--period")
        parser.add_argument("--user")
        parser.add_argument("--format", choices=FORMATS, default="csv")
        parser.add_argument("-o", "--output", required=True)

    def handle(self, *args, table, output, user, **options):
        registry = exports_registry()
        spec = registry.get(table)
        if spec is None:
            raise CommandError(f"未知的导出表 / unknown export table {table!r}; one of: {', '.join(sorted(registry))}")
        kwargs = {}
        for name in ("as_of", "batch", "region", "period"):
            value = options.get(name)
            if value is None:
                continue
            if name not in spec.filters:
                raise CommandError(f"{table} 不支持 --{name.replace('_', '-')} / does not take this filter")
            if name == "as_of":
                try:
                    value = dt.date.fromisoformat(value)
                except ValueError:
                    raise CommandError(f"--as-of 须为 YYYY-MM-DD / must be a date: {value}") from None
            kwargs[name] = value
        who = user_or_none(user) or console_user()
        count = write_table(spec.columns, spec.rows(user=who, **kwargs), options["format"], output)
        self.stdout.write(f"{table}: {count} 行 / rows → {output}")
