"""Receivables (应收账款) and ageing (账龄) per distributor × hospital as of a date.

What is owed: every blue line that is not reversed, whose delivery line was accepted
(accepted_qty > 0) on or before the as-of date and which was invoiced on or before it,
and is not paid — whatever its match status (an exception line's money is still owed).
The acceptance is the line's own ``accepted_on``, which matching writes from its delivery
line (a receipt re-matches its lines as it commits, or on a worker right after): so the
enterprise's ageing is read from its (distributor, kind, issued_at) index alone.
Its amount is the net of its red lines. A red line issued after its blue line was paid
is owed back until a later batch nets it: it counts negative. Age = as-of − acceptance
date (calendar days): 0-30, 31-60, 61-90, >90. The documents are judged as they are
now (like the alert scans), with the as-of date as today.

One aggregate query (two parts, UNION ALL) whatever the number of lines, and one for the
parties' names; scoped with parties.scoping.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, CharField, Exists, IntegerField, OuterRef, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from interchange.money import from_fen
from parties.models import Enterprise, Hospital
from parties.policy import policy_value
from parties.scoping import INVOICE_LINE, scoped
from settlement.models import BatchLine, BatchStatus, InvoiceKind, InvoiceLine, MatchStatus
from settlement.selectors.batches import scoped_batch_lines
from settlement.services.funding import fen_of

BUCKETS = ("bucket_0_30", "bucket_31_60", "bucket_61_90", "bucket_over_90")
# bucket → (min age, max age) in days, inclusive; None = no upper bound.
BUCKET_AGES = {"bucket_0_30": (0, 30), "bucket_31_60": (31, 60), "bucket_61_90": (61, 90), "bucket_over_90": (91, None)}


def _paid(path: str = "pk"):
    # live=True adds nothing (only an approved batch, whose lines stay live, has instructions)
    # but lets the partial unique index batch_line_one_live_batch serve the look-up.
    return Exists(BatchLine.objects.filter(invoice_line=OuterRef(path), live=True).paid())


def unpaid_blue_lines(*, user, as_of: dt.date) -> QuerySet:
    qs = InvoiceLine.objects.filter(
        kind=InvoiceKind.BLUE,
        accepted_on__lte=as_of,
        issued_at__lte=as_of,
    ).exclude(match_status=MatchStatus.REVERSED)
    return scoped(qs, user, **INVOICE_LINE).filter(~_paid())


def unpaid_late_red_lines(*, user, as_of: dt.date) -> QuerySet:
    """Red lines of paid blue lines that no paid batch has netted yet (owed back)."""
    qs = InvoiceLine.objects.filter(
        kind=InvoiceKind.RED,
        reverses__isnull=False,
        reverses__accepted_on__lte=as_of,
        issued_at__lte=as_of,
    ).filter(_paid("reverses_id"))
    return scoped(qs, user, **INVOICE_LINE).filter(~_paid())


def _bucket_sums(qs: QuerySet, *, as_of: dt.date, accepted: str, amount) -> QuerySet:
    """Σ amount per distributor × hospital × bucket (the bucket as its index in BUCKETS).

    Every line here was accepted on or before ``as_of`` (the filters say so), so the first
    bucket whose lower age bound it passes is its bucket: one CASE instead of one per bucket.
    """
    whens = [
        When(**{f"{accepted}__gte": as_of - dt.timedelta(days=BUCKET_AGES[b][1])}, then=Value(i))
        for i, b in enumerate(BUCKETS)
        if BUCKET_AGES[b][1] is not None
    ]
    bucket = Case(*whens, default=Value(len(BUCKETS) - 1), output_field=IntegerField())
    # Grouped by the codes alone (a hash of a few hundred groups; with the names in the key the
    # 33k lines of a large distributor were sorted, on disk); the names are read afterwards.
    return (
        qs.annotate(bucket=bucket)
        .values("distributor_id", "hospital_id", "bucket")
        .annotate(fen=Sum(amount))
        .order_by()
    )


def _names(distributors: set[str], hospitals: set[str]) -> dict[tuple[str, str], str]:
    """{("d", credit code) | ("h", hospital code): name}, in one query."""
    if not distributors and not hospitals:
        return {}
    firms = (
        Enterprise.objects.filter(credit_code__in=distributors)
        .order_by()
        .values_list(Value("d", output_field=CharField()), "credit_code", "name")
    )
    places = (
        Hospital.objects.filter(code__in=hospitals)
        .order_by()
        .values_list(Value("h", output_field=CharField()), "code", "name")
    )
    return {(kind, code): name for kind, code, name in firms.union(places, all=True)}


@dataclass
class AgeingRow:
    distributor_credit_code: str
    distributor_name: str
    hospital_code: str
    hospital_name: str
    buckets: dict[str, Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), Decimal("0.00"))

    def as_dict(self) -> dict:
        return {
            "distributor_credit_code": self.distributor_credit_code,
            "distributor_name": self.distributor_name,
            "hospital_code": self.hospital_code,
            "hospital_name": self.hospital_name,
            **{b: str(v) for b, v in self.buckets.items()},
            "total": str(self.total),
        }


def receivables_ageing(*, user, as_of: dt.date) -> list[AgeingRow]:
    """Per distributor × hospital: the four ageing buckets (Decimal yuan), sorted."""
    fen: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(BUCKETS, 0))
    blue_amount = Coalesce(fen_of("net_amount"), fen_of("amount"))
    parts = (
        (unpaid_blue_lines(user=user, as_of=as_of), "accepted_on", blue_amount),
        (unpaid_late_red_lines(user=user, as_of=as_of), "reverses__accepted_on", fen_of("amount")),
    )
    blue, red = (_bucket_sums(qs, as_of=as_of, accepted=accepted, amount=amount) for qs, accepted, amount in parts)
    for row in blue.union(red, all=True):  # one query: the blue lines' sums and the late red lines'
        fen[row["distributor_id"], row["hospital_id"]][BUCKETS[row["bucket"]]] += int(row["fen"] or 0)
    owed = {key: buckets for key, buckets in fen.items() if any(buckets.values())}
    names = _names({d for d, _h in owed}, {h for _d, h in owed})
    return [
        AgeingRow(d, names.get(("d", d), ""), h, names.get(("h", h), ""), {b: from_fen(v) for b, v in buckets.items()})
        for (d, h), buckets in sorted(owed.items())
    ]


def ageing_totals(rows: list[AgeingRow]) -> dict[str, Decimal]:
    totals = dict.fromkeys(BUCKETS, Decimal("0.00"))
    for r in rows:
        for b in BUCKETS:
            totals[b] += r.buckets[b]
    totals["total"] = sum((totals[b] for b in BUCKETS), Decimal("0.00"))
    return totals


def expected_pay_dates(*, user, limit: int = 200) -> list[dict]:
    """Unpaid lines in an approved batch with the day the money is expected:
    approval date + BANK_PAYMENT_DAYS (the bank's execution time), oldest due first.

    Only batches still ``approved`` can hold an unpaid line: a batch becomes ``paid`` once
    every instruction is paid, and a paid instruction pays all its lines. So the read is
    bounded by the open batches' lines (BRIN on batch), however long the history."""
    lines = scoped_batch_lines(
        BatchLine.objects.filter(live=True, batch__status=BatchStatus.APPROVED).unpaid(), user
    ).select_related("batch", "invoice_line")
    out = []
    for line in lines.order_by("due_date", "pk")[:limit]:
        approved = timezone.localtime(line.batch.approved_at).date() if line.batch.approved_at else None
        days = int(policy_value("BANK_PAYMENT_DAYS", line.batch.region_id))
        out.append(
            {
                "batch_no": line.batch.no,
                "invoice_no": line.invoice_line.display_no,
                "line_no": line.invoice_line.line_no,
                "hospital_code": line.hospital_id,
                "amount": line.amount,
                "due_date": line.due_date,
                "expected_pay_date": approved + dt.timedelta(days=days) if approved else None,
            }
        )
    return out
