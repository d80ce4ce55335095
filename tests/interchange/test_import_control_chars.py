"""A NUL (or another control character) in a cell is a row error, never a crash or a half-write.

PostgreSQL text refuses NUL, so such a cell reaching a COPY would abort the import with a
DataError; NumPy's string functions take trailing NULs for padding (``isdigit("1\\x00")``),
which made the integer/decimal parsers raise ``ValueError: invalid literal for int()``.
"""

from __future__ import annotations

import pandas as pd
import pytest

from interchange import parsing, reasons
from interchange.readers import read_bytes
from interchange.services import imports
from interchange.services.imports import APPLIED, REJECTED, table_import
from interchange.tables import ENTERPRISES, ORDERS
from parties.identifiers import credit_code_check_char
from parties.models import Enterprise
from procurement.models import OrderLine
from tests.interchange.import_support import ORDER_HEADER, build_world, errors_of, order_row, write_csv

NUL = "\x00"


def _order_keys() -> set[tuple[str, int]]:
    return set(OrderLine.objects.values_list("order_no", "line_no"))


@pytest.mark.django_db
@pytest.mark.parametrize("chunk", [None, 2])
def test_nul_in_order_cells_is_reported_and_nothing_is_written(tmp_path, monkeypatch, chunk):
    if chunk:
        monkeypatch.setattr(imports, "CHUNK_ROWS", chunk)
    world = build_world()
    rows = [
        order_row(world, "PO1", 1),
        order_row(world, "PO2", 1, qty=f"2{NUL}"),  # the crash: isdigit("2\x00") is True
        order_row(world, "PO3", 1, unit_price=f"12.5{NUL}"),
        order_row(world, f"PO{NUL}4", 1),  # an identifier: would break the COPY of the key look-up
        order_row(world, "PO5", f"{NUL}1"),  # the integer key
        order_row(world, "PO6", 1, ordered_at=f"2026-09-10T09:30:00+08:00{NUL}"),
        order_row(world, "PO7", 1, unit_price=f"1{NUL}"),
        order_row(world, "PO8", 1),
    ]
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    before = _order_keys()
    expected = [
        (3, "qty", f"2{NUL}", reasons.BAD_INTEGER.code),
        (4, "unit_price", f"12.5{NUL}", reasons.BAD_DECIMAL.code),
        (5, "order_no", f"PO{NUL}4", reasons.BAD_CHARACTER.code),
        (6, "line_no", f"{NUL}1", reasons.BAD_INTEGER.code),
        (7, "ordered_at", f"2026-09-10T09:30:00+08:00{NUL}", reasons.BAD_TIMESTAMP.code),
        (8, "unit_price", f"1{NUL}", reasons.BAD_DECIMAL.code),
    ]

    report = table_import(table="orders", path=path)
    assert report.status == REJECTED
    assert errors_of(report) == expected
    assert _order_keys() == before

    lenient = table_import(table="orders", path=path, lenient=True)
    assert lenient.status == APPLIED
    assert errors_of(lenient) == expected
    assert (lenient.created, lenient.rejected) == (2, 6)
    assert _order_keys() - before == {("PO1", 1), ("PO8", 1)}

    again = table_import(table="orders", path=path, lenient=True)  # idempotent: the same refusals, no write
    assert errors_of(again) == expected and again.created == 0
    assert _order_keys() - before == {("PO1", 1), ("PO8", 1)}


def _credit_code(n: int) -> str:
    first17 = f"91371000MA3C{n:05d}"
    return first17 + credit_code_check_char(first17)


@pytest.mark.django_db
def test_control_characters_in_text_cells(tmp_path):
    build_world()
    header = ["credit_code", "name", "role", "bank_name", "bank_account"]
    codes = [_credit_code(n) for n in range(101, 106)]
    rows = [
        [codes[0], "好企业", "生产", "", ""],
        [codes[1], f"坏{NUL}企业", "生产", "", ""],  # NUL: PostgreSQL cannot store it
        [codes[2], "铃声企业", "生产", f"工商{chr(7)}银行", ""],  # BEL: XLSX cannot hold it
        [codes[3], "制表\t企业", "生产", "", ""],  # a tab inside free text stays content
        [codes[4], "枚举企业", f"生产{NUL}", "", ""],
    ]
    path = write_csv(tmp_path / "enterprises.csv", header, rows)
    expected = [
        (3, "name", f"坏{NUL}企业", reasons.BAD_CHARACTER.code),
        (4, "bank_name", f"工商{chr(7)}银行", reasons.BAD_CHARACTER.code),
        (6, "role", f"生产{NUL}", reasons.BAD_ENUM.code),
    ]
    before = set(Enterprise.objects.values_list("credit_code", flat=True))

    report = table_import(table="enterprises", path=path)
    assert report.status == REJECTED
    assert errors_of(report) == expected
    assert set(Enterprise.objects.values_list("credit_code", flat=True)) == before

    lenient = table_import(table="enterprises", path=path, lenient=True)
    assert lenient.status == APPLIED and errors_of(lenient) == expected
    assert dict(Enterprise.objects.exclude(credit_code__in=before).values_list("credit_code", "name")) == {
        codes[0]: "好企业",
        codes[3]: "制表\t企业",
    }


