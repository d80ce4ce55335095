"""Large files are read in chunks (bounded memory) with the same result as reading them whole:
one transaction per file, every bad row reported in one pass, duplicates found across chunks."""

from __future__ import annotations

import pytest

from interchange import reasons
from interchange.services import imports
from interchange.services.imports import APPLIED, REJECTED, table_import
from procurement.models import DeliveryLine, OrderLine
from settlement.models import InvoiceLine
from tests.interchange.import_support import (
    DELIVERY_HEADER,
    INVOICE_HEADER,
    ORDER_HEADER,
    build_world,
    counts,
    errors_of,
    invoice_row,
    order_row,
    write_csv,
)

pytestmark = pytest.mark.django_db

CHUNK = 4  # rows per chunk in these tests; a file of 10 rows is 3 chunks


@pytest.fixture
def world():
    return build_world()


@pytest.fixture
def chunked(monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", CHUNK)


def _orders(world, n=10, **over):
    return [order_row(world, order_no=f"PO2{i:03d}", line_no=1, **over) for i in range(n)]


def _import_both_ways(monkeypatch, table, path, **kw):
    """(chunked report, whole-file report) of the same file, each on a fresh state (rolled back)."""
    from django.db import transaction

    out = []
    for size in (CHUNK, 10**9):
        monkeypatch.setattr(imports, "CHUNK_ROWS", size)
        with transaction.atomic():
            report = table_import(table=table, path=path, **kw)
            state = (counts(OrderLine, DeliveryLine, InvoiceLine), report.counts(), errors_of(report), report.status)
            transaction.set_rollback(True)
        out.append(state)
    return out


def test_bad_row_in_second_chunk_and_duplicate_across_chunks_are_reported_and_nothing_is_written(
    world, tmp_path, chunked
):
    rows = _orders(world)
    rows[5] = order_row(world, order_no="PO2005", qty="x")  # file row 7: 2nd chunk (rows 6-9)
    rows[9] = order_row(world, order_no="PO2001", qty=99)  # file row 11, 3rd chunk: same key as row 3, other content
    rows.append(order_row(world, order_no="PO2002"))  # file row 12: identical to row 4 → skipped
    before = counts(OrderLine, DeliveryLine)
    report = table_import(table="orders", path=write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows))
    assert report.status == REJECTED
    assert errors_of(report) == [
        (3, "line_no", "1", reasons.DUPLICATE_KEY.code),
        (7, "qty", "x", reasons.BAD_INTEGER.code),
        (11, "line_no", "1", reasons.DUPLICATE_KEY.code),
    ]
    assert [e["message"].split("(")[-1] for e in report.error_list() if e["row"] in (3, 11)] == ["rows 3, 11)"] * 2
    assert counts(OrderLine, DeliveryLine) == before
    assert (tmp_path / "orders.csv.errors.csv").read_text(encoding="utf-8-sig").count("\n") == 4


def test_lenient_duplicate_across_chunks_refuses_both_rows_and_writes_the_rest(world, tmp_path, chunked):
    rows = _orders(world)
    rows[8] = order_row(world, order_no="PO2000", qty=7)  # file row 10 vs row 2 (1st chunk)
    report = table_import(table="orders", path=write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows), lenient=True)
    assert report.status == APPLIED
    assert [(r, c) for r, c, _v, _why in errors_of(report)] == [(2, "line_no"), (10, "line_no")]
    assert report.counts() == {"read": 10, "created": 8, "updated": 0, "unchanged": 0, "rejected": 2}
    assert not OrderLine.objects.filter(order_no="PO2000").exists()
    # re-importing the same file changes nothing
    again = table_import(table="orders", path=tmp_path / "orders.csv", lenient=True)
    assert (again.created, again.unchanged, again.rejected) == (0, 8, 2)
    assert OrderLine.objects.filter(order_no__startswith="PO2").count() == 8


