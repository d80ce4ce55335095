"""``GET /api/v1/exports/{table}/?format=csv|xlsx&as_of=&batch=&region=&period=``: an output
table of INTERCHANGE.md as a file, built for the caller (the rows function scopes it)."""

from __future__ import annotations

import datetime as dt
import tempfile

from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from interchange.exports import exports_registry
from interchange.writers import CONTENT_TYPES, FORMATS, csv_chunks, write_table

MSG_UNKNOWN_EXPORT = "未知的导出表 / unknown export table"
MSG_BAD_FORMAT = "format 须为 csv 或 xlsx / format must be csv or xlsx"
MSG_BAD_DATE = "日期须为 YYYY-MM-DD / date must be YYYY-MM-DD"
FILTERS = ("as_of", "batch", "region", "period")


class JSONOnlyNegotiation(BaseContentNegotiation):
    """``?format=`` names the file format here, not a DRF renderer: errors stay JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def export_filters(spec, params) -> dict:
    """The filters ``spec`` declares, from query parameters (``as_of`` parsed as a date)."""
    out = {}
    for name in spec.filters:
        value = params.get(name)
        if value in (None, ""):
            continue
        if name == "as_of":
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                raise exceptions.ValidationError({name: [MSG_BAD_DATE]}, code="invalid") from None
        out[name] = value
    return out


def filename(table: str, fmt: str) -> str:
    return f"{table}-{dt.date.today().isoformat()}.{fmt}"  # noqa: DTZ011 - a label for the download


class ExportView(APIView):
    content_negotiation_class = JSONOnlyNegotiation

    @extend_schema(
        operation_id="exports_retrieve",
        summary="导出 / export an output table",
        parameters=[
            OpenApiParameter("table", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(FORMATS)),
            *[OpenApiParameter(f, OpenApiTypes.STR) for f in FILTERS],
        ],
        responses={(200, "text/csv"): OpenApiTypes.BINARY, (200, CONTENT_TYPES["xlsx"]): OpenApiTypes.BINARY},
    )
    def get(self, request, table: str):
        spec = exports_registry().get(table)
        if spec is None:
            raise exceptions.NotFound(f"{MSG_UNKNOWN_EXPORT}: {table}")
        fmt = (request.query_params.get("format") or "csv").lower()
        if fmt not in FORMATS:
            raise exceptions.ValidationError({"format": [MSG_BAD_FORMAT]}, code="invalid")
        kwargs = export_filters(spec, request.query_params)
        rows = spec.rows(user=request.user, **kwargs)
        name = filename(table, fmt)
        if fmt == "csv":
            response = StreamingHttpResponse(csv_chunks(spec.columns, rows), content_type=CONTENT_TYPES["csv"])
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
        tmp = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
        write_table(spec.columns, rows, "xlsx", tmp)
        tmp.seek(0)
        return FileResponse(tmp, as_attachment=True, filename=name, content_type=CONTENT_TYPES["xlsx"])
