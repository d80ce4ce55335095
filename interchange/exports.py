"""The registry of output tables (INTERCHANGE.md "Output tables").

Each feature registers its table in its app's ``exports.py``::

    @register_export("payables", columns=PAYABLES_COLUMNS, filters=("as_of", "region", "period"))
    def payables_rows(*, user, as_of=None, region=None, period=None):
        ...  # yield tuples in column order (Decimal money, date, str); scoped to ``user``

``manage.py export`` and the API find every registered table through
``exports_registry()``, which imports each installed app's ``exports`` module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.utils.module_loading import autodiscover_modules


@dataclass(frozen=True)
class ExportSpec:
    name: str
    columns: tuple[str, ...]
    rows: Callable[..., Iterable[tuple]]
    filters: tuple[str, ...] = field(default=())


_REGISTRY: dict[str, ExportSpec] = {}


def register_export(name: str, *, columns: Iterable[str], filters: Iterable[str] = ()):
    def decorator(func: Callable[..., Iterable[tuple]]):
        _REGISTRY[name] = ExportSpec(name=name, columns=tuple(columns), rows=func, filters=tuple(filters))
        return func

    return decorator


def exports_registry() -> dict[str, ExportSpec]:
    autodiscover_modules("exports")
    return dict(_REGISTRY)
