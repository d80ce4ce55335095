"""Settlement batches (DOMAIN.md "Flow of a purchase" 8): preview, create, submit,
approve (funding, instructions, collections, ledger) or reject, cancel a draft.

Settleable (the matching feature's contract): a blue line with ``match_status`` matched
on a confirmed statement, of a hospital inside the batch region, accepted on or before
the cut-off, not in a live batch. Red lines (reversals) come along as negative lines:
those of a blue line in the same batch, and those of a blue line already in an approved
batch (issued after it was paid: netted against the same distributor in the next batch).
A distributor whose lines would net to ≤ 0 keeps its late red lines for a later batch.

Creation stages the lines in a temporary table (the blue lines, then their red lines,
then netting's pruning), then writes them with one INSERT … SELECT that also computes each
line's funding split against what is available then (settlement.services.funding) — each
batch line is written once. Creations are serialised (a transaction-level advisory lock
on PostgreSQL, besides the batch counter row), so the lines staged as unbatched are still
unbatched when written, and the one-live-batch unique index is a guard, not a filter.
Approval is set-based and rewrites the lines only when other amounts are available by
then than at creation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd
from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, Count, Exists, F, IntegerField, OuterRef, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone

from interchange.money import from_fen
from parties.identifiers import region_prefix
from parties.models import Enterprise, Hospital, Region
from procurement.services.prepayments import prepayments_available_fen, prepayments_use
from settlement.models import (
    BatchEvent,
    BatchLine,
    BatchStatus,
    InvoiceKind,
    InvoiceLine,
    MatchStatus,
    SettlementBatch,
    StatementStatus,
)
from settlement.models.batches import BATCH_TRANSITIONS, FROZEN_BATCH_STATUSES
from settlement.models.ledger import BATCH_LINE_BRIN, Account, EntryKind
from settlement.selectors.due_dates import due_date_expression
from settlement.services import batch_rules as rules
from settlement.services.batch_rules import SettlementError, require_reason, require_region, require_role
from settlement.services.collections import collections_issue
from settlement.services.funding import (
    allocation_available_fen,
    batch_fund,
    fen_of,
    fen_sum,
    funding_basis,
    insert_funded_lines,
    split_hospital_totals,
)
from settlement.services.ledger import Leg, allocations_recognise, journal_post
from settlement.services.numbering import number_next
from settlement.services.payments import instructions_issue

BATCH_KIND = "BATCH"
BATCH_PREFIX = "JS"  # 结算


def period_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


# --- the candidate lines --------------------------------------------------------------


def _unbatched():
    """Not in a live batch (NOT EXISTS: an anti-join, hashed or probing the one-live index;
    a NOT IN list larger than work_mem is searched once per row)."""
    return ~Exists(BatchLine.objects.filter(invoice_line_id=OuterRef("pk"), live=True))


def settleable_blue_lines(*, prefix: str, cutoff: dt.date):
    """Blue lines batch_create stages (and the preview totals): matched, on a confirmed
    statement, of the region, accepted by the cut-off, in no live batch.

    The acceptance is the line's own ``accepted_on``: matching writes it with the status,
    in the same UPDATE, as its delivery line's acceptance date (a matched blue line's
    delivery line accepted something), so no join with the delivery lines (a province's
    2.9M at L) is needed."""
    return InvoiceLine.objects.filter(
        _unbatched(),
        kind=InvoiceKind.BLUE,
        match_status=MatchStatus.MATCHED,
        statement__status=StatementStatus.CONFIRMED,
        hospital__region__code__startswith=prefix,
        accepted_on__lte=cutoff,
    )


def red_lines_of(blue_qs, *, prefix: str, cutoff: dt.date):
    """Red lines to net: (those of blue lines in ``blue_qs``, those of blue lines already
    in an approved batch) — unbatched and issued on or before the cut-off."""
    base = InvoiceLine.objects.filter(
        _unbatched(),
        kind=InvoiceKind.RED,
        reverses__isnull=False,
        issued_at__lte=cutoff,
        hospital__region__code__startswith=prefix,
    )
    same = base.filter(reverses__in=blue_qs.values("pk"))
    late = base.filter(Exists(_frozen_live_line("reverses_id")))
    return same, late


def _frozen_live_line(path: str):
    return BatchLine.objects.filter(invoice_line=OuterRef(path), live=True, batch__status__in=FROZEN_BATCH_STATUSES)


_STAGE = "tmp_batch_candidates"
_STAGE_COLUMNS = (
    "id",  # the invoice line
    "hospital_id",
    "distributor_id",
    "amount",
    "amt",  # amount in fen
    "pos",  # amt when positive, else 0
    "due_date",
    "invoice_no",
    "invoice_code",
    "line_no",
    "part",  # 0 blue, 1 red line of a blue line staged here, 2 red line of a line already approved
)
BLUE, OWN_RED, LATE_RED = 0, 1, 2
CREATION_LOCK = 0x4A53_0001  # pg_advisory_xact_lock key of batch creation ("JS" 1)


def _stage_create(cursor) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")
        cursor.execute(
            f"CREATE TEMP TABLE {_STAGE} (id bigint, hospital_id text, distributor_id text, amount numeric(16, 2), "
            "amt bigint, pos bigint, due_date date, invoice_no text, invoice_code text, line_no integer, "
            "part smallint) ON COMMIT DROP"
        )
    else:
        cursor.execute(f"DROP TABLE IF EXISTS temp.{_STAGE}")
        cursor.execute(
            f"CREATE TEMP TABLE {_STAGE} (id integer, hospital_id text, distributor_id text, amount numeric, "
            "amt integer, pos integer, due_date date, invoice_no text, invoice_code text, line_no integer, "
            "part integer)"
        )


def _stage_drop(cursor) -> None:
    cursor.execute(f"DROP TABLE {_STAGE}" if connection.vendor == "postgresql" else f"DROP TABLE temp.{_STAGE}")


def _stage_lines(cursor, qs, *, part: int, accepted_path: str) -> int:
    """INSERT … SELECT the lines of ``qs`` into the staging table."""
    fen = fen_of("amount")
    q = qs.annotate(
        c_id=F("pk"),
        c_hospital=F("hospital_id"),
        c_distributor=F("distributor_id"),
        c_amount=F("amount"),
        c_amt=fen,
        c_pos=Case(When(amount__gt=0, then=fen), default=Value(0), output_field=BigIntegerField()),
        c_due=due_date_expression(accepted_path, "hospital__region__code"),
        c_no=F("invoice_no"),
        c_code=F("invoice_code"),
        c_line_no=F("line_no"),
        c_part=Value(part, output_field=IntegerField()),
    ).values_list(
        "c_id",
        "c_hospital",
        "c_distributor",
        "c_amount",
        "c_amt",
        "c_pos",
        "c_due",
        "c_no",
        "c_code",
        "c_line_no",
        "c_part",
    )
    sql, params = q.query.sql_with_params()
    cursor.execute(f"INSERT INTO {_STAGE} ({', '.join(_STAGE_COLUMNS)}) {sql}", params)
    return cursor.rowcount


def _stage_prune(cursor) -> None:
    """A distributor whose lines would net to ≤ 0 keeps its late red lines for a later
    batch; a distributor still ≤ 0 without them has nothing in this batch."""
    netting = f"SELECT distributor_id FROM {_STAGE} GROUP BY distributor_id HAVING SUM(amt) <= 0"
    cursor.execute(f"DELETE FROM {_STAGE} WHERE part = %s AND distributor_id IN ({netting})", [LATE_RED])
    cursor.execute(f"DELETE FROM {_STAGE} WHERE distributor_id IN ({netting})")


# --- preview ------------------------------------------------------------------------------


@dataclass
class BatchPreview:
    region_code: str
    cutoff: dt.date
    period: str
    line_count: int = 0
    amount: Decimal = Decimal("0.00")
    deducted: Decimal = Decimal("0.00")
    prepayment: Decimal = Decimal("0.00")
    collection: Decimal = Decimal("0.00")
    by_distributor: list[dict] = field(default_factory=list)
    by_hospital: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "region": self.region_code,
            "cutoff": self.cutoff.isoformat(),
            "period": self.period,
            "line_count": self.line_count,
            "amount": str(self.amount),
            "funding": {
                "deducted": str(self.deducted),
                "prepayment": str(self.prepayment),
                "collection": str(self.collection),
            },
            "by_distributor": [
                {k: str(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in self.by_distributor
            ],
            "by_hospital": [
                {k: str(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in self.by_hospital
            ],
        }


def _aggregate(qs, part: str) -> pd.DataFrame:
    rows = qs.values("hospital_id", "distributor_id").annotate(n=Count("pk"), fen=fen_sum("amount"))
    df = pd.DataFrame.from_records(
        list(rows.values_list("hospital_id", "distributor_id", "n", "fen")),
        columns=["hospital_id", "distributor_id", "n", "fen"],
    )
    df["part"] = part
    return df


def _prune(df: pd.DataFrame) -> pd.DataFrame:
    """Drop late red lines of distributors netting ≤ 0, then distributors still ≤ 0."""
    if df.empty:
        return df
    net = df.groupby("distributor_id")["fen"].sum()
    bad = set(net[net <= 0].index)
    df = df[~((df["part"] == "late") & df["distributor_id"].isin(bad))]
    net = df.groupby("distributor_id")["fen"].sum()
    bad = set(net[net <= 0].index)
    return df[~df["distributor_id"].isin(bad)]


def _check_region(user, region_code: str) -> Region:
    region = Region.objects.filter(code=region_code).first()
    if region is None:
        raise SettlementError(rules.BAD_INPUT, rules.MSG_REGION_UNKNOWN)
    require_region(user, region_code)
    return region


def batch_preview(*, region_code: str, cutoff: dt.date, user) -> BatchPreview:
    """Totals per distributor and per hospital and the funding split a batch created now
    would get (allocation, prepayment and collection per hospital). Constant queries."""
    require_role(user, rules.OPERATOR_ROLES)
    _check_region(user, region_code)
    prefix = region_prefix(region_code)
    blue = settleable_blue_lines(prefix=prefix, cutoff=cutoff)
    same, late = red_lines_of(blue, prefix=prefix, cutoff=cutoff)
    df = pd.concat([_aggregate(blue, "blue"), _aggregate(same, "same"), _aggregate(late, "late")], ignore_index=True)
    df = _prune(df)
    preview = BatchPreview(region_code=region_code, cutoff=cutoff, period=period_of(cutoff))
    if df.empty:
        return preview
    df["fen"] = df["fen"].astype("int64")
    df["n"] = df["n"].astype("int64")
    hospital_ids = sorted(df["hospital_id"].unique())
    names_h = dict(Hospital.objects.filter(code__in=hospital_ids).values_list("code", "name"))
    names_d = dict(
        Enterprise.objects.filter(credit_code__in=df["distributor_id"].unique().tolist()).values_list(
            "credit_code", "name"
        )
    )
    alloc = allocation_available_fen(period=preview.period, hospitals_qs=hospital_ids, lock=False)
    prep = prepayments_available_fen(hospitals_qs=hospital_ids, as_of=cutoff, lock=False)
    for d, g in df.groupby("distributor_id"):
        preview.by_distributor.append(
            {
                "distributor_credit_code": d,
                "name": names_d.get(d, ""),
                "line_count": int(g["n"].sum()),
                "amount": from_fen(int(g["fen"].sum())),
            }
        )
    totals = [0, 0, 0]
    for h, g in df.groupby("hospital_id"):
        pos = int(g.loc[g["fen"] > 0, "fen"].sum())
        neg = int(g.loc[g["fen"] < 0, "fen"].sum())
        d, p, c = split_hospital_totals(pos, neg, alloc.get(h, 0), prep.get(h, 0))
        totals = [totals[0] + d, totals[1] + p, totals[2] + c]
        preview.by_hospital.append(
            {
                "hospital_code": h,
                "name": names_h.get(h, ""),
                "line_count": int(g["n"].sum()),
                "amount": from_fen(pos + neg),
                "allocation_available": from_fen(alloc.get(h, 0)),
                "prepayment_available": from_fen(prep.get(h, 0)),
                "deducted": from_fen(d),
                "prepayment": from_fen(p),
                "collection": from_fen(c),
            }
        )
    preview.line_count = int(df["n"].sum())
    preview.amount = from_fen(int(df["fen"].sum()))
    preview.deducted, preview.prepayment, preview.collection = (from_fen(t) for t in totals)
    return preview


# --- transitions --------------------------------------------------------------------------


def _event(batch: SettlementBatch, user, action: str, from_status: str, reason: str = "") -> None:
    BatchEvent.objects.create(
        batch=batch, user=user, action=action, from_status=from_status, to_status=batch.status, reason=reason
    )


def _locked(batch_no: str, user) -> SettlementBatch:
    batch = SettlementBatch.objects.select_for_update().filter(no=batch_no).first()
    if batch is None:
        raise SettlementError(rules.NOT_FOUND, rules.MSG_NOT_FOUND, status=404)
    require_region(user, batch.region_id)
    return batch


def _require_transition(batch: SettlementBatch, to_status: str) -> None:
    if to_status not in BATCH_TRANSITIONS.get(batch.status, {}):
        raise SettlementError(rules.BAD_TRANSITION, rules.MSG_BAD_TRANSITION, status=409)


def _require_other_than_maker(batch: SettlementBatch, user) -> None:
    """Four eyes, superusers included (the CheckConstraint holds it too)."""
    if user.pk == batch.created_by_id:
        raise SettlementError(rules.FOUR_EYES, rules.MSG_FOUR_EYES, status=403)


@transaction.atomic
def batch_create(*, region_code: str, cutoff: dt.date, user, reason: str = "") -> SettlementBatch:
    """Build a draft batch of every settleable line (see module doc). Raises no_lines
    when there is nothing to settle (nothing is kept)."""
    require_role(user, rules.OPERATOR_ROLES)
    _check_region(user, region_code)
    prefix = region_prefix(region_code)
    batch = SettlementBatch.objects.create(
        no=number_next(kind=BATCH_KIND, year=timezone.localdate().year, prefix=BATCH_PREFIX),
        region_id=region_code,
        cutoff=cutoff,
        period=period_of(cutoff),
        created_by=user,
    )
    if connection.vendor == "postgresql":
        # Statements are confirmed in bulk just before a batch (confirm_statements): with
        # statistics from before that, the settleable-line query plans for one confirmed
        # statement (6.6 s against 1.7 s at M). A few thousand rows: milliseconds.
        with connection.cursor() as cur:
            cur.execute("ANALYZE settlement_statement")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One creation at a time: what is staged as unbatched stays so until COMMIT.
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CREATION_LOCK])
            # The funding split sorts a province's lines per hospital: in memory, not on disk.
            cursor.execute("SET LOCAL work_mem = '1GB'")  # ~460 MB for 2.76M lines at L
            cursor.execute("SET LOCAL jit = off")  # compiling the big statements costs more than it saves
        per_hospital = _stage(cursor, prefix=prefix, cutoff=cutoff)
        if not per_hospital:
            raise SettlementError(rules.NO_LINES, rules.MSG_NO_LINES)
        hospitals = [h for h, _n, _fen in per_hospital]
        staged = sum(n for _h, n, _fen in per_hospital)
        # The split of every line (allocation → prepayment → collection) against what is
        # available now, written with the lines; approval keeps it while the same is
        # available then (funding.batch_fund).
        available = allocation_available_fen(period=batch.period, hospitals_qs=hospitals, lock=False)
        prepaid = prepayments_available_fen(hospitals_qs=hospitals, as_of=cutoff, lock=False)
        source = f"SELECT {', '.join(c for c in _STAGE_COLUMNS if c != 'part')} FROM {_STAGE}"  # noqa: S608 — fixed names
        written = insert_funded_lines(batch.pk, source, [], available, prepaid)
        _stage_drop(cursor)
        if connection.vendor == "postgresql":
            # The batch's pages into the BRIN index on batch_id (models.ledger), through
            # which approval and the pages read a batch's whole line set: unsummarised pages
            # would be read by every such query. Reads the new pages once (0.4 s at L).
            cursor.execute("SELECT brin_summarize_new_values(%s::regclass)", [BATCH_LINE_BRIN])
    if written != staged:  # cannot happen while creations are serialised
        raise RuntimeError(f"batch {batch.no}: {staged} lines staged, {written} written")
    batch.funding_basis = funding_basis(hospitals, available, prepaid)
    batch.line_count, batch.amount = staged, from_fen(sum(fen for _h, _n, fen in per_hospital))
    batch.save(update_fields=["line_count", "amount", "funding_basis"])
    _event(batch, user, "create", "", reason)
    return batch


def batch_hospitals(batch: SettlementBatch) -> list[str]:
    """The hospitals of a batch's lines, in order."""
    return list(
        BatchLine.objects.filter(batch=batch).order_by("hospital_id").values_list("hospital_id", flat=True).distinct()
    )