def test_chunked_and_whole_file_give_the_same_result(world, tmp_path, monkeypatch):
    rows = _orders(world, 9)
    rows[2] = order_row(world, order_no="PO2002", hospital_code="NOPE")  # unknown reference, 1st chunk
    rows.append(order_row(world, order_no="PO2006", unit_price="1.23456"))  # too many decimals, 3rd chunk
    rows.append(order_row(world, order_no="PO2004", line_no=1))  # exact duplicate across chunks
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    for lenient in (False, True):
        chunks, whole = _import_both_ways(monkeypatch, "orders", path, lenient=lenient)
        assert chunks == whole


def test_over_delivery_counts_the_earlier_chunks_of_the_file(world, tmp_path, monkeypatch):
    # the stored order line PO0001/1 has 10 ordered and 10 delivered; a new order of 10 …
    write_csv(tmp_path / "orders.csv", ORDER_HEADER, [order_row(world, order_no="PO3000", qty=10)])
    assert table_import(table="orders", path=tmp_path / "orders.csv").ok
    # … delivered 3 at a time over 5 rows (chunks of 4): rows 5 and 6 go over (12 > 10, 15 > 10)
    rows = [[f"DL3{i}", 1, "PO3000", 1, 3, "B1", "2028-01-01", "2026-09-11T10:00:00+08:00"] for i in range(5)]
    path = write_csv(tmp_path / "deliveries.csv", DELIVERY_HEADER, rows)
    for lenient in (False, True):
        chunks, whole = _import_both_ways(monkeypatch, "deliveries", path, lenient=lenient)
        assert chunks == whole
        assert [(r, c, why) for r, c, _v, why in chunks[2]] == [
            (5, "qty", reasons.OVER_DELIVERED.code),
            (6, "qty", reasons.OVER_DELIVERED.code),
        ]


def test_red_invoice_may_name_a_blue_original_in_a_later_chunk(world, tmp_path, monkeypatch):
    blue_no = "26370000000000000042"
    red = invoice_row(
        world,
        invoice_no="26370000000000000043",
        kind="red",
        original_invoice_no=blue_no,
        qty=-1,
        amount="-10.00",
    )
    filler = [invoice_row(world, invoice_no=f"263700000000000001{i:02d}") for i in range(5)]
    blue = invoice_row(world, invoice_no=blue_no)
    path = write_csv(tmp_path / "invoices.csv", INVOICE_HEADER, [red, *filler, blue])  # red row 2, blue row 8
    for lenient in (False, True):
        chunks, whole = _import_both_ways(monkeypatch, "invoices", path, lenient=lenient)
        assert chunks == whole
        assert chunks[3] == APPLIED and chunks[1]["created"] == 7


def test_every_chunk_reports_in_the_callers_language(world, tmp_path, chunked):
    # given a file whose bad cells sit in its first and its last chunk
    from django.utils import translation

    rows = _orders(world)
    rows[1] = order_row(world, order_no="PO2001", qty="x")  # file row 3, 1st chunk
    rows[8] = order_row(world, order_no="PO2008", qty="")  # file row 10, 3rd chunk
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    # when an English-speaking user imports it
    with translation.override("en"):
        report = table_import(table="orders", path=path)
    # then every message, from whichever chunk, is in English, and in file order
    assert [(e["row"], e["column"], e["message"]) for e in report.error_list()] == [
        (3, "qty", "must be an integer"),
        (10, "qty", "required value is blank"),
    ]
    # and in the default language the same rows say both
    report = table_import(table="orders", path=path)
    assert [e["message"] for e in report.error_list()] == [
        str(reasons.BAD_INTEGER.message),
        str(reasons.REQUIRED.message),
    ]


def test_an_unreadable_row_in_a_later_chunk_rejects_the_file(world, tmp_path, chunked):
    # given a file whose 3rd chunk has a row the CSV reader cannot read (an open quote)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, _orders(world))
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    lines[10] = lines[10].replace("PO2009", '"PO2009', 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = counts(OrderLine)
    # when it is imported
    report = table_import(table="orders", path=path)
    # then the file is refused as unreadable and nothing is written
    assert report.status == REJECTED
    assert report.reason.startswith(str(reasons.UNREADABLE))
    assert counts(OrderLine) == before
