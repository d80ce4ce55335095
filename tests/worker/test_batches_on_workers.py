"""Batch approval as Celery tasks on real workers.

- several batches approved by two workers write exactly what eager (inline) approval writes
  (funding per line, instructions, collection orders, prepayment use, ledger, history);
- a worker SIGKILLed in the middle of an approval (funded lines written, instructions not
  yet numbered) leaves the database exactly as before; the broker redelivers the message
  and the retried approval writes the eager result, once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from procurement.models import Prepayment
from procurement.services.prepayments import prepayment_pay
from settlement.models import (
    BatchEvent,
    BatchLine,
    CollectionOrder,
    DocumentCounter,
    JournalEntry,
    JournalLine,
    PaymentInstruction,
    SettlementBatch,
)
from settlement.services.batches import batch_create, batch_submit
from settlement.services.ledger import ledger_verify
from settlement.services.payments import INSTRUCTION_KIND
from settlement.tasks.batches import batch_approve_task
from tests.factories import (
    EnterpriseFactory,
    FundAllocationFactory,
    HospitalFactory,
    RegionFactory,
    batch_staff,
    settleable_line,
)
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

TASK = "settlement.batch_approve"
CUTOFF = dt.date(2026, 9, 30)
CITIES = ("371000", "371300", "370700")  # one bureau and batch per city


def snapshot() -> dict:
    """What approvals write, without ids, document numbers and timestamps (numbers and
    times follow the order in which concurrent approvals commit)."""
    return {
        "batches": rows(
            SettlementBatch.objects.all(),
            [
                "no",
                "region_id",
                "status",
                "approved_by_id",
                "line_count",
                "amount",
                "deducted_amount",
                "prepayment_amount",
                "collection_amount",
            ],
        ),
        "lines": rows(
            BatchLine.objects.all(),
            [
                "batch__no",
                "invoice_line_id",
                "live",
                "amount",
                "due_date",
                "deducted_amount",
                "prepayment_amount",
                "collection_amount",
            ],
        ),
        "instructions": rows(
            PaymentInstruction.objects.all(),
            ["batch__no", "distributor_id", "payee_name", "bank_account", "amount", "status", "issued_by_id"],
        ),
        "collections": rows(
            CollectionOrder.objects.all(),
            ["batch__no", "hospital_id", "amount", "cleared_amount", "status", "due_date"],
        ),
        "prepayments": rows(Prepayment.objects.all(), ["id", "amount", "used_amount", "recovered_amount"]),
        "entries": rows(
            JournalEntry.objects.all(),
            [
                "kind",
                "user_id",
                "reason",
                "batch__no",
                "instruction__distributor_id",
                "collection__hospital_id",
                "prepayment_id",
            ],
        ),
        "journal": rows(
            JournalLine.objects.all(),
            ["entry__kind", "entry__batch__no", "account", "hospital_id", "enterprise_id", "period", "debit", "credit"],
        ),
        "events": rows(BatchEvent.objects.all(), ["batch__no", "user_id", "action", "from_status", "to_status"]),
    }


@pytest.fixture
def submitted():
    """Three submitted batches (one per city), each with lines of two distributors over three
    hospitals funded partly by allocation, partly by prepayment, the rest by collection.
    Returns [(batch_no, approver_id)]."""
    distributors = [EnterpriseFactory() for _ in range(2)]
    out = []
    for c, city in enumerate(CITIES):
        staff = batch_staff(city)
        district = RegionFactory(code=f"{city[:4]}02")
        hospitals = [HospitalFactory(region=district) for _ in range(3)]
        for i in range(18):
            settleable_line(
                hospitals[i % 3],
                distributors[i % 2],
                amount=f"{40 + 7 * i + c}.{i:02d}",
                accepted=f"2026-09-{1 + i % 28:02d}",
            )
        FundAllocationFactory(hospital=hospitals[0], period="2026-09", amount=Decimal("150.00"))
        FundAllocationFactory(hospital=hospitals[1], period="2026-09", amount=Decimal("1000.00"))
        row = Prepayment.objects.create(hospital=hospitals[0], year_start=dt.date(2026, 1, 1), amount=Decimal("90.00"))
        prepayment_pay(prepayment_id=row.pk, user=staff[1])
        batch = batch_create(region_code=city, cutoff=CUTOFF, user=staff[1])
        batch_submit(batch_no=batch.no, user=staff[1])
        out.append((batch.no, staff[2].pk))
    return out


def approve_inline(calls):
    for task, args in calls:
        task(*args)


def test_two_workers_approve_like_eager_mode(submitted, real_celery, start_worker):
    calls = [(batch_approve_task, (no, approver)) for no, approver in submitted]
    before = snapshot()
    expected = eager(lambda: approve_inline(calls), snapshot)
    assert snapshot() == before  # (rolled back)
    # the approvals use all three sources of money
    assert {"approved"} == {status for (_no, _r, status, *_rest) in expected["batches"]}
    assert all(sum(int(r[i] > 0) for r in expected["batches"]) == 3 for i in (6, 7, 8))
    # when two workers approve the batches
    workers = [start_worker("w1"), start_worker("w2")]
    run_on_workers(workers, calls)
    # then they wrote exactly what inline approval writes; the ledger balances
    assert snapshot() == expected
    assert ledger_verify() == []
    # and re-running an approval (a redelivered message) changes nothing
    run_on_workers(workers, calls[:1])
    assert snapshot() == expected


def test_worker_killed_mid_approval_leaves_nothing_half_written(submitted, real_celery, start_worker):
    no, approver = submitted[0]
    call = (batch_approve_task, (no, approver))
    before = snapshot()
    expected = eager(lambda: approve_inline([call]), snapshot)
    assert expected != before
    # given the instruction counter row exists and someone else holds it locked
    DocumentCounter.objects.get_or_create(kind=INSTRUCTION_KIND, year=timezone.localdate().year)
    with blocker() as cur:
        cur.execute("SELECT id FROM settlement_documentcounter WHERE kind = %s FOR UPDATE", [INSTRUCTION_KIND])
        # when a worker approving the batch blocks there and is SIGKILLed
        victim = start_worker("victim", visibility_timeout=5)
        task_id = batch_approve_task.apply_async(args=call[1]).id
        wait_until(someone_waits_on_a_lock, timeout=60, what="the approval to block mid-write", workers=[victim])
        # (it has used the prepayments and posted journal entries by then; the lines carry the
        # split creation wrote, which approval keeps while the same amounts are available)
        written = tables_written_by_the_waiting_backend()
        victim.kill()
    assert {"procurement_prepayment", "settlement_journalentry"} <= written, written
    assert task_ids(victim, TASK, "received") == [task_id]
    assert not task_ids(victim, TASK, "succeeded")
    # then nothing of the approval is visible
    assert snapshot() == before
    assert SettlementBatch.objects.get(no=no).status == "submitted"
    # and the redelivered message completes on another worker with the eager result
    rescuer = start_worker("rescuer", visibility_timeout=5)
    wait_until(
        lambda: task_ids(rescuer, TASK, "succeeded") == [task_id],
        timeout=90,
        what="the redelivered approval",
        workers=[rescuer],
    )
    assert snapshot() == expected
    assert ledger_verify() == []
