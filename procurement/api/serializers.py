"""Read serializers of procurement: field names are the INTERCHANGE.md columns, money as
decimal strings, timestamps ISO 8601 in Asia/Shanghai, plus a ``key`` (the natural key
as it appears in the detail URL) and a few names for display."""

from __future__ import annotations

from rest_framework import serializers

from procurement.models import Agreement, Award, DeliveryLine, OrderLine, Product, Round


class ProductSerializer(serializers.ModelSerializer):
    product_code = serializers.CharField(source="code")
    manufacturer_credit_code = serializers.CharField(source="manufacturer_id")
    manufacturer_name = serializers.CharField(source="manufacturer.name")

    class Meta:
        model = Product
        fields = [
            "product_code",
            "category",
            "generic_name",
            "dosage_form",
            "specification",
            "package",
            "units_per_package",
            "manufacturer_credit_code",
            "manufacturer_name",
        ]


class RoundSerializer(serializers.ModelSerializer):
    round_code = serializers.CharField(source="code")

    class Meta:
        model = Round
        fields = ["round_code", "name", "level", "category", "start_date", "end_date"]


class AwardSerializer(serializers.ModelSerializer):
    key = serializers.SerializerMethodField()
    round_code = serializers.CharField(source="round.code")
    product_code = serializers.CharField(source="product_id")
    product_name = serializers.CharField(source="product.generic_name")
    enterprise_credit_code = serializers.CharField(source="enterprise_id")
    enterprise_name = serializers.CharField(source="enterprise.name")
    supply_region_code = serializers.CharField(source="supply_region_id")

    class Meta:
        model = Award
        fields = [
            "key",
            "round_code",
            "product_code",
            "product_name",
            "enterprise_credit_code",
            "enterprise_name",
            "supply_region_code",
            "award_price",
        ]

    def get_key(self, obj) -> str:
        """round_code/product_code/supply_region_code"""
        return f"{obj.round.code}/{obj.product_id}/{obj.supply_region_id}"


class AgreementSerializer(serializers.ModelSerializer):
    key = serializers.SerializerMethodField()
    round_code = serializers.CharField(source="round.code")
    hospital_code = serializers.CharField(source="hospital_id")
    hospital_name = serializers.CharField(source="hospital.name")
    product_code = serializers.CharField(source="product_id")
    product_name = serializers.CharField(source="product.generic_name")

    class Meta:
        model = Agreement
        fields = [
            "key",
            "round_code",
            "hospital_code",
            "hospital_name",
            "product_code",
            "product_name",
            "year_start",
            "year_end",
            "agreed_qty",
        ]

    def get_key(self, obj) -> str:
        """round_code/hospital_code/product_code/year_start"""
        return f"{obj.round.code}/{obj.hospital_id}/{obj.product_id}/{obj.year_start.isoformat()}"


class OrderLineSerializer(serializers.ModelSerializer):
    key = serializers.CharField(read_only=True, help_text="order_no/line_no")
    hospital_code = serializers.CharField(source="hospital_id")
    hospital_name = serializers.CharField(source="hospital.name")
    distributor_credit_code = serializers.CharField(source="distributor_id")
    distributor_name = serializers.CharField(source="distributor.name")
    product_code = serializers.CharField(source="product_id")
    product_name = serializers.CharField(source="product.generic_name")

    class Meta:
        model = OrderLine
        fields = [
            "key",
            "order_no",
            "line_no",
            "hospital_code",
            "hospital_name",
            "distributor_credit_code",
            "distributor_name",
            "product_code",
            "product_name",
            "qty",
            "unit_price",
            "ordered_at",
            "order_date",
        ]


class _DeliveryLineBase(serializers.ModelSerializer):
    """A delivery line with its order line's key and parties (deliveries and receipts)."""

    key = serializers.CharField(read_only=True, help_text="delivery_no/line_no")
    order_no = serializers.CharField(source="order_line.order_no")
    order_line_no = serializers.IntegerField(source="order_line.line_no")
    hospital_code = serializers.CharField(source="order_line.hospital_id")
    hospital_name = serializers.CharField(source="order_line.hospital.name")
    distributor_credit_code = serializers.CharField(source="order_line.distributor_id")
    distributor_name = serializers.CharField(source="order_line.distributor.name")
    product_code = serializers.CharField(source="order_line.product_id")
    product_name = serializers.CharField(source="order_line.product.generic_name")


_DELIVERY_LINE_FIELDS = [
    "key",
    "delivery_no",
    "line_no",
    "order_no",
    "order_line_no",
    "hospital_code",
    "hospital_name",
    "distributor_credit_code",
    "distributor_name",
    "product_code",
    "product_name",
]


class DeliveryLineSerializer(_DeliveryLineBase):
    is_received = serializers.BooleanField(read_only=True)

    class Meta:
        model = DeliveryLine
        fields = [
            *_DELIVERY_LINE_FIELDS,
            "qty",
            "batch_no",
            "expiry_date",
            "delivered_at",
            "delivery_date",
            "is_received",
            "accepted_qty",
            "rejected_qty",
            "received_at",
            "accepted_date",
            "reject_reason",
        ]


class ReceiptReadSerializer(_DeliveryLineBase):
    """A delivery line that the hospital has confirmed (验收入库), as the receipts table."""

    delivered_qty = serializers.IntegerField(source="qty")
    accepted_qty = serializers.IntegerField()
    rejected_qty = serializers.IntegerField()
    received_at = serializers.DateTimeField()
    accepted_date = serializers.DateField()

    class Meta:
        model = DeliveryLine
        fields = [
            *_DELIVERY_LINE_FIELDS,
            "delivered_qty",
            "accepted_qty",
            "rejected_qty",
            "received_at",
            "accepted_date",
            "reject_reason",
        ]
