"""``_pairs_in``, the look-up behind in-file duplicates across chunks, against the merge it
replaced: the same answer for every row, including pairs whose first halves agree and
second halves differ (a first-half collision is not a duplicate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from interchange.services.imports import _pairs_in

# Few distinct halves, so that shared first halves, shared pairs and repeats are common.
half = st.integers(min_value=0, max_value=5).map(lambda v: np.uint64(v * 0x9E3779B97F4A7C15 % 2**64))
pairs = st.lists(st.tuples(half, half), max_size=30)


def _by_merge(here: list, prior: list) -> np.ndarray:
    left = pd.DataFrame({"a": [p[0] for p in here], "b": [p[1] for p in here]}, dtype=np.uint64)
    right = pd.DataFrame({"a": [p[0] for p in prior], "b": [p[1] for p in prior]}, dtype=np.uint64)
    merged = left.merge(right.drop_duplicates(), how="left", indicator=True)
    return (merged["_merge"] == "both").to_numpy()


def _arrays(ps: list) -> tuple[np.ndarray, np.ndarray]:
    return np.array([p[0] for p in ps], dtype=np.uint64), np.array([p[1] for p in ps], dtype=np.uint64)


@settings(max_examples=300, deadline=None)
@given(here=pairs, prior=pairs)
def test_same_answer_as_the_merge(here, prior):
    got = _pairs_in(*_arrays(here), *_arrays(prior))
    assert got.dtype == bool and len(got) == len(here)
    assert got.tolist() == _by_merge(here, prior).tolist()


def test_a_shared_first_half_alone_is_not_a_match():
    a, b = np.array([7, 7, 8], dtype=np.uint64), np.array([1, 2, 1], dtype=np.uint64)
    prior_a, prior_b = np.array([7, 9], dtype=np.uint64), np.array([2, 1], dtype=np.uint64)
    assert _pairs_in(a, b, prior_a, prior_b).tolist() == [False, True, False]


def test_halves_above_two_to_the_63_are_compared_as_unsigned():
    big = np.uint64(2**64 - 1)
    a, b = np.array([big, big], dtype=np.uint64), np.array([big, 0], dtype=np.uint64)
    assert _pairs_in(a, b, np.array([big], dtype=np.uint64), np.array([0], dtype=np.uint64)).tolist() == [False, True]
