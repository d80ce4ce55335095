"""Read endpoints of settlement's input tables: invoices (lines) and fund allocations, scoped."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import extend_schema

from interchange.api.filters import CHOICE, DATE, PERIOD, REGION, ListFilter
from interchange.api.viewsets import KeyField, ScopedReadOnlyViewSet
from parties import scoping
from settlement.api.serializers import FundAllocationSerializer, InvoiceLineSerializer
from settlement.models import ExceptionCode, FundAllocation, InvoiceKind, InvoiceLine, MatchStatus

TAG = "settlement inputs / 结算输入"


def _exception_code(value: str) -> Q:
    # exception_codes holds the sorted codes joined by ";" (INTERCHANGE.md payables).
    return (
        Q(exception_codes=value)
        | Q(exception_codes__startswith=f"{value};")
        | Q(exception_codes__endswith=f";{value}")
        | Q(exception_codes__contains=f";{value};")
    )


@extend_schema(tags=[TAG])
class InvoiceLineViewSet(ScopedReadOnlyViewSet):
    """发票明细 / invoice lines.

    Detail: `/invoices/{invoice}/{line_no}/` where `invoice` is the 20-digit number of a
    全电 invoice, or `invoice_code-invoice_no` for a paper invoice (as on exports).
    """

    queryset = InvoiceLine.objects.select_related(
        "distributor", "hospital", "delivery_line__order_line", "statement"
    ).only(
        "id",
        "invoice_code",
        "invoice_no",
        "line_no",
        "kind",
        "original_invoice_code",
        "original_invoice_no",
        "distributor__credit_code",
        "distributor__name",
        "hospital__code",
        "hospital__name",
        "delivery_no",
        "delivery_line_no",
        "delivery_line__id",
        "delivery_line__order_line__id",
        "delivery_line__order_line__product_id",
        "qty",
        "unit_price",
        "amount",
        "tax_rate",
        "issued_at",
        "net_qty",
        "net_amount",
        "match_status",
        "exception_codes",
        "matched_at",
        "statement__id",
        "statement__no",
        "dispute_reason",
    )
    serializer_class = InvoiceLineSerializer
    scope_paths = scoping.INVOICE_LINE
    key_fields = (
        KeyField("invoice", help="全电发票号码，或纸质发票 发票代码-发票号码 / invoice_no, or invoice_code-invoice_no"),
        KeyField("line_no", type=int, help="发票明细号 / line no"),
    )
    list_filters = (
        ListFilter("hospital", "hospital_id", help="购买方医疗机构编码 / buyer hospital code"),
        ListFilter("distributor", "distributor_id", help="销售方统一社会信用代码 / seller credit code"),
        ListFilter("product", "delivery_line__order_line__product_id", help="医保编码 / product code"),
        ListFilter("invoice_no", "invoice_no", help="发票号码 / invoice no"),
        ListFilter("kind", "kind", kind=CHOICE, choices=tuple(InvoiceKind.values), help="蓝字/红字 / blue or red"),
        ListFilter(
            "status", "match_status", kind=CHOICE, choices=tuple(MatchStatus.values), help="对账状态 / match status"
        ),
        ListFilter(
            "exception",
            kind=CHOICE,
            choices=tuple(ExceptionCode.values),
            q=_exception_code,
            help="含该异常代码 / has this exception code",
        ),
        ListFilter("statement", "statement__no", help="对账单号 / statement no"),
        ListFilter("delivery_no", "delivery_no", help="配送单号 / delivery no"),
        ListFilter("region", "hospital__region", kind=REGION, help="医院所在统筹区 / hospital region"),
        ListFilter("date_from", "issued_at", kind=DATE, lookup="gte", help="开票日期起 / issued from"),
        ListFilter("date_to", "issued_at", kind=DATE, lookup="lte", help="开票日期止 / issued to"),
    )
    ordering = ("invoice_code", "invoice_no", "line_no")

    def key_lookup(self, *, invoice: str, line_no: int) -> dict:
        code, sep, number = invoice.rpartition("-")
        return {"invoice_code": code if sep else "", "invoice_no": number, "line_no": line_no}


@extend_schema(tags=[TAG])
class FundAllocationViewSet(ScopedReadOnlyViewSet):
    """医保基金应拨付额 / fund allocations. Detail: `/fund-allocations/{hospital_code}/{period}/`."""

    queryset = FundAllocation.objects.select_related("hospital").only(
        "id", "hospital__code", "hospital__name", "period", "amount"
    )
    serializer_class = FundAllocationSerializer
    scope_paths = scoping.FUND_ALLOCATION
    key_fields = (
        KeyField("hospital_code", "hospital_id", help="医疗机构编码 / hospital code"),
        KeyField("period", help="结算期 / period (YYYY-MM)"),
    )
    list_filters = (
        ListFilter("hospital", "hospital_id", help="医疗机构编码 / hospital code"),
        ListFilter("period", "period", kind=PERIOD, help="结算期 / period (YYYY-MM)"),
        ListFilter("period_from", "period", kind=PERIOD, lookup="gte", help="结算期起 / from period"),
        ListFilter("period_to", "period", kind=PERIOD, lookup="lte", help="结算期止 / to period"),
        ListFilter("region", "hospital__region", kind=REGION, help="医院所在统筹区 / hospital region"),
    )
    ordering = ("hospital_id", "period")  # the natural key's unique index
