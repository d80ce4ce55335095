"""Read endpoints of procurement (INTERCHANGE.md input tables), scoped by parties.scoping.

Products and rounds are the published catalogue (every signed-in user); awards,
agreements, orders, deliveries and receipts are scoped to the caller's organisation.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from drf_spectacular.utils import extend_schema

from interchange.api.filters import BOOL, CHOICE, DATE, REGION, ListFilter
from interchange.api.viewsets import KeyField, ScopedReadOnlyViewSet
from parties import scoping
from procurement.api.serializers import (
    AgreementSerializer,
    AwardSerializer,
    DeliveryLineSerializer,
    OrderLineSerializer,
    ProductSerializer,
    ReceiptReadSerializer,
    RoundSerializer,
)
from procurement.models import Agreement, Award, Category, DeliveryLine, OrderLine, Product, Round, RoundLevel

TAG_CATALOGUE = "catalogue / 目录与批次"
TAG_DOCUMENTS = "purchase documents / 采购单据"

HOSPITAL = ListFilter("hospital", "hospital_id", help="医疗机构编码 / hospital code")
DISTRIBUTOR = ListFilter("distributor", "distributor_id", help="配送企业统一社会信用代码 / distributor credit code")
PRODUCT = ListFilter("product", "product_id", help="医保编码 / product code")
ROUND = ListFilter("round", "round__code", help="批次编码 / round code")


def _contains(*paths):
    def q(value):
        out = Q()
        for p in paths:
            out |= Q(**{f"{p}__icontains": value})
        return out

    return q


def _active_on(value: dt.date) -> Q:
    return Q(start_date__lte=value, end_date__gte=value)


def _covers_region(value: str) -> Q:
    codes = scoping.covering_region_codes(value, include_self=True)
    return Q(supply_region_id__in=codes)


@extend_schema(tags=[TAG_CATALOGUE])
class ProductViewSet(ScopedReadOnlyViewSet):
    """药品和医用耗材目录 / products."""

    queryset = Product.objects.select_related("manufacturer").only(
        "code",
        "category",
        "generic_name",
        "dosage_form",
        "specification",
        "package",
        "units_per_package",
        "manufacturer__credit_code",
        "manufacturer__name",
    )
    serializer_class = ProductSerializer
    key_fields = (KeyField("product_code", "code", help="医保编码 / product code"),)
    list_filters = (
        ListFilter("category", "category", kind=CHOICE, choices=tuple(Category.values), help="类别 / category"),
        ListFilter("manufacturer", "manufacturer_id", help="生产企业统一社会信用代码 / manufacturer credit code"),
        ListFilter("q", q=_contains("generic_name", "code"), help="通用名或编码包含 / name or code contains"),
    )
    ordering = ("code",)


@extend_schema(tags=[TAG_CATALOGUE])
class RoundViewSet(ScopedReadOnlyViewSet):
    """集采批次 / procurement rounds."""

    queryset = Round.objects.all()
    serializer_class = RoundSerializer
    key_fields = (KeyField("round_code", "code", help="批次编码 / round code"),)
    list_filters = (
        ListFilter("level", "level", kind=CHOICE, choices=tuple(RoundLevel.values), help="层级 / level"),
        ListFilter("category", "category", kind=CHOICE, choices=tuple(Category.values), help="类别 / category"),
        ListFilter("active_on", kind=DATE, q=_active_on, help="协议期包含该日 / agreement period contains this date"),
    )
    ordering = ("start_date", "code")


@extend_schema(tags=[TAG_CATALOGUE])
class AwardViewSet(ScopedReadOnlyViewSet):
    """中选结果 / awards. Enterprises see their own, hospitals those covering them, bureaus their region's."""

    queryset = Award.objects.select_related("round", "product", "enterprise").only(
        "id",
        "round__code",
        "product__code",
        "product__generic_name",
        "enterprise__credit_code",
        "enterprise__name",
        "supply_region_id",
        "award_price",
    )
    serializer_class = AwardSerializer
    scope_paths = scoping.AWARD
    key_fields = (
        KeyField("round_code", "round__code", help="批次编码 / round code"),
        KeyField("product_code", "product_id", help="医保编码 / product code"),
        KeyField("supply_region_code", "supply_region_id", help="供应地区 / supply region code"),
    )
    list_filters = (
        ROUND,
        PRODUCT,
        ListFilter("enterprise", "enterprise_id", help="中选企业统一社会信用代码 / winning enterprise"),
        ListFilter("supply_region", "supply_region_id", help="供应地区(精确) / supply region (exact)"),
        ListFilter(
            "covers",
            kind=REGION,
            q=_covers_region,
            help="覆盖该区划的中选结果 / awards whose supply region covers this region",
        ),
    )
    ordering = ("round_id", "product_id", "supply_region_id")  # the natural key's unique index


@extend_schema(tags=[TAG_CATALOGUE])
class AgreementViewSet(ScopedReadOnlyViewSet):
    """带量采购协议(约定采购量) / agreements."""

    queryset = Agreement.objects.select_related("round", "hospital", "product").only(
        "id",
        "round__code",
        "hospital__code",
        "hospital__name",
        "product__code",
        "product__generic_name",
        "year_start",
        "year_end",
        "agreed_qty",
    )
    serializer_class = AgreementSerializer
    scope_paths = scoping.AGREEMENT
    key_fields = (
        KeyField("round_code", "round__code", help="批次编码 / round code"),
        KeyField("hospital_code", "hospital_id", help="医疗机构编码 / hospital code"),
        KeyField("product_code", "product_id", help="医保编码 / product code"),
        KeyField("year_start", type=dt.date, help="协议年度开始 / year start (YYYY-MM-DD)"),
    )
    list_filters = (
        ROUND,
        HOSPITAL,
        PRODUCT,
        ListFilter("year_start", "year_start", kind=DATE, help="协议年度开始 / year start"),
        ListFilter("region", "hospital__region", kind=REGION, help="医院所在统筹区 / hospital region"),
    )
    ordering = ("round_id", "hospital_id", "product_id", "year_start")  # the natural key's unique index


