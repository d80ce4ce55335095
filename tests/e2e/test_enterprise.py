"""Enterprise, in the browser: once the bank confirms the payment of an approved batch, its
lines show as paid and the money leaves the receivables ageing buckets."""

import datetime as dt

import pytest

from settlement.models import BatchLine, BatchStatus
from settlement.services.batches import batch_approve, batch_create, batch_submit
from settlement.services.payments import confirmation_rows, payment_confirmations_apply
from tests.e2e.conftest import login
from tests.factories import EnterpriseFactory, HospitalFactory, batch_staff, enterprise_user, settleable_line

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-for-tests-1"
AS_OF = "2026-10-31"  # fixed, so the ageing buckets do not move with the calendar


def open_menu(page, label: str) -> None:
    page.get_by_role("navigation", name="菜单").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state("networkidle")


def ageing(page, shot, name: str) -> dict[str, list[str]]:
    """Open the receivables dashboard as of AS_OF; the total and the hospital row's cells."""
    open_menu(page, "应收账款")
    page.fill("input[name=as_of]", AS_OF)
    page.get_by_role("button", name="查询 / Show").click()
    page.wait_for_load_state("networkidle")
    shot(page, name)
    chart = page.locator("section.receivables-chart")
    row = page.locator("tr", has_text="威海市妇幼保健院")
    return {
        "total": chart.locator("p b").inner_text(),
        "bars": chart.locator("text.value").all_inner_texts(),
        "row": row.locator("td.num").all_inner_texts() if row.count() else [],
    }


def test_enterprise_sees_its_line_paid_and_its_receivables_shrink(page, shot):
    # given an approved batch holding two lines of the distributor (120.50), and one later
    # line (50.00) of it not in any batch
    _bureau, operator, approver, _ = batch_staff("371000")
    hospital = HospitalFactory(name="威海市妇幼保健院")
    distributor = EnterpriseFactory(name="国药控股威海有限公司")
    enterprise_user(distributor, username="ent-e2e")
    paid_1 = settleable_line(hospital, distributor, amount="100.00", accepted="2026-09-02")
    paid_2 = settleable_line(hospital, distributor, amount="20.50", accepted="2026-09-15")
    unpaid = settleable_line(hospital, distributor, amount="50.00", accepted="2026-10-03")
    batch = batch_create(region_code="371000", cutoff=dt.date(2026, 9, 30), user=operator)
    batch_submit(batch_no=batch.no, user=operator)
    batch = batch_approve(batch_no=batch.no, user=approver)
    instruction = batch.instructions.get()

    # and the enterprise looks at its receivables before the bank pays
    login(page, "ent-e2e", PASSWORD)
    before = ageing(page, shot, "enterprise-1-receivables-before")
    assert before["total"] == "170.50"
    # buckets 0-30 / 31-60 / 61-90 / >90 as of 2026-10-31: 10-03 → 28 days, 09-02 and 09-15 → 31-60
    assert before["row"] == ["50.00", "120.50", "0.00", "0.00", "170.50"]
    assert "预计回款" in page.content() and page.locator("tr", has_text=batch.no).count() == 2

    # when the bank's success confirmation of the instruction is applied
    rows, errors = confirmation_rows(
        [
            (
                2,
                {
                    "instruction_no": instruction.no,
                    "payee_credit_code": distributor.credit_code,
                    "amount": str(instruction.amount),
                    "status": "success",
                    "paid_at": "2026-10-08T10:00:00+08:00",
                    "bank_ref": "BR20261008001",
                },
            )
        ]
    )
    report = payment_confirmations_apply(rows=rows, user=operator, source="bank.csv", cell_errors=errors)
    assert report.paid == 1 and report.batches_paid == [batch.no]
    assert BatchLine.objects.paid().filter(batch=batch).count() == 2
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PAID

    # then the enterprise's lines page shows both batch lines paid, the later one not
    open_menu(page, "发票明细进度")
    shot(page, "enterprise-2-lines")
    for line in (paid_1, paid_2):
        row = page.locator("tr", has_text=f"{line.invoice_no}/1")
        assert row.locator(".stage").inner_text() == "已支付 / paid"
        assert row.get_attribute("class") == "stage-paid"
    later = page.locator("tr", has_text=f"{unpaid.invoice_no}/1")
    assert later.get_attribute("class") != "stage-paid"
    # and filtering by stage "paid" keeps exactly those two
    page.select_option("select[name=stage]", "paid")
    page.get_by_role("button", name="筛选 / Filter").click()
    page.wait_for_load_state("networkidle")
    shot(page, "enterprise-3-lines-paid")
    assert page.locator("tbody tr.stage-paid").count() == 2
    assert page.locator("tbody tr", has_text=f"{unpaid.invoice_no}/1").count() == 0

    # and the paid 120.50 has left the ageing buckets; only the later 50.00 is still owed
    after = ageing(page, shot, "enterprise-4-receivables-after")
    assert after["total"] == "50.00"
    assert after["row"] == ["50.00", "0.00", "0.00", "0.00", "50.00"]
    assert page.locator("tr", has_text=batch.no).count() == 0  # nothing awaits the bank any more
