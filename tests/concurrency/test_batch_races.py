"""Races on PostgreSQL with real connections (threads): approval, creation, bank files."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections

from settlement.models import BatchEvent, BatchLine, JournalEntry, PaymentConfirmation, SettlementBatch
from settlement.services.batch_rules import SettlementError
from settlement.services.batches import batch_approve, batch_create, batch_submit
from settlement.services.ledger import ledger_verify
from settlement.services.payments import confirmation_rows, payment_confirmations_apply
from tests.factories import EnterpriseFactory, HospitalFactory, batch_staff, settleable_line

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
CUTOFF = dt.date(2026, 9, 30)


def race(*calls):
    """Run the calls at the same moment, each on its own connection; (results, errors)."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), [None] * len(calls)

    def run(i, fn):
        try:
            barrier.wait()
            results[i] = fn()
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            errors[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


@pytest.fixture
def world():
    assert connection.vendor == "postgresql"
    staff = batch_staff()
    hospitals = [HospitalFactory() for _ in range(3)]
    distributors = [EnterpriseFactory() for _ in range(3)]
    for i in range(60):
        settleable_line(
            hospitals[i % 3], distributors[i % 2], amount=f"{10 + i}.{i:02d}", accepted=f"2026-09-{1 + i % 28:02d}"
        )
    return staff, hospitals, distributors


def test_two_approvers_at_once_approve_once(world):
    staff = world[0]
    batch = batch_create(region_code="371000", cutoff=CUTOFF, user=staff[1])
    batch_submit(batch_no=batch.no, user=staff[1])
    results, errors = race(
        lambda: batch_approve(batch_no=batch.no, user=staff[2]).approved_by_id,
        lambda: batch_approve(batch_no=batch.no, user=staff[3]).approved_by_id,
    )
    assert errors == [None, None]
    assert results[0] == results[1]  # the second saw the first's approval
    assert BatchEvent.objects.filter(batch=batch, action="approve").count() == 1
    assert JournalEntry.objects.filter(kind="batch_funded").count() == 1
    assert batch.instructions.count() == 2
    assert ledger_verify() == []


def test_two_batches_created_at_once_never_share_a_line(world):
    staff = world[0]
    results, errors = race(
        lambda: batch_create(region_code="371000", cutoff=CUTOFF, user=staff[1]).no,
        lambda: batch_create(region_code="371000", cutoff=CUTOFF, user=staff[3]).no,
    )
    made = [r for r in results if r]
    assert made, errors
    assert all(e is None or isinstance(e, SettlementError) for e in errors)
    lines = BatchLine.objects.filter(batch__no__in=made, live=True)
    ids = list(lines.values_list("invoice_line_id", flat=True))
    assert len(ids) == len(set(ids)) == 60
    assert sum(b.line_count for b in SettlementBatch.objects.filter(no__in=made)) == 60


def test_one_confirmation_file_imported_twice_at_once_pays_once(world):
    staff = world[0]
    batch = batch_create(region_code="371000", cutoff=CUTOFF, user=staff[1])
    batch_submit(batch_no=batch.no, user=staff[1])
    batch_approve(batch_no=batch.no, user=staff[2])
    cells = [
        {
            "instruction_no": i.no,
            "payee_credit_code": i.distributor_id,
            "amount": str(i.amount),
            "status": "success",
            "paid_at": "2026-10-08T10:00:00+08:00",
            "bank_ref": f"BANK-{i.no}",
        }
        for i in batch.instructions.all()
    ]

    def load():
        rows, errs = confirmation_rows(enumerate(cells, start=2))
        return payment_confirmations_apply(rows=rows, user=staff[1], source="same.csv", cell_errors=errs)

    results, errors = race(load, load)
    assert errors == [None, None]
    assert sorted(r.paid for r in results) == [0, 2] and sorted(r.skipped for r in results) == [0, 2]
    assert PaymentConfirmation.objects.count() == 2
    assert JournalEntry.objects.filter(kind="payment").count() == 2
    assert SettlementBatch.objects.get(pk=batch.pk).status == "paid"
    assert ledger_verify() == []
