"""The importable tables: spec (columns) + loader (check and write) per table name.

The tables of INTERCHANGE.md register themselves here; another feature adds its own
with ``register_table`` from a module named ``imports.py`` in its app (found by
autodiscovery, like ``exports.py``)::

    # settlement/imports.py
    from interchange.registry import register_table
    from interchange.tables import PAYMENT_CONFIRMATIONS
    register_table("payment_confirmations", PAYMENT_CONFIRMATIONS, PaymentConfirmationLoader(),
                   roles=("bureau_operator",))

A loader has ``check(batch)`` (add row errors, fill ``batch.plan``) and ``write(batch)``
(apply the plan, return (created, updated)); see interchange.loaders.base.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.module_loading import autodiscover_modules

from interchange.tables import DEPENDENCY_ORDER, TableSpec

# Roles (parties.models.Role values) allowed to import a table besides admins and
# superusers; row-level scoping then narrows what each may write.
DEFAULT_ROLES = ("bureau_operator",)


@dataclass(frozen=True)
class TableHandler:
    name: str
    spec: TableSpec
    loader: object
    roles: tuple[str, ...] = DEFAULT_ROLES


_REGISTRY: dict[str, TableHandler] = {}
_loaded = False


def register_table(name: str, spec: TableSpec, loader, *, roles: tuple[str, ...] = DEFAULT_ROLES) -> None:
    _REGISTRY[name] = TableHandler(name=name, spec=spec, loader=loader, roles=tuple(roles))


def _register_builtins() -> None:
    from interchange import tables as t
    from interchange.loaders import documents as d
    from interchange.loaders import master as m

    builtins = [
        ("regions", t.REGIONS, m.RegionLoader(), DEFAULT_ROLES),
        ("enterprises", t.ENTERPRISES, m.EnterpriseLoader(), DEFAULT_ROLES),
        ("hospitals", t.HOSPITALS, m.HospitalLoader(), DEFAULT_ROLES),
        ("products", t.PRODUCTS, m.ProductLoader(), DEFAULT_ROLES),
        ("rounds", t.ROUNDS, m.RoundLoader(), DEFAULT_ROLES),
        ("awards", t.AWARDS, d.AwardLoader(), DEFAULT_ROLES),
        ("agreements", t.AGREEMENTS, d.AgreementLoader(), DEFAULT_ROLES),
        ("orders", t.ORDERS, d.OrderLoader(), DEFAULT_ROLES),
        ("deliveries", t.DELIVERIES, d.DeliveryLoader(), DEFAULT_ROLES),
        # A hospital confirms receipt of its own deliveries; a distributor invoices as seller.
        ("receipts", t.RECEIPTS, d.ReceiptLoader(), (*DEFAULT_ROLES, "hospital")),
        ("invoices", t.INVOICES, d.InvoiceLoader(), (*DEFAULT_ROLES, "enterprise")),
        ("fund_allocations", t.FUND_ALLOCATIONS, d.FundAllocationLoader(), DEFAULT_ROLES),
        ("reference_prices", t.REFERENCE_PRICES, m.ReferencePriceLoader(), DEFAULT_ROLES),
    ]
    for name, spec, loader, roles in builtins:
        _REGISTRY.setdefault(name, TableHandler(name=name, spec=spec, loader=loader, roles=roles))


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        _register_builtins()
        autodiscover_modules("imports")


def table_handler(name: str) -> TableHandler | None:
    _ensure_loaded()
    return _REGISTRY.get(name)


def registered_tables() -> list[str]:
    """Registered names, in dependency order (INTERCHANGE.md), then any others by name."""
    _ensure_loaded()
    known = [n for n in DEPENDENCY_ORDER if n in _REGISTRY]
    return known + sorted(n for n in _REGISTRY if n not in DEPENDENCY_ORDER)
