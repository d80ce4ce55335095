"""Payment instructions and bank confirmations: paid once, failures reissued, row errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from settlement.models import BatchLine, BatchStatus, InstructionStatus, JournalEntry, PaymentConfirmation
from settlement.services import batch_rules as rules
from settlement.services.batch_rules import SettlementError
from settlement.services.batches import batch_approve, batch_create, batch_submit
from settlement.services.ledger import ledger_verify
from settlement.services.payments import confirmation_rows, instruction_reissue, payment_confirmations_apply
from tests.factories import EnterpriseFactory, HospitalFactory, batch_staff, settleable_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved():
    staff = batch_staff()
    hospital = HospitalFactory()
    d1, d2 = EnterpriseFactory(), EnterpriseFactory()
    settleable_line(hospital, d1, amount="100.00")
    settleable_line(hospital, d1, amount="20.50")
    settleable_line(hospital, d2, amount="7.00")
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=staff[1])
    batch_submit(batch_no=batch.no, user=staff[1])
    batch = batch_approve(batch_no=batch.no, user=staff[2])
    return staff, batch, d1, d2


def row(instr, **over):
    cells = {
        "instruction_no": instr.no,
        "payee_credit_code": instr.distributor_id,
        "amount": str(instr.amount),
        "status": "success",
        "paid_at": "2026-10-08T10:00:00+08:00",
        "bank_ref": f"BR{instr.no}",
    }
    cells.update(over)
    return cells


def apply(user, cells_list, **kw):
    rows, errors = confirmation_rows(enumerate(cells_list, start=2))
    return payment_confirmations_apply(rows=rows, user=user, source="t.csv", cell_errors=errors, **kw)


def test_one_instruction_per_distributor_with_bank_details_copied(approved):
    _staff, batch, d1, d2 = approved
    by = {i.distributor_id: i for i in batch.instructions.all()}
    assert by[d1.pk].amount == Decimal("120.50") and by[d2.pk].amount == Decimal("7.00")
    assert by[d1.pk].bank_account == d1.bank_account and by[d1.pk].payee_name == d1.name
    assert all(i.no.startswith("ZF") and i.status == InstructionStatus.ISSUED for i in by.values())


def test_success_marks_lines_paid_and_the_batch_paid_when_all_are(approved):
    staff, batch, d1, d2 = approved
    i1, i2 = batch.instructions.order_by("distributor_id")
    report = apply(staff[1], [row(i1)])
    assert report.paid == 1 and report.batches_paid == []
    assert BatchLine.objects.paid().filter(distributor=i1.distributor).count() == 2
    assert not BatchLine.objects.paid().filter(distributor=i2.distributor).exists()
    report = apply(staff[1], [row(i2)])
    assert report.batches_paid == [batch.no]
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PAID and batch.events.filter(action="pay").count() == 1
    assert ledger_verify() == []


def test_the_same_confirmation_twice_pays_nothing_twice(approved):
    staff, batch, *_ = approved
    i1 = batch.instructions.first()
    apply(staff[1], [row(i1)])
    again = apply(staff[1], [row(i1), row(i1)])
    assert (again.created, again.skipped, again.paid) == (0, 1, 0)
    assert PaymentConfirmation.objects.count() == 1
    assert JournalEntry.objects.filter(kind="payment").count() == 1


def test_amount_or_payee_mismatch_is_refused_with_row_column_value_reason(approved):
    staff, batch, _d1, d2 = approved
    i1 = batch.instructions.get(distributor__credit_code=approved[2].pk)
    with pytest.raises(SettlementError) as exc:
        apply(staff[1], [row(i1, amount="120.49", payee_credit_code=d2.pk)])
    assert exc.value.code == rules.IMPORT_REJECTED
    errors = {(e["row"], e["column"]): e for e in exc.value.details}
    assert errors[(2, "amount")]["value"] == "120.49"
    assert errors[(2, "amount")]["reason"] == str(rules.MSG_AMOUNT_MISMATCH)
    assert errors[(2, "payee_credit_code")]["reason"] == str(rules.MSG_PAYEE_MISMATCH)
    assert not PaymentConfirmation.objects.exists()


def test_strict_file_with_one_bad_row_writes_nothing_lenient_applies_the_good(approved):
    staff, batch, *_ = approved
    i1, i2 = batch.instructions.order_by("no")
    bad = row(i2, status="maybe")
    with pytest.raises(SettlementError):
        apply(staff[1], [row(i1), bad])
    assert not PaymentConfirmation.objects.exists()
    report = apply(staff[1], [row(i1), bad], lenient=True)
    assert report.paid == 1 and [(e.row, e.column) for e in report.errors] == [(3, "status")]


def test_success_needs_a_unique_bank_ref(approved):
    staff, batch, *_ = approved
    i1, i2 = batch.instructions.order_by("no")
    with pytest.raises(SettlementError) as exc:
        apply(staff[1], [row(i1, bank_ref="")])
    assert exc.value.details[0]["column"] == "bank_ref"
    apply(staff[1], [row(i1, bank_ref="SAME")])
    with pytest.raises(SettlementError) as exc:
        apply(staff[1], [row(i2, bank_ref="SAME")])
    assert exc.value.details[0]["reason"] == str(rules.MSG_BANK_REF_DUPLICATE)


def test_failed_leaves_lines_unpaid_and_reissue_gets_a_new_number(approved):
    staff, batch, d1, _d2 = approved
    i1 = batch.instructions.get(distributor=d1)
    apply(staff[1], [row(i1, status="失败", bank_ref="")])
    i1.refresh_from_db()
    assert i1.status == InstructionStatus.FAILED
    assert not BatchLine.objects.paid().filter(distributor=d1).exists()
    # a reissue needs a reason; the bank details are fixed first
    with pytest.raises(SettlementError) as exc:
        instruction_reissue(instruction_no=i1.no, user=staff[1], reason="")
    assert exc.value.code == rules.REASON_REQUIRED
    d1.bank_account = "6222029999999999"
    d1.save(update_fields=["bank_account"])
    new = instruction_reissue(instruction_no=i1.no, user=staff[1], reason="账号已更正")
    assert new.no != i1.no and new.bank_account == "6222029999999999" and new.amount == i1.amount
    assert instruction_reissue(instruction_no=i1.no, user=staff[1], reason="again") == new  # idempotent
    # a late success for the replaced instruction is refused; the new one pays
    with pytest.raises(SettlementError):
        apply(staff[1], [row(i1, bank_ref="LATE")])
    apply(staff[1], [row(new)])
    assert BatchLine.objects.paid().filter(distributor=d1).count() == 2
    assert ledger_verify() == []


def test_only_failed_instructions_can_be_reissued(approved):
    staff, batch, *_ = approved
    with pytest.raises(SettlementError) as exc:
        instruction_reissue(instruction_no=batch.instructions.first().no, user=staff[1], reason="x")
    assert exc.value.code == rules.BAD_TRANSITION


def test_import_command_reads_chinese_headers_and_reports_errors(approved, tmp_path, capsys):
    staff, batch, *_ = approved
    i1, i2 = batch.instructions.order_by("no")
    path = tmp_path / "payment_confirmations.csv"
    path.write_text(
        "支付指令号,收款企业,金额,状态,支付时间,银行流水号\n"
        f"{i1.no},{i1.distributor_id},{i1.amount},成功,2026-10-08 10:00:00,R1\n"
        f"{i2.no},{i2.distributor_id},1.00,成功,2026-10-08 10:00:00,R2\n",
        encoding="utf-8-sig",
    )
    with pytest.raises(CommandError, match=rules.IMPORT_REJECTED):
        call_command("import_payment_confirmations", str(path), "--user", staff[1].username)
    report = (tmp_path / "payment_confirmations.errors.csv").read_text(encoding="utf-8-sig")
    assert "3,amount,1.00" in report
    call_command("import_payment_confirmations", str(path), "--user", staff[1].username, "--lenient")
    assert "paid=1" in capsys.readouterr().out
    call_command("import_payment_confirmations", str(path), "--user", staff[1].username, "--lenient")
    assert "skipped=1" in capsys.readouterr().out


def test_the_generic_importer_loads_payment_confirmations_once(approved, tmp_path):
    import importlib

    from interchange.services.imports import table_import
    from settlement import imports as settlement_imports

    # another test may have replaced the registration with a stand-in: register ours again
    importlib.reload(settlement_imports)

    staff, batch, *_ = approved
    i1, i2 = batch.instructions.order_by("no")
    path = tmp_path / "payment_confirmations.csv"
    path.write_text(
        "instruction_no,payee_credit_code,amount,status,paid_at,bank_ref\n"
        f"{i1.no},{i1.distributor_id},{i1.amount},success,2026-10-08T10:00:00+08:00,G1\n"
        f"{i2.no},{i2.distributor_id},{i2.amount},failed,2026-10-08T10:00:00+08:00,\n",
        encoding="utf-8",
    )
    first = table_import(table="payment_confirmations", path=path, user=staff[1])
    assert first.created == 2, first.as_dict()
    second = table_import(table="payment_confirmations", path=path, user=staff[1])
    assert second.created == 0
    assert PaymentConfirmation.objects.count() == 2 and JournalEntry.objects.filter(kind="payment").count() == 1
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"instruction_no,payee_credit_code,amount,status,paid_at,bank_ref\nZF0,{i1.distributor_id},1.00,success,2026-10-08,X\n"
    )
    refused = table_import(table="payment_confirmations", path=bad, user=staff[1])
    assert refused.created == 0 and refused.error_count == 1
