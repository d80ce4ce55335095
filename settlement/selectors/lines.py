"""Invoice lines as the parties see them: which are frozen, and where
each one is stuck (its *stage*) and who holds it.

``frozen_line_ids_q()`` is the one definition of "in an approved batch" that matching
respects: a frozen line's match result never changes again (DOMAIN.md, matching).
Until ``settlement.models.batches`` exists nothing is frozen and no line is in a batch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

from django.db.models import (
    Case,
    CharField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils.translation import gettext_lazy as _

from parties.scoping import INVOICE_LINE, scoped
from settlement.models import InvoiceKind, InvoiceLine, MatchStatus, StatementStatus
from settlement.selectors.due_dates import due_date_expression

NOTHING = Q(pk__in=[])


@cache
def batches_module():
    """``settlement.models.batches`` once the batch feature exists, else None."""
    try:
        from settlement.models import batches
    except ImportError:
        return None
    return batches if hasattr(batches, "BatchLine") else None


def frozen_batch_statuses() -> tuple[str, ...]:
    batches = batches_module()
    if batches is None:
        return ()
    return tuple(getattr(batches, "FROZEN_BATCH_STATUSES", ("approved", "paid")))


def frozen_batch_lines(invoice_line):
    """The live lines of approved (or paid) batches for the invoice line ``invoice_line`` (an
    ``OuterRef`` or another expression of its id), for an ``EXISTS`` probe: one look-up in the
    one-live-batch index per line, not the set of every frozen line. None while the batches
    module is absent."""
    batches = batches_module()
    if batches is None:
        return None
    return batches.BatchLine.objects.filter(
        invoice_line_id=invoice_line, live=True, batch__status__in=frozen_batch_statuses()
    )


def frozen_line_ids_q() -> Q:
    """Invoice lines in an approved (or paid) batch: matching never changes them.

    Matches nothing while the batches module is absent.
    """
    lines = frozen_batch_lines(OuterRef("pk"))
    if lines is None:
        return NOTHING
    return Q(Exists(lines))


# --- stages ----------------------------------------------------------------------------


class LineStage:
    """Where an invoice line is on its way to payment (enterprise's "where is my money")."""

    PENDING = "pending"
    AWAITING_RECEIPT = "awaiting_receipt"
    EXCEPTION = "exception"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    CONFIRMED = "confirmed"
    IN_BATCH = "in_batch"
    PAID = "paid"
    REVERSED = "reversed"

    LABELS = {
        PENDING: _("待对账 / awaiting matching"),
        AWAITING_RECEIPT: _("待验收 / awaiting receipt"),
        EXCEPTION: _("对账异常 / exception"),
        AWAITING_CONFIRMATION: _("待医院确认对账单 / awaiting statement confirmation"),
        CONFIRMED: _("已确认待结算 / confirmed, awaiting batch"),
        IN_BATCH: _("已纳入结算批次 / in a settlement batch"),
        PAID: _("已支付 / paid"),
        REVERSED: _("已冲红 / reversed"),
    }
    choices = list(LABELS.items())


class Holder:
    """Who must act next for the line to move on ("" when nobody: paid or reversed)."""

    ENTERPRISE = "enterprise"
    HOSPITAL = "hospital"
    BUREAU = "bureau"
    BANK = "bank"

    LABELS = {
        ENTERPRISE: _("企业 / enterprise"),
        HOSPITAL: _("医院 / hospital"),
        BUREAU: _("经办机构 / bureau"),
        BANK: _("银行 / bank"),
        "": "—",
    }


@dataclass(frozen=True)
class LineFilters:
    hospital: str | None = None  # hospital code
    stage: str | None = None  # a LineStage value
    period: str | None = None  # YYYY-MM, month of the invoice date (issued_at)


MSG_BAD_STAGE = _("未知的环节 / unknown stage")
MSG_BAD_PERIOD = _("月份格式应为 YYYY-MM / period must be YYYY-MM")


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """[first day, first day of the next month) of a YYYY-MM period; ValueError when malformed."""
    if not isinstance(period, str) or len(period) != 7 or period[4] != "-":
        raise ValueError(str(MSG_BAD_PERIOD))
    year, month = int(period[:4]), int(period[5:])
    if not 1 <= month <= 12:
        raise ValueError(str(MSG_BAD_PERIOD))
    start = dt.date(year, month, 1)
    end = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)
    return start, end


def _batch_annotations() -> dict:
    """in_batch / batch_approved / batch_paid flags (False until the batches module exists)."""
    batches = batches_module()
    if batches is None:
        return {"in_batch": Value(False), "batch_approved": Value(False), "batch_paid": Value(False)}
    live = batches.BatchLine.objects.filter(invoice_line_id=OuterRef("pk"), live=True)
    return {
        "in_batch": Exists(live),
        "batch_approved": Exists(live.filter(batch__status__in=frozen_batch_statuses())),
        "batch_paid": Exists(live.paid()),
    }