def _stage(cursor, *, prefix: str, cutoff: dt.date) -> list[tuple[str, int, int]]:
    """Stage the batch's lines in a temporary table: the settleable blue lines, the red lines
    of those, the region's red lines of lines already approved (all unbatched), less what
    netting prunes. Returns (hospital, lines, amount in fen) per hospital staged, in order."""
    _stage_create(cursor)
    _stage_lines(cursor, settleable_blue_lines(prefix=prefix, cutoff=cutoff), part=BLUE, accepted_path=_BLUE_ACCEPTED)
    # The red lines below probe the staged blue lines by id (a handful of probes; without
    # the index each red line scanned the whole stage: minutes at L).
    cursor.execute(f"CREATE INDEX {_STAGE}_id ON {_STAGE} (id)")
    if connection.vendor == "postgresql":
        cursor.execute(f"ANALYZE {_STAGE}")  # a province of lines, planned as such below
    reds = InvoiceLine.objects.filter(_unbatched(), kind=InvoiceKind.RED, reverses__isnull=False, issued_at__lte=cutoff)
    staged_blue = RawSQL(f"SELECT id FROM {_STAGE} WHERE part = %s", [BLUE])  # noqa: S611 — fixed names
    _stage_lines(cursor, reds.filter(reverses_id__in=staged_blue), part=OWN_RED, accepted_path=_RED_ACCEPTED)
    late = reds.filter(
        Exists(_frozen_live_line("reverses_id")),
        hospital_id__in=Hospital.objects.filter(region__code__startswith=prefix).values("code"),
    )
    _stage_lines(cursor, late, part=LATE_RED, accepted_path=_RED_ACCEPTED)
    _stage_prune(cursor)
    # The batch's hospitals, its line count and amount, from the staged lines: the INSERT
    # below writes exactly these (checked), so no second pass over the batch's lines.
    cursor.execute(f"SELECT hospital_id, COUNT(*), SUM(amt) FROM {_STAGE} GROUP BY hospital_id ORDER BY hospital_id")
    return [(h, int(n), int(fen)) for h, n, fen in cursor.fetchall()]