_ORDER_ONLY = (
    "id",
    "order_no",
    "line_no",
    "hospital__code",
    "hospital__name",
    "distributor__credit_code",
    "distributor__name",
    "product__code",
    "product__generic_name",
    "qty",
    "unit_price",
    "ordered_at",
    "order_date",
)


@extend_schema(tags=[TAG_DOCUMENTS])
class OrderLineViewSet(ScopedReadOnlyViewSet):
    """采购订单明细 / order lines. Detail: `/orders/{order_no}/{line_no}/`."""

    queryset = OrderLine.objects.select_related("hospital", "distributor", "product").only(*_ORDER_ONLY)
    serializer_class = OrderLineSerializer
    scope_paths = scoping.ORDER_LINE
    key_fields = (
        KeyField("order_no", help="订单编号 / order no"),
        KeyField("line_no", type=int, help="订单明细号 / line no"),
    )
    list_filters = (
        HOSPITAL,
        DISTRIBUTOR,
        PRODUCT,
        ListFilter("order_no", "order_no", help="订单编号 / order no"),
        ListFilter("region", "hospital__region", kind=REGION, help="医院所在统筹区 / hospital region"),
        ListFilter("date_from", "order_date", kind=DATE, lookup="gte", help="下单日期起 / order date from (inclusive)"),
        ListFilter("date_to", "order_date", kind=DATE, lookup="lte", help="下单日期止 / order date to (inclusive)"),
    )
    ordering = ("order_no", "line_no")


_DELIVERY_ONLY = (
    "id",
    "delivery_no",
    "line_no",
    "qty",
    "batch_no",
    "expiry_date",
    "delivered_at",
    "delivery_date",
    "accepted_qty",
    "rejected_qty",
    "received_at",
    "accepted_date",
    "reject_reason",
    "order_line__order_no",
    "order_line__line_no",
    "order_line__hospital__code",
    "order_line__hospital__name",
    "order_line__distributor__credit_code",
    "order_line__distributor__name",
    "order_line__product__code",
    "order_line__product__generic_name",
)
_DELIVERY_RELATED = ("order_line__hospital", "order_line__distributor", "order_line__product")
_DELIVERY_FILTERS = (
    ListFilter("hospital", "order_line__hospital_id", help="医疗机构编码 / hospital code"),
    ListFilter("distributor", "order_line__distributor_id", help="配送企业统一社会信用代码 / distributor credit code"),
    ListFilter("product", "order_line__product_id", help="医保编码 / product code"),
    ListFilter("delivery_no", "delivery_no", help="配送单号 / delivery no"),
    ListFilter("order_no", "order_line__order_no", help="订单编号 / order no"),
    ListFilter("region", "order_line__hospital__region", kind=REGION, help="医院所在统筹区 / hospital region"),
)
_DELIVERY_KEY = (
    KeyField("delivery_no", help="配送单号 / delivery no"),
    KeyField("line_no", type=int, help="配送明细号 / line no"),
)


@extend_schema(tags=[TAG_DOCUMENTS])
class DeliveryLineViewSet(ScopedReadOnlyViewSet):
    """配送单明细(含验收字段) / delivery lines with their receipt fields. Detail: `/deliveries/{delivery_no}/{line_no}/`."""

    queryset = DeliveryLine.objects.select_related(*_DELIVERY_RELATED).only(*_DELIVERY_ONLY)
    serializer_class = DeliveryLineSerializer
    scope_paths = scoping.DELIVERY_LINE
    key_fields = _DELIVERY_KEY
    list_filters = (
        *_DELIVERY_FILTERS,
        ListFilter("received", "received_at", kind=BOOL, lookup="isnull", help="是否已验收 / received or not"),
        ListFilter("date_from", "delivery_date", kind=DATE, lookup="gte", help="配送日期起 / delivery date from"),
        ListFilter("date_to", "delivery_date", kind=DATE, lookup="lte", help="配送日期止 / delivery date to"),
    )
    ordering = ("delivery_no", "line_no")


@extend_schema(tags=[TAG_DOCUMENTS])
class ReceiptViewSet(ScopedReadOnlyViewSet):
    """验收入库 / receipts: delivery lines the hospital has confirmed. Detail: `/receipts/{delivery_no}/{line_no}/`."""

    queryset = (
        DeliveryLine.objects.filter(received_at__isnull=False).select_related(*_DELIVERY_RELATED).only(*_DELIVERY_ONLY)
    )
    serializer_class = ReceiptReadSerializer
    scope_paths = scoping.DELIVERY_LINE
    key_fields = _DELIVERY_KEY
    list_filters = (
        *_DELIVERY_FILTERS,
        ListFilter(
            "rejected",
            q=lambda v: Q(rejected_qty__gt=0) if v else Q(rejected_qty=0),
            kind=BOOL,
            help="有拒收 / some rejected",
        ),
        ListFilter("date_from", "accepted_date", kind=DATE, lookup="gte", help="验收日期起 / acceptance date from"),
        ListFilter("date_to", "accepted_date", kind=DATE, lookup="lte", help="验收日期止 / acceptance date to"),
    )
    ordering = ("delivery_no", "line_no")
