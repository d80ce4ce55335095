"""Packing a whole reconcile's regions into passes (settlement.services.matching.pack_passes):
no database, only the invoice lines of each region's coverage prefix."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.services.matching import pack_passes

# The sixteen cities of the L data set (invoice lines by the hospital's city).
L_CITIES = {
    "3701": 230_214, "3702": 194_394, "3703": 158_560, "3704": 153_972, "3705": 123_718, "3706": 203_365,
    "3707": 213_722, "3708": 205_802, "3709": 139_294, "3710": 97_158, "3711": 103_724, "3713": 219_788,
    "3714": 228_864, "3715": 163_165, "3716": 139_594, "3717": 187_372,
}  # fmt: skip


def _loads(passes, sizes):
    return [sum(sizes[p] for p in one) for one in passes]


def test_the_l_cities_fit_six_even_passes_where_prefix_order_took_seven():
    # given the cap of 500k lines a pass (2.76M lines: at least 6 passes)
    passes = pack_passes(L_CITIES, 500_000)
    loads = _loads(passes, L_CITIES)
    # then six passes, each city once, none above the cap, within 10% of each other, largest first
    assert len(passes) == 6
    assert sorted(p for one in passes for p in one) == sorted(L_CITIES)
    assert max(loads) <= 500_000 and max(loads) <= 1.1 * min(loads)
    assert loads == sorted(loads, reverse=True)
    # and the largest-first rule alone leaves one above the cap (509,102 lines), which more passes would fix
    lightest_first = [0] * 6
    for n in sorted(L_CITIES.values(), reverse=True):
        lightest_first[lightest_first.index(min(lightest_first))] += n
    assert max(lightest_first) > 500_000
    # and the same six suit two or three workers; four get eight
    assert pack_passes(L_CITIES, 500_000, workers=2) == passes == pack_passes(L_CITIES, 500_000, workers=3)
    assert len(pack_passes(L_CITIES, 500_000, workers=4)) == 8


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.dictionaries(st.from_regex(r"37[0-9]{2}", fullmatch=True), st.integers(1, 1000), min_size=1, max_size=30),
    cap=st.integers(1, 3000),
    workers=st.integers(1, 4),
)
def test_packed_passes_hold_every_prefix_once_within_the_cap(sizes, cap, workers):
    passes = pack_passes(sizes, cap, workers)
    assert sorted(p for one in passes for p in one) == sorted(sizes)
    alone = [p for p, n in sizes.items() if n > cap]
    for one, load in zip(passes, _loads(passes, sizes), strict=True):
        assert one == sorted(one)
        assert load <= cap or (len(one) == 1 and one[0] in alone)
    fits = len(sizes) - len(alone)
    fewest = -(-sum(n for n in sizes.values() if n <= cap) // cap) if fits else 0
    assert len(passes) >= len(alone) + fewest
    assert len(passes) % workers == 0 or len(passes) == len(sizes)


@pytest.mark.parametrize(("cap", "workers"), [(0, 1), (-5, 2), (10, 0)])
def test_a_cap_or_worker_count_below_one_is_refused(cap, workers):
    with pytest.raises(ValueError, match="at least 1"):
        pack_passes({"3701": 5}, cap, workers)
