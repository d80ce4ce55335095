"""Each price rule as a pure function: the smallest case that fires it, and one just below."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from price_monitor.services import rules
from tests.price_monitor.builders import PRODUCT, awards, orders, references

PERIOD = "2026-09"
MONTH_END = dt.date(2026, 9, 30)


def hospital(n: int, region: str = "371002") -> str:
    return f"H{region}{n:05d}"


# ------------------------------------------------------------------ PRICE_ABOVE_AWARD


def test_price_above_award_fires_one_ten_thousandth_above():
    # given an award of 10.0000 covering the hospital and an order line at 10.0001
    given_orders = orders({"price": "10.0001", "qty": 3})
    # when the rule runs
    found = rules.rule_price_above_award(given_orders, awards({"price": "10.0000"}), period=PERIOD)
    # then one high finding about hospital/product with price, award and ratio as evidence
    assert len(found) == 1
    f = found[0]
    assert f["subject_type"] == "hospital_product"
    assert f["subject_key"] == f"{hospital(1)}/{PRODUCT}"
    assert f["severity"] == "high"
    assert (f["value"], f["threshold"]) == (Decimal("10.0001"), Decimal("10.0000"))
    assert f["evidence"]["award_price"] == "10.0000"
    assert f["evidence"]["ratio"] == "1.0000"
    assert f["evidence"]["excess_amount"] == "0.0003"
    assert f["period"] == PERIOD and f["region_code"] == "371002"
    assert f["enterprise_code"] == "913700000000000011"  # the distributor of the line


def test_price_above_award_not_at_the_award_price():
    found = rules.rule_price_above_award(orders({"price": "10.0000"}), awards({"price": "10.0000"}), period=PERIOD)
    assert found == []


def test_award_most_specific_region_wins_then_lowest_price():
    # given a province award at 8 and two city awards at 11 and 10.5 (3710 covers 371002)
    given_awards = awards(
        {"price": "8.0000", "region": "370000"},
        {"price": "11.0000", "region": "371000", "round": "SD-1"},
        {"price": "10.5000", "region": "371000", "round": "SD-2"},
    )
    # when an order at 10.6 is judged
    found = rules.rule_price_above_award(orders({"price": "10.6000"}), given_awards, period=PERIOD)
    # then the city award at the lowest price (10.5) is the one compared with
    assert [f["threshold"] for f in found] == [Decimal("10.5000")]
    assert found[0]["evidence"]["round_code"] == "SD-2"
    # and an order at 10.5 is not above it (the province's 8 does not count)
    assert rules.rule_price_above_award(orders({"price": "10.5000"}), given_awards, period=PERIOD) == []


def test_award_covers_only_inside_its_round_period_and_region():
    # given an award whose round ended before the order date, and one for another city
    given_awards = awards(
        {"price": "5.0000", "end": "2026-08-31"},
        {"price": "5.0000", "region": "371100", "round": "RZ"},
    )
    # then an order far above both is not PRICE_ABOVE_AWARD: no award covers it
    assert rules.rule_price_above_award(orders({"price": "50.0000"}), given_awards, period=PERIOD) == []
    # and the round's last day still counts (period contains the order date)
    last_day = orders({"price": "5.0001", "date": "2026-08-31"})
    assert len(rules.rule_price_above_award(last_day, given_awards, period="2026-08")) == 1


def test_price_above_award_one_finding_per_hospital_product_with_worst_line():
    # given two lines of one hospital above the award and one below
    given = orders(
        {"price": "10.5000", "source_id": 7},
        {"price": "12.0000", "source_id": 8, "distributor": "913700000000000037"},
        {"price": "9.0000", "source_id": 9},
    )
    found = rules.rule_price_above_award(given, awards({"price": "10.0000"}), period=PERIOD)
    # then one finding, valued at the dearest line, naming both offending lines
    assert len(found) == 1
    assert found[0]["value"] == Decimal("12.0000")
    assert found[0]["evidence"]["lines"] == 2
    assert found[0]["evidence"]["order_line_ids"] == [7, 8]
    assert found[0]["enterprise_code"] == "913700000000000037"


# ------------------------------------------------------------------ PRICE_ABOVE_LISTING


def test_price_above_listing_fires_just_above():
    found = rules.rule_price_above_listing(
        orders({"price": "12.0001"}), references({"price": "12.0000"}), period=PERIOD
    )
    assert len(found) == 1
    assert found[0]["severity"] == "high"
    assert found[0]["evidence"]["listing_price"] == "12.0000"
    assert found[0]["evidence"]["listing_region_code"] == "370000"


def test_price_above_listing_not_at_the_listing_price():
    assert (
        rules.rule_price_above_listing(orders({"price": "12.0000"}), references({"price": "12.0000"}), period=PERIOD)
        == []
    )


def test_listing_in_force_on_order_date_from_most_specific_region():
    # given a province listing at 12, a city listing at 11 from 2026-09-15 and a district one in 2027
    refs = references(
        {"price": "12.0000", "region": "370000"},
        {"price": "11.0000", "region": "371000", "from": "2026-09-15"},
        {"price": "9.0000", "region": "371002", "from": "2027-01-01"},
    )
    # when one order before and one after the city price starts, both at 11.5
    given = orders(
        {"price": "11.5000", "date": "2026-09-10", "hospital": hospital(1)},
        {"price": "11.5000", "date": "2026-09-20", "hospital": hospital(2)},
    )
    found = rules.rule_price_above_listing(given, refs, period=PERIOD)
    # then only the later one is above the listing in force (the city's 11)
    assert [f["hospital_code"] for f in found] == [hospital(2)]
    assert found[0]["threshold"] == Decimal("11.0000")


def test_listing_price_history_uses_the_latest_effective_before_the_order():
    refs = references({"price": "12.0000", "from": "2026-01-01"}, {"price": "13.0000", "from": "2026-09-01"})
    assert rules.rule_price_above_listing(orders({"price": "12.5000"}), refs, period=PERIOD) == []
    assert len(rules.rule_price_above_listing(orders({"price": "13.0001"}), refs, period=PERIOD)) == 1


# ------------------------------------------------------------------ LISTING_ABOVE_REFERENCE


def test_listing_above_reference_fires_just_above_tolerance():
    # given the lowest reference 100 (province_min 100, national_min 110) and REFERENCE_TOLERANCE 0.05
    refs = references(
        {"price": "105.0001", "source": "listing"},
        {"price": "100.0000", "source": "province_min"},
        {"price": "110.0000", "source": "national_min", "region": "370000"},
    )
    found = rules.rule_listing_above_reference(refs, as_of=MONTH_END, region_prefix="37")
    # then listing 105.0001 > 100 × 1.05 fires, medium, product/region, blank period
    assert len(found) == 1
    f = found[0]
    assert (f["subject_type"], f["subject_key"]) == ("product_region", f"{PRODUCT}/370000")
    assert f["severity"] == "medium" and f["period"] == ""
    assert f["threshold"] == Decimal("105.0000")
    assert f["evidence"]["reference_source"] == "province_min"
    assert f["evidence"]["ratio"] == "1.0500"
    assert f["enterprise_code"] == "913700000000000029"  # the manufacturer


def test_listing_above_reference_not_at_the_tolerance():
    refs = references({"price": "105.0000"}, {"price": "100.0000", "source": "national_min"})
    assert rules.rule_listing_above_reference(refs, as_of=MONTH_END, region_prefix="37") == []


def test_listing_above_reference_uses_prices_in_force_at_month_end(settings):
    # given a reference that drops to 50 only in October
    refs = references(
        {"price": "100.0000"},
        {"price": "100.0000", "source": "national_min"},
        {"price": "50.0000", "source": "national_min", "from": "2026-10-01"},
    )
    # then September is fine and October fires
    assert rules.rule_listing_above_reference(refs, as_of=MONTH_END, region_prefix="37") == []
    assert len(rules.rule_listing_above_reference(refs, as_of=dt.date(2026, 10, 31), region_prefix="37")) == 1


def test_listing_above_reference_tolerance_is_policy_per_region(settings):
    # given a region override of REFERENCE_TOLERANCE to 0.10
    settings.POLICY_REGION_OVERRIDES = {"370000": {"REFERENCE_TOLERANCE": Decimal("0.10")}}
    refs = references({"price": "109.0000"}, {"price": "100.0000", "source": "national_min"})
    # then 109 is within tolerance there
    assert rules.rule_listing_above_reference(refs, as_of=MONTH_END, region_prefix="37") == []


def test_listing_above_reference_needs_a_reference():
    assert (
        rules.rule_listing_above_reference(references({"price": "500.0000"}), as_of=MONTH_END, region_prefix="37") == []
    )


# ------------------------------------------------------------------ PRICE_SPIKE


def spike_orders(prices: list[str], date: str, region: str = "371002"):
    return orders(
        *(
            {"price": p, "date": date, "region": region, "hospital": hospital(i, region)}
            for i, p in enumerate(prices, 1)
        )
    )


def test_price_spike_fires_just_above_twenty_percent():
    # given last month's median 10 and this month's median 12.0001 (SPIKE_THRESHOLD 0.20)
    prev = spike_orders(["9.0000", "10.0000", "11.0000"], "2026-08-10")
    cur = spike_orders(["12.0001", "12.0001", "30.0000"], "2026-09-10")
    found = rules.rule_price_spike(cur, prev, period=PERIOD, manufacturers={PRODUCT: "913700000000000029"})
    # then a medium finding about product and the hospitals' city (district 371002 → city 371000)
    assert len(found) == 1
    f = found[0]
    assert (f["subject_type"], f["subject_key"], f["region_code"]) == ("product_region", f"{PRODUCT}/371000", "371000")
    assert f["severity"] == "medium"
    assert (f["value"], f["threshold"]) == (Decimal("12.0001"), Decimal("12.0000"))
    assert f["evidence"]["previous_median_price"] == "10.0000"
    assert f["enterprise_code"] == "913700000000000029"


def test_price_spike_not_at_twenty_percent_exactly():
    prev = spike_orders(["10.0000"], "2026-08-10")
    cur = spike_orders(["12.0000"], "2026-09-10")
    assert rules.rule_price_spike(cur, prev, period=PERIOD) == []


def test_price_spike_even_count_median_is_exact():
    # given medians with half units: prev (10.0000+10.0001)/2 = 10.00005 → threshold 12.00006
    prev = spike_orders(["10.0000", "10.0001"], "2026-08-10")
    # when this month's median is (12.0000+12.0001)/2 = 12.00005: below 12.00006
    below = spike_orders(["12.0000", "12.0001"], "2026-09-10")
    # and (12.0001+12.0001)/2 = 12.0001: above
    above = spike_orders(["12.0001", "12.0001"], "2026-09-10")
    assert rules.rule_price_spike(below, prev, period=PERIOD) == []
    assert len(rules.rule_price_spike(above, prev, period=PERIOD)) == 1


def test_price_spike_groups_by_the_hospitals_city():
    # given another city (district 370702 of 370700) whose prices did not move
    prev = spike_orders(["10.0000"], "2026-08-10", region="370702")
    cur = spike_orders(["10.0000"], "2026-09-10", region="370702")
    spiking_prev = spike_orders(["10.0000"], "2026-08-10")
    spiking_cur = spike_orders(["13.0000"], "2026-09-10")
    import pandas as pd

    found = rules.rule_price_spike(pd.concat([cur, spiking_cur]), pd.concat([prev, spiking_prev]), period=PERIOD)
    assert [f["region_code"] for f in found] == ["371000"]


def test_price_spike_pools_the_districts_of_a_city():
    # given district 371002 at 13 (30 % up) and two hospitals of district 371003 and one
    # registered at the city code 371000 itself, all still at 10
    import pandas as pd

    prev = pd.concat(
        [spike_orders(["10.0000"], "2026-08-10"), spike_orders(["10.0000", "10.0000"], "2026-08-10", "371003")]
    )
    district = spike_orders(["13.0000"], "2026-09-10")
    others = spike_orders(["10.0000", "10.0000"], "2026-09-10", region="371003")
    city_level = spike_orders(["10.0000"], "2026-09-10", region="371000")
    # when the month is judged: the city's median is 10, no spike, although 371002 alone rose 30 %
    assert rules.rule_price_spike(pd.concat([district, others, city_level]), prev, period=PERIOD) == []
    # and with the district alone in the city it is a spike of the city, counting its lines
    [found] = rules.rule_price_spike(district, prev, period=PERIOD)
    assert (found["region_code"], found["evidence"]["lines"], found["evidence"]["previous_lines"]) == ("371000", 1, 3)


def test_city_codes_of_districts_cities_and_provinces():
    import pandas as pd

    codes = pd.Series(["371002", "371000", "370000", "370702"], dtype="category")
    assert rules.city_codes(codes).astype(str).tolist() == ["371000", "371000", "370000", "370700"]
    assert rules.city_codes(codes.astype(str)).tolist() == ["371000", "371000", "370000", "370700"]


def test_price_spike_needs_last_month():
    assert (
        rules.rule_price_spike(spike_orders(["99.0000"], "2026-09-10"), spike_orders([], "2026-08-10"), period=PERIOD)
        == []
    )


# ------------------------------------------------------------------ PRICE_OUTLIER


def outlier_orders(prices: list[str]):
    return orders(*({"price": p, "hospital": hospital(i), "source_id": i} for i, p in enumerate(prices, 1)))


def test_price_outlier_mad_zero_fires_just_above_ten_percent():
    # given four hospitals at 10 and a fifth at 11.0001: MAD = 0, median 10
    found = rules.rule_price_outlier(outlier_orders(["10.0000"] * 4 + ["11.0001"]), period=PERIOD)
    assert len(found) == 1
    f = found[0]
    assert f["subject_key"] == f"{hospital(5)}/{PRODUCT}"
    assert f["severity"] == "medium"
    assert f["threshold"] == Decimal("11.0000")
    assert f["evidence"]["mad"] == "0.0000" and f["evidence"]["robust_z"] is None
    assert f["evidence"]["peer_hospitals"] == 5


def test_price_outlier_mad_zero_not_at_ten_percent():
    assert rules.rule_price_outlier(outlier_orders(["10.0000"] * 4 + ["11.0000"]), period=PERIOD) == []


def test_price_outlier_needs_five_hospitals():
    # given only four hospitals, one far above
    assert rules.rule_price_outlier(outlier_orders(["10.0000"] * 3 + ["99.0000"]), period=PERIOD) == []


def test_price_outlier_five_lines_of_four_hospitals_is_not_enough():
    # given five lines but only four distinct hospitals
    given = orders(
        *({"price": "10.0000", "hospital": hospital(i)} for i in range(1, 4)),
        {"price": "50.0000", "hospital": hospital(4)},
        {"price": "50.0000", "hospital": hospital(4)},
    )
    assert rules.rule_price_outlier(given, period=PERIOD) == []


def test_price_outlier_robust_z_threshold():
    # given hospital medians 10, 11, 12, 13, x: median 12, MAD 1 (for x ≥ 13)
    # z = 0.6745 (x − 12) / 1 > 3.5  ⇔  x > 12 + 3.5 / 0.6745 = 17.18902891...
    above = rules.rule_price_outlier(
        outlier_orders(["10.0000", "11.0000", "12.0000", "13.0000", "17.1891"]), period=PERIOD
    )
    below = rules.rule_price_outlier(
        outlier_orders(["10.0000", "11.0000", "12.0000", "13.0000", "17.1890"]), period=PERIOD
    )
    assert len(above) == 1 and below == []
    f = above[0]
    assert f["threshold"] == Decimal("17.1890")  # 17.18902891 rounded for display
    assert f["evidence"]["peer_median"] == "12.0000"
    assert f["evidence"]["mad"] == "1.0000"
    # z = 0.6745 × 5.1891 = 3.50004795: above 3.5, shown rounded to 4 places
    assert f["evidence"]["robust_z"] == "3.5000"


def test_price_outlier_only_above_peers():
    # given one hospital far below the others
    assert rules.rule_price_outlier(outlier_orders(["1.0000"] + ["10.0000"] * 4), period=PERIOD) == []


def test_price_outlier_uses_each_hospitals_median():
    # given hospital 5 with lines 10 and 12 (median 11) among four at 10: 11 is not > 11
    given = orders(
        *({"price": "10.0000", "hospital": hospital(i)} for i in range(1, 5)),
        {"price": "10.0000", "hospital": hospital(5)},
        {"price": "12.0000", "hospital": hospital(5)},
    )
    assert rules.rule_price_outlier(given, period=PERIOD) == []


# ------------------------------------------------------------------ RETAIL_ABOVE_LISTING


def test_retail_above_listing_fires_for_high_value_drug():
    refs = references({"price": "1000.0000"}, {"price": "1000.0001", "source": "retail", "region": "371000"})
    found = rules.rule_retail_above_listing(refs, as_of=MONTH_END, period=PERIOD, region_prefix="37")
    assert len(found) == 1
    f = found[0]
    assert (f["subject_key"], f["region_code"], f["period"]) == (f"{PRODUCT}/371000", "371000", PERIOD)
    assert f["severity"] == "medium"
    assert f["evidence"]["listing_price"] == "1000.0000"


def test_retail_not_above_listing_does_not_fire():
    refs = references({"price": "1000.0000"}, {"price": "1000.0000", "source": "retail"})
    assert rules.rule_retail_above_listing(refs, as_of=MONTH_END, period=PERIOD, region_prefix="37") == []


def test_retail_above_listing_only_for_high_value_listing():
    # given a listing just under HIGH_VALUE_PRICE (1000): retail far above does not count
    refs = references({"price": "999.9999"}, {"price": "2000.0000", "source": "retail"})
    assert rules.rule_retail_above_listing(refs, as_of=MONTH_END, period=PERIOD, region_prefix="37") == []


def test_retail_above_listing_only_for_drugs():
    refs = references(
        {"price": "1000.0000", "category": "consumable"},
        {"price": "2000.0000", "source": "retail", "category": "consumable"},
    )
    assert rules.rule_retail_above_listing(refs, as_of=MONTH_END, period=PERIOD, region_prefix="37") == []


@pytest.mark.parametrize("prefix,expected", [("37", 1), ("3710", 1), ("3713", 0)])
def test_retail_above_listing_stays_in_the_scanned_region(prefix, expected):
    refs = references({"price": "1500.0000"}, {"price": "1600.0000", "source": "retail", "region": "371002"})
    assert len(rules.rule_retail_above_listing(refs, as_of=MONTH_END, period=PERIOD, region_prefix=prefix)) == expected
