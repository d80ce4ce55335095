"""The column-wise fast paths of the importer give, cell for cell, what the general paths give.

Plain numeric cells (``-``, ASCII digits, one ``.``) are read from a byte matrix with
integer arithmetic; every other cell goes through the general path. Read-back values
from the database, digit-run identifiers, blank-line detection and in-file duplicates
have fast forms too; each is compared here with the slower form it replaces, on tricky
inputs, and pinned on a few explicit values.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pandas as pd
import pytest

from interchange import parsing, reasons
from interchange.loaders.identifiers import invoice_number_problems, matches
from interchange.readers import read_bytes
from interchange.services import imports
from interchange.services.imports import REJECTED, table_import
from interchange.tables import INT_DIGITS, ORDERS, SCALE
from procurement.models import OrderLine
from tests.interchange.import_support import ORDER_HEADER, build_world, errors_of, order_row, write_csv

TRICKY = [
    "",
    "0",
    "-0",
    "-0.00",
    "12.5",
    "12.50",
    "12.500000",
    "0.01",
    "0.001",
    "0.0001",
    "0.00001",
    "-0.005",
    "1.23456",
    "007",
    "007.50",
    "00000000000000000001.00",
    "12345678901234.99",  # 14 digits before the point
    "123456789012345.99",  # 15: too large for an amount
    "99999999999999999999",
    "9999999999.9999",
    "10000000000",
    "-12345678901234.99",
    "1,234",
    "1,234.56",
    "-1,234,567.5",
    "12,34",
    "1,2345",
    "+7",
    "+7.25",
    "-",
    "+",
    ".",
    "1.",
    ".5",
    "-.5",
    "1.2.3",
    "--1",
    "1-",
    "1e5",
    " 1",
    "1 ",
    "abc",
    "１２３",  # full-width (normalize folds these before parsing; raw here)
    "１２．５",
    "٣",
    "²",
    "12\n",
    "0x1F",
    "1_000",
]
MONEY = [(SCALE[k], INT_DIGITS[k]) for k in ("amount", "price", "rate")] + [(0, 5), (2, 16)]


def _same(fast, slow) -> None:
    assert fast[0].dtype == slow[0].dtype == "Int64"
    assert fast[0].index.equals(slow[0].index)
    assert fast[0].isna().tolist() == slow[0].isna().tolist()
    assert fast[0].fillna(0).tolist() == slow[0].fillna(0).tolist()
    for f, s in zip(fast[1:], slow[1:], strict=True):
        assert np.asarray(f, dtype=bool).tolist() == np.asarray(s, dtype=bool).tolist()


def _series(cells) -> pd.Series:
    return pd.Series(list(cells), dtype=object, index=pd.RangeIndex(2, 2 + len(cells), name="row"))


@pytest.mark.parametrize(("scale", "int_digits"), MONEY)
def test_decimal_fast_path_equals_general_path_on_tricky_cells(scale, int_digits):
    s = _series(TRICKY)
    _same(
        parsing.parse_decimal(s, scale=scale, int_digits=int_digits),
        parsing._parse_decimal_general(s, scale=scale, int_digits=int_digits),
    )
    # one cell at a time too (a column of plain cells only takes the byte-matrix path whole)
    for cell in TRICKY:
        one = _series([cell])
        _same(
            parsing.parse_decimal(one, scale=scale, int_digits=int_digits),
            parsing._parse_decimal_general(one, scale=scale, int_digits=int_digits),
        )


@pytest.mark.parametrize("max_digits", [15, 3])
def test_int_fast_paths_equal_general_path_on_tricky_cells(max_digits):
    s = _series(TRICKY)
    _same(parsing.parse_int(s, max_digits=max_digits), parsing._parse_int_general(s, max_digits=max_digits))
    for cell in TRICKY:
        one = _series([cell])
        _same(parsing.parse_int(one, max_digits=max_digits), parsing._parse_int_general(one, max_digits=max_digits))
    digits_only = _series(["1", "007", "123", "42"])  # the digits-only column path
    _same(
        parsing.parse_int(digits_only, max_digits=max_digits),
        parsing._parse_int_general(digits_only, max_digits=max_digits),
    )


def test_decimal_values_are_exact_integer_units():
    s = _series(["12.5", "-0.01", "1,234.56", "007.50", "12345678901234.99", "0.005", "123456789012345", "x", ""])
    values, bad, too_many, too_large = parsing.parse_decimal(s, scale=2, int_digits=14)
    assert values.tolist()[:5] == [1250, -1, 123456, 750, 1234567890123499]
    assert values.isna().tolist() == [False] * 5 + [True] * 4
    assert bad.tolist() == [False] * 7 + [True, False]
    assert too_many.tolist() == [False] * 5 + [True, False, False, False]
    assert too_large.tolist() == [False] * 6 + [True, False, False]
    prices, *_ = parsing.parse_decimal(_series(["4.6652", "9999999999.9999", "-0.0001"]), scale=4, int_digits=10)
    assert prices.tolist() == [46652, 99999999999999, -1]


def test_int_values_and_too_large():
    values, bad, too_large = parsing.parse_int(_series(["1", "-20", "007", "1,234", "1234567890123456", "1.5", ""]))
    assert values.tolist()[:4] == [1, -20, 7, 1234]
    assert values.isna().tolist() == [False] * 4 + [True] * 3
    assert bad.tolist() == [False] * 5 + [True, False]
    assert too_large.tolist() == [False] * 4 + [True, False, False]


@pytest.mark.parametrize("seed", range(4))
def test_random_numeric_columns_fast_equals_general(seed):
    rnd = random.Random(seed)
    atoms = list("0123456789") * 4 + ["-", "+", ".", ",", " ", "e", "٣", "１", "00", "9" * 12]

    def plainish() -> str:
        whole = "".join(rnd.choice("0123456789") for _ in range(rnd.choice([1, 2, 3, 5, 10, 14, 15, 16, 20])))
        frac = (
            ""
            if rnd.random() < 0.4
            else "." + "".join(rnd.choice("0123456789") for _ in range(rnd.choice([1, 2, 4, 5])))
        )
        return rnd.choice(["", "", "-", "+"]) + whole + frac

    def odd() -> str:
        return "".join(rnd.choice(atoms) for _ in range(rnd.choice([0, 1, 2, 5, 9])))

    for _ in range(60):
        cells = [plainish() if rnd.random() < 0.85 else odd() for _ in range(rnd.choice([1, 7, 80]))]
        if rnd.random() < 0.5:
            cells = [c for c in cells if c.isascii()] or ["1"]
        s = _series(cells)
        for scale, int_digits in MONEY:
            _same(
                parsing.parse_decimal(s, scale=scale, int_digits=int_digits),
                parsing._parse_decimal_general(s, scale=scale, int_digits=int_digits),
            )
        try:
            slow = parsing._parse_int_general(s)
        except OverflowError:  # 16+ digit cells with a sign the general path can't hold; not compared
            continue
        _same(parsing.parse_int(s), slow)


def test_ints_from_db_equal_to_numeric():
    def old(values):
        return pd.array(
            pd.to_numeric(pd.Series(values, dtype=object).replace("", None), errors="coerce"), dtype="Int64"
        )

    for values in (["1", "", "-3", "007", "123456789012"], [], [""], ["", ""], [1, None, 3], ["+5", "1"], ["2", "x"]):
        new = parsing.ints_from_db(values)
        assert new.dtype == "Int64"
        assert list(new) == list(old(values))


def test_timestamps_from_db_skip_blanks_with_the_same_result():
    import datetime as dt

    def old(values):
        s = pd.Series(values, dtype=object)
        return (
            pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce").astype(parsing.UTC_US).reset_index(drop=True)
        )

    for values in (
        ["2026-03-01 10:00:00+00", "", None, "2026-03-01 10:00:00.5+08", "garbage"],
        [],
        [""],
        [None, None],
        [dt.datetime(2026, 1, 1, tzinfo=dt.UTC), None],
        ["2026-01-01T00:00:00Z"],
    ):
        arr = np.array(values, dtype=object)
        assert parsing.timestamps_from_db(arr).equals(old(arr))


@pytest.mark.parametrize("pattern", [r"\d{20}", r"\d{8}", r"\d{10}|\d{12}", r"\d{6}", r"\d{8,30}", r"H\d{11}"])
def test_digit_run_matches_equal_regex(pattern):
    cells = [
        "",
        "12345678",
        "1234567890",
        "123456789012",
        "12345678901234567890",
        "1234567",
        "123456",
        "H12345678901",
        "١٢٣٤٥٦٧٨",
        "1234567²",
        "12345678\n",
        "1234 5678",
        "１２３４５６７８",
        "abcdefgh",
        "123456789012345678901234567890",
    ]
    s = pd.Series(cells, dtype=object)
    expected = [bool(c) and re.fullmatch(pattern, c) is not None for c in cells]
    assert matches(s, pattern).tolist() == expected
    with_nan = pd.Series([*cells, np.nan], dtype=object)  # not all text: the regex path
    assert matches(with_nan, pattern).tolist() == [*expected, False]


def test_invoice_number_problems_by_shape():
    no = pd.Series(["26370000000000000001", "12345678", "12345678", "1234", "", "26370000000000000001"], dtype=object)
    code = pd.Series(["", "1234567890", "", "", "", "123456789012"], dtype=object)
    p = invoice_number_problems(no, code)
    assert p["invoice_no"].tolist() == [False, False, False, True, False, False]
    assert p["invoice_code_unexpected"].tolist() == [False, False, False, False, False, True]
    assert p["invoice_code"].tolist() == [False, False, True, False, False, False]


def test_blank_lines_dropped_and_rows_keep_their_numbers():
    header = ",".join(ORDER_HEADER)
    body = [
        "PO1,1,H1,D1,P1,1,1.0,2026-09-01",
        ",,,,,,,",
        " , ,\t,,,,,",
        ",,,,,,,2026-09-01",  # only the last cell filled: a row
        "　,,,,,,,",  # ideographic space only: blank (str.strip takes it)
        "PO2,1,H1,D1,P1,1,1.0,2026-09-01",
    ]
    raw = read_bytes(("\n".join([header, *body]) + "\n").encode(), ORDERS)
    assert raw.frame.index.tolist() == [2, 5, 7]
    assert raw.frame["order_no"].tolist() == ["PO1", "", "PO2"]


def test_duplicated_among_hash_candidates_equals_pandas():
    df = pd.DataFrame(
        {
            "a": ["x", "x", "y", "x", "z", "y"],
            "b": pd.array([1, 1, None, 1, 2, None], dtype="Int64"),
            "c": ["p", "q", "r", "p", "s", "r"],
        },
        index=pd.RangeIndex(2, 8, name="row"),
    )
    for cols in (["a", "b"], ["a", "b", "c"], ["c"]):
        k1, k2 = imports._row_hashes(df[cols])
        hashes = pd.DataFrame({"h1": k1, "h2": k2})
        for keep in ("first", False):
            got = imports._duplicated(df, cols, hashes, keep=keep)
            assert got.tolist() == df.duplicated(subset=cols, keep=keep).tolist()


@pytest.mark.django_db
@pytest.mark.parametrize("chunk", [None, 2])
def test_bad_line_number_is_reported_not_a_crash(tmp_path, monkeypatch, chunk):
    # An invalid or blank Int64 key cell used to make the duplicate check raise (NA in a bool mask).
    if chunk:
        monkeypatch.setattr(imports, "CHUNK_ROWS", chunk)
    world = build_world()
    rows = [
        order_row(world, "PO1", 1),
        order_row(world, "PO1", "x"),
        order_row(world, "PO2", ""),
        order_row(world, "PO3", 1),
    ]
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    before = set(OrderLine.objects.values_list("order_no", "line_no"))
    report = table_import(table="orders", path=path)
    assert report.status == REJECTED
    assert errors_of(report) == [
        (3, "line_no", "x", reasons.BAD_INTEGER.code),
        (4, "line_no", "", reasons.REQUIRED.code),
    ]
    assert set(OrderLine.objects.values_list("order_no", "line_no")) == before
    lenient = table_import(table="orders", path=path, lenient=True)
    assert lenient.ok and lenient.created == 2 and lenient.rejected == 2
    assert set(OrderLine.objects.values_list("order_no", "line_no")) - before == {("PO1", 1), ("PO3", 1)}