# -- the parsers on their own -------------------------------------------------------------

BAD_INTS = ["1\x00", "\x001", "12\x002", "\x00", "1\x00\x00", "-3\x00", "+4\x00", "1,000\x00"]


@pytest.mark.parametrize("parse", [parsing.parse_int, parsing._parse_int_general])
def test_int_parsers_call_nul_cells_bad(parse):
    s = pd.Series(["7", "", *BAD_INTS], dtype=object)
    values, bad, too_large = parse(s)
    assert values.tolist() == [7, pd.NA] + [pd.NA] * len(BAD_INTS)
    assert bad.tolist() == [False, False] + [True] * len(BAD_INTS)
    assert not too_large.any()


@pytest.mark.parametrize("parse", [parsing.parse_decimal, parsing._parse_decimal_general])
def test_decimal_parsers_call_nul_cells_bad(parse):
    cells = ["1.5\x00", "1\x00.5", "\x00.5", "2.\x005", "3\x00", "1,234.5\x00", "-0.5\x00"]
    s = pd.Series(["1.25", "", *cells], dtype=object)
    values, bad, too_many, too_large = parse(s, scale=2, int_digits=14)
    assert values.tolist() == [125, pd.NA] + [pd.NA] * len(cells)
    assert bad.tolist() == [False, False] + [True] * len(cells)
    assert not too_many.any() and not too_large.any()


def test_every_kind_refuses_control_characters():
    log = parsing.ErrorLog()
    # One row per column and character, inside the value (at its edges \x1c-\x1f are trimmed as whitespace).
    good = {
        "order_no": "PO1",
        "line_no": "10",
        "hospital_code": "H37100200001",
        "distributor_credit_code": "91371000MA3C00001X",
        "product_code": "P1",
        "qty": "20",
        "unit_price": "1.5",
        "ordered_at": "2026-09-10T09:30:00+08:00",
    }
    raw = pd.DataFrame(
        [{**good, col: value[:1] + ch + value[1:]} for col, value in good.items() for ch in "\x00\x1f\x7f"]
    )
    raw.index = pd.RangeIndex(2, 2 + len(raw), name="row")
    typed, _ = parsing.parse_table(raw, ORDERS, log)
    errors = log.frame()
    assert errors["row"].tolist() == list(raw.index)  # each row: one error, on the column it broke
    assert errors["column"].tolist() == [col for col in good for _ in range(3)]
    kinds = {c.name: c.kind for c in ORDERS.columns}
    for _, e in errors.iterrows():
        assert e["reason"] == parsing._CONTROL_REASON.get(kinds[e["column"]], reasons.BAD_CHARACTER).code
        assert e["value"] == raw.loc[e["row"], e["column"]]
        assert pd.isna(typed.loc[e["row"], e["column"]]) or typed.loc[e["row"], e["column"]] == ""


def test_control_cells_free_text_keeps_tab_and_newlines():
    s = pd.Series(["a\tb", "a\nb", "a\rb", "a\x00b", "a\x0bb", "a\x7fb", "普通"], dtype=object)
    assert parsing.control_cells(s, text=True).tolist() == [False, False, False, True, True, False, False]
    assert parsing.control_cells(s).tolist() == [True, True, True, True, True, True, False]
    assert parsing.control_cells(pd.Series(["a", "中文", ""], dtype=object)) is None


def test_a_row_of_nul_cells_is_not_a_blank_line():
    # StringDType strips " \x00 " to "": the row used to be dropped as blank without a word.
    data = b"credit_code,name,role\n \x00 ,,\n,,\n"
    frame = read_bytes(data, ENTERPRISES).frame
    assert frame.index.tolist() == [2]
    assert frame.loc[2, "credit_code"] == " \x00 "


@pytest.mark.django_db
def test_nul_in_an_unknown_header_still_records_the_run(tmp_path):
    # The warning goes into ImportRun.warnings (jsonb on PostgreSQL, which refuses NUL).
    from interchange.models import ImportRun

    world = build_world()
    path = write_csv(tmp_path / "orders.csv", [*ORDER_HEADER, f"x{NUL}y"], [[*order_row(world, "PO1", 1), "1"]])
    report = table_import(table="orders", path=path)
    assert report.status == APPLIED and report.created == 1
    assert report.warnings == [f"{reasons.UNKNOWN_COLUMN}: x\\x00y"]
    assert ImportRun.objects.get().warnings == report.warnings
