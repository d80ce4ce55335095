"""Price analyst, in the browser: on the price-alert inbox, dismiss one open alert and
confirm another, each with a reason that is stored on the alert's history."""

import pytest

from parties.models import Role
from settlement.models import Alert, AlertEvent
from tests.e2e.conftest import login
from tests.factories import (
    BureauFactory,
    EnterpriseFactory,
    HospitalFactory,
    ProductFactory,
    RegionFactory,
    bureau_user,
)
from tests.price_monitor.builders import price_alert

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-for-tests-1"


def open_menu(page, label: str) -> None:
    page.get_by_role("navigation", name="菜单").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state("networkidle")


def review(page, alert_no: str, reason: str, button: str) -> None:
    page.get_by_role("checkbox", name=alert_no, exact=True).check()
    page.fill("textarea[name=reason]", reason)
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state("networkidle")


def test_analyst_dismisses_one_price_alert_and_confirms_another(page, shot):
    # given a price analyst of the city bureau and two open price alerts in its region
    province = RegionFactory(code="370000")
    analyst = bureau_user(
        BureauFactory(region=RegionFactory(code="371000", parent=province)), role=Role.PRICE_ANALYST, username="pa-e2e"
    )
    hospital = HospitalFactory(region=RegionFactory(code="371002"), name="威海市立医院")
    other = HospitalFactory(region=RegionFactory(code="371002"), name="环翠区人民医院")
    product = ProductFactory(generic_name="阿托伐他汀钙片")
    enterprise = EnterpriseFactory(name="国药控股威海有限公司")
    outlier = price_alert(
        kind="PRICE_OUTLIER",
        hospital_code=hospital.code,
        product_code=product.code,
        enterprise_code=enterprise.credit_code,
        value="15.0000",
        threshold="11.0000",
    )
    above = price_alert(
        kind="PRICE_ABOVE_AWARD",
        hospital_code=other.code,
        product_code=product.code,
        enterprise_code=enterprise.credit_code,
        value="12.5000",
        threshold="10.0000",
    )
    assert {outlier.status, above.status} == {"open"}

    # when the analyst opens the inbox
    login(page, "pa-e2e", PASSWORD)
    open_menu(page, "价格预警")
    assert "共 2 条" in page.content()
    assert page.locator("tr", has_text=outlier.alert_no).locator("small", has_text="威海市立医院").count() == 1
    assert "阿托伐他汀钙片" in page.content()
    shot(page, "analyst-1-inbox")

    # and dismisses the outlier with a reason
    review(page, outlier.alert_no, "该院为三甲专科医院，采购规格不同，属合理价差", "排除 / Dismiss")
    shot(page, "analyst-2-dismissed")
    assert "已处理 1 条预警" in page.content()
    # the dismissed alert leaves the to-review list; the other one stays
    assert page.locator("tr", has_text=outlier.alert_no).count() == 0
    assert page.locator("tr", has_text=above.alert_no).count() == 1

    # and confirms the other one with a reason
    review(page, above.alert_no, "经核实，采购价高于中选价，已通知医院整改", "确认 / Confirm")
    assert "已处理 1 条预警" in page.content()
    assert "没有符合条件的预警" in page.content()

    # then, with every status shown, the page lists one dismissed and one confirmed
    page.select_option("select[name=status]", "all")
    page.get_by_role("button", name="筛选 / Filter").click()
    page.wait_for_load_state("networkidle")
    shot(page, "analyst-3-all-statuses")
    outlier.refresh_from_db()
    above.refresh_from_db()
    assert (outlier.status, above.status) == ("dismissed", "confirmed")
    status_cell = 4  # no, kind, severity, status …
    row_out = page.locator("tr", has_text=outlier.alert_no).locator("td").nth(status_cell).inner_text()
    row_above = page.locator("tr", has_text=above.alert_no).locator("td").nth(status_cell).inner_text()
    assert row_out == Alert(status="dismissed").get_status_display()
    assert row_above == Alert(status="confirmed").get_status_display()
    # and the reasons are stored, with who decided
    dismissed = AlertEvent.objects.get(alert=outlier, action="dismissed")
    confirmed = AlertEvent.objects.get(alert=above, action="confirmed")
    assert (dismissed.user, dismissed.reason) == (analyst, "该院为三甲专科医院，采购规格不同，属合理价差")
    assert (confirmed.user, confirmed.reason) == (analyst, "经核实，采购价高于中选价，已通知医院整改")

    # and the alert's detail page shows the reason in its history
    page.get_by_role("link", name=outlier.alert_no).click()
    page.wait_for_load_state("networkidle")
    shot(page, "analyst-4-detail")
    assert "该院为三甲专科医院，采购规格不同，属合理价差" in page.content()