def _stage_case() -> tuple[Case, Case]:
    stage = Case(
        When(match_status=MatchStatus.REVERSED, then=Value(LineStage.REVERSED)),
        When(batch_paid=True, then=Value(LineStage.PAID)),
        When(in_batch=True, then=Value(LineStage.IN_BATCH)),
        When(
            Q(delivery_line__isnull=False, delivery_line__received_at__isnull=True)
            & ~Q(match_status=MatchStatus.MATCHED),
            then=Value(LineStage.AWAITING_RECEIPT),
        ),
        When(match_status=MatchStatus.EXCEPTION, then=Value(LineStage.EXCEPTION)),
        When(match_status=MatchStatus.PENDING, then=Value(LineStage.PENDING)),
        When(statement__status=StatementStatus.CONFIRMED, then=Value(LineStage.CONFIRMED)),
        default=Value(LineStage.AWAITING_CONFIRMATION),
        output_field=CharField(),
    )
    holder = Case(
        When(match_status=MatchStatus.REVERSED, then=Value("")),
        When(batch_paid=True, then=Value("")),
        When(batch_approved=True, then=Value(Holder.BANK)),
        When(in_batch=True, then=Value(Holder.BUREAU)),
        When(
            Q(delivery_line__isnull=False, delivery_line__received_at__isnull=True)
            & ~Q(match_status=MatchStatus.MATCHED),
            then=Value(Holder.HOSPITAL),
        ),
        When(match_status=MatchStatus.EXCEPTION, then=Value(Holder.ENTERPRISE)),
        When(match_status=MatchStatus.PENDING, then=Value(Holder.BUREAU)),
        When(statement__status=StatementStatus.CONFIRMED, then=Value(Holder.BUREAU)),
        default=Value(Holder.HOSPITAL),
        output_field=CharField(),
    )
    return stage, holder


LINE_ORDER = ("-issued_at", "invoice_code", "invoice_no", "line_no")  # unique: the natural key breaks ties


def _lines_in_scope(user, filters: LineFilters) -> QuerySet[InvoiceLine]:
    """The blue lines ``user`` may see, narrowed by hospital and period: no joins yet.
    Raises ValueError for an unknown stage or a bad period."""
    if filters.stage and filters.stage not in LineStage.LABELS:
        raise ValueError(str(MSG_BAD_STAGE))
    qs = scoped(InvoiceLine.objects.filter(kind=InvoiceKind.BLUE), user, **INVOICE_LINE)
    if filters.hospital:
        qs = qs.filter(hospital_id=filters.hospital)
    if filters.period:
        start, end = period_bounds(filters.period)
        qs = qs.filter(issued_at__gte=start, issued_at__lt=end)
    return qs


def _with_stage(qs: QuerySet[InvoiceLine]) -> QuerySet[InvoiceLine]:
    stage, holder = _stage_case()
    return qs.annotate(**_batch_annotations()).annotate(
        stage=stage,
        holder=holder,
        accepted_date=F("delivery_line__accepted_date"),
        due_date=due_date_expression("delivery_line__accepted_date", "hospital__region_id"),
    )


def invoice_lines_with_stage(user, filters: LineFilters | None = None) -> QuerySet[InvoiceLine]:
    """Blue invoice lines ``user`` may see, each annotated with ``stage``, ``holder``,
    ``accepted_date`` and ``due_date`` (the expected pay date).

    One query for any number of lines (the related rows come by join). ``filters.period``
    is the month of the invoice date. Raises ValueError for an unknown stage or a bad period.
    """
    filters = filters or LineFilters()
    qs = _with_stage(
        _lines_in_scope(user, filters).select_related(
            "hospital",
            "distributor",
            "statement",
            "delivery_line__order_line__product",
        )
    )
    if filters.stage:
        qs = qs.filter(stage=filters.stage)
    return qs.order_by(*LINE_ORDER)


# Columns of a line as the lines API shows it (plus the annotations of _with_stage).
LINE_ROW_FIELDS = (
    "id",
    "invoice_code",
    "invoice_no",
    "line_no",
    "hospital_id",
    "hospital__name",
    "distributor_id",
    "delivery_line__order_line__product_id",
    "issued_at",
    "qty",
    "amount",
    "net_amount",
    "match_status",
    "exception_codes",
    "dispute_reason",
    "statement__no",
    "accepted_date",
    "due_date",
    "stage",
    "holder",
)


class StagedLineRows:
    """``invoice_lines_with_stage`` as plain rows (dicts of ``LINE_ROW_FIELDS``), for a paginator.

    The same lines in the same order, built so that a page costs two cheap queries whatever
    the number of lines: ``count()`` counts the scoped lines alone (the joins and the stage
    only when filtering by stage), and a slice picks the page's ids from that narrow query
    (top-N sort without joins) and joins and annotates only those ids.
    Raises ValueError (as ``invoice_lines_with_stage``) when constructed with a bad filter.
    """

    def __init__(self, user, filters: LineFilters | None = None):
        filters = filters or LineFilters()
        narrow = _lines_in_scope(user, filters)
        if filters.stage:
            stage, _holder = _stage_case()
            narrow = narrow.alias(**_batch_annotations()).alias(stage=stage).filter(stage=filters.stage)
        self.narrow = narrow.order_by(*LINE_ORDER)

    def count(self) -> int:
        return self.narrow.count()

    def __getitem__(self, index: slice) -> list[dict]:
        if not isinstance(index, slice):
            raise TypeError("StagedLineRows supports slices only")
        if index.stop is not None and index.stop <= (index.start or 0):
            return []
        page_ids = self.narrow.values("pk")[index]
        rows = _with_stage(InvoiceLine.objects.filter(pk__in=page_ids)).values(*LINE_ROW_FIELDS)
        return list(rows.order_by(*LINE_ORDER))


def line_key(invoice_code: str, invoice_no: str, line_no: int) -> str:
    """``invoice_no/line_no`` (paper: ``invoice_code-invoice_no/line_no``), as on exports and alerts."""
    head = f"{invoice_code}-{invoice_no}" if invoice_code else invoice_no
    return f"{head}/{line_no}"


def parse_line_key(key: str) -> tuple[str, str, int]:
    """The inverse of ``line_key``; ValueError when malformed."""
    head, _sep, line = str(key).strip().rpartition("/")
    if not head or not line.isdigit():
        raise ValueError(key)
    code, _dash, number = head.rpartition("-")
    return code, number, int(line)
