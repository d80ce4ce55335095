"""The ledger: balanced entries for every movement, immutability, verify_ledger."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.models import F

from settlement.models import Account, BatchLine, JournalEntry, JournalLine, PaymentInstruction
from settlement.models.ledger import install_immutability_triggers
from settlement.services import ledger as ledger_service
from settlement.services.batches import batch_approve, batch_create, batch_submit
from settlement.services.collections import collection_pay
from settlement.services.ledger import LedgerError, Leg, journal_post, journal_reverse, ledger_verify
from tests.factories import EnterpriseFactory, FundAllocationFactory, HospitalFactory, batch_staff, settleable_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved():
    staff = batch_staff()
    hospital = HospitalFactory()
    settleable_line(hospital, EnterpriseFactory(), amount="100.00")
    FundAllocationFactory(hospital=hospital, period="2026-09", amount=Decimal("60.00"))
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    batch_submit(batch_no=batch.no, user=staff[1])
    return staff, batch_approve(batch_no=batch.no, user=staff[2]), hospital


def balance(account, **party):
    lines = JournalLine.objects.filter(account=account, **party)
    return sum(x.debit - x.credit for x in lines)


def test_approval_posts_allocation_and_funding_entries_that_balance(approved):
    staff, batch, hospital = approved
    kinds = sorted(JournalEntry.objects.values_list("kind", flat=True))
    assert kinds == ["allocation", "batch_funded"]
    assert balance(Account.ALLOCATION, hospital=hospital) == Decimal("0.00")  # 60 recognised, 60 deducted
    assert balance(Account.COLLECTION, hospital=hospital) == Decimal("40.00")
    assert balance(Account.PAYABLE) == Decimal("-100.00")
    collection_pay(collection_no=batch.collections.get().no, user=staff[1], bank_ref="HB1")
    assert balance(Account.COLLECTION, hospital=hospital) == Decimal("0.00")
    assert ledger_verify() == []


def test_an_unbalanced_entry_is_refused():
    with pytest.raises(LedgerError):
        journal_post(key="x", kind="reversal", legs=[Leg(Account.BANK, 100), Leg(Account.PAYABLE, -99)])
    assert not JournalEntry.objects.exists()


def test_posting_twice_under_one_key_posts_once_and_reversal_mirrors():
    legs = [Leg(Account.BANK, 100), Leg(Account.EXPENSE, -100)]
    first = journal_post(key="k1", kind="reversal", legs=legs)
    assert journal_post(key="k1", kind="reversal", legs=legs) == first
    rev = journal_reverse(key="k1", user=None, reason="更正")
    assert rev.reverses == first
    assert balance(Account.BANK) == 0 and JournalLine.objects.count() == 4


def test_entries_and_lines_are_immutable_in_the_models(approved):
    entry = JournalEntry.objects.first()
    line = JournalLine.objects.first()
    for action in (entry.save, entry.delete, line.save, line.delete):
        with pytest.raises(PermissionError):
            action()
    with pytest.raises(PermissionError):
        JournalLine.objects.filter(pk=line.pk).update(debit=0)
    with pytest.raises(PermissionError):
        JournalEntry.objects.all().delete()


@pytest.mark.postgres
def test_postgres_trigger_refuses_raw_updates_and_deletes(approved):
    assert install_immutability_triggers(connection)
    line = JournalLine.objects.first()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE settlement_journalline SET debit = debit + 1 WHERE id = %s", [line.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM settlement_journalentry")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE settlement_batchline SET deducted_amount = 0")


@pytest.mark.postgres
def test_postgres_batch_line_guard_refuses_every_change_of_a_line_of_an_approved_batch(approved):
    # given an approved batch and the triggers (update guard with its WHEN fast path, delete guard)
    assert install_immutability_triggers(connection)
    line = BatchLine.objects.get(batch=approved[1])
    refused = [
        "UPDATE settlement_batchline SET live = false WHERE id = %s",
        "UPDATE settlement_batchline SET amount = amount + 1 WHERE id = %s",
        "UPDATE settlement_batchline SET collection_amount = NULL, deducted_amount = NULL, "
        "prepayment_amount = NULL WHERE id = %s",
        "DELETE FROM settlement_batchline WHERE id = %s",
    ]
    for sql in refused:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [line.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE settlement_batchline SET deducted_amount = 0, collection_amount = 100 WHERE id = %s", [line.pk])
    # then writing the same funding again passes (the WHEN fast path), and nothing changed
    with connection.cursor() as cursor:
        cursor.execute("UPDATE settlement_batchline SET deducted_amount = deducted_amount WHERE id = %s", [line.pk])
        assert cursor.rowcount == 1
    line.refresh_from_db()
    assert (line.amount, line.deducted_amount, line.live) == (Decimal("100.00"), Decimal("60.00"), True)


@pytest.mark.postgres
def test_postgres_install_restores_the_batch_lines_brin_index():
    # given a schema whose batch lines lost their BRIN index (their pages filled: no fillfactor set)
    from settlement.models.ledger import BATCH_LINE_BRIN

    def state():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reloptions, to_regclass(%s) IS NOT NULL FROM pg_class WHERE oid = 'settlement_batchline'::regclass",
                [BATCH_LINE_BRIN],
            )
            return cursor.fetchone()

    assert install_immutability_triggers(connection)
    assert state() == (None, True)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {BATCH_LINE_BRIN}")
    assert state() == (None, False)
    # when the install runs again (as after every migrate), then it is back
    assert install_immutability_triggers(connection)
    assert state() == (None, True)


@pytest.mark.postgres
def test_postgres_install_turns_off_the_brin_index_autosummarize():
    # given the batch lines' BRIN index as an older install created it (autosummarize on:
    # a province batch queued ~1,300 summarisations against autovacuum's 256 and logged
    # each refused one with the whole INSERT)
    from settlement.models.ledger import BATCH_LINE_BRIN

    def options():
        with connection.cursor() as cursor:
            cursor.execute("SELECT reloptions FROM pg_class WHERE oid = to_regclass(%s)", [BATCH_LINE_BRIN])
            return sorted(cursor.fetchone()[0] or [])

    assert install_immutability_triggers(connection)
    assert options() == ["autosummarize=off", "pages_per_range=32"]
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER INDEX {BATCH_LINE_BRIN} SET (autosummarize = on)")
    assert options() == ["autosummarize=on", "pages_per_range=32"]
    # when the install runs again (as after every migrate), then batch_create's own
    # summarisation is the only one asked for
    assert install_immutability_triggers(connection)
    assert options() == ["autosummarize=off", "pages_per_range=32"]


@pytest.fixture(params=["probe-per-row", "merged-as-for-a-province"])
def parent_check_plan(request):
    """Both plans of the parent check: the threshold 0 gives every INSERT the merge a
    province batch gets (no nested loop, no hash)."""
    if request.param == "merged-as-for-a-province":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('jicai.batchline_merge_above', '0', false)")
    yield request.param
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('jicai.batchline_merge_above', '', false)")


@pytest.mark.postgres
def test_postgres_batch_line_parents_are_checked_per_statement(approved, parent_check_plan):
    # given an approved batch whose lines carry no foreign-key constraint on batch or invoice line
    assert install_immutability_triggers(connection)
    line = BatchLine.objects.get(batch=approved[1])
    missing = 10**12
    refused = [
        # a new line naming a missing invoice line, or a missing batch
        (
            "INSERT INTO settlement_batchline (batch_id, invoice_line_id, live, hospital_id, distributor_id, amount, "
            "due_date) SELECT batch_id, %s, false, hospital_id, distributor_id, amount, due_date "
            "FROM settlement_batchline WHERE id = %s",
            [missing, line.pk],
        ),
        (
            "INSERT INTO settlement_batchline (batch_id, invoice_line_id, live, hospital_id, distributor_id, amount, "
            "due_date) SELECT %s, invoice_line_id, false, hospital_id, distributor_id, amount, due_date "
            "FROM settlement_batchline WHERE id = %s",
            [missing, line.pk],
        ),
        # a line moved to another invoice line; the invoice line or the batch it names deleted
        ("UPDATE settlement_batchline SET invoice_line_id = %s WHERE id = %s", [missing, line.pk]),
        ("DELETE FROM settlement_invoiceline WHERE id = %s", [line.invoice_line_id]),
        ("DELETE FROM settlement_settlementbatch WHERE id = %s", [line.batch_id]),
    ]
    for sql, params in refused:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    # then a line naming rows that exist goes in (the check is not a blanket refusal)
    other = settleable_line(approved[2], EnterpriseFactory(), amount="5.00")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO settlement_batchline (batch_id, invoice_line_id, live, hospital_id, distributor_id, amount, "
            "due_date) SELECT batch_id, %s, false, hospital_id, distributor_id, amount, due_date "
            "FROM settlement_batchline WHERE id = %s",
            [other.pk, line.pk],
        )
        assert cursor.rowcount == 1
        # and the planner settings the check turned off for its merge are back as they were
        cursor.execute("SELECT current_setting('enable_nestloop'), current_setting('enable_hashjoin')")
        assert cursor.fetchone() == ("on", "on")
        transaction.set_rollback(True)
    assert BatchLine.objects.count() == 1


def test_verify_ledger_command_exits_1_listing_broken_invariants(approved, capsys):
    call_command("verify_ledger")
    assert "OK" in capsys.readouterr().out
    # break the books: an unbalanced entry, and an instruction marked paid (so its lines are
    # paid) for more than its lines, with no payment posted
    entry = JournalEntry.objects.create(key="broken", kind="reversal")
    JournalLine.objects.bulk_create([JournalLine(entry=entry, account=Account.BANK, debit=Decimal("1.00"))])
    PaymentInstruction.objects.filter(batch=approved[1]).update(
        status="paid", paid_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC), amount=F("amount") + 1
    )
    with pytest.raises(SystemExit) as exc:
        call_command("verify_ledger")
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert ledger_service.UNBALANCED_ENTRY in err and ledger_service.INSTRUCTION_AMOUNT_MISMATCH in err
    assert ledger_service.RECEIVABLE_MISMATCH in err


def test_verify_catches_deductions_above_the_allocation(approved):
    from settlement.models import FundAllocation

    FundAllocation.objects.update(amount=Decimal("10.00"))
    codes = {v.code for v in ledger_verify()}
    assert ledger_service.DEDUCTION_EXCEEDS_ALLOCATION in codes
