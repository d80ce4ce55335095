"""manage.py bench --scale M|L [--seed N] [--out-dir DIR] [--keep-db] [--stages a,b,…] [--syncdb] [--stage-timeout S]
[--tune-server]

Thin: the pipeline, its floors and the report live in benchmarks/."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from benchmarks.pipeline import STAGES, BenchRefused, run


class Command(BaseCommand):
    help = "流水线基准测试 / time each pipeline stage beside its floor on PostgreSQL"

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=["S", "M", "L"], required=True)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--out-dir", default=None, help="where the JSON goes (default benchmarks/results)")
        parser.add_argument(
            "--data-dir", default=None, help="where data sets live (default $BENCH_DATA_DIR or /tmp/jicai_bench)"
        )
        parser.add_argument("--keep-db", action="store_true", help="keep the data at the end")
        parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of: {', '.join(STAGES)}")
        parser.add_argument("--syncdb", action="store_true", help="create missing tables from the models first")
        parser.add_argument(
            "--stage-timeout",
            type=float,
            default=None,
            help="seconds; a longer stage is stopped and recorded as timeout",
        )
        parser.add_argument(
            "--analyze",
            action="store_true",
            help="ANALYZE before each stage (fresh planner statistics, as autovacuum would give in time)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=0,
            help="run reconcile, alerts and prices as partitioned Celery tasks on N real workers (needs a broker)",
        )
        parser.add_argument(
            "--broker", default=None, help="broker URL for --workers (default $BENCH_BROKER_URL or redis db 12)"
        )
        parser.add_argument("--no-readme", action="store_true", help="do not regenerate benchmarks/README.md")
        parser.add_argument(
            "--tune-server",
            action="store_true",
            help="first set the server's checkpoint and WAL settings for bulk work (ALTER SYSTEM; benchmarks/server.py)",
        )

    def handle(self, *args, **o):
        stages = [s.strip() for s in o["stages"].replace(" ", ",").split(",") if s.strip()]
        if connection.vendor == "postgresql":
            unknown = migrations_unknown_here()
            if unknown:
                raise CommandError(
                    "数据库结构来自更新的代码 / the database was migrated by code newer than this commit "
                    f"({', '.join(unknown[:3])}{' …' if len(unknown) > 3 else ''}): emptying it keeps that schema, "
                    "so this commit would be measured on another's; use a fresh database (dropdb, createdb)"
                )
        if not o["syncdb"] and connection.vendor == "postgresql":  # anything else is refused by run()
            call_command("migrate", interactive=False, verbosity=0)  # a fresh bench database needs the schema
        if o["tune_server"] and connection.vendor == "postgresql":
            from benchmarks.server import server_tune

            settings = server_tune(log=self.stdout.write)
            self.stdout.write("server: " + ", ".join(f"{k} {v}" for k, v in settings.items()))
        try:
            run(
                scale=o["scale"],
                seed=o["seed"],
                out_dir=Path(o["out_dir"]) if o["out_dir"] else None,
                data_root=Path(o["data_dir"]) if o["data_dir"] else None,
                stages=stages,
                keep_db=o["keep_db"],
                syncdb=o["syncdb"],
                update_readme=not o["no_readme"],
                stage_timeout=o["stage_timeout"],
                analyze=o["analyze"],
                workers=o["workers"],
                broker=o["broker"],
                log=lambda msg: (self.stdout.write(msg), self.stdout.flush()),
            )
        except BenchRefused as exc:
            raise CommandError(str(exc)) from None


def migrations_unknown_here() -> list[str]:
    """Migrations recorded as applied in the database that this code does not have ("app.name")."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection, ignore_no_migrations=True)
    return sorted(f"{app}.{name}" for app, name in loader.applied_migrations if (app, name) not in loader.graph.nodes)
