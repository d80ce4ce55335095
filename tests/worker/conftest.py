"""A real Celery worker (separate process) against the test database and a real broker.

Used by tests marked ``worker`` (run with ``--run-worker`` and CELERY_BROKER_URL set;
``.ci/run`` starts Redis and does both). The tests must use
``django_db(transaction=True)`` so the worker sees committed rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.fail("worker tests need PostgreSQL (a worker process cannot share an in-memory SQLite test database)")
    user = s.get("USER") or "postgres"
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or "5432"
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


class Worker:
    def __init__(self, broker: str, concurrency: int = 1, name: str = "w1", visibility_timeout: int = 3600):
        self.broker = broker
        self.visibility_timeout = visibility_timeout
        self.concurrency = concurrency
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.log = ROOT / "var" / f"worker-{name}.log"

    def start(self) -> Worker:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": self.broker,
            "DJANGO_DEBUG": "false",
            "CELERY_VISIBILITY_TIMEOUT": str(self.visibility_timeout),
            "CELERY_RESTORE_INTERVAL": "2",
            "CELERY_RESTORE_THROTTLE": "1",
        }
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "info",
                "-P",
                "prefork",
                f"--concurrency={self.concurrency}",
                "-n",
                f"{self.name}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "ready." in self.log.read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                pytest.fail(f"worker exited early:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)
        pytest.fail("worker did not become ready in 60 s")

    def kill(self) -> None:
        """SIGKILL the whole worker process group (main process and its children)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def broker_url():
    url = os.environ.get("CELERY_BROKER_URL")
    if not url:
        pytest.fail("worker tests need CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/15)")
    return url


@pytest.fixture
def real_celery(broker_url):
    """Point the in-process Celery app at the broker (not eager) for the test's duration."""
    from config.celery import app

    old = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = broker_url
    # purge leftovers of an earlier failed run
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    yield app
    app.conf.task_always_eager, app.conf.broker_url = old


@pytest.fixture
def start_worker(broker_url):
    workers: list[Worker] = []

    def start(name: str = "w1", concurrency: int = 1, visibility_timeout: int = 3600) -> Worker:
        w = Worker(broker_url, concurrency=concurrency, name=name, visibility_timeout=visibility_timeout).start()
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.stop()
