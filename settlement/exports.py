"""Output tables of settlement; each feature registers its tables in its own module.

``payables`` (INTERCHANGE.md "Output tables") is registered here: one row per blue
invoice line, net of its red lines, scoped to the caller.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from interchange.exports import register_export
from parties.identifiers import region_prefix
from parties.scoping import INVOICE_LINE, scoped
from settlement import (
    exports_alerts,  # noqa: F401
    exports_batches,  # noqa: F401
)
from settlement.models import InvoiceKind, InvoiceLine
from settlement.selectors.due_dates import due_date_expression
from settlement.selectors.lines import batches_module, frozen_batch_statuses, period_bounds

PAYABLES_COLUMNS = (
    "invoice_no",
    "line_no",
    "hospital_code",
    "distributor_credit_code",
    "product_code",
    "qty",
    "amount",
    "match_status",
    "exception_codes",
    "received_at",
    "due_date",
    "statement_no",
    "batch_no",
    "deducted_amount",
    "prepayment_amount",
    "collection_amount",
    "paid_amount",
    "paid_at",
)
_FUNDING = ("deducted_amount", "prepayment_amount", "collection_amount")
_MONEY = DecimalField(max_digits=16, decimal_places=2)


def _batch_annotations() -> dict:
    """The line's live batch, and its funding once that batch is approved: the blue line's
    own batch line plus those of its red lines in the same batch (so the parts add up to
    the net amount). Nulls until the batches module exists."""
    batches = batches_module()
    if batches is None:
        nothing = Value(None, output_field=_MONEY)
        return {
            "batch_no": Value(""),
            **{f"f_{name}": nothing for name in _FUNDING},
            "f_amount": nothing,
            "paid_at_": Value(None),
        }
    BatchLine = batches.BatchLine  # noqa: N806 - a model class
    own = BatchLine.objects.filter(invoice_line_id=OuterRef("pk"), live=True)
    approved = own.filter(batch__status__in=frozen_batch_statuses())
    annotations = {
        "batch_no": Coalesce(Subquery(own.values("batch__no")[:1]), Value("")),
        "bl_batch": Subquery(approved.values("batch_id")[:1]),
        "paid_at_": Subquery(approved.with_paid_at().values("paid_at")[:1]),
    }
    reds = (
        BatchLine.objects.filter(
            invoice_line__reverses_id=OuterRef(OuterRef("pk")), live=True, batch_id=OuterRef("batch_id")
        )
        .order_by()
        .values("batch_id")
    )
    for name in (*_FUNDING, "amount"):
        red_part = Subquery(reds.annotate(s=Sum(name)).values("s")[:1], output_field=_MONEY)
        annotations[f"f_{name}"] = Subquery(
            approved.annotate(total=F(name) + Coalesce(red_part, Value(Decimal("0"), output_field=_MONEY))).values(
                "total"
            )[:1],
            output_field=_MONEY,
        )
    return annotations


def payables_queryset(*, user, region: str | None = None, period: str | None = None):
    qs = scoped(InvoiceLine.objects.filter(kind=InvoiceKind.BLUE), user, **INVOICE_LINE)
    if region:
        qs = qs.filter(hospital__region__code__startswith=region_prefix(region))
    if period:
        start, end = period_bounds(period)
        qs = qs.filter(issued_at__gte=start, issued_at__lt=end)
    return qs.annotate(
        due=due_date_expression("delivery_line__accepted_date", "hospital__region_id"),
        **_batch_annotations(),
    ).order_by("issued_at", "invoice_code", "invoice_no", "line_no")


def _ts(value) -> str | None:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else None


def _date(value):
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


@register_export("payables", columns=PAYABLES_COLUMNS, filters=("region", "period"))
def payables_rows(*, user, region: str | None = None, period: str | None = None, **_unused):
    """应付明细: amounts net of red lines (0.00 when reversed); ``product_code`` blank for a
    NO_DELIVERY line; funding blank until the line is in an approved batch."""
    rows = payables_queryset(user=user, region=region, period=period).values_list(
        "invoice_code",
        "invoice_no",
        "line_no",
        "hospital_id",
        "distributor_id",
        "delivery_line__order_line__product_id",
        "qty",
        "net_qty",
        "amount",
        "net_amount",
        "match_status",
        "exception_codes",
        "delivery_line__received_at",
        "due",
        "statement__no",
        "batch_no",
        "f_deducted_amount",
        "f_prepayment_amount",
        "f_collection_amount",
        "f_amount",
        "paid_at_",
    )
    for (
        code,
        no,
        line_no,
        hospital,
        distributor,
        product,
        qty,
        net_qty,
        amount,
        net_amount,
        status,
        codes,
        received_at,
        due,
        statement_no,
        batch_no,
        deducted,
        prepayment,
        collection,
        funded,
        paid_at,
    ) in rows.iterator(chunk_size=5000):
        yield (
            f"{code}-{no}" if code else no,
            line_no,
            hospital,
            distributor,
            product or "",
            qty if net_qty is None else net_qty,
            amount if net_amount is None else net_amount,
            status,
            codes,
            _ts(received_at),
            _date(due),
            statement_no or "",
            batch_no or "",
            deducted,
            prepayment,
            collection,
            funded if paid_at else None,
            _ts(paid_at),
        )
