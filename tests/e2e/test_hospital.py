"""Hospital, in the browser: receive a delivery (accept one line, reject the other with a
reason), then confirm the statement that matching puts the accepted line on."""

import pytest

from procurement.models import DeliveryLine
from settlement.models import Statement, StatementStatus
from settlement.services.matching import invoices_match
from settlement.services.statements import statements_build
from tests.e2e.conftest import login
from tests.factories import (
    DeliveryLineFactory,
    EnterpriseFactory,
    HospitalFactory,
    InvoiceLineFactory,
    OrderLineFactory,
    ProductFactory,
    hospital_user,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-for-tests-1"


def open_menu(page, label: str) -> None:
    page.get_by_role("navigation", name="菜单").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state("networkidle")


def test_hospital_receives_a_delivery_and_confirms_its_statement(page, shot):
    # given a delivery of two lines awaiting receipt at the hospital
    hospital = HospitalFactory(name="威海市立医院")
    distributor = EnterpriseFactory(name="国药控股威海有限公司")
    user = hospital_user(hospital, username="hosp-e2e")
    lines = []
    for line_no, name in ((1, "阿托伐他汀钙片"), (2, "氨氯地平片")):
        order = OrderLineFactory(
            hospital=hospital,
            distributor=distributor,
            product=ProductFactory(generic_name=name),
            qty=10,
            line_no=line_no,
            order_no="PO20260901",
        )
        lines.append(DeliveryLineFactory(order_line=order, delivery_no="DL20260902", line_no=line_no, qty=10))
    accepted, rejected = lines

    # when the hospital user opens the receipts page
    login(page, "hosp-e2e", PASSWORD)
    open_menu(page, "收货验收")
    assert "/hospital/receipts/" in page.url
    assert page.locator("tr", has_text="DL20260902/1").count() == 1
    assert page.locator("tr", has_text="DL20260902/2").count() == 1
    shot(page, "hospital-1-receipts")

    # and accepts line 1 as delivered
    row1 = page.locator("tr", has_text="DL20260902/1")
    row1.get_by_role("button", name="确认 / Confirm").click()
    page.wait_for_load_state("networkidle")
    assert "已验收 DL20260902/1" in page.content()

    # and rejects line 2 entirely, with a reason
    row2 = page.locator("tr", has_text="DL20260902/2")
    row2.locator("input[name=accepted_qty]").fill("0")
    row2.locator("input[name=rejected_qty]").fill("10")
    row2.locator("input[name=reject_reason]").fill("外包装破损")
    row2.get_by_role("button", name="确认 / Confirm").click()
    page.wait_for_load_state("networkidle")
    shot(page, "hospital-2-received")

    # then the page shows both received: acknowledged, and nothing of the delivery is left to receive
    assert "已验收 DL20260902/2" in page.content()
    assert page.locator("tr", has_text="DL20260902/").count() == 0
    assert "没有待验收的配送单" in page.content()
    accepted.refresh_from_db()
    rejected.refresh_from_db()
    assert (accepted.accepted_qty, accepted.rejected_qty, accepted.received_by) == (10, 0, user)
    assert (rejected.accepted_qty, rejected.rejected_qty, rejected.reject_reason) == (0, 10, "外包装破损")
    assert DeliveryLine.objects.filter(received_at__isnull=True).count() == 0

    # given the distributor invoices the accepted line, and matching + statements_build run
    invoice = InvoiceLineFactory(delivery_line=accepted)
    invoices_match()
    statements_build()
    invoice.refresh_from_db()
    assert invoice.match_status == "matched" and invoice.statement is not None
    statement = invoice.statement
    assert statement.status == StatementStatus.OPEN

    # when the hospital opens its statement from the statements list
    open_menu(page, "对账单")
    shot(page, "hospital-3-statements")
    page.get_by_role("link", name=statement.no).click()
    page.wait_for_load_state("networkidle")
    assert f"/statements/{statement.no}/" in page.url
    assert "国药控股威海有限公司" in page.content()
    assert "100.00" in page.content()  # 10 × 10.0000
    shot(page, "hospital-4-statement-open")

    # and confirms it
    page.get_by_role("button", name="确认对账单 / Confirm statement").click()
    page.wait_for_load_state("networkidle")
    shot(page, "hospital-5-statement-confirmed")

    # then it is confirmed, in the page and in the database
    assert "对账单已确认" in page.content()
    assert page.locator(".st-status-confirmed").count() == 1
    assert page.get_by_role("button", name="确认对账单 / Confirm statement").count() == 0
    statement = Statement.objects.get(pk=statement.pk)
    assert statement.status == StatementStatus.CONFIRMED and statement.confirmed_by == user
