"""Price monitoring API: index, bulk review, credit records, product history, monthly report.

Views parse, check the role, read through the scoped selectors (another party's region,
alert or enterprise answers 404) and call one service. Money as decimal strings.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from interchange.api.idempotency import idempotent
from interchange.api.pagination import StandardPagination
from parties.api.permissions import role_permission
from parties.models import Role
from parties.scoping import MSG_NOT_FOUND
from price_monitor.periods import PERIOD_RE, period_of, period_shift
from price_monitor.selectors import alerts as alert_selectors
from price_monitor.selectors.history import price_history
from price_monitor.selectors.regions import region_or_404
from price_monitor.services.index import CATEGORIES, price_index_series
from price_monitor.services.report import price_report_build
from price_monitor.services.review import DECISIONS, REVIEW_MAX_ALERTS, ReviewError, price_alerts_review
from procurement.models import Product

ANALYST = role_permission(Role.PRICE_ANALYST, Role.ADMIN)
CREDIT = role_permission(Role.PRICE_ANALYST, Role.ADMIN, Role.ENTERPRISE)
MSG_BAD_CATEGORY = "类别须为 drug 或 consumable / category must be drug or consumable"
MSG_BAD_PERIOD = "月份格式须为 YYYY-MM / period must be YYYY-MM"


def _this_month() -> str:
    from django.utils import timezone

    return period_of(timezone.localdate())


def _period(value: str | None, *, field: str, default: str | None) -> str | None:
    if not value:
        return default
    if not PERIOD_RE.match(value):
        raise serializers.ValidationError({field: [MSG_BAD_PERIOD]})
    return value


# --------------------------------------------------------------------------- index


class IndexPointSerializer(serializers.Serializer):
    period = serializers.CharField()
    value = serializers.DecimalField(max_digits=12, decimal_places=4)
    items = serializers.IntegerField()
    basket_items = serializers.IntegerField()
    coverage = serializers.DecimalField(max_digits=6, decimal_places=4)


class IndexSerializer(serializers.Serializer):
    region = serializers.CharField()
    category = serializers.CharField()
    base_period = serializers.CharField(allow_blank=True)
    series = IndexPointSerializer(many=True)


class PriceIndexView(APIView):
    permission_classes = [IsAuthenticated, ANALYST]

    @extend_schema(
        summary="价格指数 / price index",
        description=(
            "某地区、某类别的月度固定篮子（拉氏）交易价格指数，基期 = 100。 / Monthly fixed-basket (Laspeyres) "
            "index of transaction prices for a region and category; base month = 100 (default: first month with data)."
        ),
        parameters=[
            OpenApiParameter("region", OpenApiTypes.STR, description="区划代码 / region code (default: yours)"),
            OpenApiParameter("category", OpenApiTypes.STR, enum=list(CATEGORIES), description="默认 drug"),
            OpenApiParameter("base", OpenApiTypes.STR, description="基期 YYYY-MM / base month"),
        ],
        responses=IndexSerializer,
    )
    def get(self, request):
        category = request.query_params.get("category") or "drug"
        if category not in CATEGORIES:
            raise serializers.ValidationError({"category": [MSG_BAD_CATEGORY]})
        base = _period(request.query_params.get("base"), field="base", default=None)
        region = region_or_404(request.user, request.query_params.get("region"), request=request)
        series = price_index_series(region_code=region.code, category=category, base_period=base)
        body = {
            "region": region.code,
            "category": category,
            "base_period": base or (series[0].period if series else ""),
            "series": [p.__dict__ for p in series],
        }
        return Response(IndexSerializer(body).data)


# --------------------------------------------------------------------------- review


class ReviewSerializer(serializers.Serializer):
    alert_nos = serializers.ListField(
        child=serializers.CharField(max_length=20), min_length=1, max_length=REVIEW_MAX_ALERTS
    )
    decision = serializers.ChoiceField(choices=sorted(DECISIONS))
    reason = serializers.CharField(allow_blank=True, max_length=2000)


class ReviewResultSerializer(serializers.Serializer):
    decision = serializers.CharField()
    alert_nos = serializers.ListField(child=serializers.CharField())
    changed = serializers.IntegerField()


class PriceAlertReviewView(APIView):
    permission_classes = [IsAuthenticated, ANALYST]

    @extend_schema(
        summary="批量确认或排除价格预警 / confirm or dismiss price alerts in bulk",
        description=(
            "全部成功或全部不变；原因必填；重复提交同一结论不产生变化。 / All or nothing; a reason is required; "
            "repeating a verdict changes nothing. Accepts `Idempotency-Key`."
        ),
        request=ReviewSerializer,
        responses={
            200: ReviewResultSerializer,
            400: OpenApiResponse(description="reason_required / invalid_transition / invalid"),
            404: OpenApiResponse(description="预警不存在或不在本辖区 / unknown or another region's alert"),
        },
    )
    @idempotent
    def post(self, request):
        s = ReviewSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        nos = alert_selectors.price_alerts_or_404(request.user, s.validated_data["alert_nos"], request=request)
        try:
            result = price_alerts_review(
                alert_nos=nos,
                decision=s.validated_data["decision"],
                reason=s.validated_data["reason"],
                user=request.user,
            )
        except ReviewError as exc:
            return Response(
                {
                    "code": exc.code,
                    "detail": exc.message,
                    "fields": {"reason": [exc.message]} if exc.code == "reason_required" else {},
                },
                status=status.HTTP_404_NOT_FOUND if exc.code == "not_found" else status.HTTP_400_BAD_REQUEST,
            )
        return Response(
            ReviewResultSerializer(
                {"decision": result.decision, "alert_nos": list(result.alert_nos), "changed": result.changed}
            ).data
        )


# --------------------------------------------------------------------------- credit record


class CreditSummarySerializer(serializers.Serializer):
    enterprise_code = serializers.CharField()
    enterprise_name = serializers.CharField()
    level = serializers.CharField()
    level_label = serializers.CharField()
    confirmed = serializers.IntegerField()
    by_severity = serializers.DictField(child=serializers.IntegerField())
    by_kind = serializers.DictField(child=serializers.IntegerField())
    last_confirmed_period = serializers.CharField(allow_blank=True)


class CreditAlertSerializer(serializers.Serializer):
    alert_no = serializers.CharField()
    kind = serializers.CharField()
    severity = serializers.CharField()
    period = serializers.CharField(allow_blank=True)
    subject_type = serializers.CharField()
    subject_key = serializers.CharField()
    region_code = serializers.CharField()
    hospital_code = serializers.CharField(allow_blank=True)
    value = serializers.DecimalField(max_digits=20, decimal_places=4, allow_null=True)
    threshold = serializers.DecimalField(max_digits=20, decimal_places=4, allow_null=True)
    message = serializers.CharField(allow_blank=True)
    evidence = serializers.JSONField()


class CreditListView(APIView):
    permission_classes = [IsAuthenticated, CREDIT]

    @extend_schema(
        summary="医药价格和招采信用评价 / price-and-procurement credit records",
        description=(
            "由已确认价格预警构成的企业信用记录：分析员看本辖区，企业只看自己。 / Enterprises' records made of "
            "confirmed price alerts; analysts see their region, an enterprise only itself."
        ),
        responses=CreditSummarySerializer(many=True),
    )
    def get(self, request):
        summaries = alert_selectors.credit_summaries(request.user)
        page = StandardPagination()
        items = page.paginate_queryset(summaries, request, view=self)
        return page.get_paginated_response(CreditSummarySerializer(_summaries(items), many=True).data)


def _summaries(items):
    return [{**s.__dict__, "level_label": str(s.level_label)} for s in items]


class CreditDetailView(APIView):
    permission_classes = [IsAuthenticated, CREDIT]

    @extend_schema(
        summary="一家企业的信用记录 / one enterprise's credit record",
        responses={200: CreditSummarySerializer, 404: OpenApiResponse(description="not_found")},
    )
    def get(self, request, credit_code: str):
        summary, alerts = alert_selectors.credit_record(request.user, enterprise_code=credit_code)
        if summary is None:
            raise NotFound(MSG_NOT_FOUND)
        page = StandardPagination()
        items = page.paginate_queryset(alerts, request, view=self)
        response = page.get_paginated_response(CreditAlertSerializer(items, many=True).data)
        response.data = {"enterprise": CreditSummarySerializer(_summaries([summary])[0]).data, **response.data}
        return response


# --------------------------------------------------------------------------- product history


class MonthStatsSerializer(serializers.Serializer):
    period = serializers.CharField()
    lines = serializers.IntegerField()
    low = serializers.DecimalField(max_digits=14, decimal_places=4)
    q1 = serializers.DecimalField(max_digits=14, decimal_places=4)
    median = serializers.DecimalField(max_digits=14, decimal_places=4)
    q3 = serializers.DecimalField(max_digits=14, decimal_places=4)
    high = serializers.DecimalField(max_digits=14, decimal_places=4)


class ProductHistoryView(APIView):
    permission_classes = [IsAuthenticated, ANALYST]

    @extend_schema(
        summary="产品价格走势 / a product's price history",
        description=(
            "每月交易价（最低/四分位/中位/最高）与月末有效的中选价、挂网价和参考价。 / Monthly order prices "
            "(min, quartiles, median, max) and the award, listing and reference prices in force at each month end."
        ),
        parameters=[
            OpenApiParameter("region", OpenApiTypes.STR),
            OpenApiParameter("period", OpenApiTypes.STR, description="最后一个月 / last month (YYYY-MM)"),
            OpenApiParameter("months", OpenApiTypes.INT, description="1–36, 默认 12"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, product_code: str):
        if not Product.objects.filter(code=product_code).exists():
            raise NotFound(MSG_NOT_FOUND)
        region = region_or_404(request.user, request.query_params.get("region"), request=request)
        last = _period(request.query_params.get("period"), field="period", default=_this_month())
        try:
            months = min(max(int(request.query_params.get("months", 12)), 1), 36)
        except ValueError:
            raise serializers.ValidationError({"months": ["1–36"]}) from None
        h = price_history(product_code=product_code, region_code=region.code, last_period=last, months=months)
        money = serializers.DecimalField(max_digits=14, decimal_places=4)
        return Response(
            {
                "product_code": product_code,
                "region": region.code,
                "periods": h.periods,
                "transactions": MonthStatsSerializer([h.stats[p] for p in h.periods if p in h.stats], many=True).data,
                "award": {p: money.to_representation(v) for p, v in h.award.items()},
                "references": {
                    s: {p: money.to_representation(v) for p, v in vals.items()} for s, vals in h.references.items()
                },
            }
        )


# --------------------------------------------------------------------------- report


class PriceReportView(APIView):
    permission_classes = [IsAuthenticated, ANALYST]

    @extend_schema(
        summary="月度价格监测报告 / monthly price monitoring report (XLSX)",
        parameters=[
            OpenApiParameter("region", OpenApiTypes.STR),
            OpenApiParameter("period", OpenApiTypes.STR, description="YYYY-MM, 默认上月 / default last month"),
        ],
        responses={(200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiTypes.BINARY},
    )
    def get(self, request):
        region = region_or_404(request.user, request.query_params.get("region"), request=request)
        period = _period(request.query_params.get("period"), field="period", default=period_shift(_this_month(), -1))
        report = price_report_build(region_code=region.code, period=period)
        response = HttpResponse(report.content, content_type=report.content_type)
        response["Content-Disposition"] = f'attachment; filename="{report.filename}"'
        return response
