"""Statements (对账单) and line stages over the API (INTERFACES.md):

- GET  /statements/ (scoped; ?period=&status=&hospital=), GET /statements/{no}/ with lines
- POST /statements/{no}/confirm/, POST /statements/{no}/dispute/ (hospital users, @idempotent)
- GET  /lines/?hospital=&stage=&period= (where each invoice line is and who holds it)

Views parse, check the role, call one service and render; another party's statement is 404.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from interchange.api.idempotency import idempotent
from interchange.api.pagination import StandardPagination
from parties.api.permissions import role_permission
from parties.models import Role
from settlement.models import Statement
from settlement.selectors.lines import (
    Holder,
    LineFilters,
    LineStage,
    StagedLineRows,
    invoice_lines_with_stage,
    line_key,
)
from settlement.selectors.statements import statement_lines, statements_visible, statements_with_totals
from settlement.services.statements import (
    CODE_NOT_FOUND,
    MSG_NOT_FOUND,
    StatementError,
    statement_confirm,
    statement_dispute,
)

TAG = "statements / 对账单"


def _error(exc: StatementError) -> Response:
    return Response({"code": exc.code, "detail": exc.message, "fields": exc.fields}, status=exc.status)


def _bad_filter(message: str, field: str) -> Response:
    return Response({"code": "invalid", "detail": message, "fields": {field: [message]}}, status=400)


# --- serializers ---------------------------------------------------------------------------


class StatementLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.SerializerMethodField()
    invoice_no = serializers.SerializerMethodField()
    line_no = serializers.IntegerField()
    product_code = serializers.SerializerMethodField()
    product_name = serializers.SerializerMethodField()
    accepted_date = serializers.SerializerMethodField()
    qty = serializers.IntegerField(source="net_qty")
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=4)
    amount = serializers.DecimalField(source="net_amount", max_digits=16, decimal_places=2)
    match_status = serializers.CharField()
    exception_codes = serializers.CharField()
    dispute_reason = serializers.CharField()

    def get_key(self, obj) -> str:
        return line_key(obj.invoice_code, obj.invoice_no, obj.line_no)

    def get_invoice_no(self, obj) -> str:
        return obj.display_no

    def _product(self, obj):
        dl = obj.delivery_line
        return dl.order_line.product if dl else None

    def get_product_code(self, obj) -> str:
        p = self._product(obj)
        return p.code if p else ""

    def get_product_name(self, obj) -> str:
        p = self._product(obj)
        return str(p) if p else ""

    def get_accepted_date(self, obj):
        return obj.delivery_line.accepted_date if obj.delivery_line else None


class StatementSerializer(serializers.ModelSerializer):
    hospital_code = serializers.CharField(source="hospital_id")
    hospital_name = serializers.CharField(source="hospital.name")
    distributor_credit_code = serializers.CharField(source="distributor_id")
    distributor_name = serializers.CharField(source="distributor.name")
    supplementary = serializers.BooleanField()
    line_count = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    disputed_count = serializers.IntegerField()

    class Meta:
        model = Statement
        fields = [
            "no",
            "hospital_code",
            "hospital_name",
            "distributor_credit_code",
            "distributor_name",
            "period",
            "sequence",
            "supplementary",
            "status",
            "deadline",
            "confirmed_at",
            "line_count",
            "amount",
            "disputed_count",
        ]


class StatementDetailSerializer(StatementSerializer):
    lines = serializers.SerializerMethodField()

    class Meta(StatementSerializer.Meta):
        fields = [*StatementSerializer.Meta.fields, "lines"]

    def get_lines(self, obj) -> list:
        return StatementLineSerializer(statement_lines(obj), many=True).data


class ConfirmInputSerializer(serializers.Serializer):
    expected_lines = serializers.IntegerField(
        min_value=0,
        required=False,
        help_text="明细行数（可选）：有新增明细时拒绝确认 / lines seen; refused if more were added",
    )


class DisputeInputSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, help_text="异议原因 / reason (required)")
    invoice_line_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    lines = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text="invoice_no/line_no (paper: code-no/line)",
    )


class LineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.SerializerMethodField()
    invoice_no = serializers.SerializerMethodField()
    line_no = serializers.IntegerField()
    hospital_code = serializers.CharField(source="hospital_id")
    hospital_name = serializers.CharField(source="hospital.name")
    distributor_credit_code = serializers.CharField(source="distributor_id")
    product_code = serializers.SerializerMethodField()
    issued_at = serializers.DateField()
    qty = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    net_amount = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    match_status = serializers.CharField()
    exception_codes = serializers.CharField()
    dispute_reason = serializers.CharField()
    statement_no = serializers.SerializerMethodField()
    accepted_date = serializers.DateField(allow_null=True)
    due_date = serializers.DateField(allow_null=True)
    stage = serializers.CharField()
    stage_label = serializers.SerializerMethodField()
    holder = serializers.CharField()
    holder_label = serializers.SerializerMethodField()

    def get_key(self, obj) -> str:
        return line_key(obj.invoice_code, obj.invoice_no, obj.line_no)

    def get_invoice_no(self, obj) -> str:
        return obj.display_no

    def get_product_code(self, obj) -> str:
        return obj.delivery_line.order_line.product_id if obj.delivery_line else ""

    def get_statement_no(self, obj) -> str:
        return obj.statement.no if obj.statement else ""

    def get_stage_label(self, obj) -> str:
        return str(LineStage.LABELS.get(obj.stage, obj.stage))

    def get_holder_label(self, obj) -> str:
        return str(Holder.LABELS.get(obj.holder, obj.holder))


# --- views ---------------------------------------------------------------------------------


class StatementListView(ListAPIView):
    """对账单列表 / statements the caller is a party to, with settleable totals."""

    serializer_class = StatementSerializer
    pagination_class = StandardPagination

    def get_queryset(self):
        qs = statements_visible(self.request.user).select_related("hospital", "distributor")
        params = self.request.query_params
        if params.get("period"):
            qs = qs.filter(period=params["period"])
        if params.get("status"):
            qs = qs.filter(status=params["status"])
        if params.get("hospital"):
            qs = qs.filter(hospital_id=params["hospital"])
        return statements_with_totals(qs).order_by("deadline", "no")

    @extend_schema(
        tags=[TAG],
        parameters=[
            OpenApiParameter("period", str, description="YYYY-MM (month of acceptance)"),
            OpenApiParameter("status", str, enum=["open", "confirmed"]),
            OpenApiParameter("hospital", str, description="hospital code"),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class StatementDetailView(APIView):
    @extend_schema(tags=[TAG], responses=StatementDetailSerializer)
    def get(self, request, no: str):
        statement = (
            statements_with_totals(statements_visible(request.user).select_related("hospital", "distributor"))
            .filter(no=no)
            .first()
        )
        if statement is None:
            return _error(StatementError(CODE_NOT_FOUND, MSG_NOT_FOUND, status=404))
        return Response(StatementDetailSerializer(statement).data)


def _statement_body(no: str, user) -> dict:
    statement = statements_with_totals(statements_visible(user).select_related("hospital", "distributor")).get(no=no)
    return StatementDetailSerializer(statement).data


class StatementConfirmView(APIView):
    permission_classes = [IsAuthenticated, role_permission(Role.HOSPITAL)]

    @extend_schema(tags=[TAG], request=ConfirmInputSerializer, responses=StatementDetailSerializer)
    @idempotent
    def post(self, request, no: str):
        data = ConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            statement_confirm(
                statement_no=no, user=request.user, expected_lines=data.validated_data.get("expected_lines")
            )
        except StatementError as exc:
            return _error(exc)
        return Response(_statement_body(no, request.user))


class StatementDisputeView(APIView):
    permission_classes = [IsAuthenticated, role_permission(Role.HOSPITAL)]

    @extend_schema(tags=[TAG], request=DisputeInputSerializer, responses=StatementDetailSerializer)
    @idempotent
    def post(self, request, no: str):
        data = DisputeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            statement_dispute(
                statement_no=no,
                reason=v["reason"],
                invoice_line_ids=v["invoice_line_ids"],
                line_keys=v["lines"],
                user=request.user,
            )
        except StatementError as exc:
            return _error(exc)
        return Response(_statement_body(no, request.user))


_MONEY = serializers.DecimalField(max_digits=16, decimal_places=2)
_MONEY_OR_NULL = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
_DATE = serializers.DateField(allow_null=True)


def line_data(row: dict) -> dict:
    """One row of ``StagedLineRows`` as ``LineSerializer`` renders the line (same keys, same values)."""
    code, number, line_no = row["invoice_code"], row["invoice_no"], row["line_no"]
    stage, holder = row["stage"], row["holder"]
    return {
        "id": int(row["id"]),
        "key": line_key(code, number, line_no),
        "invoice_no": f"{code}-{number}" if code else number,
        "line_no": int(line_no),
        "hospital_code": str(row["hospital_id"]),
        "hospital_name": str(row["hospital__name"]),
        "distributor_credit_code": str(row["distributor_id"]),
        "product_code": row["delivery_line__order_line__product_id"] or "",
        "issued_at": _DATE.to_representation(row["issued_at"]),
        "qty": int(row["qty"]),
        "amount": _MONEY.to_representation(row["amount"]),
        "net_amount": None if row["net_amount"] is None else _MONEY_OR_NULL.to_representation(row["net_amount"]),
        "match_status": str(row["match_status"]),
        "exception_codes": str(row["exception_codes"]),
        "dispute_reason": str(row["dispute_reason"]),
        "statement_no": row["statement__no"] or "",
        "accepted_date": None if row["accepted_date"] is None else _DATE.to_representation(row["accepted_date"]),
        "due_date": None if row["due_date"] is None else _DATE.to_representation(row["due_date"]),
        "stage": str(stage),
        "stage_label": str(LineStage.LABELS.get(stage, stage)),
        "holder": str(holder),
        "holder_label": str(Holder.LABELS.get(holder, holder)),
    }


class LineListView(ListAPIView):
    """发票明细环节 / where each invoice line is and who holds it.

    Three queries whatever the page: the token, the count of the caller's lines, and the
    page (its ids picked without joins, then only those lines joined); rows are rendered
    from plain values, as ``LineSerializer`` (the documented shape) would render them.
    """

    serializer_class = LineSerializer
    pagination_class = StandardPagination

    def list(self, request, *args, **kwargs):
        params = request.query_params
        try:
            rows = StagedLineRows(
                request.user,
                LineFilters(
                    hospital=params.get("hospital") or None,
                    stage=params.get("stage") or None,
                    period=params.get("period") or None,
                ),
            )
        except ValueError as exc:
            field = "stage" if params.get("stage") and params.get("stage") not in LineStage.LABELS else "period"
            return _bad_filter(str(exc), field)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response([line_data(row) for row in page])

    def get_queryset(self):
        """The documented queryset (schema generation); ``list`` renders ``StagedLineRows``."""
        return invoice_lines_with_stage(self.request.user)

    @extend_schema(
        tags=[TAG],
        parameters=[
            OpenApiParameter("hospital", str, description="hospital code"),
            OpenApiParameter("stage", str, enum=[*LineStage.LABELS]),
            OpenApiParameter("period", str, description="YYYY-MM, month of the invoice date"),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
