"""Bulk-load mode (interchange.bulk.bulk_load): a large write into a document table drops
the table's non-unique secondary indexes and its foreign keys, writes, then builds the
indexes again and adds the foreign keys back with one set-based validation each — in the
file's transaction. The result must be the ordinary path's, the schema must be exactly as
before, and a failure must leave rows, indexes and constraints as they were."""

from __future__ import annotations

import contextlib

import pytest
from django.db import IntegrityError, connection, transaction

from interchange import bulk
from interchange.services.imports import APPLIED, table_import
from procurement.models import DeliveryLine, OrderLine
from settlement.models import InvoiceLine
from tests.interchange.import_support import (
    DELIVERY_HEADER,
    INVOICE_HEADER,
    ORDER_HEADER,
    RECEIPT_HEADER,
    build_world,
    invoice_row,
    order_row,
    write_csv,
)

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="bulk-load mode is PostgreSQL only")
TABLES = ("procurement_orderline", "procurement_deliveryline", "settlement_invoiceline")


def _schema(table: str) -> tuple:
    """Every index (name, definition, valid) and constraint (name, definition, flags) of ``table``."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname, pg_get_indexdef(x.indexrelid), x.indisvalid FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = %s::regclass ORDER BY 1",
            [table],
        )
        indexes = tuple(cur.fetchall())
        cur.execute(
            "SELECT conname, pg_get_constraintdef(oid), convalidated, condeferrable, condeferred "
            "FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY 1",
            [table],
        )
        return indexes, tuple(cur.fetchall())


def _rows(model, *fields) -> list[tuple]:
    return list(model.objects.order_by(*fields[:2]).values_list(*fields))


ORDER_FIELDS = ("order_no", "line_no", "hospital_id", "distributor_id", "product_id", "qty", "unit_price", "ordered_at")
DELIVERY_FIELDS = ("delivery_no", "line_no", "order_line__order_no", "qty", "accepted_qty", "rejected_qty")
RECEIPT_FIELDS = (*DELIVERY_FIELDS, "received_at", "accepted_date", "reject_reason")
INVOICE_FIELDS = ("invoice_no", "line_no", "kind", "delivery_no", "qty", "unit_price", "amount", "tax_rate")


@pytest.fixture
def modes(monkeypatch):
    """Records what each bulk_load around a flush decided (True = indexes and FKs were dropped)."""
    seen: list[bool] = []
    real = bulk.bulk_load

    @contextlib.contextmanager
    def spy(model, rows, **kw):
        with real(model, rows, **kw) as used:
            seen.append(used)
            yield used

    monkeypatch.setattr(bulk, "bulk_load", spy)
    return seen


def _bulk(monkeypatch, on: bool) -> None:
    monkeypatch.setattr(bulk, "BULK_LOAD_MIN_ROWS", 1 if on else 10**12)


def _files(w, tmp_path):
    orders = [order_row(w, order_no=f"PO5{i:03d}", line_no=1 + i % 2, qty=4) for i in range(12)]
    deliveries = [
        [f"DL5{i:03d}", 1, f"PO5{i:03d}", 1 + i % 2, 4, "B1", "2028-01-01", "2026-09-11T10:00:00+08:00"]
        for i in range(12)
    ]
    receipts = [
        [f"DL5{i:03d}", 1, 4 - i % 2, i % 2, "2026-09-12T23:30:00+08:00", "破损 / damaged" if i % 2 else ""]
        for i in range(12)
    ]
    invoices = [
        invoice_row(w, invoice_no=f"2637000000000005{i:04d}", delivery_no=f"DL5{i:03d}", qty=4, amount="40.00")
        for i in range(12)
    ]
    return {
        "orders": write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders),
        "deliveries": write_csv(tmp_path / "deliveries.csv", DELIVERY_HEADER, deliveries),
        "receipts": write_csv(tmp_path / "receipts.csv", RECEIPT_HEADER, receipts),
        "invoices": write_csv(tmp_path / "invoices.csv", INVOICE_HEADER, invoices),
    }


def _load_all(files) -> list:
    reports = [table_import(table=t, path=files[t]) for t in ("orders", "deliveries", "receipts", "invoices")]
    assert [r.status for r in reports] == [APPLIED] * 4, [r.reason for r in reports]
    return [r.counts() for r in reports]


def _state():
    return (
        _rows(OrderLine, *ORDER_FIELDS),
        _rows(DeliveryLine, *RECEIPT_FIELDS),
        _rows(InvoiceLine, *INVOICE_FIELDS),
    )


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_bulk_load_writes_what_the_ordinary_path_writes_and_leaves_the_schema_identical(tmp_path, monkeypatch, modes):
    w = build_world()
    files = _files(w, tmp_path)
    schema = {t: _schema(t) for t in TABLES}
    results = []
    for on in (False, True):
        _bulk(monkeypatch, on)
        modes.clear()
        counts = _load_all(files)
        results.append((counts, _state()))
        assert modes == [on] * 4  # orders, deliveries, receipts (UPDATE), invoices
        assert {t: _schema(t) for t in TABLES} == schema
        # re-importing is a no-op (nothing staged, so no bulk load either)
        modes.clear()
        again = [table_import(table=t, path=files[t]) for t in ("orders", "deliveries", "receipts", "invoices")]
        assert [(r.created, r.updated) for r in again] == [(0, 0)] * 4
        assert modes == []
        assert _state() == results[-1][1]
        InvoiceLine.objects.filter(invoice_no__startswith="2637000000000005").delete()
        DeliveryLine.objects.filter(delivery_no__startswith="DL5").delete()
        OrderLine.objects.filter(order_no__startswith="PO5").delete()
    assert results[0] == results[1]
    assert len(results[1][1][2]) == 12 and results[1][1][1][-1][4:6] == (3, 1)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_failure_after_the_bulk_write_leaves_rows_indexes_and_constraints_as_before(tmp_path, monkeypatch, modes):
    w = build_world()
    files = _files(w, tmp_path)
    _bulk(monkeypatch, True)
    assert table_import(table="orders", path=files["orders"]).ok
    before = (_schema("procurement_deliveryline"), _rows(DeliveryLine, *RECEIPT_FIELDS))
    real = bulk.copy_insert

    def insert_then_fail(*args, **kw):
        real(*args, **kw)
        assert DeliveryLine.objects.filter(delivery_no__startswith="DL5").count() == 12  # written, indexes gone
        assert len(_schema("procurement_deliveryline")[0]) < len(before[0][0])
        raise RuntimeError("disk full")

    monkeypatch.setattr(bulk, "copy_insert", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        table_import(table="deliveries", path=files["deliveries"])
    assert modes[-1] is True
    assert (_schema("procurement_deliveryline"), _rows(DeliveryLine, *RECEIPT_FIELDS)) == before


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_bad_reference_slipping_past_the_loader_fails_the_set_based_validation(monkeypatch):
    """The foreign keys come back validated: a row the loader should have refused cannot stay."""
    w = build_world()
    _bulk(monkeypatch, True)
    before = (_schema("procurement_orderline"), _rows(OrderLine, *ORDER_FIELDS))
    with pytest.raises(IntegrityError), transaction.atomic():
        with bulk.bulk_load(OrderLine, 10) as used:
            assert used
            assert "procurement_orderlin_hospital_id_851634b1_fk_parties_h" not in str(_schema("procurement_orderline"))
            OrderLine.objects.create(
                order_no="PO9999",
                line_no=1,
                hospital_id="H99999999",
                distributor=w.distributor,
                product=w.product,
                qty=1,
                unit_price="1.0000",
                ordered_at=w.order_line.ordered_at,
                order_date=w.order_line.order_date,
            )
    assert (_schema("procurement_orderline"), _rows(OrderLine, *ORDER_FIELDS)) == before


@postgres_only
@pytest.mark.django_db
def test_pending_trigger_events_fall_back_to_the_ordinary_path(tmp_path, monkeypatch, modes):
    """Here the world is written in the import's own transaction (the test's): PostgreSQL refuses
    to drop a constraint of a table with pending trigger events, so the write takes the
    ordinary path — with the same result."""
    w = build_world()
    files = _files(w, tmp_path)
    _bulk(monkeypatch, True)
    schema = _schema("procurement_orderline")
    report = table_import(table="orders", path=files["orders"])
    assert report.ok and report.created == 12
    assert modes == [False]
    assert _schema("procurement_orderline") == schema


@pytest.mark.django_db
def test_small_writes_and_sqlite_keep_the_ordinary_path(tmp_path, monkeypatch, modes):
    w = build_world()
    files = _files(w, tmp_path)
    _bulk(monkeypatch, False)
    assert table_import(table="orders", path=files["orders"]).created == 12
    assert modes == ([False] if connection.vendor == "postgresql" else [])  # SQLite writes with bulk_create
    _bulk(monkeypatch, True)
    assert bulk.wants_bulk_load(OrderLine, 10**6) == (connection.vendor == "postgresql")
    assert not bulk.wants_bulk_load(OrderLine, 1)  # 1 row against the world's 2 order lines
