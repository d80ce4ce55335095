"""Settlement batches (DOMAIN.md "Flow of a purchase" 8): preview, create, submit,
approve (funding, instructions, collections, ledger) or reject, cancel a draft.

Settleable (the matching feature's contract): a blue line with ``match_status`` matched
on a confirmed statement, of a hospital inside the batch region, accepted on or before
the cut-off, not in a live batch. Red lines (reversals) come along as negative lines:
those of a blue line in the same batch, and those of a blue line already in an approved
batch (issued after it was paid: netted against the same distributor in the next batch).
A distributor whose lines would net to ≤ 0 keeps its late red lines for a later batch.

Creation is two INSERT … SELECT statements, the blue lines then their red lines (ON
CONFLICT DO NOTHING on the one-live-batch index, so concurrent creations never share a
line, and lines live in another batch are skipped); approval is set-based (funding).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd
from django.db import connection, transaction
from django.db.models import BigIntegerField, Count, Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce
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
from settlement.models.ledger import Account, EntryKind
from settlement.selectors.due_dates import due_date_expression
from settlement.services import batch_rules as rules
from settlement.services.batch_rules import SettlementError, require_reason, require_region, require_role
from settlement.services.collections import collections_issue
from settlement.services.funding import allocation_available_fen, batch_fund, fen_sum, split_hospital_totals
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


def settleable_blue_lines(*, prefix: str, cutoff: dt.date, unbatched: bool = True):
    """``unbatched=False`` leaves out the live-batch test, for batch_create's INSERT: its
    ON CONFLICT DO NOTHING on the one-live-batch index skips those lines anyway, and an
    anti-join against the table being inserted into is planned from its statistics
    taken before the insert (a nested loop over a "small" table that grows as it runs)."""
    qs = InvoiceLine.objects.filter(
        kind=InvoiceKind.BLUE,
        match_status=MatchStatus.MATCHED,
        statement__status=StatementStatus.CONFIRMED,
        hospital__region__code__startswith=prefix,
        delivery_line__accepted_date__lte=cutoff,
    )
    return qs.filter(_unbatched()) if unbatched else qs


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


def red_lines_for_batch(batch_id: int, *, prefix: str, cutoff: dt.date):
    """The red lines batch_create adds once its blue lines are in: those reversing a line
    of this batch (whatever their hospital's region, as before), and those of the region
    reversing a line of an approved batch — issued on or before the cut-off. Driven by the
    few red lines (index on ``reverses``), each probing the batch-line indexes; lines in a
    live batch are skipped by the INSERT's ON CONFLICT (a line live in this draft is live
    in no approved batch, so the two parts never overlap)."""
    own = BatchLine.objects.filter(batch_id=batch_id, invoice_line_id=OuterRef("reverses_id"))
    return InvoiceLine.objects.filter(kind=InvoiceKind.RED, reverses__isnull=False, issued_at__lte=cutoff).filter(
        Q(Exists(own))
        | Q(
            Exists(_frozen_live_line("reverses_id")),
            hospital_id__in=Hospital.objects.filter(region__code__startswith=prefix).values("code"),
        )
    )


def _insert_lines(qs, *, batch_id: int, accepted_path: str) -> int:
    """INSERT … SELECT the lines of ``qs`` into the batch; rows already live elsewhere
    are skipped by the partial unique index (ON CONFLICT DO NOTHING)."""
    q = qs.annotate(
        c_batch=Value(batch_id, output_field=BigIntegerField()),
        c_line=F("pk"),
        c_live=Value(True),
        c_hospital=F("hospital_id"),
        c_distributor=F("distributor_id"),
        c_amount=F("amount"),
        c_due=due_date_expression(accepted_path, "hospital__region__code"),
    ).values_list("c_batch", "c_line", "c_live", "c_hospital", "c_distributor", "c_amount", "c_due")
    sql, params = q.query.sql_with_params()
    table = BatchLine._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (batch_id, invoice_line_id, live, hospital_id, distributor_id, amount, due_date) "
            f"{sql} ON CONFLICT DO NOTHING",
            params,
        )
        return cursor.rowcount


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
    blue = settleable_blue_lines(prefix=prefix, cutoff=cutoff, unbatched=False)
    _insert_lines(blue, batch_id=batch.pk, accepted_path="delivery_line__accepted_date")
    if connection.vendor == "postgresql":
        # A province batch adds hundreds of thousands of rows at once: without fresh
        # statistics the red-line probes below, the totals and approval's funding split
        # plan for a few rows (nested loops over whole tables, sorts on disk). ANALYZE
        # samples, so it costs well under a second; the few red lines do not change them.
        with connection.cursor() as cur:
            cur.execute("ANALYZE settlement_batchline")
    reds = red_lines_for_batch(batch.pk, prefix=prefix, cutoff=cutoff)
    _insert_lines(reds, batch_id=batch.pk, accepted_path="reverses__delivery_line__accepted_date")
    _prune_lines(batch)
    totals = BatchLine.objects.filter(batch=batch).aggregate(n=Count("pk"), fen=Coalesce(fen_sum("amount"), 0))
    if not totals["n"]:
        raise SettlementError(rules.NO_LINES, rules.MSG_NO_LINES)
    batch.line_count, batch.amount = totals["n"], from_fen(totals["fen"])
    batch.save(update_fields=["line_count", "amount"])
    _event(batch, user, "create", "", reason)
    return batch


def _prune_lines(batch: SettlementBatch) -> None:
    own_blue = BatchLine.objects.filter(batch=batch).values("invoice_line_id")
    for late_only in (True, False):
        nets = BatchLine.objects.filter(batch=batch).values("distributor_id").annotate(fen=fen_sum("amount"))
        bad = [row["distributor_id"] for row in nets if row["fen"] <= 0]
        if not bad:
            return
        doomed = BatchLine.objects.filter(batch=batch, distributor_id__in=bad)
        if late_only:
            doomed = doomed.filter(amount__lt=0).exclude(invoice_line__reverses_id__in=own_blue)
        doomed.delete()


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
    # The batch's hospitals once (a short list), not a sub-select over its lines in every query below.
    hospitals = list(
        BatchLine.objects.filter(batch=batch).order_by("hospital_id").values_list("hospital_id", flat=True).distinct()
    )
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
