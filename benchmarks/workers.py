"""``manage.py bench --workers N``: the partitioned stages on N real Celery workers.

The reconcile, alerts and prices stages then send one task per partition (the same tasks
beat and the import receivers send in production) to N worker processes over a real
broker, and wait for all of them; confirm and batch stay inline. Each of those stages
also records a digest of what it wrote (``benchmarks.digests``), so a run with workers
can be compared with an eager run of the same data set: equal digests, equal results.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BROKER = "redis://127.0.0.1:6379/12"
READY_TIMEOUT_S = 90
MSG_NO_BROKER = "bench --workers 需要可用的 broker / needs a reachable broker: {url} ({error})"


class WorkerPool:
    """N ``celery worker`` processes (concurrency 1 each) on the bench's own database."""

    def __init__(self, n: int, broker: str, database_url: str, log_dir: Path, log: Callable[[str], None] = print):
        self.n = n
        self.broker = broker
        self.database_url = database_url
        self.log_dir = log_dir
        self.log = log
        self.procs: list[subprocess.Popen] = []
        self._saved_conf: tuple | None = None

    def __enter__(self) -> WorkerPool:
        from config.celery import app

        self._check_broker()
        self._saved_conf = (app.conf.task_always_eager, app.conf.broker_url, app.conf.result_backend)
        app.conf.task_always_eager = False
        app.conf.broker_url = self.broker
        app.conf.result_backend = self.broker
        with app.connection_for_write() as conn:  # leftovers of an earlier, interrupted run
            conn.default_channel.queue_purge("celery")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for i in range(self.n):
            self.procs.append(self._start(f"bench{i + 1}"))
        self.log(f"  {self.n} Celery worker(s) ready on {self.broker}")
        return self

    def __exit__(self, *exc) -> None:
        from config.celery import app

        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._saved_conf is not None:
            app.conf.task_always_eager, app.conf.broker_url, app.conf.result_backend = self._saved_conf

    def _check_broker(self) -> None:
        from kombu import Connection

        try:
            with Connection(self.broker, connect_timeout=5) as conn:
                conn.ensure_connection(max_retries=1)
        except Exception as exc:  # noqa: BLE001 — any failure to connect is the same refusal
            from benchmarks.pipeline import BenchRefused

            raise BenchRefused(MSG_NO_BROKER.format(url=self.broker, error=exc)) from None

    def _start(self, name: str) -> subprocess.Popen:
        log_path = self.log_dir / f"worker-{name}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker,
            "CELERY_RESULT_BACKEND": self.broker,
            "DJANGO_DEBUG": "false",
        }
        proc = subprocess.Popen(  # noqa: S603 — our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "info",  # each task's "succeeded in …s": how the passes fell to the workers
                "-P",
                "prefork",
                "--concurrency=1",
                "-n",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        from config.celery import app

        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {name} exited: {log_path.read_text(errors='replace')[-2000:]}")
            replies = app.control.ping(destination=[f"{name}@{os.uname().nodename}"], timeout=1.0)
            if replies:
                return proc
        raise RuntimeError(f"worker {name} not ready in {READY_TIMEOUT_S} s (log: {log_path})")


def database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or "5432"
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


def run_group(signatures: list, timeout: float | None = None) -> list:
    """Send the partition tasks, wait for all; a failed task raises here."""
    from celery import group

    result = group(signatures).apply_async()
    try:
        return result.get(timeout=timeout, propagate=True, disable_sync_subtasks=False)
    finally:
        result.forget()
