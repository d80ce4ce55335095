"""Helpers of the worker tests: waiting on real workers, holding a lock from a second
connection (to stop a worker inside its transaction), and snapshots of written rows that
leave out what legitimately differs between runs (ids, timestamps, document numbers)."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections import Counter

import psycopg2
import pytest
from django.db import connection, transaction


def wait_until(predicate, timeout: float = 120, what: str = "condition", workers=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for w in workers:  # a task that crashed will never finish: say so at once
            text = w.log.read_text(errors="replace")
            if "raised unexpected" in text:
                pytest.fail(f"a task failed on {w.name}:\n{text[-3000:]}")
        time.sleep(0.3)
    logs = "\n".join(f"--- {w.name}\n{w.log.read_text(errors='replace')[-2000:]}" for w in workers)
    pytest.fail(f"timed out waiting for {what}\n{logs}")


def task_ids(worker, task_name: str, state: str) -> list[str]:
    """Ids of ``task_name`` messages the worker logged as ``state`` ("received" or "succeeded")."""
    text = worker.log.read_text(errors="replace")
    return re.findall(rf"Task {re.escape(task_name)}\[([0-9a-f-]+)\] {state}", text)


def succeeded(workers, task_name: str) -> int:
    return sum(len(task_ids(w, task_name, "succeeded")) for w in workers)


def run_on_workers(workers, calls: list[tuple], timeout: float = 120) -> list[str]:
    """Send ``(task, args)`` messages and wait until the workers logged them all as succeeded."""
    want = Counter(task.name for task, _ in calls)
    want = {name: succeeded(workers, name) + n for name, n in want.items()}
    ids = [task.apply_async(args=args).id for task, args in calls]
    wait_until(
        lambda: all(succeeded(workers, name) >= n for name, n in want.items()),
        timeout=timeout,
        what=f"{len(calls)} tasks",
        workers=workers,
    )
    return ids


@contextlib.contextmanager
def blocker():
    """A second, independent connection to the test database (its own transaction),
    rolled back and closed on exit."""
    s = connection.settings_dict
    conn = psycopg2.connect(
        dbname=s["NAME"],
        user=s.get("USER") or "postgres",
        host=s.get("HOST") or "127.0.0.1",
        port=s.get("PORT") or 5432,
    )
    try:
        yield conn.cursor()
    finally:
        conn.rollback()
        conn.close()


def someone_waits_on_a_lock() -> bool:
    with connection.cursor() as c:
        c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
            [connection.settings_dict["NAME"]],
        )
        return c.fetchone()[0] > 0


def tables_written_by_the_waiting_backend() -> set[str]:
    """Tables the backend now waiting on a lock has written in its open transaction (it holds
    ROW EXCLUSIVE on them): proof that a worker was stopped in the middle of its writes."""
    with connection.cursor() as c:
        c.execute(
            """
            SELECT DISTINCT cl.relname FROM pg_locks l JOIN pg_class cl ON cl.oid = l.relation
            WHERE l.granted AND l.mode = 'RowExclusiveLock' AND cl.relkind = 'r' AND l.pid IN (
                SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock')
            """,
            [connection.settings_dict["NAME"]],
        )
        return {r[0] for r in c.fetchall()}


def eager(run, snap):
    """``snap()`` after ``run()`` executed inline in a transaction that is then rolled back:
    the eager (inline) result, leaving the database as it was."""
    with transaction.atomic():
        run()
        result = snap()
        transaction.set_rollback(True)
    return result


def plain(value):
    """A comparable, hashable form of a row value (JSON as sorted text)."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return value


def rows(qs, fields: list[str]) -> Counter:
    """The rows of ``qs`` as a multiset of tuples of ``fields`` (order-free, id-free)."""
    return Counter(tuple(plain(v) for v in r) for r in qs.values_list(*fields))
