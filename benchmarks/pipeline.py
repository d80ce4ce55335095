"""``manage.py bench``: run the settlement pipeline on a synthetic province and time each
stage beside its floor (benchmarks/floors.py).

Stages, in order: generate → import → reconcile → confirm → batch → alerts → prices.
A stage that crashes is recorded as failed (with the error) and the run goes on.
Results go to ``<out-dir>/<YYYY-MM-DD>-<scale>.json``; benchmarks/README.md "Pipeline"
is regenerated from them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import platform
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.apps import apps
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections

from benchmarks import floors
from benchmarks.monitor import PeakRss, maxrss_bytes
from benchmarks.sqltime import SqlTimer

STAGES = ("generate", "import", "observations", "reconcile", "confirm", "batch", "rematch", "alerts", "prices")
DIGEST_STAGES = ("reconcile", "rematch", "alerts", "prices")
ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
README = ROOT / "benchmarks" / "README.md"
OPERATOR, APPROVER = "bench_operator", "bench_approver"
MB = 1024 * 1024
# A table counts as "large" for the import target from this many rows.
LARGE_TABLE_ROWS = 100_000

MSG_NOT_POSTGRES = (
    "bench 只在 PostgreSQL 上运行 / bench runs on PostgreSQL only: the floors use COPY and "
    "the figures are meaningless on SQLite. Set DATABASE_URL=postgres://… (a dedicated database)."
)
MSG_NOT_BENCH_DB = (
    "bench 会清空数据库 / bench empties the database it runs on; its name must contain 'bench' "
    "or start with 'test' (got {name!r})"
)


class BenchRefused(Exception):
    pass


@dataclass
class StageResult:
    stage: str
    status: str = "ok"  # ok | failed | skipped
    rows: int = 0
    seconds: float = 0.0
    rows_per_s: float = 0.0
    peak_rss_mb: float = 0.0
    start_rss_mb: float = 0.0
    floor_rows: int | None = None
    floor_seconds: float | None = None
    ratio: float | None = None
    error: str = ""
    detail: dict = field(default_factory=dict)


@dataclass
class Context:
    scale: str
    seed: int
    out_dir: Path
    data_dir: Path
    manifest: dict = field(default_factory=dict)
    region_code: str = ""
    stage_timeout: float | None = None
    analyze: bool = False
    workers: int = 0  # > 0: the partitioned stages run as Celery tasks on that many real workers
    log: Callable[[str], None] = print

    @property
    def as_of(self) -> dt.date:
        return dt.date.fromisoformat(self.manifest["as_of"])

    @property
    def months(self) -> list[str]:
        return list(self.manifest["months"])


# --- database -----------------------------------------------------------------------------


def check_database() -> None:
    if connection.vendor != "postgresql":
        raise BenchRefused(MSG_NOT_POSTGRES)
    name = connection.settings_dict["NAME"] or ""
    if "bench" not in name and not name.startswith("test"):
        raise BenchRefused(MSG_NOT_BENCH_DB.format(name=name))


def app_tables() -> list[str]:
    existing = set(connection.introspection.table_names())
    names = set()
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy and model._meta.db_table in existing:
            names.add(model._meta.db_table)
    return sorted(names)


def database_empty() -> None:
    """TRUNCATE every application table (the database is the bench's own)."""
    tables = ", ".join(connection.ops.quote_name(t) for t in app_tables())
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def has_data() -> bool:
    from procurement.models import OrderLine

    return OrderLine.objects.exists()


# --- the stages ---------------------------------------------------------------------------


def _manifest_of(data_dir: Path) -> dict | None:
    try:
        return json.loads((data_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def stage_generate(ctx: Context, r: StageResult) -> None:
    from interchange.synthetic import generate

    m = _manifest_of(ctx.data_dir)
    record = ctx.data_dir / "bench_generate.json"
    if m and m.get("scale") == ctx.scale and m.get("seed") == ctx.seed and record.is_file():
        prior = json.loads(record.read_text())
        r.detail.update({"reused": True, "generated_seconds": prior.get("seconds"), "timings": prior.get("timings")})
        ctx.manifest = m
        r.rows = sum(m["row_counts"].values())
        r.seconds = 0.0
        ctx.log(f"  reusing {ctx.data_dir} (generated in {prior.get('seconds', 0):.1f}s)")
    else:
        t0 = time.perf_counter()
        result = generate(str(ctx.data_dir), scale=ctx.scale, seed=ctx.seed, months=None)
        seconds = time.perf_counter() - t0
        record.write_text(json.dumps({"seconds": seconds, "timings": result.timings}))
        ctx.manifest = _manifest_of(ctx.data_dir) or {}
        r.rows = sum(result.row_counts.values())
        r.detail.update({"reused": False, "timings": {k: round(v, 2) for k, v in result.timings.items()}})
    r.detail["row_counts"] = ctx.manifest.get("row_counts", {})


def stage_import(ctx: Context, r: StageResult) -> None:
    from interchange.management.commands.import_dir import files_in
    from interchange.services.imports import table_import
    from interchange.signals import table_imported

    # The receivers of ``table_imported`` (matching, price observations) are set aside for
    # the import: with no broker (CELERY_TASK_ALWAYS_EAGER) they run inline after every
    # file — matching after each of deliveries, receipts and invoices, the observation
    # build after orders and invoices — so the import would also time work that a
    # deployment with workers does elsewhere, and that the reconcile and prices stages
    # time here (scan_prices builds its observations itself).
    saved = list(table_imported.receivers)
    r.detail["receivers_set_aside"] = len(saved)
    table_imported.receivers = []
    table_imported.sender_receivers_cache.clear()
    per_table: dict[str, dict] = {}
    try:
        for table, path in files_in(ctx.data_dir):
            _import_one(ctx, r, per_table, table, path, table_import)
    finally:
        table_imported.receivers = saved
        table_imported.sender_receivers_cache.clear()
    r.detail["tables"] = per_table


def _import_one(ctx: Context, r: StageResult, per_table: dict, table: str, path: Path, table_import) -> None:
    t0 = time.perf_counter()
    report = table_import(table=table, path=path, lenient=False, user=None)
    seconds = time.perf_counter() - t0
    per_table[table] = {"rows": report.read, "seconds": round(seconds, 3), "created": report.created}
    ctx.log(f"  {table:<20}{report.read:>10,} rows {seconds:8.1f}s {report.read / max(seconds, 1e-9):>10,.0f} rows/s")
    if not report.ok:
        raise RuntimeError(f"{table}: rejected: {report.reason}")
    r.rows += report.read


def stage_observations(ctx: Context, r: StageResult) -> None:
    """The price observations the import's receiver builds after a province-wide import
    (``price_monitor.receivers.on_table_imported``: one build per province and month, all
    groups), set aside during the import stage and timed here on their own."""
    from price_monitor.receivers import OBSERVED_TABLES, covering_partitions
    from price_monitor.services.observations import observations_build

    province = _region_code()
    partitions = covering_partitions({(province, month) for month in ctx.months})
    builds = []
    for prefix, month in partitions:
        built = observations_build(region_prefix=prefix, period=month, groups=tuple(OBSERVED_TABLES.values()))
        builds.append({"prefix": prefix, "period": month, "orders": built.orders, "invoices": built.invoices})
        r.rows += built.orders + built.invoices + built.references
    r.detail["builds"] = builds


def _region_code() -> str:
    """The province: the root region the hospitals hang under."""
    from parties.models import Region

    roots = list(Region.objects.filter(parent__isnull=True).values_list("code", flat=True))
    if not roots:
        raise RuntimeError("no root region: import regions first")
    return sorted(roots)[0]


def stage_reconcile(ctx: Context, r: StageResult) -> None:
    from settlement.models import InvoiceLine
    from settlement.services.matching import MatchResult, invoices_match, reconcile_passes

    hospital_regions = InvoiceLine.objects.order_by().values_list("hospital__region_id", flat=True).distinct()
    # What manage.py reconcile does (the regions packed into passes), as many passes to each worker.
    passes = reconcile_passes(workers=ctx.workers or 1)
    if ctx.workers:
        _reconcile_on_workers(ctx, r, passes, len(set(hospital_regions)))
        return
    total = MatchResult()
    for prefixes in passes:
        total = total + invoices_match(region_prefix=prefixes, period=None, build_statements=True)
    r.rows = total.lines_checked
    r.detail.update(
        {
            "passes": passes,
            "hospital_regions": len(set(hospital_regions)),
            "lines_changed": total.lines_changed,
            "frozen": total.frozen,
            "by_status": dict(total.by_status),
            "by_code": dict(total.by_code),
            "statement_lines_added": total.statement_lines_added,
            "statements_created": len(total.statements_created),
        }
    )


def stage_rematch(ctx: Context, r: StageResult) -> None:
    """Reconcile again after the batch's approval, as the next import's matching does: every
    line is read and checked again, and the lines of the approved batch (all but the
    exceptions at L) are frozen, so almost nothing is written."""
    stage_reconcile(ctx, r)


def _reconcile_on_workers(ctx: Context, r: StageResult, passes: list[list[str]], hospital_regions: int) -> None:
    from benchmarks.workers import run_group
    from settlement.tasks.matching import match_partition

    results = run_group([match_partition.s(region=prefixes, period=None) for prefixes in passes])
    by_status: dict[str, int] = {}
    for one in results:
        for status, n in (one.get("by_status") or {}).items():
            by_status[status] = by_status.get(status, 0) + n
    r.rows = sum(one["lines_checked"] for one in results)
    r.detail.update(
        {
            "passes": passes,
            "hospital_regions": hospital_regions,
            "lines_changed": sum(one["lines_changed"] for one in results),
            "by_status": by_status,
            "statement_lines_added": sum(one["statement_lines_added"] for one in results),
            "statements_created": sum(one["statements_created"] for one in results),
        }
    )


def _users(ctx: Context):
    from parties.models import Role, User
    from parties.services.users import user_create

    ctx.region_code = ctx.region_code or _region_code()
    out = []
    for username, role in ((OPERATOR, Role.BUREAU_OPERATOR), (APPROVER, Role.BUREAU_APPROVER)):
        user = User.objects.filter(username=username).first() or user_create(
            username=username, role=role, password=None, region_code=ctx.region_code, full_name="Bench Runner"
        )
        out.append(user)
    return out


def stage_confirm(ctx: Context, r: StageResult) -> None:
    from settlement.models import InvoiceLine, Statement, StatementStatus

    _users(ctx)
    before = Statement.objects.filter(status=StatementStatus.CONFIRMED).count()
    out = io.StringIO()
    for period in ctx.months:
        call_command("confirm_statements", all=True, period=period, user=OPERATOR, stdout=out)
    confirmed = Statement.objects.filter(status=StatementStatus.CONFIRMED)
    r.rows = confirmed.count() - before
    r.detail.update(
        {
            "lines_in_confirmed": InvoiceLine.objects.filter(statement__in=confirmed).count(),
            "output": out.getvalue().strip().splitlines()[-len(ctx.months) :],
        }
    )


def stage_batch(ctx: Context, r: StageResult) -> None:
    from settlement.services.batches import batch_approve, batch_create, batch_submit

    operator, approver = _users(ctx)
    t0 = time.perf_counter()
    batch = batch_create(region_code=ctx.region_code, cutoff=ctx.as_of, user=operator, reason="bench")
    t1 = time.perf_counter()
    batch_submit(batch_no=batch.no, user=operator)
    t2 = time.perf_counter()
    batch = batch_approve(batch_no=batch.no, user=approver)
    t3 = time.perf_counter()
    r.rows = batch.line_count
    r.detail.update(
        {
            "batch": batch.no,
            "amount": str(batch.amount),
            "create_seconds": round(t1 - t0, 2),
            "submit_seconds": round(t2 - t1, 2),
            "approve_seconds": round(t3 - t2, 2),
        }
    )


def stage_alerts(ctx: Context, r: StageResult) -> None:
    from procurement.models import DeliveryLine

    if ctx.workers:
        from benchmarks.workers import run_group
        from settlement.services.alert_scans import scan_partitions
        from settlement.services.notifications import notifications_send_digests
        from settlement.tasks.alerts import alerts_scan_partition_task

        partitions = scan_partitions(None)
        results = run_group([alerts_scan_partition_task.s(p, ctx.as_of.isoformat(), None) for p in partitions])
        digests = notifications_send_digests()  # what the chord's callback does after the partitions
        r.detail.update({"partitions": partitions, "results": results, "digests_sent": digests})
    else:
        out = io.StringIO()
        call_command("scan_alerts", as_of=ctx.as_of.isoformat(), stdout=out)
        r.detail.update({"output": out.getvalue().strip().splitlines()})
    r.rows = DeliveryLine.objects.filter(accepted_date__isnull=False).count()  # the lines judged


def stage_prices(ctx: Context, r: StageResult) -> None:
    from procurement.models import OrderLine

    period = ctx.months[-1]
    if ctx.workers:
        from benchmarks.workers import run_group
        from price_monitor.services.scan import scan_prefixes
        from price_monitor.tasks import price_scan_partition

        prefixes = scan_prefixes(None)
        results = run_group([price_scan_partition.s(period, p, ctx.as_of.isoformat()) for p in prefixes])
        r.detail.update({"partitions": prefixes, "results": results})
    else:
        out = io.StringIO()
        call_command("scan_prices", period=period, as_of=ctx.as_of.isoformat(), stdout=out)
        r.detail["output"] = out.getvalue().strip().splitlines()
    start = dt.date.fromisoformat(f"{period}-01")
    end = (start + dt.timedelta(days=32)).replace(day=1)
    r.rows = OrderLine.objects.filter(order_date__gte=start, order_date__lt=end).count()
    r.detail["period"] = period


def _floor(stage: str, ctx: Context):
    from interchange.management.commands.import_dir import files_in

    if stage == "generate":
        return floors.generate_floor(ctx.data_dir)
    if stage == "import":
        rows, seconds, per_table = floors.import_floor(files_in(ctx.data_dir))
        return rows, seconds, {"floor_tables": per_table}
    if stage == "observations":
        return floors.observations_floor(ctx.months)
    if stage in ("reconcile", "rematch"):
        return floors.reconcile_floor()
    if stage == "confirm":
        return floors.confirm_floor(ctx.months)
    if stage == "batch":
        return floors.batch_floor(ctx.as_of)
    if stage == "alerts":
        return floors.alert_floor(ctx.as_of)
    if stage == "prices":
        return floors.price_floor(ctx.months[-1])
    raise ValueError(stage)


RUNNERS = {
    "generate": stage_generate,
    "import": stage_import,
    "observations": stage_observations,
    "reconcile": stage_reconcile,
    "confirm": stage_confirm,
    "batch": stage_batch,
    "rematch": stage_rematch,
    "alerts": stage_alerts,
    "prices": stage_prices,
}


class Watchdog:
    """After ``seconds``, cancel the query the stage is waiting on (psycopg2 ``cancel()``
    is safe from another thread), and again every second until the stage gives up with
    QueryCanceled (a cancel that lands between queries does nothing)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.fired = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        if self._done.wait(self.seconds):
            return
        self.fired = True
        while not self._done.is_set():
            raw = self._wrapper.connection
            if raw is not None:
                raw.cancel()
            self._done.wait(1.0)

    def __enter__(self) -> Watchdog:
        # django.db.connection is per thread: keep this thread's wrapper for the watchdog.
        self._wrapper = connections[DEFAULT_DB_ALIAS]
        if self.seconds:
            self._thread = threading.Thread(target=self._run, name="bench-watchdog", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()


def run_stage(stage: str, ctx: Context) -> StageResult:
    r = StageResult(stage=stage)
    ctx.log(f"== {stage}")
    if ctx.analyze and stage != "generate":
        t0 = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
        r.detail["analyze_seconds_before"] = round(time.perf_counter() - t0, 2)
    timer = SqlTimer()
    watchdog = Watchdog(ctx.stage_timeout)
    with PeakRss() as mem, connection.execute_wrapper(timer), watchdog:
        t0 = time.perf_counter()
        try:
            RUNNERS[stage](ctx, r)
        except Exception as exc:  # noqa: BLE001 — a crashing stage is a result, the run goes on
            r.status = "failed"
            r.error = f"{type(exc).__name__}: {exc}"
            if watchdog.fired:
                r.status = "timeout"
                r.error = f"stopped after {ctx.stage_timeout:.0f}s (--stage-timeout); was running: {r.error}"
            r.detail["traceback"] = traceback.format_exc().splitlines()[-12:]
            ctx.log(f"  FAILED: {r.error}")
        if not (stage == "generate" and r.detail.get("reused")):
            r.seconds = time.perf_counter() - t0
    r.detail["sql_seconds"] = round(timer.total, 2)
    r.detail["sql_top"] = timer.top()
    r.start_rss_mb = round(mem.start / MB, 1)
    r.peak_rss_mb = round(mem.peak / MB, 1)
    if r.status == "ok" and stage in DIGEST_STAGES:
        from benchmarks.digests import stage_digests

        r.detail["digests"] = stage_digests(stage)  # not timed: for comparing eager and worker runs
    if r.status == "ok":
        try:
            got = _floor(stage, ctx)
            r.floor_rows, r.floor_seconds = got[0], round(got[1], 3)
            if len(got) > 2:
                r.detail.update(got[2])
        except Exception as exc:  # noqa: BLE001
            r.detail["floor_error"] = f"{type(exc).__name__}: {exc}"
    if r.stage == "generate" and r.detail.get("reused"):
        r.seconds = float(r.detail.get("generated_seconds") or 0.0)
    r.seconds = round(r.seconds, 3)
    r.rows_per_s = round(r.rows / r.seconds, 1) if r.seconds > 0 else 0.0
    if r.floor_seconds:
        r.ratio = round(r.seconds / r.floor_seconds, 1)
    ctx.log(
        f"  {r.status}: {r.rows:,} rows in {r.seconds:.1f}s ({r.rows_per_s:,.0f} rows/s), "
        f"peak RSS {r.peak_rss_mb:,.0f} MB; floor {r.floor_seconds}s, ratio {r.ratio}"
    )
    return r


# --- the run ------------------------------------------------------------------------------


# The server settings that decide how fast bulk writes go, recorded with every run.
SERVER_SETTINGS = ("shared_buffers", "max_wal_size", "checkpoint_timeout", "work_mem", "wal_compression")


def machine() -> dict:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
        cur.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
            [list(SERVER_SETTINGS)],
        )
        settings = dict(cur.fetchall())
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "postgresql": pg,
        "postgresql_settings": settings,
        "python": platform.python_version(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def _carry_over(doc: dict, path: Path) -> None:
    """A run of some stages only keeps, from the file of the same day and scale, the
    stages it did not run (flagged ``carried_over``), so the table stays whole."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if earlier.get("seed") != doc["seed"]:
        return
    ran = {s["stage"] for s in doc["stages"]}
    old = {s["stage"]: s for s in earlier.get("stages", []) if s["stage"] not in ran}
    if not old:
        return
    for s in old.values():
        # A stage carried over twice keeps the commit it was measured at.
        s.setdefault("detail", {}).setdefault(
            "carried_over", {"from_commit": earlier.get("commit"), "started_at": earlier.get("started_at")}
        )
    mine = {s["stage"]: s for s in doc["stages"]}
    doc["stages"] = [mine.get(name) or old[name] for name in STAGES if name in mine or name in old]


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 — fixed argv
        ["git", *args],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def git_commit() -> str:
    """HEAD's short hash, with ``+dirty`` when tracked files differ from it (the code that
    ran is then not that commit's)."""
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        return commit + ("+dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(
    *,
    scale: str,
    seed: int = 1,
    out_dir: Path | None = None,
    data_root: Path | None = None,
    stages: list[str] | None = None,
    keep_db: bool = False,
    syncdb: bool = False,
    update_readme: bool = True,
    stage_timeout: float | None = None,
    analyze: bool = False,
    workers: int = 0,
    broker: str | None = None,
    log: Callable[[str], None] = print,
) -> tuple[dict, Path]:
    """Run the stages and write the JSON (and the README table). Returns (results, path)."""
    check_database()
    if syncdb:
        from benchmarks.schema import schema_create

        created = schema_create()
        log(f"schema: {len(created)} tables created from the models")
    stages = list(stages or STAGES)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise BenchRefused(f"unknown stage(s): {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    stages = [s for s in STAGES if s in stages]
    out_dir = Path(out_dir or RESULTS_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_root = Path(data_root or os.environ.get("BENCH_DATA_DIR", "/tmp/jicai_bench"))  # noqa: S108 — scratch data, regenerable
    ctx = Context(
        scale=scale,
        seed=seed,
        out_dir=out_dir,
        data_dir=data_root / f"data-{scale}-seed{seed}",
        log=log,
        stage_timeout=stage_timeout,
        analyze=analyze,
        workers=workers,
    )
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    if "generate" not in stages:
        ctx.manifest = _manifest_of(ctx.data_dir) or {}
        if not ctx.manifest:
            raise BenchRefused(f"no data set in {ctx.data_dir}: include the generate stage")
    if "import" in stages and has_data():
        log("database has data: emptying it before the import")
        database_empty()

    started = dt.datetime.now(dt.UTC)
    commit = git_commit()  # at the start: the code this run loads, not what HEAD is by its end
    info = machine()
    with contextlib.ExitStack() as stack:
        if workers:
            from benchmarks.workers import DEFAULT_BROKER, WorkerPool, database_url

            broker = broker or os.environ.get("BENCH_BROKER_URL") or DEFAULT_BROKER
            stack.enter_context(WorkerPool(workers, broker, database_url(), out_dir / "worker-logs", log=log))
            info["celery_broker"] = broker
        results = [run_stage(stage, ctx) for stage in stages]
    info["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    doc = {
        "scale": scale,
        "seed": seed,
        "date": started.date().isoformat(),
        "started_at": started.isoformat(timespec="seconds"),
        "commit": commit,
        "machine": info,
        "database": connection.settings_dict["NAME"],
        "data_dir": str(ctx.data_dir),
        "analyze_before_stages": analyze,
        "workers": workers,
        "process_maxrss_mb": round(maxrss_bytes() / MB, 1),
        "stages": [asdict(r) for r in results],
    }
    path = out_dir / f"{doc['date']}-{scale}{f'-workers{workers}' if workers else ''}.json"
    _carry_over(doc, path)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    log(f"results: {path}")
    if update_readme:
        from benchmarks.report import readme_update

        readme_update(README, RESULTS_DIR)
    if not keep_db:
        database_empty()
        log("database emptied (--keep-db keeps the data)")
    return doc, path
