"""Output tables of the batches feature (INTERCHANGE.md "Output tables"): ``batch_lines``,
``payment_instructions``, ``receivables`` and ``prepayments``, scoped to the caller."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from interchange.exports import register_export
from parties.identifiers import region_prefix
from settlement.selectors.batches import batch_lines_for, instructions_for, prepayment_rows
from settlement.selectors.receivables import BUCKETS, receivables_ageing

BATCH_LINES_COLUMNS = (
    "batch_no",
    "invoice_no",
    "line_no",
    "hospital_code",
    "distributor_credit_code",
    "amount",
    "deducted_amount",
    "prepayment_amount",
    "collection_amount",
)
PAYMENT_INSTRUCTIONS_COLUMNS = (
    "batch_no",
    "instruction_no",
    "payee_credit_code",
    "payee_name",
    "bank_name",
    "bank_account",
    "amount",
)
RECEIVABLES_COLUMNS = ("distributor_credit_code", "hospital_code", *BUCKETS, "total")
PREPAYMENTS_COLUMNS = ("hospital_code", "year_start", "amount", "paid_at", "used_amount", "recovered_amount", "balance")


def _date(value) -> dt.date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@register_export("batch_lines", columns=BATCH_LINES_COLUMNS, filters=("batch", "region"))
def batch_lines_rows(*, user, batch: str | None = None, region: str | None = None, **_unused):
    qs = batch_lines_for(user).filter(live=True)
    if batch:
        qs = qs.filter(batch__no=batch)
    if region:
        qs = qs.filter(hospital__region__code__startswith=region_prefix(region))
    rows = qs.order_by(
        "batch__no", "invoice_line__invoice_code", "invoice_line__invoice_no", "invoice_line__line_no"
    ).values_list(
        "batch__no",
        "invoice_line__invoice_code",
        "invoice_line__invoice_no",
        "invoice_line__line_no",
        "hospital_id",
        "distributor_id",
        "amount",
        "deducted_amount",
        "prepayment_amount",
        "collection_amount",
    )
    for batch_no, code, no, line_no, *rest in rows.iterator(chunk_size=5000):
        yield (batch_no, f"{code}-{no}" if code else no, line_no, *rest)


@register_export("payment_instructions", columns=PAYMENT_INSTRUCTIONS_COLUMNS, filters=("batch", "region"))
def payment_instructions_rows(*, user, batch: str | None = None, region: str | None = None, **_unused):
    qs = instructions_for(user).filter(status__in=["issued", "paid", "failed"])
    if batch:
        qs = qs.filter(batch__no=batch)
    if region:
        qs = qs.filter(batch__region__code__startswith=region_prefix(region))
    yield from (
        qs.order_by("batch__no", "no")
        .values_list("batch__no", "no", "distributor_id", "payee_name", "bank_name", "bank_account", "amount")
        .iterator(chunk_size=5000)
    )


@register_export("receivables", columns=RECEIVABLES_COLUMNS, filters=("as_of", "region"))
def receivables_rows(*, user, as_of=None, region: str | None = None, **_unused):
    day = _date(as_of) or timezone.localdate()
    prefix = region_prefix(region) if region else None
    for r in receivables_ageing(user=user, as_of=day):
        if prefix and not r.hospital_code[1:7].startswith(prefix):
            continue
        yield (r.distributor_credit_code, r.hospital_code, *(r.buckets[b] for b in BUCKETS), r.total)


@register_export("prepayments", columns=PREPAYMENTS_COLUMNS, filters=("as_of", "region"))
def prepayments_rows(*, user, as_of=None, region: str | None = None, **_unused):
    for p in prepayment_rows(user=user, as_of=_date(as_of), region=region).iterator(chunk_size=5000):
        paid_at = timezone.localtime(p.paid_at).isoformat(timespec="seconds") if p.paid_at else None
        yield (p.hospital_id, p.year_start, p.amount, paid_at, p.used_amount, p.recovered_amount, p.balance)
