"""Bureau, in the browser: the operator previews, creates and submits a settlement batch;
the maker gets no approve button (four eyes); another user, the approver, approves it."""

import pytest

from settlement.models import BatchStatus, SettlementBatch
from tests.e2e.conftest import login
from tests.factories import EnterpriseFactory, HospitalFactory, RegionFactory, batch_staff, settleable_line

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-for-tests-1"
APPROVE = "审核通过 / Approve"


def open_menu(page, label: str) -> None:
    page.get_by_role("navigation", name="菜单").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state("networkidle")


def logout(page) -> None:
    page.get_by_role("button", name="退出").click()
    page.wait_for_load_state("networkidle")


def test_operator_builds_and_submits_a_batch_and_another_user_approves_it(page, shot):
    # given confirmed, matched lines of two distributors at a hospital of the bureau's region
    _bureau, operator, approver, _other = batch_staff("371000")
    hospital = HospitalFactory(region=RegionFactory(code="371002"), name="威海市中心医院")
    d1, d2 = EnterpriseFactory(name="国药控股威海有限公司"), EnterpriseFactory(name="华润山东医药有限公司")
    settleable_line(hospital, d1, amount="100.00", accepted="2026-09-02")
    settleable_line(hospital, d1, amount="20.50", accepted="2026-09-15")
    settleable_line(hospital, d2, amount="7.00", accepted="2026-09-20")
    settleable_line(hospital, d2, amount="999.00", accepted="2026-10-03")  # after the cut-off

    # when the operator opens the batch builder and previews region 371000 up to 2026-09-30
    login(page, operator.username, PASSWORD)
    open_menu(page, "结算批次")
    page.fill("input[name=region]", "371000")
    page.fill("input[name=cutoff]", "2026-09-30")
    page.get_by_role("button", name="预览 / Preview").click()
    page.wait_for_load_state("networkidle")
    shot(page, "bureau-1-preview")

    # then the totals are shown: 3 lines, 127.50 yuan, per distributor and per hospital
    preview = page.locator(".batch-preview")
    assert "明细数 / lines: 3" in preview.inner_text()
    assert "127.50" in preview.inner_text()
    assert preview.locator("tr", has_text="国药控股威海有限公司").locator("td.num").all_inner_texts() == ["2", "120.50"]
    assert preview.locator("tr", has_text="华润山东医药有限公司").locator("td.num").all_inner_texts() == ["1", "7.00"]
    assert "威海市中心医院" in preview.inner_text()
    assert SettlementBatch.objects.count() == 0  # a preview keeps nothing

    # when they create the batch, then submit it
    page.get_by_role("button", name="建立批次 / Create batch").click()
    page.wait_for_load_state("networkidle")
    batch = SettlementBatch.objects.get()
    assert f"/batches/{batch.no}/" in page.url
    assert (batch.status, batch.line_count, str(batch.amount)) == (BatchStatus.DRAFT, 3, "127.50")
    shot(page, "bureau-2-draft")
    page.get_by_role("button", name="提交审核 / Submit").click()
    page.wait_for_load_state("networkidle")
    shot(page, "bureau-3-submitted")

    # then it is submitted, and the maker sees no approve button but the four-eyes note
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUBMITTED
    assert page.get_by_role("button", name=APPROVE).count() == 0
    assert "须由另一位审核人员审核" in page.content()
    # and posting the approval anyway is refused (the service's four-eyes / role check)
    token = page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    response = page.request.post(f"/batches/{batch.no}/approve/", form={"csrfmiddlewaretoken": token})
    assert response.ok  # redirected back to the batch with the refusal as a message
    assert "(forbidden)" in response.text()  # an operator's role may not approve
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUBMITTED and batch.approved_by is None

    # when the operator logs out and the approver logs in and approves it
    logout(page)
    login(page, approver.username, PASSWORD)
    open_menu(page, "结算批次")
    page.get_by_role("link", name=batch.no).click()
    page.wait_for_load_state("networkidle")
    shot(page, "bureau-4-approver-view")
    page.get_by_role("button", name=APPROVE).click()
    page.wait_for_load_state("networkidle")
    shot(page, "bureau-5-approved")

    # then it is approved, in the page and in the database, with instructions to both distributors
    batch.refresh_from_db()
    assert batch.status == BatchStatus.APPROVED and batch.approved_by == approver
    assert page.locator(f".batch-status.batch-{BatchStatus.APPROVED}").count() == 1
    assert f"审核 / approver: {approver.username}" in page.locator("section.card").first.inner_text()
    assert page.get_by_role("button", name=APPROVE).count() == 0
    assert batch.instructions.count() == 2
    assert "支付指令 / Payment instructions" in page.content()
