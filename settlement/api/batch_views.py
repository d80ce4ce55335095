"""API of batches, payments, collections, prepayments, receivables and the ledger check.

Views parse, call one service and render; services check roles, regions, statuses and
four eyes. A refused request answers {"code", "detail", "fields"}; another region's or
party's document answers 404. POSTs that create or transition honour Idempotency-Key.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from interchange.api.idempotency import idempotent
from interchange.api.pagination import StandardPagination
from procurement.services.prepayments import (
    prepayment_clear,
    prepayment_pay,
    prepayment_recover,
    prepayments_compute,
)
from settlement.exports_batches import PAYMENT_INSTRUCTIONS_COLUMNS, payment_instructions_rows
from settlement.selectors.batches import (
    batch_lines_for,
    batch_summary,
    batches_for,
    collections_for,
    instructions_for,
    prepayment_rows,
)
from settlement.selectors.receivables import ageing_totals, receivables_ageing
from settlement.services.batch_rules import SettlementError
from settlement.services.batches import (
    batch_approve,
    batch_cancel,
    batch_create,
    batch_preview,
    batch_reject,
    batch_submit,
)
from settlement.services.collections import collection_pay
from settlement.services.ledger import ledger_verify
from settlement.services.payments import confirmation_rows, instruction_reissue, payment_confirmations_apply


def refused(exc: SettlementError) -> Response:
    fields = {"rows": exc.details} if exc.details else {}
    return Response({"code": exc.code, "detail": exc.message, "fields": fields}, status=exc.status)


TAG = "batches"


def doc(operation_id: str, *, request=None, parameters=None, many: bool = False):
    """OpenAPI of a hand-written view: an operation id, the body it reads, a JSON object back."""
    return extend_schema(
        operation_id=operation_id,
        tags=[TAG],
        request=request,
        parameters=parameters or [],
        responses={
            200: OpenApiTypes.OBJECT,
            201: OpenApiTypes.OBJECT,
            400: OpenApiTypes.OBJECT,
            404: OpenApiTypes.OBJECT,
        },
    )


def _money(v):
    return None if v is None else str(v)


def _when(v):
    return None if v is None else timezone.localtime(v).isoformat(timespec="seconds")


def batch_data(b) -> dict:
    return {
        "no": b.no,
        "region": b.region_id,
        "cutoff": b.cutoff.isoformat(),
        "period": b.period,
        "status": b.status,
        "line_count": b.line_count,
        "amount": _money(b.amount),
        "deducted_amount": _money(b.deducted_amount),
        "prepayment_amount": _money(b.prepayment_amount),
        "collection_amount": _money(b.collection_amount),
        "created_by": b.created_by.username,
        "created_at": _when(b.created_at),
        "submitted_at": _when(b.submitted_at),
        "approved_by": b.approved_by.username if b.approved_by_id else None,
        "approved_at": _when(b.approved_at),
        "rejected_by": b.rejected_by.username if b.rejected_by_id else None,
        "reject_reason": b.reject_reason,
        "paid_at": _when(b.paid_at),
    }


def line_data(line) -> dict:
    inv = line.invoice_line
    return {
        "invoice_no": inv.display_no,
        "line_no": inv.line_no,
        "hospital_code": line.hospital_id,
        "distributor_credit_code": line.distributor_id,
        "amount": _money(line.amount),
        "due_date": line.due_date.isoformat(),
        "deducted_amount": _money(line.deducted_amount),
        "prepayment_amount": _money(line.prepayment_amount),
        "collection_amount": _money(line.collection_amount),
        "paid_at": _when(line.paid_at),
    }


def instruction_data(i) -> dict:
    return {
        "no": i.no,
        "batch_no": i.batch.no,
        "payee_credit_code": i.distributor_id,
        "payee_name": i.payee_name,
        "bank_name": i.bank_name,
        "bank_account": i.bank_account,
        "amount": _money(i.amount),
        "status": i.status,
        "paid_at": _when(i.paid_at),
        "bank_ref": i.bank_ref,
        "replaces": i.replaces.no if i.replaces_id else None,
    }


def collection_data(c) -> dict:
    return {
        "no": c.no,
        "batch_no": c.batch.no,
        "hospital_code": c.hospital_id,
        "amount": _money(c.amount),
        "cleared_amount": _money(c.cleared_amount),
        "status": c.status,
        "issued_at": _when(c.issued_at),
        "due_date": c.due_date.isoformat(),
        "paid_at": _when(c.paid_at),
    }


def prepayment_data(p) -> dict:
    return {
        "id": p.pk,
        "hospital_code": p.hospital_id,
        "year_start": p.year_start.isoformat(),
        "amount": _money(p.amount),
        "paid_at": _when(p.paid_at),
        "used_amount": _money(p.used_amount),
        "recovered_amount": _money(p.recovered_amount),
        "cleared_amount": _money(p.cleared_amount),
        "balance": _money(p.balance),
    }


class RegionCutoffSerializer(serializers.Serializer):
    region = serializers.RegexField(r"^\d{6}$")
    cutoff = serializers.DateField()


class BatchReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class CollectionPaySerializer(serializers.Serializer):
    bank_ref = serializers.CharField(required=False, allow_blank=True, default="", max_length=60)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class PrepaymentComputeSerializer(serializers.Serializer):
    year_start = serializers.DateField()
    pay = serializers.BooleanField(required=False, default=False)


class PrepaymentRecoverSerializer(serializers.Serializer):
    hospital_code = serializers.CharField(max_length=12)
    reason = serializers.CharField(required=False, allow_blank=True, default="")  # the service requires one


class PrepaymentClearSerializer(serializers.Serializer):
    hospital_code = serializers.CharField(max_length=12)
    year_start = serializers.DateField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


def _paginate(request, view, qs, render):
    paginator = StandardPagination()
    page = paginator.paginate_queryset(qs, request, view=view)
    return paginator.get_paginated_response([render(x) for x in page])


class BatchListCreate(APIView):
    @doc("batches_list", parameters=[OpenApiParameter("status", str)])
    def get(self, request):
        qs = batches_for(request.user)
        if s := request.query_params.get("status"):
            qs = qs.filter(status=s)
        return _paginate(request, self, qs.order_by("-created_at", "-id"), batch_data)

    @doc("batches_create", request=RegionCutoffSerializer)
    @idempotent
    def post(self, request):
        data = RegionCutoffSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            batch = batch_create(
                region_code=data.validated_data["region"], cutoff=data.validated_data["cutoff"], user=request.user
            )
        except SettlementError as exc:
            return refused(exc)
        return Response(batch_data(batch), status=status.HTTP_201_CREATED)


class BatchPreviewView(APIView):
    @doc(
        "batches_preview",
        parameters=[
            OpenApiParameter("region", str, required=True),
            OpenApiParameter("cutoff", OpenApiTypes.DATE, required=True),
        ],
    )
    def get(self, request):
        data = RegionCutoffSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        try:
            preview = batch_preview(
                region_code=data.validated_data["region"], cutoff=data.validated_data["cutoff"], user=request.user
            )
        except SettlementError as exc:
            return refused(exc)
        return Response(preview.as_dict())


class BatchDetail(APIView):
    @doc("batches_detail", parameters=[OpenApiParameter("no", str, OpenApiParameter.PATH)])
    def get(self, request, no: str):
        batch = batches_for(request.user).filter(no=no).first()
        if batch is None:
            raise Http404
        lines = (
            batch_lines_for(request.user)
            .filter(batch=batch)
            .with_paid_at()
            .select_related("invoice_line")
            .order_by("due_date", "pk")
        )
        paginator = StandardPagination()
        page = paginator.paginate_queryset(lines, request, view=self)
        summary = batch_summary(batch)
        return Response(
            {
                **batch_data(batch),
                "by_distributor": [
                    {
                        k: _money(v) if k in ("amount", "deducted", "prepayment", "collection") else v
                        for k, v in r.items()
                    }
                    for r in summary["by_distributor"]
                ],
                "by_hospital": [
                    {
                        k: _money(v) if k in ("amount", "deducted", "prepayment", "collection") else v
                        for k, v in r.items()
                    }
                    for r in summary["by_hospital"]
                ],
                "events": [
                    {
                        "at": _when(e.at),
                        "user": e.user.username if e.user_id else None,
                        "action": e.action,
                        "from": e.from_status,
                        "to": e.to_status,
                        "reason": e.reason,
                    }
                    for e in batch.events.select_related("user")
                ],
                "lines": paginator.get_paginated_response([line_data(x) for x in page]).data,
            }
        )


class _BatchTransition(APIView):
    service = None
    reason_required = False

    @idempotent
    def post(self, request, no: str):
        data = BatchReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            batch = type(self).service(batch_no=no, user=request.user, reason=data.validated_data["reason"])
        except SettlementError as exc:
            return refused(exc)
        return Response(batch_data(batch))


def _transition_view(name: str, service):
    path_no = [OpenApiParameter("no", str, OpenApiParameter.PATH)]

    @extend_schema_view(post=doc(f"batches_{name}", request=BatchReasonSerializer, parameters=path_no))
    class View(_BatchTransition):
        pass

    View.service = staticmethod(service)
    View.__name__ = View.__qualname__ = f"Batch{name.title()}"
    return View


BatchSubmit = _transition_view("submit", batch_submit)
BatchApprove = _transition_view("approve", batch_approve)
BatchReject = _transition_view("reject", batch_reject)
BatchCancel = _transition_view("cancel", batch_cancel)


def bank_file_response(user, batch_no: str, fmt: str) -> HttpResponse:
    """The bank payment file of a batch: its instructions (CSV UTF-8 with BOM, or XLSX)."""
    rows = list(payment_instructions_rows(user=user, batch=batch_no))
    name = f"payment_instructions_{batch_no}.{fmt}"
    if fmt == "xlsx":
        import xlsxwriter

        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"in_memory": True})
        ws = wb.add_worksheet("payment_instructions")
        ws.write_row(0, 0, PAYMENT_INSTRUCTIONS_COLUMNS)
        for r, row in enumerate(rows, start=1):
            ws.write_row(r, 0, [str(v) for v in row])  # text: account numbers and amounts exact
        wb.close()
        resp = HttpResponse(
            buf.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
    else:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(PAYMENT_INSTRUCTIONS_COLUMNS)
        writer.writerows(rows)
        resp = HttpResponse(("\ufeff" + buf.getvalue()).encode("utf-8"), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


class BatchBankFile(APIView):
    @doc(
        "batches_bank_file",
        parameters=[
            OpenApiParameter("no", str, OpenApiParameter.PATH),
            OpenApiParameter("type", str, enum=["csv", "xlsx"]),
        ],
    )
    def get(self, request, no: str):
        if not batches_for(request.user).filter(no=no).exists():
            raise Http404
        # ``type``, not ``format``: DRF reserves ?format= for content negotiation.
        fmt = request.query_params.get("type", "csv")
        if fmt not in ("csv", "xlsx"):
            raise ValidationError({"type": ["csv | xlsx"]})
        return bank_file_response(request.user, no, fmt)


class InstructionList(APIView):
    @doc("payment_instructions_list", parameters=[OpenApiParameter("status", str), OpenApiParameter("batch", str)])
    def get(self, request):
        qs = instructions_for(request.user).select_related("replaces")
        if s := request.query_params.get("status"):
            qs = qs.filter(status=s)
        if b := request.query_params.get("batch"):
            qs = qs.filter(batch__no=b)
        return _paginate(request, self, qs.order_by("-issued_at", "-id"), instruction_data)


class InstructionReissue(APIView):
    @doc(
        "payment_instructions_reissue",
        request=BatchReasonSerializer,
        parameters=[OpenApiParameter("no", str, OpenApiParameter.PATH)],
    )
    @idempotent
    def post(self, request, no: str):
        data = BatchReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            new = instruction_reissue(instruction_no=no, user=request.user, reason=data.validated_data["reason"])
        except SettlementError as exc:
            return refused(exc)
        return Response(instruction_data(new), status=status.HTTP_201_CREATED)


class ConfirmationSerializer(serializers.Serializer):
    rows = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField(allow_blank=True)), allow_empty=False
    )
    lenient = serializers.BooleanField(required=False, default=False)


class PaymentConfirmationImport(APIView):
    """POST the rows of payment_confirmations as JSON (same fields as the file)."""

    @doc("payment_confirmations_create", request=ConfirmationSerializer)
    @idempotent
    def post(self, request):
        data = ConfirmationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rows, cell_errors = confirmation_rows(enumerate(data.validated_data["rows"], start=1))
        try:
            report = payment_confirmations_apply(
                rows=rows,
                user=request.user,
                source="api",
                lenient=data.validated_data["lenient"],
                cell_errors=cell_errors,
            )
        except SettlementError as exc:
            return refused(exc)
        return Response(report.as_dict())


class CollectionList(APIView):
    @doc("collections_list", parameters=[OpenApiParameter("status", str)])
    def get(self, request):
        qs = collections_for(request.user)
        if s := request.query_params.get("status"):
            qs = qs.filter(status=s)
        return _paginate(request, self, qs.order_by("-issued_at", "-id"), collection_data)


class CollectionPay(APIView):
    @doc(
        "collections_pay",
        request=CollectionPaySerializer,
        parameters=[OpenApiParameter("no", str, OpenApiParameter.PATH)],
    )
    @idempotent
    def post(self, request, no: str):
        data = CollectionPaySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            order = collection_pay(collection_no=no, user=request.user, **data.validated_data)
        except SettlementError as exc:
            return refused(exc)
        return Response(collection_data(order))


class PrepaymentList(APIView):
    @doc(
        "prepayment_balances_list",
        parameters=[OpenApiParameter("as_of", OpenApiTypes.DATE), OpenApiParameter("region", str)],
    )
    def get(self, request):
        as_of = request.query_params.get("as_of")
        try:
            day = dt.date.fromisoformat(as_of) if as_of else None
        except ValueError:
            raise ValidationError({"as_of": ["YYYY-MM-DD"]}) from None
        qs = prepayment_rows(user=request.user, as_of=day, region=request.query_params.get("region"))
        return _paginate(request, self, qs, prepayment_data)


class PrepaymentCompute(APIView):
    @doc("prepayments_compute", request=PrepaymentComputeSerializer)
    @idempotent
    def post(self, request):
        from settlement.services.batch_rules import OPERATOR_ROLES, require_role

        try:
            require_role(request.user, OPERATOR_ROLES)
        except SettlementError as exc:
            return refused(exc)
        data = PrepaymentComputeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = prepayments_compute(user=request.user, **data.validated_data)
        except SettlementError as exc:
            return refused(exc)
        return Response(
            {
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "paid": result.paid,
                "conflicts": result.conflicts,
            }
        )


class PrepaymentPay(APIView):
    @doc("prepayments_pay", parameters=[OpenApiParameter("pk", int, OpenApiParameter.PATH)])
    @idempotent
    def post(self, request, pk: int):
        try:
            row = prepayment_pay(prepayment_id=pk, user=request.user)
        except SettlementError as exc:
            return refused(exc)
        return Response(prepayment_data(row))


class PrepaymentRecover(APIView):
    @doc("prepayments_recover", request=PrepaymentRecoverSerializer)
    @idempotent
    def post(self, request):
        data = PrepaymentRecoverSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            amount = prepayment_recover(user=request.user, **data.validated_data)
        except SettlementError as exc:
            return refused(exc)
        return Response({"hospital_code": data.validated_data["hospital_code"], "recovered": str(amount)})


class PrepaymentClear(APIView):
    @doc("prepayments_clear", request=PrepaymentClearSerializer)
    @idempotent
    def post(self, request):
        data = PrepaymentClearSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            row = prepayment_clear(user=request.user, **data.validated_data)
        except SettlementError as exc:
            return refused(exc)
        return Response(prepayment_data(row))


class ReceivablesView(APIView):
    """GET /receivables/?as_of= — ageing per distributor × hospital (the caller's)."""

    @doc("receivables_list", parameters=[OpenApiParameter("as_of", OpenApiTypes.DATE)])
    def get(self, request):
        as_of = request.query_params.get("as_of")
        try:
            day = dt.date.fromisoformat(as_of) if as_of else timezone.localdate()
        except ValueError:
            raise ValidationError({"as_of": ["YYYY-MM-DD"]}) from None
        rows = receivables_ageing(user=request.user, as_of=day)
        paginator = StandardPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        resp = paginator.get_paginated_response([r.as_dict() for r in page])
        resp.data["as_of"] = day.isoformat()
        resp.data["totals"] = {k: str(v) for k, v in ageing_totals(rows).items()}
        return resp


class LedgerVerifyView(APIView):
    @doc("ledger_verify")
    def get(self, request):
        from settlement.services.batch_rules import APPROVER_ROLES, require_role

        try:
            require_role(request.user, (*APPROVER_ROLES, "admin"))
        except SettlementError as exc:
            return refused(exc)
        violations = ledger_verify()
        return Response(
            {
                "ok": not violations,
                "violations": [{"code": v.code, "subject": v.subject, "detail": v.detail} for v in violations],
            }
        )
