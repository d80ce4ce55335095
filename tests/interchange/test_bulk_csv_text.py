"""The COPY payload built in one pass is byte for byte the one the column-wise builder made."""

from __future__ import annotations

import io
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from interchange import bulk
from interchange.parsing import units_text

_STR = np.dtypes.StringDType()
_SPECIAL = (",", '"', "\n", "\r")


# -- the builder as it was (interchange/bulk.py before the one-pass join), the reference ----------


def _old_csv_cells(s: pd.Series) -> np.ndarray:
    na = s.isna().to_numpy()
    if isinstance(s.dtype, pd.Int64Dtype):
        cells = s.fillna(0).to_numpy(dtype=np.int64).astype(str).astype(_STR)
    else:
        values = s.to_numpy(dtype=object)
        if na.any():
            values = np.where(na, "", values)
        cells = values.astype(str).astype(_STR) if values.dtype != object else values.astype(_STR)
        joined = "".join(cells.astype(object))
        if any(c in joined for c in _SPECIAL):
            quoted = np.strings.add(np.strings.add('"', np.strings.replace(cells, '"', '""')), '"')
            special = np.zeros(len(cells), dtype=bool)
            for c in _SPECIAL:
                special |= np.strings.find(cells, c) >= 0
            cells = np.where(special, quoted, cells)
    if na.any():
        cells = np.where(na, "", cells)
    return cells


def _old_csv_text(frame: pd.DataFrame) -> io.StringIO:
    if frame.empty:
        return io.StringIO("")
    line = None
    for col in frame.columns:
        cells = _old_csv_cells(frame[col])
        line = cells if line is None else np.strings.add(np.strings.add(line, ","), cells)
    return io.StringIO("\n".join(line.astype(object)) + "\n")


TRICKY = [
    "plain",
    "",
    'say "hi"',
    '"',
    '""',
    "a,b",
    ",",
    "line\nbreak",
    "cr\rlf\r\n",
    "back\\slash",
    "\\.",
    "\\N",
    "tab\there",
    "\t",
    " lead and trail ",
    "中文，全角逗号",
    "中文,半角逗号",
    '混合"引号",\n换行',
    "NULL",
    "x" * 300,
    "\u3000",
    "emoji 💊",
]


def _frame() -> pd.DataFrame:
    n = len(TRICKY)
    ints = [None, 0, -1, 2**62, -(2**63) + 1, 10**18, 7] * n
    decimals = [Decimal("0.00"), Decimal("-12.30"), None, Decimal("99999999999999.99"), Decimal("1E+3")] * n
    return pd.DataFrame(
        {
            "text": TRICKY,
            "text_with_none": [None if i % 3 == 0 else v for i, v in enumerate(TRICKY)],
            "text_with_nan": [np.nan if i % 4 == 1 else v for i, v in enumerate(TRICKY)],
            "int64": pd.array(ints[:n], dtype="Int64"),
            "int64_all": pd.array(list(range(-3, n - 3)), dtype="Int64"),
            "units": units_text(pd.Series(pd.array([None, 1, -1, 123456, 10**15, 0] * n, dtype="Int64")[:n]), 2),
            "decimal_objects": pd.Series(decimals[:n], dtype=object),
            "python_ints": pd.Series([10**30, -5, 0, 1] * n, dtype=object)[:n].reset_index(drop=True),
            "numpy_int": np.arange(n, dtype=np.int64) * 1_000_000_007,
            "numpy_float": np.linspace(-1.5, 2.25, n),
            "numpy_bool": np.arange(n) % 2 == 0,
            "mixed": pd.Series(["a", 1, Decimal("2.50"), None, 'q"t', 3.5] * n, dtype=object)[:n].reset_index(
                drop=True
            ),
        }
    )


@pytest.mark.parametrize(
    "columns",
    [
        None,
        ["text"],
        ["text_with_none"],
        ["int64"],
        ["units", "text"],
        ["int64_all", "numpy_int", "numpy_bool"],
        ["decimal_objects", "python_ints", "mixed", "numpy_float"],
    ],
)
def test_payload_is_byte_identical_to_the_column_wise_builder(columns):
    frame = _frame() if columns is None else _frame()[columns]
    new = bulk._csv_text(frame).getvalue()
    old = _old_csv_text(frame).getvalue()
    assert new.encode() == old.encode()
    assert new.count("\n") >= len(frame)  # not both empty: a real payload was compared


def test_payload_of_nothing():
    assert bulk._csv_text(pd.DataFrame()).getvalue() == ""
    assert bulk._csv_text(pd.DataFrame({"a": pd.Series([], dtype=object)})).getvalue() == ""
    assert _old_csv_text(pd.DataFrame({"a": pd.Series([], dtype=object)})).getvalue() == ""


def test_payload_quotes_and_blanks_as_csv():
    frame = pd.DataFrame(
        {"a": ['x,"y"', "", None, "中"], "b": pd.array([1, None, 3, -4], dtype="Int64"), "c": ["p\nq", "r", "s", ""]}
    )
    assert bulk._csv_text(frame).getvalue() == '"x,""y""",1,"p\nq"\n,,r\n,3,s\n中,-4,\n'


def test_payload_on_a_large_random_frame_matches():
    rng = np.random.default_rng(7)
    n = 5000
    pool = np.array(TRICKY, dtype=object)
    frame = pd.DataFrame(
        {
            "t": pool[rng.integers(0, len(pool), n)],
            "i": pd.array(np.where(rng.random(n) < 0.1, 0, rng.integers(-(10**12), 10**12, n)), dtype="Int64"),
            "u": units_text(pd.Series(pd.array(rng.integers(-(10**9), 10**9, n), dtype="Int64")), 4),
        }
    )
    frame.loc[rng.random(n) < 0.1, "i"] = pd.NA
    frame.loc[rng.random(n) < 0.1, "t"] = None
    assert bulk._csv_text(frame).getvalue() == _old_csv_text(frame).getvalue()
