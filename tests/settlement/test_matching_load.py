"""Matching's load on PostgreSQL (``COPY … TO STDOUT`` parsed by pandas) returns the same frame
as the plain ``fetchall`` path: same columns, values, NULLs and empty strings, and it still
locks the lines it read."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest
from django.db import connection, transaction

from settlement.models import InvoiceLine
from settlement.services import matching
from tests.factories import DeliveryLineFactory, InvoiceLineFactory, OrderLineFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY load is PostgreSQL only"),
]


def _received(qty=10):
    order = OrderLineFactory(qty=qty)
    return DeliveryLineFactory(
        order_line=order,
        qty=qty,
        accepted_qty=qty,
        rejected_qty=0,
        received_at=order.ordered_at + dt.timedelta(days=2),
        accepted_date=(order.ordered_at + dt.timedelta(days=2)).date(),
    )


def _lines():
    """Lines with NULL and empty text, quotes and commas, red lines and a missing delivery line."""
    dl = _received()
    blue = InvoiceLineFactory(delivery_line=dl, invoice_code="", invoice_no='12,"34"')
    InvoiceLineFactory(
        delivery_line=dl,
        kind="red",
        original_invoice_code=blue.invoice_code,
        original_invoice_no=blue.invoice_no,
        qty=-2,
        amount=-(2 * blue.unit_price).quantize(Decimal("0.01")),
    )
    pending = DeliveryLineFactory()  # not received yet: NULL receipt columns
    InvoiceLineFactory(delivery_line=pending, invoice_code="3700")
    InvoiceLineFactory(
        delivery_line=None,
        delivery_no="DL-MISSING",
        delivery_line_no=1,
        distributor=dl.order_line.distributor,
        hospital=dl.order_line.hospital,
        qty=10,
        unit_price=Decimal("1.2500"),
        amount=Decimal("12.50"),
        issued_at=dt.date(2026, 3, 1),
    )
    InvoiceLine.objects.filter(pk=blue.pk).update(exception_codes="", dispute_reason='a, "b"\nc')
    return dl


def _values(column: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in column.astype(object)]


def _both(prefix):
    """(fetchall frame, COPY frame) of the same load statement, in one transaction."""
    captured = {}

    def keep(cursor, sql, params):
        captured["sql"], captured["params"] = sql, params
        return matching._load_fetchall(cursor, sql, params)

    with transaction.atomic():
        original = matching._load_copy
        matching._load_copy = keep
        try:
            fetched = matching._load(prefix, None, None)
        finally:
            matching._load_copy = original
        with connection.cursor() as cursor:
            copied = matching._load_copy(cursor, captured["sql"], captured["params"])
    return fetched, copied


def test_copy_load_equals_fetchall_load():
    dl = _lines()
    fetched, copied = _both(None)
    assert len(fetched) == InvoiceLine.objects.count() == 4
    assert list(copied.columns) == list(fetched.columns) == matching._COLUMNS
    # accepted_date: ISO text from COPY, a date from fetchall; _gather reads both as dates.
    for frame in (fetched, copied):
        frame["accepted_date"] = pd.to_datetime(frame["accepted_date"])
    for col in matching._COLUMNS:
        if col in matching._INT_COLUMNS:
            assert copied[col].dtype == fetched[col].dtype == "Int64", col
        elif col in matching._DATE_COLUMNS or col == "accepted_date":
            assert copied[col].dtype.kind == fetched[col].dtype.kind == "M", col
        # Text: object on the COPY path; from records pandas infers str or object by content.
        assert _values(copied[col]) == _values(fetched[col]), col
    # Empty strings stay empty strings, NULL stays None.
    row = copied.set_index("id").loc[InvoiceLine.objects.get(invoice_no='12,"34"').pk]
    assert row["invoice_code"] == "" and row["exception_codes"] == "" and row["disputed"] == 1
    assert row["st_status"] is None
    missing = copied[copied["delivery_no"] == "DL-MISSING"].iloc[0]
    assert missing["dl_id"] is pd.NA and missing["product_id"] is None and pd.isna(missing["order_date"])
    assert dl.pk in set(copied["dl_id"].dropna().astype(int))


def test_copy_load_locks_the_lines():
    _lines()
    with transaction.atomic():
        frame = matching._load(None, None, None)
        with connection.cursor() as cursor:
            # FOR UPDATE marks each row it locked with this transaction's id.
            cursor.execute(f"SELECT count(*) FROM {InvoiceLine._meta.db_table} WHERE xmax = pg_current_xact_id()::xid")
            assert cursor.fetchone()[0] == len(frame) == 4
