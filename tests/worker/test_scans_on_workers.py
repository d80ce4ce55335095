"""The alert scan and the price scan as partitioned Celery tasks on real workers.

- partitions run by two workers write exactly what eager (inline) mode writes;
- a worker SIGKILLed while a scan is inside its transaction leaves nothing of that
  transaction visible (each kind's alert sync is all or nothing), the broker redelivers
  the message (acks_late, reject_on_worker_lost) and the retried task ends with the eager
  result.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from parties.models import Enterprise, Hospital
from price_monitor.models import PriceObservation
from price_monitor.services import rules
from price_monitor.tasks import price_scan_partition
from settlement.models import Alert, AlertEvent, AlertKind, Notification
from settlement.services.alert_scans import SCAN_KINDS, scan_partitions
from settlement.tasks.alerts import alerts_scan_partition_task
from tests.factories import enterprise_user, hospital_user
from tests.worker.support import (
    blocker,
    eager,
    rows,
    run_on_workers,
    someone_waits_on_a_lock,
    tables_written_by_the_waiting_backend,
    task_ids,
    wait_until,
)

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ALERT_TASK = "settlement.alerts_scan_partition"
PRICE_TASK = "price_monitor.price_scan_partition"
D1 = dt.date(2026, 10, 31)  # the data's as-of date
D2 = dt.date(2026, 11, 20)  # a later scan: lines fall due, alerts escalate, resolve, appear
PRICE_PERIOD = "2026-10"
PRICE_KINDS = tuple(rules.PRICE_KINDS)

ALERT_FIELDS = [
    "kind",
    "subject_type",
    "subject_key",
    "period",
    "status",
    "severity",
    "region_code",
    "hospital_code",
    "enterprise_code",
    "responsible",
    "stage",
    "value",
    "threshold",
    "amount",
    "message",
    "evidence",
    "first_seen_on",
    "last_seen_on",
]
ALERT_KEY = ["alert__kind", "alert__subject_type", "alert__subject_key", "alert__period"]
EVENT_FIELDS = [
    *ALERT_KEY,
    "as_of",
    "user_id",
    "action",
    "from_status",
    "to_status",
    "from_severity",
    "to_severity",
    "reason",
    "changes",
]
NOTICE_FIELDS = [*ALERT_KEY, "user_id", "reason", "title", "body"]
OBSERVATION_FIELDS = [f.attname for f in PriceObservation._meta.concrete_fields if f.attname != "id"]


def alert_rows(kind: str, prefix: str = "") -> tuple:
    """Everything a sync of ``kind`` writes for alerts of the region prefix: alerts, history,
    in-app notices — without ids, alert numbers (given out in commit order) and timestamps."""
    alerts = Alert.objects.filter(kind=kind, region_code__startswith=prefix)
    return (
        rows(alerts, ALERT_FIELDS),
        rows(AlertEvent.objects.filter(alert__in=alerts), EVENT_FIELDS),
        rows(Notification.objects.filter(alert__in=alerts), NOTICE_FIELDS),
    )


def alert_snapshot(kinds=SCAN_KINDS, prefix: str = "") -> dict:
    return {kind: alert_rows(kind, prefix) for kind in kinds}


def price_snapshot(prefix: str = "") -> dict:
    return {
        **alert_snapshot(PRICE_KINDS, prefix),
        "observations": rows(PriceObservation.objects.filter(region_code__startswith=prefix), OBSERVATION_FIELDS),
    }


def everything() -> dict:
    return {"alerts": alert_snapshot(), "prices": price_snapshot()}


def alert_calls(day: dt.date) -> list[tuple]:
    return [(alerts_scan_partition_task, (p, day.isoformat())) for p in scan_partitions()]


def price_calls() -> list[tuple]:
    # one partition per city: the fan-out of a province's month over several workers
    return [(price_scan_partition, (PRICE_PERIOD, p, D1.isoformat())) for p in scan_partitions()]


def run_inline(calls: list[tuple]) -> None:
    for task, args in calls:
        task(*args)  # the task function itself, inline (what eager mode runs)


@pytest.fixture
def province(tmp_path):
    """The S province imported, with users to notify (in-app notices are part of a scan's writes)."""
    out = tmp_path / "s"
    call_command("generate_demo", scale="S", seed=11, months=2, out=str(out), stdout=open("/dev/null", "w"))
    call_command("import_dir", str(out), stdout=open("/dev/null", "w"))
    for h in Hospital.objects.order_by("code")[::3]:
        hospital_user(h)
    for e in Enterprise.objects.order_by("credit_code")[::2]:
        enterprise_user(e)
    assert len(scan_partitions()) >= 3
    assert not Alert.objects.exists()


def test_two_workers_scan_like_eager_mode(province, real_celery, start_worker):
    # given what eager mode writes: alert scans of D1, the price scan, alert scans of D2
    expected = eager(
        lambda: (run_inline(alert_calls(D1)), run_inline(price_calls()), run_inline(alert_calls(D2))), everything
    )
    assert not Alert.objects.exists()  # (rolled back)
    assert all(sum(expected["alerts"][k][0].values()) for k in (AlertKind.PAYMENT_DUE_SOON, AlertKind.PAYMENT_OVERDUE))
    assert sum(sum(v[0].values()) for k, v in expected["prices"].items() if k != "observations")
    # when two workers run the same partitions
    workers = [start_worker("w1"), start_worker("w2")]
    run_on_workers(workers, alert_calls(D1) + price_calls())
    run_on_workers(workers, alert_calls(D2))
    # then they wrote exactly the same rows, and both took part
    assert everything() == expected
    assert all(task_ids(w, ALERT_TASK, "succeeded") or task_ids(w, PRICE_TASK, "succeeded") for w in workers)


def kill_inside_sync(start_worker, call: tuple) -> str:
    """Run ``call`` on a worker that is SIGKILLed while its alert sync is inside its
    transaction: a SHARE lock on the history table lets the sync update and insert alerts,
    then stops it at its first history INSERT. Returns the task id."""
    with blocker() as cur:
        cur.execute("LOCK TABLE settlement_alertevent IN SHARE MODE")
        victim = start_worker("victim", visibility_timeout=5)
        task, args = call
        task_id = task.apply_async(args=args).id
        wait_until(someone_waits_on_a_lock, timeout=60, what="the worker to block inside its write", workers=[victim])
        written = tables_written_by_the_waiting_backend()
        victim.kill()
    assert "settlement_alert" in written, written  # stopped after writing alerts, before their history
    assert task_ids(victim, task.name, "received") == [task_id]
    assert not task_ids(victim, task.name, "succeeded")
    return task_id


def assert_all_or_nothing(kinds, now: dict, before: dict, after: dict) -> None:
    """Kinds sync in order, each in one transaction: the kinds before the interrupted one are
    complete, the interrupted one and those after it untouched."""
    stopped = next(i for i, k in enumerate(kinds) if now[k] != after[k])
    assert before[kinds[stopped]] != after[kinds[stopped]]
    for i, k in enumerate(kinds):
        assert now[k] == (after[k] if i < stopped else before[k]), k


def test_worker_killed_in_a_scan_leaves_nothing_half_written(province, real_celery, start_worker):
    # given the D1 alert scan done (inline), and what D2 of one partition writes in eager mode
    run_inline(alert_calls(D1))
    prefix = scan_partitions()[0]
    call = (alerts_scan_partition_task, (prefix, D2.isoformat()))
    before = alert_snapshot(prefix=prefix)
    after = eager(lambda: run_inline([call]), lambda: alert_snapshot(prefix=prefix))
    others = alert_snapshot(prefix=scan_partitions()[1])
    # when a worker scanning it is killed inside a sync transaction
    task_id = kill_inside_sync(start_worker, call)
    # then each kind is all or nothing (the stopped one untouched), other partitions untouched
    assert_all_or_nothing(SCAN_KINDS, alert_snapshot(prefix=prefix), before, after)
    assert alert_snapshot(prefix=scan_partitions()[1]) == others
    # and the redelivered message completes on another worker with the eager result
    rescuer = start_worker("rescuer", visibility_timeout=5)
    wait_until(
        lambda: task_ids(rescuer, ALERT_TASK, "succeeded") == [task_id],
        timeout=90,
        what="the redelivered alert scan",
        workers=[rescuer],
    )
    assert alert_snapshot(prefix=prefix) == after

    # given the same for a price partition: killed inside one of its kinds' syncs
    call = (price_scan_partition, (PRICE_PERIOD, prefix, D1.isoformat()))
    before = price_snapshot(prefix)
    after = eager(lambda: run_inline([call]), lambda: price_snapshot(prefix))
    rescuer.stop()
    task_id = kill_inside_sync(start_worker, call)
    now = price_snapshot(prefix)
    # observations are built in their own transaction first: complete (or untouched)
    assert now["observations"] in (before["observations"], after["observations"])
    assert_all_or_nothing(PRICE_KINDS, now, before, after)
    rescuer = start_worker("rescuer2", visibility_timeout=5)
    wait_until(
        lambda: task_ids(rescuer, PRICE_TASK, "succeeded") == [task_id],
        timeout=90,
        what="the redelivered price scan",
        workers=[rescuer],
    )
    assert price_snapshot(prefix) == after