# A red line is due with the blue line it reverses (that line's acceptance, as matching wrote it).
_BLUE_ACCEPTED = "accepted_on"
_RED_ACCEPTED = "reverses__accepted_on"


@transaction.atomic
def batch_submit(*, batch_no: str, user, reason: str = "") -> SettlementBatch:
    require_role(user, rules.OPERATOR_ROLES)
    batch = _locked(batch_no, user)
    if batch.status == BatchStatus.SUBMITTED:
        return batch
    _require_transition(batch, BatchStatus.SUBMITTED)
    before = batch.status
    batch.status, batch.submitted_by, batch.submitted_at = BatchStatus.SUBMITTED, user, timezone.now()
    batch.save(update_fields=["status", "submitted_by", "submitted_at"])
    _event(batch, user, "submit", before, reason)
    return batch


@transaction.atomic
def batch_cancel(*, batch_no: str, user, reason: str) -> SettlementBatch:
    """Withdraw a draft: its lines are released."""
    require_role(user, rules.OPERATOR_ROLES)
    reason = require_reason(reason)
    batch = _locked(batch_no, user)
    if batch.status == BatchStatus.CANCELLED:
        return batch
    _require_transition(batch, BatchStatus.CANCELLED)
    BatchLine.objects.filter(batch=batch).update(live=False)
    before, batch.status = batch.status, BatchStatus.CANCELLED
    batch.save(update_fields=["status"])
    _event(batch, user, "cancel", before, reason)
    return batch


