"""The ``payables`` export (INTERCHANGE.md "Output tables"): columns, values, scoping."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from interchange.exports import exports_registry
from settlement.exports import PAYABLES_COLUMNS, payables_rows
from settlement.models import InvoiceLine
from settlement.services.matching import invoices_match
from settlement.services.statements import statement_confirm, statements_build
from tests.factories import (
    DeliveryLineFactory,
    EnterpriseFactory,
    HospitalFactory,
    InvoiceLineFactory,
    OrderLineFactory,
    RegionFactory,
    UserFactory,
    enterprise_user,
    hospital_user,
)
from tests.settlement.test_lines import put_in_batch

pytestmark = pytest.mark.django_db

SPEC_COLUMNS = (
    "invoice_no, line_no, hospital_code, distributor_credit_code, product_code, qty, amount, "
    "match_status, exception_codes, received_at, due_date, statement_no, batch_no, "
    "deducted_amount, prepayment_amount, collection_amount, paid_amount, paid_at"
)


def rows_by_invoice(user, **filters) -> dict[str, dict]:
    return {r[0]: dict(zip(PAYABLES_COLUMNS, r, strict=True)) for r in payables_rows(user=user, **filters)}


@pytest.fixture
def admin():
    return UserFactory(role="admin")


def test_columns_are_those_of_the_spec_in_order():
    assert ", ".join(PAYABLES_COLUMNS) == SPEC_COLUMNS
    spec = exports_registry()["payables"]
    assert spec.columns == PAYABLES_COLUMNS and set(spec.filters) == {"region", "period"}


def test_a_matched_line_on_a_statement(admin):
    line = InvoiceLineFactory()
    invoices_match()
    statements_build()
    line.refresh_from_db()
    row = rows_by_invoice(admin)[line.invoice_no]
    dl = line.delivery_line
    assert row["line_no"] == 1
    assert (row["hospital_code"], row["distributor_credit_code"]) == (line.hospital_id, line.distributor_id)
    assert row["product_code"] == dl.order_line.product_id
    assert (row["qty"], row["amount"]) == (10, Decimal("100.00"))
    assert (row["match_status"], row["exception_codes"]) == ("matched", "")
    assert row["received_at"] == "2026-09-03T09:00:00+08:00"
    assert row["due_date"] == dt.date(2026, 10, 3)
    assert row["statement_no"] == line.statement.no
    assert row["batch_no"] == "" and row["deducted_amount"] is None and row["paid_at"] is None


def test_paper_invoice_numbers_no_delivery_and_reversed_lines(admin):
    paper = InvoiceLineFactory(invoice_code="3700261130", invoice_no="00012345")
    orphan_dl = DeliveryLineFactory(received=True)
    orphan = InvoiceLineFactory(
        delivery_line=None,
        delivery_no="DL-MISSING",
        delivery_line_no=1,
        distributor=orphan_dl.order_line.distributor,
        hospital=orphan_dl.order_line.hospital,
        qty=2,
        unit_price=Decimal("5.0000"),
        amount=Decimal("10.00"),
        issued_at=dt.date(2026, 9, 4),
    )
    gone = InvoiceLineFactory()
    partial = InvoiceLineFactory()
    for blue, back in ((gone, 10), (partial, 4)):
        InvoiceLineFactory(
            delivery_line=blue.delivery_line,
            kind="red",
            original_invoice_no=blue.invoice_no,
            qty=-back,
            amount=-Decimal(back) * 10,
        )
    invoices_match()
    rows = rows_by_invoice(admin)
    assert "3700261130-00012345" in rows and rows["3700261130-00012345"]["line_no"] == paper.line_no
    assert rows[orphan.invoice_no]["product_code"] == "" and rows[orphan.invoice_no]["exception_codes"] == "NO_DELIVERY"
    assert (rows[gone.invoice_no]["match_status"], rows[gone.invoice_no]["amount"], rows[gone.invoice_no]["qty"]) == (
        "reversed",
        Decimal("0.00"),
        0,
    )
    assert (rows[partial.invoice_no]["qty"], rows[partial.invoice_no]["amount"]) == (6, Decimal("60.00"))
    assert len(rows) == 4  # blue lines only


def test_funding_columns_are_blank_until_the_batch_is_approved(admin):
    drafted, approved = InvoiceLineFactory(), InvoiceLineFactory()
    invoices_match()
    statements_build()
    for line in (drafted, approved):
        line.refresh_from_db()
        statement_confirm(statement_no=line.statement.no, user=hospital_user(line.hospital))
    draft_line = put_in_batch(drafted, "submitted")
    approved_line = put_in_batch(approved, "approved", paid=True)
    rows = rows_by_invoice(admin)
    assert rows[drafted.invoice_no]["batch_no"] == draft_line.batch.no
    assert rows[drafted.invoice_no]["deducted_amount"] is None and rows[drafted.invoice_no]["paid_amount"] is None
    row = rows[approved.invoice_no]
    assert row["batch_no"] == approved_line.batch.no
    assert (row["deducted_amount"], row["prepayment_amount"], row["collection_amount"]) == (
        Decimal("100.00"),
        Decimal("0.00"),
        Decimal("0.00"),
    )
    assert row["paid_amount"] == Decimal("100.00") and row["paid_at"] is not None


def test_rows_are_scoped_and_filtered(admin):
    mine_seller = EnterpriseFactory()
    mine = InvoiceLineFactory(delivery_line__order_line__distributor=mine_seller)
    other = InvoiceLineFactory(
        delivery_line__order_line=OrderLineFactory(hospital=HospitalFactory(region=RegionFactory(code="320102")))
    )
    october = InvoiceLineFactory(issued_at=dt.date(2026, 10, 8))
    assert set(rows_by_invoice(enterprise_user(mine_seller))) == {mine.invoice_no}
    assert set(rows_by_invoice(hospital_user(other.hospital))) == {other.invoice_no}
    assert other.invoice_no not in rows_by_invoice(admin, region="371000")
    assert set(rows_by_invoice(admin, period="2026-10")) == {october.invoice_no}
    assert InvoiceLine.objects.count() == 3


def test_the_export_command_writes_the_table(tmp_path):
    line = InvoiceLineFactory()
    invoices_match()
    out = tmp_path / "payables.csv"
    call_command("export", "payables", "--format", "csv", "-o", str(out))
    with out.open(encoding="utf-8-sig") as fh:
        header, first = list(csv.reader(fh))[:2]
    assert ", ".join(header) == SPEC_COLUMNS
    assert first[0] == line.invoice_no and first[6] == "100.00" and first[7] == "matched"
