"""A base for scoped, read-only list + detail endpoints keyed by natural keys.

Subclass ``ScopedReadOnlyViewSet`` and route it with ``read_routes``::

    class OrderLineViewSet(ScopedReadOnlyViewSet):
        queryset = OrderLine.objects.select_related("hospital", "distributor", "product")
        serializer_class = OrderLineSerializer
        scope_paths = scoping.ORDER_LINE          # None: every signed-in user (master data)
        key_fields = (KeyField("order_no"), KeyField("line_no", type=int))
        list_filters = (ListFilter("hospital", "hospital_id"), ...)
        ordering = ("order_no", "line_no")

    urlpatterns = [*read_routes("orders", OrderLineViewSet)]
    # GET orders/                      list (filters, pagination)
    # GET orders/<order_no>/<line_no>/ detail

Lists are filtered with ``parties.scoping`` before any query-string filter; a detail
outside the caller's scope answers 404 (and is recorded as a security event), exactly
like a key that does not exist. OpenAPI parameters (path keys and filters) are declared
from ``key_fields`` and ``list_filters``, so the schema needs no hand-written decorators.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.middleware.csrf import CsrfViewMiddleware
from django.urls import Resolver404, get_resolver, path, register_converter
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets

from interchange.api.filters import ListFilter, apply_filters, filter_parameters
from parties.scoping import scoped, scoped_get_or_404

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class IsoDateConverter:
    """``<isodate:year_start>`` → datetime.date (YYYY-MM-DD)."""

    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> dt.date:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:  # 2026-02-30: matches the regex, is no date → no match (404)
            raise ValueError(value) from None

    def to_url(self, value) -> str:
        return value.isoformat() if isinstance(value, dt.date) else str(value)


register_converter(IsoDateConverter, "isodate")

_CONVERTERS = {str: "str", int: "int", dt.date: "isodate"}
_KEY_TYPES = {str: OpenApiTypes.STR, int: OpenApiTypes.INT, dt.date: OpenApiTypes.DATE}


@dataclass(frozen=True)
class KeyField:
    """One part of a natural key in the detail URL: ``name`` in the URL, ``lookup`` in the ORM."""

    name: str
    lookup: str | None = None  # default: same as name
    type: type = str
    help: object = ""

    @property
    def orm(self) -> str:
        return self.lookup or self.name


class ScopedReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    scope_paths: dict | None = None
    key_fields: tuple[KeyField, ...] = ()
    list_filters: tuple[ListFilter, ...] = ()
    ordering: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("queryset") is None:
            return  # an abstract intermediate class
        path_params = [
            OpenApiParameter(k.name, _KEY_TYPES[k.type], OpenApiParameter.PATH, required=True, description=str(k.help))
            for k in cls.key_fields
        ]
        extend_schema_view(
            list=extend_schema(parameters=filter_parameters(cls.list_filters)),
            retrieve=extend_schema(parameters=path_params),
        )(cls)

    # -- querysets -------------------------------------------------------------------------
    def base_queryset(self):
        """The model's rows with their select_related/only, not yet scoped."""
        qs = self.queryset.all()
        return qs.order_by(*self.ordering) if self.ordering else qs

    def get_queryset(self):
        qs = self.base_queryset()
        if self.scope_paths is not None:
            qs = scoped(qs, self.request.user, **self.scope_paths)
        return qs

    def filter_queryset(self, queryset):
        if self.action == "list":
            return apply_filters(queryset, self.request.query_params, self.list_filters)
        return queryset

    # -- detail by natural key -------------------------------------------------------------
    def key_lookup(self, **url_kwargs) -> dict:
        """ORM look-up for the detail URL's kwargs; override for keys that need parsing."""
        return {k.orm: url_kwargs[k.name] for k in self.key_fields}

    def get_object(self):
        lookup = self.key_lookup(**self.kwargs)
        obj = scoped_get_or_404(
            self.base_queryset(),
            self.request.user,
            self.scope_paths,
            request=getattr(self.request, "_request", self.request),
            **lookup,
        )
        self.check_object_permissions(self.request, obj)
        return obj

    @classmethod
    def detail_route(cls) -> str:
        return "/".join(f"<{_CONVERTERS[k.type]}:{k.name}>" for k in cls.key_fields)


