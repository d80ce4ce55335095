"""Row errors: each names row, column, value and reason, and nothing is written (strict)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from interchange import reasons
from interchange.services.imports import REJECTED, table_import
from parties.identifiers import credit_code_check_char
from parties.models import Enterprise, Region
from procurement.models import Agreement, DeliveryLine, OrderLine
from settlement.models import FundAllocation, InvoiceLine
from tests.factories import AwardFactory, InvoiceLineFactory, RoundFactory, at
from tests.interchange.import_support import (
    DELIVERY_HEADER,
    INVOICE_HEADER,
    ORDER_HEADER,
    RECEIPT_HEADER,
    build_world,
    counts,
    errors_of,
    invoice_row,
    order_row,
    write_csv,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def _import(table, tmp_path, header, rows, **kw):
    return table_import(table=table, path=write_csv(tmp_path / f"{table}.csv", header, rows), **kw)


def test_wrong_credit_code_check_character(world, tmp_path):
    first17 = "91371000MA3C00001"
    good = first17 + credit_code_check_char(first17)
    bad = first17 + ("0" if good[-1] != "0" else "1")
    header = ["credit_code", "name", "role", "bank_name", "bank_account"]
    rows = [[good, "好企业", "配送", "工商银行", "6222020000000001"], [bad, "坏企业", "生产", "", ""]]
    before = Enterprise.objects.count()
    report = _import("enterprises", tmp_path, header, rows)
    assert report.status == REJECTED
    assert errors_of(report) == [(3, "credit_code", bad, reasons.CREDIT_CHECK.code)]
    assert Enterprise.objects.count() == before  # strict: the good row is not written either


def test_distributor_without_bank_details(world, tmp_path):
    header = ["credit_code", "name", "role", "bank_name", "bank_account"]
    code = "91371000MA3C00002"
    code += credit_code_check_char(code)
    report = _import("enterprises", tmp_path, header, [[code, "配送企业甲", "生产配送", "", "12ab"]])
    assert errors_of(report) == [
        (2, "bank_account", "12ab", reasons.BANK_ACCOUNT.code),
        (2, "bank_name", "", reasons.BANK_REQUIRED.code),
    ]


def test_order_for_unknown_hospital(world, tmp_path):
    before = counts(OrderLine)
    report = _import("orders", tmp_path, ORDER_HEADER, [order_row(world, hospital_code="H37100299999")])
    assert report.status == REJECTED
    assert errors_of(report) == [(2, "hospital_code", "H37100299999", reasons.UNKNOWN_REFERENCE.code)]
    assert counts(OrderLine) == before


def test_order_from_a_manufacturer_is_refused(world, tmp_path):
    report = _import(
        "orders", tmp_path, ORDER_HEADER, [order_row(world, distributor_credit_code=world.manufacturer.credit_code)]
    )
    assert errors_of(report) == [
        (2, "distributor_credit_code", world.manufacturer.credit_code, reasons.NOT_DISTRIBUTOR.code)
    ]


def test_negative_quantity(world, tmp_path):
    before = counts(OrderLine)
    report = _import("orders", tmp_path, ORDER_HEADER, [order_row(world), order_row(world, line_no=2, qty=-3)])
    assert errors_of(report) == [(3, "qty", "-3", reasons.NOT_POSITIVE.code)]
    assert counts(OrderLine) == before


def test_three_decimal_amount(world, tmp_path):
    before = counts(InvoiceLine)
    report = _import("invoices", tmp_path, INVOICE_HEADER, [invoice_row(world, amount="100.005")])
    assert report.status == REJECTED
    assert errors_of(report) == [(2, "amount", "100.005", reasons.TOO_MANY_DECIMALS.code)]
    assert counts(InvoiceLine) == before


def test_unit_price_takes_four_decimals_and_trailing_zeros(world, tmp_path):
    rows = [order_row(world, unit_price="12.3456"), order_row(world, line_no=2, unit_price="1.230000")]
    rows.append(order_row(world, line_no=3, unit_price="1.23456"))
    report = _import("orders", tmp_path, ORDER_HEADER, rows)
    assert errors_of(report) == [(4, "unit_price", "1.23456", reasons.TOO_MANY_DECIMALS.code)]


def test_conflicting_duplicate_inside_the_file(world, tmp_path):
    rows = [order_row(world), order_row(world, qty=21), order_row(world, line_no=2), order_row(world, line_no=2)]
    before = counts(OrderLine)
    report = _import("orders", tmp_path, ORDER_HEADER, rows)
    # rows 2 and 3: same key, different qty → both refused; rows 4 and 5 identical → one kept
    assert errors_of(report) == [
        (2, "line_no", "1", reasons.DUPLICATE_KEY.code),
        (3, "line_no", "1", reasons.DUPLICATE_KEY.code),
    ]
    assert counts(OrderLine) == before


def test_conflict_with_a_stored_document(world, tmp_path):
    # given the stored order line PO0001/1 (10 packages); the file says 11
    row = order_row(world, order_no="PO0001", qty=11, unit_price="10", ordered_at="2026-09-01T09:00:00+08:00")
    report = _import("orders", tmp_path, ORDER_HEADER, [row])
    assert report.status == REJECTED
    assert errors_of(report) == [(2, "qty", "11", reasons.CONFLICT.code)]
    assert "10 → 11" in report.error_list()[0]["message"]
    assert OrderLine.objects.get(order_no="PO0001").qty == 10


def test_accepted_plus_rejected_must_equal_delivered(world, tmp_path):
    rows = [["DL0001", 1, 8, 1, "2026-09-03T10:00:00+08:00", "破损"]]
    report = _import("receipts", tmp_path, RECEIPT_HEADER, rows)
    assert report.status == REJECTED
    assert errors_of(report) == [(2, "accepted_qty", "8", reasons.QTY_MISMATCH.code)]
    world.delivery_line.refresh_from_db()
    assert world.delivery_line.accepted_qty is None


def test_rejection_needs_a_reason_and_receipt_not_before_delivery(world, tmp_path):
    rows = [["DL0001", 1, 9, 1, "2026-09-01T10:00:00+08:00", ""]]
    report = _import("receipts", tmp_path, RECEIPT_HEADER, rows)
    assert errors_of(report) == [
        (2, "received_at", "2026-09-01T10:00:00+08:00", reasons.RECEIVED_BEFORE_DELIVERED.code),
        (2, "reject_reason", "", reasons.REJECT_REASON_REQUIRED.code),
    ]


def test_receipt_is_stored_on_the_delivery_line(world, tmp_path):
    reason = '破损, "漏液"\n一盒'  # comma, quotes and a line break survive CSV and COPY
    rows = [["DL0001", 1, 9, 1, "2026-09-02T20:00:00Z", reason]]
    report = _import("receipts", tmp_path, RECEIPT_HEADER, rows)
    assert report.ok and report.updated == 1
    line = DeliveryLine.objects.get(pk=world.delivery_line.pk)
    assert (line.accepted_qty, line.rejected_qty, line.reject_reason) == (9, 1, reason)
    assert line.accepted_date == dt.date(2026, 9, 3)  # 20:00Z is 04:00 next day in Shanghai
    # a different receipt for the same line later is a conflict
    rows = [["DL0001", 1, 10, 0, "2026-09-04T10:00:00+08:00", ""]]
    report = _import("receipts", tmp_path, RECEIPT_HEADER, rows)
    assert errors_of(report) == [(2, "accepted_qty", "10", reasons.RECEIPT_CONFLICT.code)]


def test_delivered_before_ordered(world, tmp_path):
    rows = [["DL9000", 1, "PO0001", 1, 5, "B1", "2028-01-31", "2026-08-31T10:00:00+08:00"]]
    DeliveryLine.objects.filter(pk=world.delivery_line.pk).delete()
    before = counts(DeliveryLine)
    report = _import("deliveries", tmp_path, DELIVERY_HEADER, rows)
    assert errors_of(report) == [
        (2, "delivered_at", "2026-08-31T10:00:00+08:00", reasons.DELIVERED_BEFORE_ORDERED.code)
    ]
    assert counts(DeliveryLine) == before


def test_total_delivered_may_not_exceed_ordered_including_stored_deliveries(world, tmp_path):
    # given PO0001/1 ordered 10, of which 10 already delivered (DL0001); a second order line with room for 10
    rows = [
        ["DL9000", 1, "PO0001", 1, 1, "B1", "2028-01-31", "2026-09-03T10:00:00+08:00"],
        ["DL9000", 2, "PO0001", 9, 1, "B1", "2028-01-31", "2026-09-03T10:00:00+08:00"],
    ]
    report = _import("deliveries", tmp_path, DELIVERY_HEADER, rows)
    assert errors_of(report) == [
        (2, "qty", "1", reasons.OVER_DELIVERED.code),
        (3, "order_no", "PO0001", reasons.UNKNOWN_REFERENCE.code),
    ]
    assert "11 > 10" in report.error_list()[0]["message"]


def test_red_invoice_rules(world, tmp_path):
    blue = invoice_row(world)
    red_positive = invoice_row(
        world, invoice_no="26370000000000000002", kind="红字", original_invoice_no=blue[0], qty=2, amount="20.00"
    )
    red_without_original = invoice_row(world, invoice_no="26370000000000000003", kind="red", qty=-1, amount="-10.00")
    paper = invoice_row(world, invoice_no="12345678", line_no=1)
    report = _import("invoices", tmp_path, INVOICE_HEADER, [blue, red_positive, red_without_original, paper])
    assert errors_of(report) == [
        (3, "amount", "20.00", reasons.SIGN_BY_KIND.code),
        (3, "qty", "2", reasons.SIGN_BY_KIND.code),
        (4, "original_invoice_no", "", reasons.ORIGINAL_REQUIRED.code),
        (5, "invoice_code", "", reasons.INVOICE_CODE.code),
    ]
    assert InvoiceLine.objects.count() == 0


def test_invoice_without_delivery_line_is_imported_with_null_reference(world, tmp_path):
    blue = invoice_row(world, delivery_no="DL-MISSING")
    red = invoice_row(
        world, invoice_no="26370000000000000009", kind="red", original_invoice_no=blue[0], qty=-1, amount="-10.00"
    )
    report = _import("invoices", tmp_path, INVOICE_HEADER, [blue, red])
    assert report.ok, report.error_list()
    line = InvoiceLine.objects.get(invoice_no=blue[0])
    assert line.delivery_line_id is None and line.delivery_no == "DL-MISSING"
    assert line.amount == Decimal("100.00") and line.match_status == "pending"
    assert InvoiceLine.objects.get(kind="red").original_invoice_no == blue[0]


def test_red_line_needs_a_known_blue_original(world, tmp_path):
    red = invoice_row(world, kind="red", original_invoice_no="26370000000000099999", qty=-1, amount="-10.00")
    report = _import("invoices", tmp_path, INVOICE_HEADER, [red])
    assert errors_of(report) == [(2, "original_invoice_no", "26370000000000099999", reasons.UNKNOWN_REFERENCE.code)]


def test_stored_blue_original_is_found(world, tmp_path):
    blue = InvoiceLineFactory(delivery_line=world.delivery_line)
    red = invoice_row(
        world,
        invoice_no="26370000000000000777",
        kind="red",
        original_invoice_no=blue.invoice_no,
        qty=-1,
        amount="-10.00",
    )
    report = _import("invoices", tmp_path, INVOICE_HEADER, [red])
    assert report.ok, report.error_list()


def test_agreement_needs_an_award_covering_the_hospital_region_and_year_inside_round(world, tmp_path):
    rnd = RoundFactory(code="NVBP-9", start_date=dt.date(2026, 1, 1), end_date=dt.date(2027, 12, 31))
    other_product = type(world.product).objects.create(
        code="XA01ABD075A002010100999", category="drug", generic_name="药", dosage_form="片剂",
        specification="1mg", package="7片/盒", units_per_package=7, manufacturer=world.manufacturer,
    )  # fmt: skip
    AwardFactory(round=rnd, product=world.product, supply_region=world.city)  # covers 371002
    AwardFactory(round=rnd, product=other_product, supply_region=world.other_city)  # does not
    header = ["round_code", "hospital_code", "product_code", "year_start", "year_end", "agreed_qty"]
    rows = [
        ["NVBP-9", world.hospital.code, world.product.code, "2026-01-01", "2026-12-31", 100],
        ["NVBP-9", world.hospital.code, other_product.code, "2026-01-01", "2026-12-31", 100],
        ["NVBP-9", world.hospital.code, world.product.code, "2028-01-01", "2028-12-31", 100],
    ]
    report = _import("agreements", tmp_path, header, rows)
    assert errors_of(report) == [
        (3, "product_code", other_product.code, reasons.NO_AWARD.code),
        (4, "year_start", "2028-01-01", reasons.OUTSIDE_ROUND.code),
    ]
    assert Agreement.objects.count() == 0
    report = _import("agreements", tmp_path, header, rows[:1])
    assert report.ok and Agreement.objects.get().agreed_qty == 100


def test_fund_allocation_period_and_amount(world, tmp_path):
    header = ["hospital_code", "period", "amount"]
    rows = [[world.hospital.code, "2026-13", "10.00"], [world.hospital.code, "2026-09", "-1.00"]]
    report = _import("fund_allocations", tmp_path, header, rows)
    assert errors_of(report) == [
        (2, "period", "2026-13", reasons.BAD_PERIOD.code),
        (3, "amount", "-1.00", reasons.NEGATIVE.code),
    ]
    assert FundAllocation.objects.count() == 0


def test_region_parent_must_exist_and_cover(world, tmp_path):
    header = ["region_code", "name", "parent_code"]
    rows = [
        ["371003", "文登区", "371000"],
        ["371082", "荣成市", "370200"],
        ["371083", "乳山市", "379900"],
        ["37108X", "x", ""],
    ]
    before = Region.objects.count()
    report = _import("regions", tmp_path, header, rows)
    assert errors_of(report) == [
        (3, "parent_code", "370200", reasons.PARENT_NOT_COVERING.code),
        (4, "parent_code", "379900", reasons.UNKNOWN_REFERENCE.code),
        (5, "region_code", "37108X", reasons.REGION_FORMAT.code),
    ]
    assert Region.objects.count() == before


def test_every_bad_row_is_reported_in_one_pass_with_a_report_file(world, tmp_path):
    rows = [
        order_row(world, line_no=1, qty="x"),
        order_row(world, line_no=2, unit_price="1.2.3"),
        order_row(world, line_no=3, ordered_at="yesterday"),
        order_row(world, line_no=4, product_code="XNOPE"),
    ]
    report = _import("orders", tmp_path, ORDER_HEADER, rows)
    assert [(r, c, reason) for r, c, _v, reason in errors_of(report)] == [
        (2, "qty", reasons.BAD_INTEGER.code),
        (3, "unit_price", reasons.BAD_DECIMAL.code),
        (4, "ordered_at", reasons.BAD_TIMESTAMP.code),
        (5, "product_code", reasons.UNKNOWN_REFERENCE.code),
    ]
    text = (tmp_path / "orders.csv.errors.csv").read_bytes()
    assert text.startswith(b"\xef\xbb\xbfrow,column,value,reason,message")
    assert text.decode("utf-8-sig").count("\n") == 5


def test_timestamps_are_stored_aware(world, tmp_path):
    report = _import("orders", tmp_path, ORDER_HEADER, [order_row(world, ordered_at="2026-09-10 08:00")])
    assert report.ok
    assert OrderLine.objects.get(order_no="PO1000").ordered_at == at("2026-09-10", 8)
