"""The frames the rules read: integer money, categorical codes, the same across chunks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from price_monitor.selectors import frames
from price_monitor.services.observations import observations_build
from tests.factories import AwardFactory, HospitalFactory, OrderLineFactory, ReferencePriceFactory, RegionFactory, at

pytestmark = pytest.mark.django_db


def test_order_prices_across_chunks(monkeypatch):
    # given five order lines of three hospitals, read two rows per chunk
    monkeypatch.setattr(frames, "CHUNK_ROWS", 2)
    hospitals = [HospitalFactory() for _ in range(3)]
    lines = [
        OrderLineFactory(
            hospital=hospitals[i % 3], unit_price=Decimal(f"1{i}.1234"), ordered_at=at(f"2026-09-0{i + 1}")
        )
        for i in range(5)
    ]
    observations_build(region_prefix="37", period="2026-09")
    # when the month's frame is read
    df = frames.order_prices(region_prefix="37", period="2026-09").sort_values("source_id")
    # then every line is there with integer money, categorical codes and real dates
    assert df["source_id"].tolist() == [line.pk for line in lines]
    assert df["price_units"].tolist() == [101234 + 10000 * i for i in range(5)]
    assert str(df["hospital_code"].dtype) == "category"
    assert sorted(df["hospital_code"].cat.categories) == sorted(h.code for h in hospitals)
    assert df["hospital_code"].astype(str).tolist() == [hospitals[i % 3].code for i in range(5)]
    assert df["order_date"].dt.day.tolist() == [1, 2, 3, 4, 5]


def test_empty_month_frame_has_the_columns():
    df = frames.order_prices(region_prefix="37", period="2030-01")
    assert df.empty and list(df.columns) == list(frames.ORDER_COLUMNS)


def test_awards_and_references_in_integer_units():
    province = RegionFactory(code="370000")
    award = AwardFactory(supply_region=province, award_price=Decimal("10.1235"))
    ReferencePriceFactory(product=award.product, region=province, price=Decimal("0.0001"))
    a = frames.awards_frame()
    r = frames.references_frame(until=dt.date(2026, 12, 31))
    assert a.loc[0, "award_price_units"] == 101235 and (a.loc[0, "prefix"], a.loc[0, "prefix_len"]) == ("37", 2)
    assert r.loc[0, "price_units"] == 1
    assert frames.references_frame(until=dt.date(2025, 12, 31)).empty