class ValuesRenderer:
    """Render ``QuerySet.values()`` rows exactly as ``serializer_class(many=True).data`` renders
    the model instances, for list pages where DRF's per-row field machinery is the cost.

    Only for serializers whose fields read one column each (``source`` a field name or
    ``a__b`` path given as ``a.b``); ``fields`` are the values() names to select. Each
    field's own ``to_representation`` formats the value (dates, time zones, decimals), and a
    None stays None, as in ``Serializer.to_representation``.
    """

    def __init__(self, serializer_class):
        self.serializer_class = serializer_class
        self._columns = None

    @property
    def columns(self) -> list[tuple[str, str, Callable]]:
        if self._columns is None:
            columns = []
            for name, fld in self.serializer_class().fields.items():
                if fld.write_only:
                    continue
                if fld.source == "*" or not fld.source:
                    raise TypeError(f"{self.serializer_class.__name__}.{name} does not read one column")
                columns.append((name, fld.source.replace(".", "__"), fld.to_representation))
            self._columns = columns
        return self._columns

    @property
    def fields(self) -> list[str]:
        return [column for _name, column, _rep in self.columns]

    def __call__(self, rows) -> list[dict]:
        columns = self.columns
        return [
            {name: None if (value := row[column]) is None else rep(value) for name, column, rep in columns}
            for row in rows
        ]


def method_fallthrough(view: Callable, route: str, urlconf: str) -> Callable:
    """``view`` answers GET/HEAD/OPTIONS; other methods go to ``route`` as resolved in ``urlconf``.

    For a collection whose reads and writes are built by different features in different
    url modules (GET /receipts/ here, POST /receipts/ in procurement.api.receipt_urls):
    Django stops at the first pattern that matches a path, whatever the method.
    """

    @csrf_exempt  # DRF enforces CSRF itself for session auth; a plain view gets the check below
    def dispatch(request, *args, **kwargs):
        if request.method not in SAFE_METHODS:
            try:
                match = get_resolver(urlconf).resolve(f"/{route}")  # a root resolver matches "^/"
            except Resolver404:
                match = None
            if match is not None:
                callback = match.func
                if not getattr(callback, "csrf_exempt", False):
                    refusal = CsrfViewMiddleware(lambda r: None).process_view(
                        request, callback, match.args, match.kwargs
                    )
                    if refusal is not None:
                        return refusal
                return callback(request, *match.args, **match.kwargs)
        return view(request, *args, **kwargs)

    for attr in ("cls", "initkwargs", "actions"):  # drf-spectacular documents the read view
        if hasattr(view, attr):
            setattr(dispatch, attr, getattr(view, attr))
    return dispatch


def read_routes(
    prefix: str, viewset: type[ScopedReadOnlyViewSet], *, name: str | None = None, writes_in: str | None = None
) -> list:
    """``<prefix>/`` (list) and ``<prefix>/<key…>/`` (detail), named ``<name>-list`` / ``<name>-detail``.

    ``writes_in``: a url module whose ``<prefix>/`` pattern takes the collection's writes
    (see ``method_fallthrough``).
    """
    name = name or prefix
    list_view = viewset.as_view({"get": "list"})
    if writes_in:
        list_view = method_fallthrough(list_view, f"{prefix}/", writes_in)
    detail_view = viewset.as_view({"get": "retrieve"})
    return [
        path(f"{prefix}/", list_view, name=f"{name}-list"),
        path(f"{prefix}/{viewset.detail_route()}/", detail_view, name=f"{name}-detail"),
    ]
