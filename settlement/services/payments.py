"""支付指令 and 银行回单 (DOMAIN.md "Flow of a purchase" 9).

- ``instructions_issue``: on approval, one numbered instruction per distributor with the
  bank details copied from the enterprise;
- ``payment_confirmations_apply``: the bank's answers (INTERCHANGE.md
  ``payment_confirmations``). ``success`` marks the lines paid (Dr 2202 / Cr 1001);
  ``failed`` leaves them unpaid. Loading the same confirmation twice changes nothing;
  a different one for the same instruction, a payee or amount that does not match the
  instruction, or a reused bank reference is a row error (row, column, value, reason).
  Strict by default: one bad row and nothing is written.
- ``instruction_reissue``: after the cause of a failure is fixed, a new instruction
  (new number, bank details copied again) replaces the failed one.
- A batch is ``paid`` when every instruction that still counts is paid.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import pandas as pd
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from interchange.money import from_fen, to_fen
from parties.models import Enterprise
from settlement.models import (
    BatchEvent,
    BatchStatus,
    InstructionEvent,
    InstructionStatus,
    PaymentConfirmation,
    PaymentInstruction,
    SettlementBatch,
)
from settlement.models.batches import ConfirmationStatus
from settlement.models.ledger import Account, EntryKind
from settlement.services import batch_rules as rules
from settlement.services.batch_rules import SettlementError, require_reason, require_region, require_role
from settlement.services.ledger import EntrySpec, Leg, journal_post_bulk
from settlement.services.numbering import number_block, number_next

INSTRUCTION_KIND = "INSTRUCTION"
INSTRUCTION_PREFIX = "ZF"  # 支付
SHANGHAI = ZoneInfo("Asia/Shanghai")
STATUS_ALIASES = {"success": "success", "failed": "failed", "成功": "success", "失败": "failed"}
COLUMNS = ("instruction_no", "payee_credit_code", "amount", "status", "paid_at", "bank_ref")


def instructions_issue(*, batch: SettlementBatch, amounts_fen: Mapping[str, int], user) -> list[PaymentInstruction]:
    """One instruction per distributor of ``batch`` (Σ its lines there, > 0)."""
    todo = sorted((d, int(f)) for d, f in amounts_fen.items())
    if not todo:
        return []
    enterprises = Enterprise.objects.in_bulk([d for d, _f in todo])
    year = timezone.localdate().year
    numbers = number_block(kind=INSTRUCTION_KIND, year=year, count=len(todo), prefix=INSTRUCTION_PREFIX)
    instructions = PaymentInstruction.objects.bulk_create(
        [
            PaymentInstruction(
                no=no,
                batch=batch,
                distributor_id=d,
                payee_name=enterprises[d].name,
                bank_name=enterprises[d].bank_name,
                bank_account=enterprises[d].bank_account,
                amount=from_fen(f),
                issued_by=user,
            )
            for no, (d, f) in zip(numbers, todo, strict=True)
        ],
        batch_size=2000,
    )
    InstructionEvent.objects.bulk_create(
        [
            InstructionEvent(
                instruction=i, user=user, action="issue", to_status=InstructionStatus.ISSUED, reason=batch.no
            )
            for i in instructions
        ],
        batch_size=2000,
    )
    return instructions


@transaction.atomic
def instruction_reissue(*, instruction_no: str, user, reason: str) -> PaymentInstruction:
    """Replace a failed instruction by a new one (new number, bank details copied again).
    Idempotent: reissuing an instruction already replaced returns its replacement."""
    require_role(user, rules.OPERATOR_ROLES)
    reason = require_reason(reason)
    old = PaymentInstruction.objects.select_for_update().select_related("batch").filter(no=instruction_no).first()
    if old is None:
        raise SettlementError(rules.NOT_FOUND, rules.MSG_NOT_FOUND, status=404)
    require_region(user, old.batch.region_id)
    if old.status == InstructionStatus.REISSUED:
        return old.replaced_by
    if old.status != InstructionStatus.FAILED:
        raise SettlementError(rules.BAD_TRANSITION, rules.MSG_NOT_REISSUABLE, status=409)
    enterprise = Enterprise.objects.get(pk=old.distributor_id)
    if not enterprise.bank_name or not enterprise.bank_account:
        raise SettlementError(rules.BAD_INPUT, rules.MSG_BANK_DETAILS_MISSING)
    old.status = InstructionStatus.REISSUED
    old.save(update_fields=["status"])
    new = PaymentInstruction.objects.create(
        no=number_next(kind=INSTRUCTION_KIND, year=timezone.localdate().year, prefix=INSTRUCTION_PREFIX),
        batch=old.batch,
        distributor=enterprise,
        payee_name=enterprise.name,
        bank_name=enterprise.bank_name,
        bank_account=enterprise.bank_account,
        amount=old.amount,
        issued_by=user,
        replaces=old,
    )
    InstructionEvent.objects.bulk_create(
        [
            InstructionEvent(
                instruction=old,
                user=user,
                action="reissue",
                from_status=InstructionStatus.FAILED,
                to_status=InstructionStatus.REISSUED,
                reason=f"{reason} → {new.no}",
            ),
            InstructionEvent(
                instruction=new, user=user, action="issue", to_status=InstructionStatus.ISSUED, reason=reason
            ),
        ]
    )
    return new


# --- confirmations --------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str
    code: str
    reason: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value, "code": self.code, "reason": self.reason}


@dataclass(frozen=True)
class ConfirmationRow:
    row: int
    instruction_no: str
    payee_credit_code: str
    amount: Decimal
    status: str
    paid_at: dt.datetime
    bank_ref: str

    def same_as(self, c: PaymentConfirmation) -> bool:
        return (
            c.payee_credit_code == self.payee_credit_code
            and to_fen(c.amount) == to_fen(self.amount)
            and c.status == self.status
            and c.paid_at == self.paid_at
            and (c.bank_ref or "") == (self.bank_ref or "")
        )


@dataclass
class ConfirmationReport:
    rows: int = 0
    created: int = 0
    skipped: int = 0  # already loaded, identical
    paid: int = 0
    failed: int = 0
    batches_paid: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "created": self.created,
            "skipped": self.skipped,
            "paid": self.paid,
            "failed": self.failed,
            "batches_paid": self.batches_paid,
            "errors": [e.as_dict() for e in self.errors],
        }


def _norm(text) -> str:
    return unicodedata.normalize("NFKC", "" if text is None else str(text)).strip()


def _parse_amount(text: str) -> Decimal | None:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        return None
    return value.quantize(Decimal("0.01"))


def _parse_timestamp(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)  # INTERCHANGE.md: no zone means Asia/Shanghai
    return value


def confirmation_rows(
    records: Iterable[tuple[int, Mapping[str, object]]],
) -> tuple[list[ConfirmationRow], list[RowError]]:
    """(row number, {column: cell text}) → typed rows and cell errors, in one pass."""
    rows, errors = [], []
    for number, record in records:
        cells = {c: _norm(record.get(c, "")) for c in COLUMNS}
        bad = []
        for c in ("instruction_no", "payee_credit_code", "amount", "status", "paid_at"):
            if not cells[c]:
                bad.append(RowError(number, c, "", rules.BAD_INPUT, str(rules.MSG_REQUIRED)))
        amount = _parse_amount(cells["amount"]) if cells["amount"] else None
        if cells["amount"] and amount is None:
            bad.append(RowError(number, "amount", cells["amount"], rules.BAD_INPUT, str(rules.MSG_BAD_VALUE)))
        status = STATUS_ALIASES.get(cells["status"].casefold()) if cells["status"] else None
        if cells["status"] and status is None:
            bad.append(RowError(number, "status", cells["status"], rules.BAD_INPUT, str(rules.MSG_BAD_VALUE)))
        paid_at = _parse_timestamp(cells["paid_at"]) if cells["paid_at"] else None
        if cells["paid_at"] and paid_at is None:
            bad.append(RowError(number, "paid_at", cells["paid_at"], rules.BAD_INPUT, str(rules.MSG_BAD_VALUE)))
        if status == ConfirmationStatus.SUCCESS and not cells["bank_ref"]:
            bad.append(RowError(number, "bank_ref", "", rules.BAD_INPUT, str(rules.MSG_BANK_REF_REQUIRED)))
        if bad:
            errors += bad
            continue
        rows.append(
            ConfirmationRow(
                number, cells["instruction_no"], cells["payee_credit_code"], amount, status, paid_at, cells["bank_ref"]
            )
        )
    return rows, errors


def confirmation_rows_from_frame(frame: pd.DataFrame) -> tuple[list[ConfirmationRow], list[RowError]]:
    """A frame from interchange.readers (index = file row number, text cells)."""
    cols = [c for c in COLUMNS if c in frame.columns]
    return confirmation_rows(
        (int(i), dict(zip(cols, vals, strict=True)))
        for i, vals in zip(frame.index, frame[cols].itertuples(index=False, name=None), strict=True)
    )


def confirmations_check(
    rows: list[ConfirmationRow], user
) -> tuple[list[ConfirmationRow], list[ConfirmationRow], list[RowError], dict]:
    """Split rows into (to apply, already loaded) and errors; locks the instructions (pk
    order, so two imports of one file queue up and the second finds the first's rows).
    ``user`` None means a system import (no region restriction)."""
    nos = sorted({r.instruction_no for r in rows})
    instructions = {i.no: i for i in PaymentInstruction.objects.select_for_update().filter(no__in=nos).order_by("pk")}
    batches = dict(SettlementBatch.objects.filter(instructions__no__in=nos).values_list("pk", "region_id"))
    existing = {c.instruction_no: c for c in PaymentConfirmation.objects.filter(instruction_no__in=nos)}
    refs = [r.bank_ref for r in rows if r.status == ConfirmationStatus.SUCCESS]
    used_refs = dict(
        PaymentConfirmation.objects.filter(bank_ref__in=refs, status=ConfirmationStatus.SUCCESS).values_list(
            "bank_ref", "instruction_no"
        )
    )
    apply, skip, errors = [], [], []
    seen: dict[str, ConfirmationRow] = {}
    refs_in_file: dict[str, str] = {}
    for r in rows:
        instr = instructions.get(r.instruction_no)
        if instr is None or (user is not None and not rules.user_covers_region(user, batches.get(instr.batch_id, ""))):
            errors.append(
                RowError(r.row, "instruction_no", r.instruction_no, rules.NOT_FOUND, str(rules.MSG_UNKNOWN_INSTRUCTION))
            )
            continue
        first = seen.get(r.instruction_no)
        if first is not None:
            if (first.payee_credit_code, first.amount, first.status, first.paid_at, first.bank_ref) != (
                r.payee_credit_code,
                r.amount,
                r.status,
                r.paid_at,
                r.bank_ref,
            ):
                errors.append(
                    RowError(r.row, "instruction_no", r.instruction_no, rules.BAD_INPUT, str(rules.MSG_DUPLICATE_ROW))
                )
            continue
        seen[r.instruction_no] = r
        row_errors = []
        if r.payee_credit_code != instr.distributor_id:
            row_errors.append(
                RowError(
                    r.row, "payee_credit_code", r.payee_credit_code, rules.BAD_INPUT, str(rules.MSG_PAYEE_MISMATCH)
                )
            )
        if to_fen(r.amount) != to_fen(instr.amount):
            row_errors.append(RowError(r.row, "amount", str(r.amount), rules.BAD_INPUT, str(rules.MSG_AMOUNT_MISMATCH)))
        earlier = existing.get(r.instruction_no)
        if earlier is not None:
            if earlier.status == r.status and r.same_as(earlier) and not row_errors:
                skip.append(r)
            else:
                row_errors.append(
                    RowError(
                        r.row, "instruction_no", r.instruction_no, rules.BAD_INPUT, str(rules.MSG_CONFIRMATION_CONFLICT)
                    )
                )
            errors += row_errors
            continue
        if instr.status == InstructionStatus.REISSUED:
            row_errors.append(
                RowError(
                    r.row,
                    "instruction_no",
                    r.instruction_no,
                    rules.BAD_TRANSITION,
                    str(rules.MSG_INSTRUCTION_SUPERSEDED),
                )
            )
        elif instr.status != InstructionStatus.ISSUED:
            row_errors.append(
                RowError(
                    r.row,
                    "instruction_no",
                    r.instruction_no,
                    rules.BAD_TRANSITION,
                    str(rules.MSG_CONFIRMATION_CONFLICT),
                )
            )
        if r.status == ConfirmationStatus.SUCCESS:
            other = used_refs.get(r.bank_ref) or refs_in_file.get(r.bank_ref)
            if other is not None and other != r.instruction_no:
                row_errors.append(
                    RowError(r.row, "bank_ref", r.bank_ref, rules.BAD_INPUT, str(rules.MSG_BANK_REF_DUPLICATE))
                )
            refs_in_file.setdefault(r.bank_ref, r.instruction_no)
        if row_errors:
            errors += row_errors
        else:
            apply.append(r)
    return apply, skip, errors, instructions


@transaction.atomic
def payment_confirmations_apply(
    *,
    rows: list[ConfirmationRow],
    user,
    source: str = "",
    lenient: bool = False,
    cell_errors: list[RowError] | None = None,
) -> ConfirmationReport:
    """Apply the bank's confirmations. Raises ``SettlementError`` (code import_rejected,
    ``details`` = row errors) when strict and any row is bad, or when every row is bad."""
    require_role(user, rules.OPERATOR_ROLES)
    report = ConfirmationReport(rows=len(rows) + len({e.row for e in cell_errors or []}))
    apply, skip, errors, instructions = confirmations_check(rows, user)
    errors = sorted([*(cell_errors or []), *errors], key=lambda e: (e.row, e.column))
    report.errors, report.skipped = errors, len(skip)
    if errors and (not lenient or not (apply or skip)):
        message = rules.MSG_ALL_ROWS_REJECTED if not (apply or skip) else rules.MSG_FILE_REJECTED
        raise SettlementError(rules.IMPORT_REJECTED, message, details=[e.as_dict() for e in errors])
    return confirmations_write(apply=apply, instructions=instructions, user=user, source=source, report=report)


def confirmations_write(
    *, apply: list[ConfirmationRow], instructions: dict, user, source: str, report: ConfirmationReport | None = None
) -> ConfirmationReport:
    """Write checked rows (``confirmations_check`` in the same transaction): store the
    confirmations, move the instructions (a paid instruction pays its lines), post the
    payments, and mark the batches whose instructions are all paid."""
    report = report or ConfirmationReport(rows=len(apply))
    if not apply:
        return report
    PaymentConfirmation.objects.bulk_create(
        [
            PaymentConfirmation(
                instruction=instructions[r.instruction_no],
                instruction_no=r.instruction_no,
                payee_credit_code=r.payee_credit_code,
                amount=r.amount,
                status=r.status,
                paid_at=r.paid_at,
                bank_ref=r.bank_ref,
                source=source[:300],
                imported_by=user,
            )
            for r in apply
        ]
    )
    changed, events, specs = [], [], []
    for r in apply:
        instr = instructions[r.instruction_no]
        if r.status == ConfirmationStatus.SUCCESS:
            instr.status, instr.paid_at, instr.bank_ref = InstructionStatus.PAID, r.paid_at, r.bank_ref
            report.paid += 1
            fen = to_fen(instr.amount)
            specs.append(
                EntrySpec(
                    key=f"payment:{instr.no}",
                    kind=EntryKind.PAYMENT,
                    legs=(Leg(Account.PAYABLE, fen, None, instr.distributor_id), Leg(Account.BANK, -fen)),
                    reason=r.bank_ref,
                    refs={"instruction_id": instr.pk, "batch_id": instr.batch_id},
                )
            )
        else:
            instr.status, instr.failure_reason = InstructionStatus.FAILED, f"{source} row {r.row}"
            report.failed += 1
        changed.append(instr)
        events.append(
            InstructionEvent(
                instruction=instr,
                user=user,
                action="pay" if r.status == ConfirmationStatus.SUCCESS else "fail",
                from_status=InstructionStatus.ISSUED,
                to_status=instr.status,
                reason=f"{source} row {r.row} {r.bank_ref}".strip(),
            )
        )
    PaymentInstruction.objects.bulk_update(
        changed, ["status", "paid_at", "bank_ref", "failure_reason"], batch_size=2000
    )
    InstructionEvent.objects.bulk_create(events, batch_size=2000)
    report.created = len(apply)
    paid = [instructions[r.instruction_no] for r in apply if r.status == ConfirmationStatus.SUCCESS]
    if paid:
        # The lines of a paid (batch, distributor) are paid by its instruction, at its time
        # (BatchLineQuerySet.paid): no line is written.
        journal_post_bulk(specs, user=user)
        report.batches_paid = batches_mark_paid(
            batch_ids=sorted({instructions[r.instruction_no].batch_id for r in apply}), user=user
        )
    return report


def batches_mark_paid(*, batch_ids: list[int], user) -> list[str]:
    """approved → paid for the batches whose every counting instruction is paid."""
    open_instr = PaymentInstruction.objects.filter(
        batch_id=OuterRef("pk"), status__in=[InstructionStatus.ISSUED, InstructionStatus.FAILED]
    )
    done = list(
        SettlementBatch.objects.select_for_update()
        .filter(pk__in=batch_ids, status=BatchStatus.APPROVED)
        .filter(~Exists(open_instr))
        .order_by("pk")
    )
    now = timezone.now()
    for b in done:
        b.status, b.paid_at = BatchStatus.PAID, now
    SettlementBatch.objects.bulk_update(done, ["status", "paid_at"])
    BatchEvent.objects.bulk_create(
        [
            BatchEvent(batch=b, user=user, action="pay", from_status=BatchStatus.APPROVED, to_status=BatchStatus.PAID)
            for b in done
        ]
    )
    return [b.no for b in done]