@transaction.atomic
def batch_reject(*, batch_no: str, user, reason: str) -> SettlementBatch:
    """A different approver sends the batch back; its lines are released (live=False)."""
    require_role(user, rules.APPROVER_ROLES)
    reason = require_reason(reason)
    batch = _locked(batch_no, user)
    _require_other_than_maker(batch, user)
    if batch.status == BatchStatus.REJECTED:
        return batch
    _require_transition(batch, BatchStatus.REJECTED)
    BatchLine.objects.filter(batch=batch).update(live=False)
    before = batch.status
    batch.status, batch.rejected_by, batch.rejected_at, batch.reject_reason = (
        BatchStatus.REJECTED,
        user,
        timezone.now(),
        reason,
    )
    batch.save(update_fields=["status", "rejected_by", "rejected_at", "reject_reason"])
    _event(batch, user, "reject", before, reason)
    return batch


@transaction.atomic
def batch_approve(*, batch_no: str, user, reason: str = "") -> SettlementBatch:
    """A different approver approves: fund every line (allocation → prepayment →
    collection), issue the instructions and collection orders, post the ledger entry.
    Idempotent: an approved (or paid) batch is returned unchanged."""
    require_role(user, rules.APPROVER_ROLES)
    batch = _locked(batch_no, user)
    _require_other_than_maker(batch, user)
    if batch.status in FROZEN_BATCH_STATUSES:
        return batch
    _require_transition(batch, BatchStatus.APPROVED)
    # The batch's hospitals once (a short list), not a sub-select over its lines in every
    # query below: creation kept them, with what was available to each, as the funding basis.
    hospitals = sorted(batch.funding_basis) if batch.funding_basis else batch_hospitals(batch)
    allocations_recognise(period=batch.period, hospital_ids=hospitals, user=user)
    # Lock order everywhere: batch → fund allocations (in batch_fund) → prepayments.
    allocation_available_fen(period=batch.period, hospitals_qs=hospitals, lock=True)
    prepayment_fen = prepayments_available_fen(hospitals_qs=hospitals, as_of=batch.cutoff, lock=True)
    funding = batch_fund(batch=batch, prepayment_fen=prepayment_fen, hospital_ids=hospitals)
    by_h = funding.by_hospital
    prepayments_use(usage_fen=by_h["prepayment_fen"].to_dict(), hospitals_qs=hospitals, as_of=batch.cutoff)
    instructions_issue(batch=batch, amounts_fen=funding.by_distributor, user=user)
    collections_issue(batch=batch, amounts_fen=by_h["collection_fen"].to_dict(), user=user)
    legs = [Leg(Account.PAYABLE, -fen, None, d) for d, fen in funding.by_distributor.items()]
    for h, row in by_h.iterrows():
        legs += [
            Leg(Account.ALLOCATION, int(row["deducted_fen"]), h, None, batch.period),
            Leg(Account.COLLECTION, int(row["collection_fen"]), h),
            Leg(Account.EXPENSE, int(row["prepayment_fen"]), h),
            Leg(Account.BANK, int(row["prepayment_fen"])),
            Leg(Account.PREPAYMENT, -int(row["prepayment_fen"]), h),
        ]
    journal_post(key=f"batch:{batch.no}", kind=EntryKind.BATCH_FUNDED, legs=legs, user=user, reason=reason, batch=batch)
    before = batch.status
    batch.status, batch.approved_by, batch.approved_at = BatchStatus.APPROVED, user, timezone.now()
    batch.deducted_amount = from_fen(int(by_h["deducted_fen"].sum()))
    batch.prepayment_amount = from_fen(int(by_h["prepayment_fen"].sum()))
    batch.collection_amount = from_fen(int(by_h["collection_fen"].sum()))
    batch.save(
        update_fields=[
            "status",
            "approved_by",
            "approved_at",
            "deducted_amount",
            "prepayment_amount",
            "collection_amount",
        ]
    )
    _event(batch, user, "approve", before, reason)
    return batch
