"""POST /api/v1/receipts/: a hospital confirms receipt of a delivery line, or accepts a
whole delivery (INTERFACES.md). Parse, check the role, call one service, render."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from interchange.api.idempotency import idempotent
from parties.api.permissions import role_permission
from parties.models import Role
from procurement.models import DeliveryLine
from procurement.services.receipts import (
    CODE_NOT_FOUND,
    MSG_NOT_FOUND,
    ReceiptError,
    delivery_accept_all,
    receipt_confirm,
)

MSG_LINE_REQUIRED = "请给出配送明细号与数量，或 accept_all / give line_no and quantities, or accept_all"


class ReceiptInputSerializer(serializers.Serializer):
    delivery_no = serializers.CharField(max_length=40, help_text="配送单号 / delivery no")
    line_no = serializers.IntegerField(min_value=1, required=False, help_text="配送明细号 / line no")
    accepted_qty = serializers.IntegerField(required=False, help_text="验收合格数量 / accepted")
    rejected_qty = serializers.IntegerField(required=False, help_text="拒收数量 / rejected")
    reject_reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    received_at = serializers.DateTimeField(required=False, help_text="验收时间 / received at (default now)")
    accept_all = serializers.BooleanField(required=False, default=False, help_text="整单全部验收 / accept every line")

    def validate(self, attrs):
        if not attrs.get("accept_all"):
            missing = [f for f in ("line_no", "accepted_qty", "rejected_qty") if attrs.get(f) is None]
            if missing:
                raise serializers.ValidationError({f: [MSG_LINE_REQUIRED] for f in missing})
        return attrs


class ReceiptSerializer(serializers.ModelSerializer):
    created = serializers.BooleanField(read_only=True)

    class Meta:
        model = DeliveryLine
        fields = [
            "delivery_no",
            "line_no",
            "qty",
            "accepted_qty",
            "rejected_qty",
            "reject_reason",
            "received_at",
            "accepted_date",
            "created",
        ]


def _render(outcome) -> dict:
    line = outcome.line
    line.created = outcome.created
    return ReceiptSerializer(line).data


def _error(exc: ReceiptError) -> Response:
    return Response({"code": exc.code, "detail": exc.message, "fields": exc.fields}, status=exc.status)


class ReceiptCreateView(APIView):
    """验收入库 / confirm receipt. Another hospital's delivery answers 404."""

    permission_classes = [IsAuthenticated, role_permission(Role.HOSPITAL)]

    @extend_schema(tags=["receipts / 验收"], request=ReceiptInputSerializer, responses={201: ReceiptSerializer})
    @idempotent
    def post(self, request):
        data = ReceiptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            if v["accept_all"]:
                outcomes = delivery_accept_all(
                    delivery_no=v["delivery_no"], user=request.user, received_at=v.get("received_at")
                )
                created = any(o.created for o in outcomes)
                body = {"delivery_no": v["delivery_no"], "receipts": [_render(o) for o in outcomes]}
            else:
                line_id = (
                    DeliveryLine.objects.filter(delivery_no=v["delivery_no"], line_no=v["line_no"])
                    .values_list("id", flat=True)
                    .first()
                )
                if line_id is None:
                    raise ReceiptError(CODE_NOT_FOUND, MSG_NOT_FOUND, status=404)
                outcome = receipt_confirm(
                    delivery_line_id=line_id,
                    accepted_qty=v["accepted_qty"],
                    rejected_qty=v["rejected_qty"],
                    reject_reason=v.get("reject_reason", ""),
                    received_at=v.get("received_at"),
                    user=request.user,
                )
                created = outcome.created
                body = _render(outcome)
        except ReceiptError as exc:
            return _error(exc)
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
