"""Bulk writes of procurement data from imports (interchange calls these; nothing else
writes these tables in bulk).

Frames hold the interchange columns in canonical form (interchange.parsing: money as
Int64 units, timestamps UTC, dates ``YYYY-MM-DD``) plus the ids the importer resolved
(``round_id``, ``order_line_id``, ``delivery_line_id``). On PostgreSQL the large tables
go through COPY and one set-based statement (interchange.bulk); on SQLite bulk_create.
"""

from __future__ import annotations

import pandas as pd
from django.db import transaction

from interchange.bulk import bulk_create_frame, bulk_update_frame, insert_rows, update_rows
from parties.models import User
from parties.services.loading import audit_entries_create, created_changes, updated_changes
from procurement.models import Agreement, Award, DeliveryLine, OrderLine, Product, Round

PRICE = 4  # unit prices: 1/10000 yuan

PRODUCT_FIELDS = {
    "category": "category",
    "generic_name": "generic_name",
    "dosage_form": "dosage_form",
    "specification": "specification",
    "package": "package",
    "units_per_package": "units_per_package",
    "manufacturer_credit_code": "manufacturer",
}


def _product_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "code": frame["product_code"],
            "category": frame["category"],
            "generic_name": frame["generic_name"],
            "dosage_form": frame["dosage_form"],
            "specification": frame["specification"],
            "package": frame["package"],
            "units_per_package": frame["units_per_package"],
            "manufacturer_id": frame["manufacturer_credit_code"],
        }
    )


@transaction.atomic
def products_upsert(
    *, create: pd.DataFrame, update: pd.DataFrame, changes: list[dict], source: str, user: User | None
) -> tuple[int, int]:
    bulk_create_frame(Product, _product_rows(create))
    fields = [f for f in PRODUCT_FIELDS.values()]
    bulk_update_frame(Product, _product_rows(update), fields)
    audit_entries_create(
        model=Product._meta.label,
        created=created_changes(create, PRODUCT_FIELDS, "product_code"),
        updated=updated_changes(changes, PRODUCT_FIELDS),
        source=source,
        user=user,
    )
    return len(create), len(update)


ROUND_FIELDS = {
    "name": "name",
    "level": "level",
    "category": "category",
    "start_date": "start_date",
    "end_date": "end_date",
}


def _round_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"code": frame["round_code"], **{f: frame[c] for c, f in ROUND_FIELDS.items()}})


@transaction.atomic
def rounds_upsert(
    *, create: pd.DataFrame, update: pd.DataFrame, changes: list[dict], source: str, user: User | None
) -> tuple[int, int]:
    """Rounds are keyed by code; the audit names them by primary key like every other entry."""
    from interchange.bulk import dates

    conv = {"start_date": dates, "end_date": dates}
    bulk_create_frame(Round, _round_rows(create), conv)
    if not update.empty:
        ids = dict(Round.objects.filter(code__in=list(update["round_code"])).values_list("code", "id"))
        rows = _round_rows(update).assign(id=update["round_code"].map(ids))
        bulk_update_frame(Round, rows, ["code", *ROUND_FIELDS.values()], conv)
    codes = list(create["round_code"]) + [c["key"] for c in changes]
    pk = {c: str(i) for c, i in Round.objects.filter(code__in=codes).values_list("code", "id")}
    audit_entries_create(
        model=Round._meta.label,
        created=[(pk[k], ch) for k, ch in created_changes(create, ROUND_FIELDS, "round_code")],
        updated=[(pk[k], ch) for k, ch in updated_changes(changes, ROUND_FIELDS)],
        source=source,
        user=user,
    )
    return len(create), len(update)


@transaction.atomic
def awards_create(*, rows: pd.DataFrame) -> int:
    """New awards: ``rows`` has round_id, product_code, enterprise_credit_code, supply_region_code, award_price."""
    frame = pd.DataFrame(
        {
            "round_id": rows["round_id"],
            "product_id": rows["product_code"],
            "enterprise_id": rows["enterprise_credit_code"],
            "supply_region_id": rows["supply_region_code"],
            "award_price": rows["award_price"],
        }
    )
    return insert_rows(Award, frame, {"award_price": PRICE})


@transaction.atomic
def agreements_create(*, rows: pd.DataFrame) -> int:
    frame = pd.DataFrame(
        {
            "round_id": rows["round_id"],
            "hospital_id": rows["hospital_code"],
            "product_id": rows["product_code"],
            "year_start": rows["year_start"],
            "year_end": rows["year_end"],
            "agreed_qty": rows["agreed_qty"],
        }
    )
    return insert_rows(Agreement, frame, {"year_start": "date", "year_end": "date"})


@transaction.atomic
def order_lines_create(*, rows: pd.DataFrame) -> int:
    """New order lines; ``order_date`` is the Asia/Shanghai date the importer derived."""
    frame = pd.DataFrame(
        {
            "order_no": rows["order_no"],
            "line_no": rows["line_no"],
            "hospital_id": rows["hospital_code"],
            "distributor_id": rows["distributor_credit_code"],
            "product_id": rows["product_code"],
            "qty": rows["qty"],
            "unit_price": rows["unit_price"],
            "ordered_at": rows["ordered_at"],
            "order_date": rows["order_date"],
        }
    )
    return insert_rows(
        OrderLine,
        frame,
        {"unit_price": PRICE, "ordered_at": "timestamp", "order_date": "date"},
        order_by=("order_no", "line_no"),
    )


@transaction.atomic
def delivery_lines_create(*, rows: pd.DataFrame) -> int:
    """New delivery lines (no receipt yet); ``order_line_id`` resolved by the importer."""
    frame = pd.DataFrame(
        {
            "delivery_no": rows["delivery_no"],
            "line_no": rows["line_no"],
            "order_line_id": rows["order_line_id"],
            "qty": rows["qty"],
            "batch_no": rows["batch_no"],
            "expiry_date": rows["expiry_date"],
            "delivered_at": rows["delivered_at"],
            "delivery_date": rows["delivery_date"],
            "reject_reason": "",
        },
        index=rows.index,
    )
    return insert_rows(
        DeliveryLine, frame, {"expiry_date": "date", "delivered_at": "timestamp", "delivery_date": "date"}
    )


@transaction.atomic
def receipts_apply(*, rows: pd.DataFrame, user: User | None) -> int:
    """Record receipts on delivery lines that have none yet (``delivery_line_id`` resolved).

    A line that got a receipt meanwhile is left alone (the UPDATE is guarded), so a
    receipt is never overwritten.
    """
    who = user.pk if user is not None and getattr(user, "pk", None) else None
    frame = pd.DataFrame(
        {
            "id": rows["delivery_line_id"],
            "accepted_qty": rows["accepted_qty"],
            "rejected_qty": rows["rejected_qty"],
            "received_at": rows["received_at"],
            "accepted_date": rows["accepted_date"],
            "reject_reason": rows["reject_reason"],
            "received_by_id": pd.array([who] * len(rows), dtype="Int64"),
        },
        index=rows.index,
    )
    return update_rows(
        DeliveryLine,
        frame,
        {"received_at": "timestamp", "accepted_date": "date"},
        where="t.received_at IS NULL",
    )
