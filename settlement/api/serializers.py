"""Read serializers of settlement's input tables (INTERCHANGE.md columns, money as strings)."""

from __future__ import annotations

from rest_framework import serializers

from settlement.models import FundAllocation, InvoiceLine


class InvoiceLineSerializer(serializers.ModelSerializer):
    key = serializers.SerializerMethodField()
    invoice_display_no = serializers.CharField(
        source="display_no", read_only=True, help_text="全电: invoice_no; 纸质 / paper: invoice_code-invoice_no"
    )
    distributor_credit_code = serializers.CharField(source="distributor_id")
    distributor_name = serializers.CharField(source="distributor.name")
    hospital_code = serializers.CharField(source="hospital_id")
    hospital_name = serializers.CharField(source="hospital.name")
    product_code = serializers.SerializerMethodField()
    statement_no = serializers.SerializerMethodField()

    class Meta:
        model = InvoiceLine
        fields = [
            "key",
            "invoice_display_no",
            "invoice_code",
            "invoice_no",
            "line_no",
            "kind",
            "original_invoice_code",
            "original_invoice_no",
            "distributor_credit_code",
            "distributor_name",
            "hospital_code",
            "hospital_name",
            "delivery_no",
            "delivery_line_no",
            "product_code",
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
            "statement_no",
            "dispute_reason",
        ]

    def get_key(self, obj) -> str:
        """invoice_display_no/line_no, as in the detail URL"""
        return f"{obj.display_no}/{obj.line_no}"

    def get_product_code(self, obj) -> str | None:
        """医保编码 (空: 无配送记录) / product code (null for a NO_DELIVERY line)"""
        return obj.delivery_line.order_line.product_id if obj.delivery_line_id else None

    def get_statement_no(self, obj) -> str | None:
        return obj.statement.no if obj.statement_id else None


class FundAllocationSerializer(serializers.ModelSerializer):
    key = serializers.SerializerMethodField()
    hospital_code = serializers.CharField(source="hospital_id")
    hospital_name = serializers.CharField(source="hospital.name")

    class Meta:
        model = FundAllocation
        fields = ["key", "hospital_code", "hospital_name", "period", "amount"]

    def get_key(self, obj) -> str:
        """hospital_code/period"""
        return f"{obj.hospital_id}/{obj.period}"
