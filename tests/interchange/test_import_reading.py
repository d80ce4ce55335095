"""Reading files: encodings, XLSX, headers, normalisation of hand-made sheets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from interchange import reasons
from interchange.services.imports import REJECTED, table_import
from procurement.models import OrderLine
from tests.interchange.import_support import (
    ORDER_HEADER,
    build_world,
    errors_of,
    order_row,
    write_csv,
    write_xlsx,
)

pytestmark = pytest.mark.django_db

ZH_ORDER_HEADER = ["订单编号", "订单明细号", "医疗机构编码", "配送企业", "医保编码", "采购数量", "采购单价", "下单时间"]


@pytest.fixture
def world():
    return build_world()


def test_gb18030_file_with_chinese_headers_imports(world, tmp_path):
    # given a file as Excel on a Chinese Windows writes it: GB18030, Chinese headers
    path = write_csv(tmp_path / "orders.csv", ZH_ORDER_HEADER, [order_row(world)], encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    # when it is imported
    report = table_import(table="orders", path=path)
    # then the row is stored with its values
    assert report.ok, report.error_list()
    assert report.encoding == "gb18030"
    line = OrderLine.objects.get(order_no="PO1000", line_no=1)
    assert line.qty == 20
    assert line.unit_price == Decimal("12.5000")
    assert line.hospital_id == world.hospital.code


def test_utf8_bom_file_imports(world, tmp_path):
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, [order_row(world)], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    report = table_import(table="orders", path=path)
    assert report.ok and report.created == 1
    assert report.encoding == "utf-8-sig"
    assert OrderLine.objects.filter(order_no="PO1000").exists()


def test_xlsx_first_sheet_imports(world, tmp_path):
    # given an XLSX with numbers and a date cell as Excel stores them
    row = order_row(world, qty=7, unit_price=12.25, ordered_at=dt.datetime(2026, 9, 10, 9, 30))
    row[1] = 1  # an int cell
    path = write_xlsx(tmp_path / "orders.xlsx", ORDER_HEADER, [row])
    report = table_import(table="orders", path=path)
    assert report.ok, report.error_list()
    line = OrderLine.objects.get(order_no="PO1000")
    assert (line.qty, line.unit_price) == (7, Decimal("12.2500"))
    assert line.order_date == dt.date(2026, 9, 10)  # no zone: Asia/Shanghai


def test_full_width_digits_and_thousands_separators_are_normalised(world, tmp_path):
    # given cells typed with full-width digits/colon and a thousands separator
    row = order_row(world, qty="１,２００", unit_price="1,234.5", ordered_at="２０２６-09-10 09：30：00")
    row[0] = " PO1000 "
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, [row])
    report = table_import(table="orders", path=path)
    assert report.ok, report.error_list()
    line = OrderLine.objects.get(order_no="PO1000")
    assert line.qty == 1200
    assert line.unit_price == Decimal("1234.5000")
    assert line.order_date == dt.date(2026, 9, 10)


def test_timestamp_zones_and_shanghai_dates(world, tmp_path):
    # 2026-09-15T16:05:00Z is 2026-09-16 00:05 in Shanghai: ordered on the 16th.
    rows = [
        order_row(world, line_no=1, ordered_at="2026-09-15T16:05:00Z"),
        order_row(world, line_no=2, ordered_at="2026-09-15T23:59:00"),
        order_row(world, line_no=3, ordered_at="2026-09-15T12:00:00-05:00"),
    ]
    report = table_import(table="orders", path=write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows))
    assert report.ok, report.error_list()
    got = dict(OrderLine.objects.filter(order_no="PO1000").values_list("line_no", "order_date"))
    assert got == {1: dt.date(2026, 9, 16), 2: dt.date(2026, 9, 15), 3: dt.date(2026, 9, 16)}
    first = OrderLine.objects.get(order_no="PO1000", line_no=1)
    assert first.ordered_at == dt.datetime(2026, 9, 15, 16, 5, tzinfo=dt.UTC)


def test_missing_required_column_rejects_file_before_anything_is_written(world, tmp_path):
    # given a file without the qty column
    header = [h for h in ORDER_HEADER if h != "qty"]
    row = [v for h, v in zip(ORDER_HEADER, order_row(world), strict=True) if h != "qty"]
    before = OrderLine.objects.count()
    report = table_import(table="orders", path=write_csv(tmp_path / "orders.csv", header, [row]))
    assert report.status == REJECTED
    assert errors_of(report) == [(1, "qty", "qty", reasons.MISSING_COLUMN.code)]
    assert OrderLine.objects.count() == before
    assert report.report_path.endswith("orders.csv.errors.csv")


def test_unknown_column_is_a_warning_and_row_numbers_count_the_header(world, tmp_path):
    # given an extra column and a blank line before a bad row
    header = [*ORDER_HEADER, "备注"]
    path = tmp_path / "orders.csv"
    lines = [",".join(header), ",".join(map(str, order_row(world, line_no=1))) + ",x", ""]
    lines.append(",".join(map(str, order_row(world, line_no=2, qty="abc"))) + ",y")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = table_import(table="orders", path=path)
    assert any("备注" in w for w in report.warnings)
    # the bad row is the 4th line of the file (header = row 1, blank line 3 keeps its number)
    assert errors_of(report) == [(4, "qty", "abc", reasons.BAD_INTEGER.code)]
    assert report.read == 2


def test_unreadable_xlsx_is_rejected_with_a_reason(world, tmp_path):
    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    report = table_import(table="orders", path=path)
    assert report.status == REJECTED
    assert str(reasons.UNREADABLE) in report.reason
