"""Declarative query-string filters for list endpoints, with their OpenAPI parameters.

A viewset lists its filters once::

    list_filters = (
        ListFilter("hospital", "hospital_id", help="医疗机构编码 / hospital code"),
        ListFilter("date_from", "order_date", kind=DATE, lookup="gte"),
        ListFilter("region", "hospital__region", kind=REGION),
    )

``apply_filters(qs, request.query_params, list_filters)`` narrows the queryset or raises
a ValidationError whose ``fields`` name every bad parameter (400 in the error shape);
``filter_parameters(list_filters)`` documents them for drf-spectacular. Unknown
parameters are ignored (pagination's ``page``/``page_size`` among them).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError

from parties.identifiers import REGION_CODE_RE, region_prefix

STR, INT, DATE, BOOL, CHOICE, PERIOD, REGION = "str", "int", "date", "bool", "choice", "period", "region"

MSG_DATE = _("日期格式应为 YYYY-MM-DD / a date is YYYY-MM-DD")
MSG_INT = _("应为整数 / must be an integer")
MSG_BOOL = _("应为 true 或 false / must be true or false")
MSG_CHOICE = _("取值无效 / not one of the allowed values")
MSG_PERIOD = _("结算期格式应为 YYYY-MM / a period is YYYY-MM")
MSG_REGION = _("区划代码须为6位数字 / region code must be 6 digits")
MSG_TOO_LONG = _("过长 / too long")

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_VALUE_LENGTH = 200
TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off"}

_OPENAPI_TYPES = {
    STR: OpenApiTypes.STR,
    INT: OpenApiTypes.INT,
    DATE: OpenApiTypes.DATE,
    BOOL: OpenApiTypes.BOOL,
    CHOICE: OpenApiTypes.STR,
    PERIOD: OpenApiTypes.STR,
    REGION: OpenApiTypes.STR,
}


@dataclass(frozen=True)
class ListFilter:
    """``name`` in the query string → ``path``__``lookup`` in the ORM.

    Kinds: STR, INT, DATE, BOOL (``lookup`` "isnull" inverts: ``received=true`` → not null),
    CHOICE (``choices``), PERIOD (YYYY-MM), REGION (the coverage prefix rule: a region
    code selects itself and every region below; ``path`` is a region FK or code).
    ``q`` may replace the ORM lookup: a callable ``value → Q``.
    """

    name: str
    path: str = ""
    kind: str = STR
    lookup: str = "exact"
    help: object = ""
    choices: tuple[str, ...] = ()
    q: object = field(default=None, compare=False)

    def parse(self, raw: str):
        raw = raw.strip()
        if len(raw) > MAX_VALUE_LENGTH:
            raise ValueError(MSG_TOO_LONG)
        if self.kind == INT:
            if not re.fullmatch(r"-?\d+", raw):
                raise ValueError(MSG_INT)
            return int(raw)
        if self.kind == DATE:
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                raise ValueError(MSG_DATE) from None
        if self.kind == BOOL:
            low = raw.lower()
            if low in TRUE_VALUES:
                return True
            if low in FALSE_VALUES:
                return False
            raise ValueError(MSG_BOOL)
        if self.kind == CHOICE:
            if raw not in self.choices:
                raise ValueError(MSG_CHOICE)
            return raw
        if self.kind == PERIOD:
            if not PERIOD_RE.match(raw):
                raise ValueError(MSG_PERIOD)
            return raw
        if self.kind == REGION:
            if not REGION_CODE_RE.match(raw):
                raise ValueError(MSG_REGION)
            return raw
        return raw

    def to_q(self, value) -> Q:
        if self.q is not None:
            return self.q(value)
        if self.kind == REGION:
            target = self.path if self.path.endswith("code") else f"{self.path}__code"
            return Q(**{f"{target}__startswith": region_prefix(value)})
        if self.kind == BOOL and self.lookup == "isnull":
            return Q(**{f"{self.path}__isnull": not value})
        lookup = "" if self.lookup == "exact" else f"__{self.lookup}"
        return Q(**{f"{self.path}{lookup}": value})

    def parameter(self) -> OpenApiParameter:
        description = str(self.help)
        if self.kind == REGION:
            description = (description + " " if description else "") + str(
                _("(含下级区划 / includes the regions below it)")
            )
        return OpenApiParameter(
            name=self.name,
            type=_OPENAPI_TYPES[self.kind],
            location=OpenApiParameter.QUERY,
            required=False,
            description=description,
            enum=list(self.choices) if self.kind == CHOICE else None,
        )


def parse_filters(params: Mapping[str, str], filters: Iterable[ListFilter]) -> Q:
    """One Q for every filter present in ``params``; ValidationError naming each bad one."""
    q = Q()
    errors: dict[str, list[str]] = {}
    for f in filters:
        raw = params.get(f.name)
        if raw is None or raw == "":
            continue
        try:
            q &= f.to_q(f.parse(raw))
        except ValueError as exc:
            errors[f.name] = [str(exc.args[0])]
    if errors:
        raise ValidationError(errors, code="invalid_filter")
    return q


def apply_filters(qs: QuerySet, params: Mapping[str, str], filters: Iterable[ListFilter]) -> QuerySet:
    q = parse_filters(params, filters)
    return qs.filter(q) if q else qs


def filter_parameters(filters: Iterable[ListFilter]) -> list[OpenApiParameter]:
    return [f.parameter() for f in filters]
