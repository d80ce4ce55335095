"""Read endpoint of reference prices (参考价格), scoped to the bureau's region (inside or covering)."""

from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from interchange.api.filters import CHOICE, DATE, ListFilter
from interchange.api.viewsets import KeyField, ScopedReadOnlyViewSet
from parties import scoping
from price_monitor.models import PriceSource, ReferencePrice


class ReferencePriceSerializer(serializers.ModelSerializer):
    key = serializers.SerializerMethodField()
    product_code = serializers.CharField(source="product_id")
    product_name = serializers.CharField(source="product.generic_name")
    region_code = serializers.CharField(source="region_id")

    class Meta:
        model = ReferencePrice
        fields = ["key", "product_code", "product_name", "source", "region_code", "price", "effective_from"]

    def get_key(self, obj) -> str:
        """product_code/source/region_code/effective_from"""
        return f"{obj.product_id}/{obj.source}/{obj.region_id}/{obj.effective_from.isoformat()}"


@extend_schema(tags=["prices / 价格"])
class ReferencePriceViewSet(ScopedReadOnlyViewSet):
    """参考价格 / reference prices. Detail: `/reference-prices/{product_code}/{source}/{region_code}/{effective_from}/`."""

    queryset = ReferencePrice.objects.select_related("product").only(
        "id", "product__code", "product__generic_name", "source", "region_id", "price", "effective_from"
    )
    serializer_class = ReferencePriceSerializer
    scope_paths = scoping.REFERENCE_PRICE
    key_fields = (
        KeyField("product_code", "product_id", help="医保编码 / product code"),
        KeyField("source", help="来源 / source"),
        KeyField("region_code", "region_id", help="地区 / region code"),
        KeyField("effective_from", type=dt.date, help="生效日期 / effective from (YYYY-MM-DD)"),
    )
    list_filters = (
        ListFilter("product", "product_id", help="医保编码 / product code"),
        ListFilter("source", "source", kind=CHOICE, choices=tuple(PriceSource.values), help="来源 / source"),
        ListFilter("region", "region_id", help="地区(精确) / region (exact)"),
        ListFilter("date_from", "effective_from", kind=DATE, lookup="gte", help="生效日期起 / effective from, from"),
        ListFilter("date_to", "effective_from", kind=DATE, lookup="lte", help="生效日期止 / effective from, to"),
    )
    ordering = ("product_id", "source", "region_id", "effective_from")
