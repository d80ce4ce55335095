"""``POST /api/v1/imports/{table}/`` (multipart ``file``, optional ``lenient``) → import report.

Admins, superusers and bureau operators may import any table (rows limited to their
region); a hospital user only ``receipts`` of its own deliveries; a distributor only
``invoices`` where it is the seller. Anything else is 403 in the error shape. The reply
is the report (interchange.services.imports.ImportReport.as_dict): 201 when rows were
written, 200 when nothing changed, 400 when the file was rejected.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from interchange.api.idempotency import idempotent
from interchange.permissions import CODE_FORBIDDEN, MSG_FORBIDDEN, ImportForbidden, import_allowed
from interchange.registry import table_handler
from interchange.services.imports import table_import

MSG_NO_FILE = "请上传文件(字段 file) / upload the file as the multipart field 'file'"
MSG_UNKNOWN_TABLE = "未知的表 / unknown table"
ALLOWED_SUFFIXES = (".csv", ".xlsx")
TRUE_WORDS = ("1", "true", "yes", "on")


class ImportForbiddenError(exceptions.PermissionDenied):
    default_detail = MSG_FORBIDDEN
    default_code = CODE_FORBIDDEN


def upload_dir() -> Path:
    """Uploaded files (and their error reports beside them) are kept here."""
    target = Path(settings.IMPORT_REPORT_DIR) / "uploads"
    target.mkdir(parents=True, exist_ok=True)
    return target


def _save_upload(upload) -> Path:
    name = Path(upload.name or "upload.csv").name
    suffix = Path(name).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        suffix = ".csv"
        name = f"{Path(name).stem}{suffix}"
    target = upload_dir() / f"{uuid.uuid4().hex}-{name}"
    with open(target, "wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    return target


class ImportView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="imports_create",
        summary="导入一个表 / import one table file",
        parameters=[OpenApiParameter("table", OpenApiTypes.STR, OpenApiParameter.PATH)],
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}, "lenient": {"type": "boolean"}},
                "required": ["file"],
            }
        },
        responses={
            201: OpenApiResponse(OpenApiTypes.OBJECT, description="rows written"),
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="nothing new"),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="file rejected (report with row errors)"),
        },
    )
    @idempotent
    def post(self, request, table: str):
        handler = table_handler(table)
        if handler is None:
            raise exceptions.NotFound(f"{MSG_UNKNOWN_TABLE}: {table}")
        if not import_allowed(request.user, handler):
            raise ImportForbiddenError()
        upload = request.FILES.get("file")
        if upload is None:
            raise exceptions.ValidationError({"file": [MSG_NO_FILE]}, code="required")
        lenient = str(request.data.get("lenient", "")).strip().lower() in TRUE_WORDS
        saved = _save_upload(upload)
        try:
            report = table_import(
                table=table, path=saved, lenient=lenient, user=request.user, source=f"api:{Path(upload.name).name}"
            )
        except ImportForbidden:
            raise ImportForbiddenError() from None
        body = report.as_dict()
        body["file"] = Path(upload.name).name
        if not report.ok:
            body = {"code": "import_rejected", "detail": report.reason, "fields": {}, **body}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        code = status.HTTP_201_CREATED if report.created or report.updated else status.HTTP_200_OK
        return Response(body, status=code)
