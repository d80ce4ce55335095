"""Posting to the fund's double-entry ledger (chart of accounts: settlement.models.ledger).

Every money movement is posted here as one balanced entry. Amounts are integer fen on
the way in (``Leg.fen``: positive = debit, negative = credit), converted to Decimal yuan
once when the lines are written. ``key`` names the source event, so posting the same
event twice returns the first entry (idempotent, also under concurrency: unique key).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from interchange.money import from_fen, to_fen
from settlement.models import FundAllocation
from settlement.models.ledger import Account, EntryKind, JournalEntry, JournalLine

MSG_UNBALANCED = _("分录借贷不平 / the entry does not balance")
MSG_EMPTY_ENTRY = _("分录没有金额 / the entry moves no money")


class LedgerError(Exception):
    pass


@dataclass(frozen=True)
class Leg:
    account: str
    fen: int  # > 0 debit, < 0 credit
    hospital_id: str | None = None
    enterprise_id: str | None = None
    period: str = ""


def _merged(legs: Iterable[Leg]) -> list[Leg]:
    """Legs of one account and party summed; zero legs dropped (a line moves money)."""
    sums: dict[tuple, int] = defaultdict(int)
    for leg in legs:
        sums[(leg.account, leg.hospital_id, leg.enterprise_id, leg.period)] += int(leg.fen)
    return [
        Leg(a, f, h, e, p) for (a, h, e, p), f in sorted(sums.items(), key=lambda kv: tuple(str(x) for x in kv[0])) if f
    ]


def _lines_for(entry: JournalEntry, legs: list[Leg]) -> list[JournalLine]:
    return [
        JournalLine(
            entry=entry,
            account=leg.account,
            hospital_id=leg.hospital_id,
            enterprise_id=leg.enterprise_id,
            period=leg.period,
            debit=from_fen(leg.fen) if leg.fen > 0 else from_fen(0),
            credit=from_fen(-leg.fen) if leg.fen < 0 else from_fen(0),
        )
        for leg in legs
    ]


@transaction.atomic
def journal_post(
    *,
    key: str,
    kind: str,
    legs: Iterable[Leg],
    user=None,
    reason: str = "",
    batch=None,
    instruction=None,
    collection=None,
    prepayment=None,
    reverses: JournalEntry | None = None,
) -> JournalEntry:
    """Post one balanced entry; the entry already posted under ``key`` if there is one."""
    existing = JournalEntry.objects.filter(key=key).first()
    if existing is not None:
        return existing
    merged = _merged(legs)
    if not merged:
        raise LedgerError(str(MSG_EMPTY_ENTRY))
    if sum(leg.fen for leg in merged) != 0:
        raise LedgerError(f"{MSG_UNBALANCED}: {key}")
    try:
        with transaction.atomic():
            entry = JournalEntry.objects.create(
                key=key,
                kind=kind,
                user=user,
                reason=reason,
                batch=batch,
                instruction=instruction,
                collection=collection,
                prepayment=prepayment,
                reverses=reverses,
            )
    except IntegrityError:  # posted concurrently under the same key
        return JournalEntry.objects.get(key=key)
    JournalLine.objects.bulk_create(_lines_for(entry, merged), batch_size=2000)
    return entry


@transaction.atomic
def journal_reverse(*, key: str, user, reason: str) -> JournalEntry:
    """A correction: the mirror image of the entry posted under ``key`` (idempotent)."""
    original = JournalEntry.objects.get(key=key)
    legs = [
        Leg(line.account, to_fen(line.credit) - to_fen(line.debit), line.hospital_id, line.enterprise_id, line.period)
        for line in original.lines.all()
    ]
    return journal_post(
        key=f"reversal:{key}", kind=EntryKind.REVERSAL, legs=legs, user=user, reason=reason, reverses=original
    )


def allocation_key(hospital_id: str, period: str) -> str:
    return f"allocation:{hospital_id}:{period}"


@dataclass(frozen=True)
class EntrySpec:
    """One entry for ``journal_post_bulk``: key, kind, legs and the documents it names."""

    key: str
    kind: str
    legs: tuple[Leg, ...]
    reason: str = ""
    refs: dict | None = None  # batch / instruction / collection / prepayment (objects or *_id)


@transaction.atomic
def journal_post_bulk(specs: Iterable[EntrySpec], *, user=None) -> int:
    """Many entries in two bulk inserts; specs whose key is already posted are skipped.
    The callers hold the locks of the source documents, so a key cannot be posted
    concurrently between the look-up and the insert. Returns the number posted."""
    specs = list(specs)
    if not specs:
        return 0
    done = set()
    keys = [s.key for s in specs]
    for i in range(0, len(keys), 5000):
        done.update(JournalEntry.objects.filter(key__in=keys[i : i + 5000]).values_list("key", flat=True))
    todo = []
    for spec in specs:
        if spec.key in done:
            continue
        merged = _merged(spec.legs)
        if not merged:
            continue
        if sum(leg.fen for leg in merged) != 0:
            raise LedgerError(f"{MSG_UNBALANCED}: {spec.key}")
        done.add(spec.key)
        todo.append((spec, merged))
    entries = JournalEntry.objects.bulk_create(
        [JournalEntry(key=s.key, kind=s.kind, user=user, reason=s.reason, **(s.refs or {})) for s, _m in todo],
        batch_size=2000,
    )
    lines = []
    for entry, (_spec, merged) in zip(entries, todo, strict=True):
        lines += _lines_for(entry, merged)
    JournalLine.objects.bulk_create(lines, batch_size=2000)
    return len(entries)


@transaction.atomic
def allocations_recognise(*, period: str | None = None, hospital_ids=None, user=None) -> int:
    """Post "allocation recognised" (Dr 5001 / Cr 2241) for every fund allocation not yet
    posted, optionally of one period and some hospitals (ids or a values() subquery).
    Set-based: a few queries and two bulk inserts. Returns the number of entries posted."""
    allocations = FundAllocation.objects.filter(amount__gt=0)
    if period is not None:
        allocations = allocations.filter(period=period)
    if hospital_ids is not None:
        allocations = allocations.filter(hospital_id__in=hospital_ids)
    specs = []
    for hospital_id, alloc_period, amount in allocations.values_list("hospital_id", "period", "amount"):
        fen = to_fen(amount)
        specs.append(
            EntrySpec(
                key=allocation_key(hospital_id, alloc_period),
                kind=EntryKind.ALLOCATION,
                legs=(
                    Leg(Account.EXPENSE, fen, hospital_id),
                    Leg(Account.ALLOCATION, -fen, hospital_id, None, alloc_period),
                ),
                reason=f"{hospital_id} {alloc_period}",
            )
        )
    return journal_post_bulk(specs, user=user)


# --- invariants (DOMAIN.md "Money"; manage.py verify_ledger) ----------------------------

UNBALANCED_ENTRY = "unbalanced_entry"
LINE_PAID_TWICE = "line_paid_twice"
DEDUCTION_EXCEEDS_ALLOCATION = "deduction_exceeds_allocation"
INSTRUCTION_AMOUNT_MISMATCH = "instruction_amount_mismatch"
FUNDING_PARTS_MISMATCH = "funding_parts_mismatch"
RECEIVABLE_MISMATCH = "receivable_mismatch"
LEDGER_DOCUMENT_MISMATCH = "ledger_document_mismatch"


@dataclass(frozen=True)
class Violation:
    code: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code} {self.subject}: {self.detail}"


def _fen_map(rows) -> dict:
    out: dict = defaultdict(int)
    for *key, value in rows:
        out[tuple(key) if len(key) > 1 else key[0]] += int(value or 0)
    return out


def ledger_verify() -> list[Violation]:
    """Every invariant of DOMAIN.md "Money", set-based (a fixed number of aggregate
    queries). An empty list means the books hold."""
    from django.db.models import Exists, F, OuterRef, Q

    from procurement.models import Prepayment
    from settlement.models import (
        BatchLine,
        CollectionOrder,
        CollectionStatus,
        InstructionStatus,
        InvoiceKind,
        InvoiceLine,
        MatchStatus,
        PaymentInstruction,
        StatementStatus,
    )
    from settlement.models.batches import FROZEN_BATCH_STATUSES, paid_instruction
    from settlement.services.funding import fen_of, fen_sum

    out: list[Violation] = []

    # 1. every entry balances
    sums = JournalLine.objects.values("entry__key").annotate(d=fen_sum("debit"), c=fen_sum("credit"))
    for row in sums:
        if row["d"] != row["c"]:
            out.append(
                Violation(
                    UNBALANCED_ENTRY, row["entry__key"], f"debit {from_fen(row['d'])} ≠ credit {from_fen(row['c'])}"
                )
            )

    # 2. no invoice line paid twice (nor live in two batches)
    from django.db.models import Count

    line_paid = Exists(paid_instruction())
    twice = (
        BatchLine.objects.filter(Q(live=True) | line_paid)
        .values("invoice_line_id")
        .annotate(n=Count("pk"), paid=Count("pk", filter=line_paid))
        .filter(Q(n__gt=1) | Q(paid__gt=1))
    )
    for row in twice:
        out.append(
            Violation(
                LINE_PAID_TWICE,
                f"invoice_line {row['invoice_line_id']}",
                f"{row['n']} live batch lines, {row['paid']} paid",
            )
        )
    payments = (
        JournalEntry.objects.filter(kind=EntryKind.PAYMENT)
        .values("instruction_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    for row in payments:
        out.append(Violation(LINE_PAID_TWICE, f"instruction {row['instruction_id']}", f"{row['n']} payment entries"))

    # 3. per hospital and period, deductions ≤ the fund allocation
    frozen = BatchLine.objects.filter(live=True, batch__status__in=FROZEN_BATCH_STATUSES)
    deducted = _fen_map(
        frozen.values("hospital_id", "batch__period")
        .annotate(f=fen_sum("deducted_amount"))
        .values_list("hospital_id", "batch__period", "f")
    )
    allocated = _fen_map(FundAllocation.objects.annotate(f=fen_of("amount")).values_list("hospital_id", "period", "f"))
    for key, fen in sorted(deducted.items()):
        if fen > allocated.get(key, 0):
            out.append(
                Violation(
                    DEDUCTION_EXCEEDS_ALLOCATION,
                    f"{key[0]} {key[1]}",
                    f"deducted {from_fen(fen)} > allocation {from_fen(allocated.get(key, 0))}",
                )
            )

    # funding parts add up per line
    parts = frozen.annotate(
        a=fen_of("amount"), d=fen_of("deducted_amount"), p=fen_of("prepayment_amount"), c=fen_of("collection_amount")
    )
    broken = parts.filter(Q(d__isnull=True) | ~Q(a=F("d") + F("p") + F("c")))
    for row in broken.values_list("pk", "a", "d", "p", "c")[:1000]:
        out.append(
            Violation(
                FUNDING_PARTS_MISMATCH, f"batch_line {row[0]}", f"amount {row[1]} ≠ {row[2]}+{row[3]}+{row[4]} fen"
            )
        )

    # 4. per instruction, amount = Σ its lines (a paid instruction pays exactly its lines:
    #    BatchLineQuerySet.paid)
    lines_by = _fen_map(
        frozen.values("batch_id", "distributor_id")
        .annotate(f=fen_sum("amount"))
        .values_list("batch_id", "distributor_id", "f")
    )
    instructions = PaymentInstruction.objects.filter(
        status__in=[InstructionStatus.ISSUED, InstructionStatus.PAID, InstructionStatus.FAILED]
    )
    seen = set()
    for no, b, d, fen in instructions.annotate(f=fen_of("amount")).values_list("no", "batch_id", "distributor_id", "f"):
        seen.add((b, d))
        if fen != lines_by.get((b, d), 0):
            out.append(
                Violation(
                    INSTRUCTION_AMOUNT_MISMATCH,
                    no,
                    f"instruction {from_fen(fen)} ≠ lines {from_fen(lines_by.get((b, d), 0))}",
                )
            )
    for key in sorted(set(lines_by) - seen, key=str):
        out.append(
            Violation(INSTRUCTION_AMOUNT_MISMATCH, f"batch {key[0]} {key[1]}", "approved lines without an instruction")
        )

    # 5. an enterprise's receivable = Σ matched-and-confirmed amounts − Σ paid, checked
    #    against the ledger: payable (2202) + what is not yet in an approved batch.
    in_frozen = Exists(frozen.filter(invoice_line=OuterRef("pk")))
    settleable = InvoiceLine.objects.filter(kind=InvoiceKind.BLUE).filter(
        Q(match_status=MatchStatus.MATCHED, statement__status=StatementStatus.CONFIRMED) | in_frozen
    )
    reds = InvoiceLine.objects.filter(kind=InvoiceKind.RED, reverses__in=settleable.values("pk"))
    matched = _fen_map(
        settleable.values("distributor_id").annotate(f=fen_sum("amount")).values_list("distributor_id", "f")
    )
    for d, f in _fen_map(
        reds.values("distributor_id").annotate(f=fen_sum("amount")).values_list("distributor_id", "f")
    ).items():
        matched[d] += f
    paid = _fen_map(
        BatchLine.objects.paid()
        .values("distributor_id")
        .annotate(f=fen_sum("amount"))
        .values_list("distributor_id", "f")
    )
    pending = _fen_map(
        settleable.filter(~in_frozen)
        .values("distributor_id")
        .annotate(f=fen_sum("amount"))
        .values_list("distributor_id", "f")
    )
    for d, f in _fen_map(
        reds.filter(~in_frozen)
        .values("distributor_id")
        .annotate(f=fen_sum("amount"))
        .values_list("distributor_id", "f")
    ).items():
        pending[d] += f
    payable = _fen_map(
        JournalLine.objects.filter(account=Account.PAYABLE)
        .values("enterprise_id")
        .annotate(f=fen_sum("credit") - fen_sum("debit"))
        .values_list("enterprise_id", "f")
    )
    for d in sorted(set(matched) | set(paid) | set(payable)):
        receivable = matched.get(d, 0) - paid.get(d, 0)
        if receivable != payable.get(d, 0) + pending.get(d, 0):
            out.append(
                Violation(
                    RECEIVABLE_MISMATCH,
                    d,
                    f"matched−paid {from_fen(receivable)} ≠ ledger payable {from_fen(payable.get(d, 0))} + not yet approved {from_fen(pending.get(d, 0))}",
                )
            )

    # the ledger agrees with the documents: open collections (1122), prepayment balances (1123)
    def balance(account):
        return _fen_map(
            JournalLine.objects.filter(account=account)
            .values("hospital_id")
            .annotate(f=fen_sum("debit") - fen_sum("credit"))
            .values_list("hospital_id", "f")
        )

    open_coll = _fen_map(
        CollectionOrder.objects.filter(status=CollectionStatus.ISSUED)
        .values("hospital_id")
        .annotate(f=fen_sum("amount") - fen_sum("cleared_amount"))
        .values_list("hospital_id", "f")
    )
    prep = _fen_map(
        Prepayment.objects.filter(paid_at__isnull=False)
        .values("hospital_id")
        .annotate(
            f=fen_sum("amount") - fen_sum("used_amount") - fen_sum("recovered_amount") - fen_sum("cleared_amount")
        )
        .values_list("hospital_id", "f")
    )
    for account, docs in ((Account.COLLECTION, open_coll), (Account.PREPAYMENT, prep)):
        books = balance(account)
        for h in sorted(set(books) | set(docs), key=str):
            if books.get(h, 0) != docs.get(h, 0):
                out.append(
                    Violation(
                        LEDGER_DOCUMENT_MISMATCH,
                        f"{account} {h}",
                        f"ledger {from_fen(books.get(h, 0))} ≠ documents {from_fen(docs.get(h, 0))}",
                    )
                )
    return out
