"""Price index (Laspeyres), price history chart pages, and the monthly XLSX report."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from parties.models import Role
from price_monitor.models import PriceIndex
from price_monitor.services.index import laspeyres, price_index_refresh
from price_monitor.services.observations import observations_build
from price_monitor.services.scan import prices_scan
from tests.factories import (
    AwardFactory,
    BureauFactory,
    HospitalFactory,
    OrderLineFactory,
    ProductFactory,
    ReferencePriceFactory,
    RegionFactory,
    UserFactory,
    at,
    bureau_user,
)

pytestmark = pytest.mark.django_db


def inputs(rows):
    return pd.DataFrame(rows, columns=["period", "item", "amount_units", "unit_qty"]).astype(
        {"amount_units": "int64", "unit_qty": "int64"}
    )


# ------------------------------------------------------------------ Laspeyres (pure)


def test_laspeyres_weights_by_base_quantities():
    # given two items: A 1000 units at 1.00 → 1.10, B 100 units at 10.00 → 10.00
    frame = inputs(
        [
            ("2026-01", "A", 1000 * 10000, 1000),
            ("2026-01", "B", 100 * 100000, 100),
            ("2026-02", "A", 10 * 11000, 10),  # bought less, dearer: weights stay the base month's
            ("2026-02", "B", 500 * 100000, 500),
        ]
    )
    series = laspeyres(frame, base_period="2026-01")
    # then base = 100 and Feb = 100 × (1000×1.10 + 100×10) / (1000×1 + 100×10) = 105
    assert [(p.period, p.value) for p in series] == [("2026-01", Decimal("100.0000")), ("2026-02", Decimal("105.0000"))]
    assert series[1].items == 2 and series[1].coverage == Decimal("1.0000")


def test_laspeyres_matched_model_when_an_item_is_missing():
    frame = inputs(
        [
            ("2026-01", "A", 1000 * 10000, 1000),
            ("2026-01", "B", 100 * 100000, 100),
            ("2026-02", "A", 1000 * 12000, 1000),
        ]
    )
    feb = laspeyres(frame, base_period="2026-01")[1]
    assert feb.value == Decimal("120.0000")  # only A priced: 1.20 / 1.00
    assert (feb.items, feb.basket_items, feb.coverage) == (1, 2, Decimal("0.5000"))


def test_laspeyres_empty_and_missing_base():
    assert laspeyres(inputs([])) == []
    assert laspeyres(inputs([("2026-02", "A", 10, 1)]), base_period="2026-01") == []


def test_index_is_per_unit_across_package_sizes():
    # given a box of 14 at 14 yuan in January and a box of 28 at 28 yuan in February: the same per tablet
    small = ProductFactory(generic_name="阿托伐他汀", units_per_package=14)
    big = ProductFactory(generic_name="阿托伐他汀", units_per_package=28)
    OrderLineFactory(product=small, unit_price=Decimal("14.0000"), ordered_at=at("2026-01-10"))
    OrderLineFactory(product=big, unit_price=Decimal("28.0000"), ordered_at=at("2026-02-10"))
    for p in ("2026-01", "2026-02"):
        observations_build(region_prefix="37", period=p)
    # when the index is stored
    assert price_index_refresh(region_code="370000", category="drug") == 2
    # then February is 100: no price change per tablet
    assert list(PriceIndex.objects.values_list("period", "value")) == [
        ("2026-01", Decimal("100.0000")),
        ("2026-02", Decimal("100.0000")),
    ]


# ------------------------------------------------------------------ pages and API


@pytest.fixture
def world():
    province = RegionFactory(code="370000")
    city = RegionFactory(code="371000", parent=province)
    analyst = bureau_user(BureauFactory(region=city), role=Role.PRICE_ANALYST)
    product = ProductFactory()
    AwardFactory(product=product, supply_region=province, award_price=Decimal("10.0000"))
    ReferencePriceFactory(product=product, region=province, price=Decimal("11.0000"))
    hospitals = [HospitalFactory() for _ in range(5)]
    for h in hospitals[:4]:
        OrderLineFactory(product=product, hospital=h, unit_price=Decimal("10.0000"), ordered_at=at("2026-08-10"))
        OrderLineFactory(product=product, hospital=h, unit_price=Decimal("10.0000"))
    OrderLineFactory(product=product, hospital=hospitals[4], unit_price=Decimal("14.0000"))
    for p in ("2026-08", "2026-09"):
        prices_scan(period=p, as_of=at("2026-10-01").date())
    return {"analyst": analyst, "product": product, "province": province, "city": city}


def test_alert_detail_shows_svg_chart_and_peers(client, world):
    from settlement.models import Alert

    outlier = Alert.objects.get(kind="PRICE_OUTLIER")
    client.force_login(world["analyst"])
    resp = client.get(reverse("price_alert_detail", args=[outlier.alert_no]))
    assert resp.status_code == 200
    body = resp.text
    assert body.count("<svg") == 2  # price history + peers' distribution
    assert "中选价 / award" in body and "挂网价 / listing" in body
    assert "同类中位价 / peer median" in body  # evidence shown with its label, not its JSON key
    assert "http://" not in body.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no CDN


def test_product_history_page_and_api(client, world):
    client.force_login(world["analyst"])
    product = world["product"]
    page = client.get(reverse("price_product_history", args=[product.code]), {"region": "371000", "period": "2026-09"})
    assert page.status_code == 200 and "<svg" in page.text
    data = client.get(
        reverse("api_price_history", args=[product.code]), {"region": "371000", "period": "2026-09"}
    ).json()
    sept = next(m for m in data["transactions"] if m["period"] == "2026-09")
    assert (sept["lines"], sept["median"], sept["high"]) == (5, "10.0000", "14.0000")
    assert data["award"]["2026-09"] == "10.0000"
    assert data["references"]["listing"]["2026-09"] == "11.0000"
    # another province's region answers 404
    RegionFactory(code="440000")
    assert client.get(reverse("api_price_history", args=[product.code]), {"region": "440000"}).status_code == 404


def test_index_page_and_api(client, world):
    client.force_login(world["analyst"])
    page = client.get(reverse("price_index_page"))
    assert page.status_code == 200 and "<svg" in page.text
    data = client.get(reverse("api_price_index"), {"region": "371000", "category": "drug"}).json()
    assert data["base_period"] == "2026-08"
    assert [p["period"] for p in data["series"]] == ["2026-08", "2026-09"]
    assert data["series"][0]["value"] == "100.0000"
    # Sep: 4 × 10 + 1 × 14 over 5 lines of one item, base Aug at 10 → 108
    assert data["series"][1]["value"] == "108.0000"


@pytest.mark.parametrize(
    "params,status,code",
    [
        ({"category": "food"}, 400, "invalid"),
        ({"base": "2026-9"}, 400, "invalid"),
        ({"region": "371300"}, 404, "not_found"),
    ],
)
def test_index_api_errors(client, world, params, status, code):
    RegionFactory(code="371300")
    client.force_login(world["analyst"])
    resp = client.get(reverse("api_price_index"), params)
    assert resp.status_code == status
    assert resp.json()["code"] == code


def test_index_api_needs_an_analyst(client, world):
    client.force_login(bureau_user(BureauFactory(), role=Role.BUREAU_OPERATOR))
    assert client.get(reverse("api_price_index")).status_code == 403


def test_report_xlsx_has_every_sheet_and_a_native_chart(client, world):
    client.force_login(world["analyst"])
    resp = client.get(reverse("price_report_download"), {"region": "371000", "period": "2026-09"})
    assert resp.status_code == 200
    assert resp["Content-Disposition"] == 'attachment; filename="price_report_371000_2026-09.xlsx"'
    wb = openpyxl.load_workbook(io.BytesIO(resp.content))
    assert wb.sheetnames == [
        "概要 Summary",
        "预警统计 Alerts by kind",
        "涨幅排行 Top increases",
        "价格指数 Price index",
        "预警明细 Alerts",
    ]
    summary = {r[0]: r[1] for r in wb["概要 Summary"].iter_rows(min_row=3, values_only=True) if r[0]}
    assert summary["订单明细行数 / order lines"] == 5
    assert summary["采购金额(元) / purchase amount (yuan)"] == pytest.approx(540.0)
    kinds = {r[0]: r[-1] for r in wb["预警统计 Alerts by kind"].iter_rows(min_row=2, values_only=True)}
    assert kinds["价格离群 / price outlier"] == 1
    top = list(wb["涨幅排行 Top increases"].iter_rows(min_row=2, values_only=True))
    assert top == []  # the median did not move (10 → 10)
    # the index sheet carries a native chart (xl/charts/chart1.xml in the package)
    import zipfile

    assert any(n.startswith("xl/charts/chart") for n in zipfile.ZipFile(io.BytesIO(resp.content)).namelist())


def test_report_page_and_api(client, world):
    client.force_login(world["analyst"])
    page = client.get(reverse("price_report_page"), {"period": "2026-09"})
    assert page.status_code == 200 and "价格离群" in page.text
    api = client.get(reverse("api_price_report"), {"region": "371000", "period": "2026-09"})
    assert api.status_code == 200 and api.content[:2] == b"PK"
    assert client.get(reverse("api_price_report"), {"period": "2026/09"}).status_code == 400


def test_top_increases(world):
    from price_monitor.services.report import top_increases

    product = world["product"]
    OrderLineFactory(product=product, unit_price=Decimal("13.0000"), ordered_at=at("2026-10-03"))
    observations_build(region_prefix="37", period="2026-10")
    [row] = top_increases(region_code="370000", period="2026-10")
    assert (row["previous"], row["current"], row["change"]) == (
        Decimal("10.0000"),
        Decimal("13.0000"),
        Decimal("0.3000"),
    )


def test_price_report_command(tmp_path, world):
    out = tmp_path / "r.xlsx"
    call_command("price_report", "--region", "370000", "--period", "2026-09", "-o", str(out), stdout=io.StringIO())
    assert openpyxl.load_workbook(out)["概要 Summary"]["A1"].value.startswith("区划370000 2026-09")
    with pytest.raises(CommandError):
        call_command("price_report", "--region", "999999", "--period", "2026-09", stdout=io.StringIO())


def test_admin_defaults_to_a_province(client, world):
    client.force_login(UserFactory(role=Role.ADMIN))
    assert client.get(reverse("price_index_page")).status_code == 200


def test_exports_are_registered_and_scoped(world):
    from interchange.exports import exports_registry

    registry = exports_registry()
    rows = list(registry["price_index"].rows(user=world["analyst"], region="371000"))
    assert [r[3] for r in rows] == ["2026-08", "2026-09"]
    assert rows[0][:3] == ("371000", "drug", "2026-08") and rows[1][4] == Decimal("108.0000")
    assert (
        list(registry["price_index"].rows(user=world["analyst"], region="370000")) == []
    )  # above the analyst's region
    assert list(registry["credit_records"].rows(user=world["analyst"])) == []
