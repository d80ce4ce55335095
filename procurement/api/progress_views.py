"""GET /api/v1/agreements/progress/: agreement progress (DOMAIN.md "Agreement progress"), scoped."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from interchange.api.pagination import StandardPagination
from procurement.selectors.progress import agreement_progress

MSG_BAD_AS_OF = "as_of 须为 YYYY-MM-DD / as_of must be YYYY-MM-DD"
MSG_BAD_ORDER = "order 须为 key 或 lag / order must be key or lag"


class ProgressRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    round_code = serializers.CharField()
    hospital_code = serializers.CharField()
    hospital_name = serializers.CharField()
    product_code = serializers.CharField()
    product_name = serializers.CharField()
    year_start = serializers.DateField()
    year_end = serializers.DateField()
    agreed_qty = serializers.IntegerField()
    purchased_qty = serializers.IntegerField()
    completion_rate = serializers.DecimalField(max_digits=12, decimal_places=4)
    expected_rate = serializers.DecimalField(max_digits=6, decimal_places=4)
    lag = serializers.DecimalField(max_digits=12, decimal_places=4)
    status = serializers.CharField()


def _error(detail: str, field: str) -> Response:
    return Response({"code": "invalid", "detail": detail, "fields": {field: [detail]}}, status=400)


def parse_as_of(value: str | None) -> dt.date:
    if not value:
        return timezone.localdate()
    return dt.date.fromisoformat(value)


@extend_schema(
    parameters=[
        OpenApiParameter("as_of", OpenApiTypes.DATE, required=False, description="D (default today, Asia/Shanghai)"),
        OpenApiParameter("hospital", OpenApiTypes.STR, required=False),
        OpenApiParameter("product", OpenApiTypes.STR, required=False),
        OpenApiParameter("round", OpenApiTypes.STR, required=False),
        OpenApiParameter("region", OpenApiTypes.STR, required=False),
        OpenApiParameter("status", OpenApiTypes.STR, required=False, enum=["completed", "on_track", "behind"]),
        OpenApiParameter(
            "current", OpenApiTypes.BOOL, required=False, description="only agreement years containing as_of"
        ),
        OpenApiParameter("order", OpenApiTypes.STR, required=False, enum=["key", "lag"]),
    ],
    responses=ProgressRowSerializer(many=True),
    summary="约定采购量完成进度 / agreement progress",
)
class AgreementProgressView(APIView):
    pagination_class = StandardPagination

    def get(self, request):
        q = request.query_params
        try:
            as_of = parse_as_of(q.get("as_of"))
        except ValueError:
            return _error(MSG_BAD_AS_OF, "as_of")
        order = q.get("order") or "key"
        if order not in ("key", "lag"):
            return _error(MSG_BAD_ORDER, "order")
        try:
            rows = agreement_progress(
                request.user,
                as_of=as_of,
                status=q.get("status") or None,
                order=order,
                hospital=q.get("hospital") or None,
                product=q.get("product") or None,
                round_code=q.get("round") or None,
                region=q.get("region") or None,
                current_only=q.get("current") in ("1", "true", "True"),
            )
        except ValueError as exc:
            return _error(str(exc), "status")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(ProgressRowSerializer(page, many=True).data)
