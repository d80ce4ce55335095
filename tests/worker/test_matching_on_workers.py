"""Matching as partitioned Celery tasks on real workers over a real broker.

- two workers give exactly the results of eager (inline) mode;
- a worker SIGKILLed in the middle of writing a partition leaves nothing half-written,
  and the redelivered task completes with identical results.
"""

from __future__ import annotations

import time

import psycopg2
import pytest
from django.core.management import call_command
from django.db import connection

from settlement.models import InvoiceLine, Statement, StatementEvent
from settlement.tasks.matching import match_partition

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def snapshot(region_prefix: str = "") -> dict:
    """What matching decided, per line, independent of statement numbering."""
    rows = (
        InvoiceLine.objects.filter(hospital__region__code__startswith=region_prefix)
        .order_by("id")
        .values_list(
            "id", "match_status", "exception_codes", "net_qty", "net_amount", "reverses_id",
            "statement__hospital_id", "statement__distributor_id", "statement__period", "statement__sequence",
        )
    )
    return {r[0]: r[1:] for r in rows}


def reset_matching() -> None:
    InvoiceLine.objects.update(
        match_status="pending", exception_codes="", net_qty=None, net_amount=None, reverses=None, statement=None, matched_at=None
    )
    StatementEvent.objects.all().delete()
    Statement.objects.all().delete()


def regions_with_invoices() -> list[str]:
    return sorted(InvoiceLine.objects.order_by().values_list("hospital__region_id", flat=True).distinct())


def wait_until(predicate, timeout: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def partition_done(region_prefix: str = "") -> bool:
    lines = InvoiceLine.objects.filter(hospital__region__code__startswith=region_prefix, kind="blue")
    return not lines.filter(match_status="pending").exists() and not lines.filter(
        match_status="matched", statement__isnull=True
    ).exists()


@pytest.fixture
def province(tmp_path):
    """The S province imported (eager mode: imports re-match inline), then matched in full inline."""
    out = tmp_path / "s"
    call_command("generate_demo", scale="S", seed=11, out=str(out), stdout=open("/dev/null", "w"))
    call_command("import_dir", str(out), stdout=open("/dev/null", "w"))
    for region in regions_with_invoices():
        match_partition(region=region)  # eager baseline, as a task function
    assert InvoiceLine.objects.filter(match_status="exception").exists()
    return snapshot()


def test_two_workers_give_the_eager_results(province, real_celery, start_worker):
    # given the eager results, and matching wiped
    eager = province
    reset_matching()
    assert snapshot() != eager
    # when two real workers match every region partition
    start_worker("w1")
    start_worker("w2")
    for region in regions_with_invoices():
        match_partition.delay(region=region)
    wait_until(partition_done, what="every partition to be matched")
    # then every line ends exactly as in eager mode
    assert snapshot() == eager


def test_worker_killed_mid_write_leaves_nothing_half_written(province, real_celery, start_worker):
    eager = province
    reset_matching()
    region = regions_with_invoices()[0]
    victim = InvoiceLine.objects.filter(hospital__region_id=region, kind="blue").order_by("-id").first()
    s = connection.settings_dict
    blocker = psycopg2.connect(dbname=s["NAME"], user=s.get("USER") or "postgres", host=s.get("HOST") or "127.0.0.1", port=s.get("PORT") or 5432)
    try:
        # given a row the matching transaction must write is locked by someone else
        cur = blocker.cursor()
        cur.execute("SELECT id FROM settlement_invoiceline WHERE id = %s FOR UPDATE", [victim.id])
        # when a worker starts matching the partition and is SIGKILLed while blocked mid-write
        worker = start_worker("victim", visibility_timeout=5)
        match_partition.delay(region=region)

        def worker_waits_on_lock() -> bool:
            with connection.cursor() as c:
                c.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                    [s["NAME"]],
                )
                return c.fetchone()[0] > 0

        wait_until(worker_waits_on_lock, timeout=60, what="the worker to block inside its write")
        worker.kill()
    finally:
        blocker.rollback()
        blocker.close()
    # then nothing of the partition was written
    assert not InvoiceLine.objects.filter(hospital__region_id=region).exclude(match_status="pending").exists()
    assert not Statement.objects.exists()
    # and when another worker picks the redelivered task up, it completes with the eager results
    start_worker("rescuer", visibility_timeout=5)
    wait_until(lambda: partition_done(region), timeout=90, what="the redelivered task")
    region_ids = set(InvoiceLine.objects.filter(hospital__region_id=region).values_list("id", flat=True))
    assert snapshot(region) == {k: eager[k] for k in region_ids}
