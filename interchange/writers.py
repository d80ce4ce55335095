"""Writing output tables: CSV (UTF-8 with BOM, so Excel shows Chinese) or XLSX.

``write_table(columns, rows, fmt, out)``: ``rows`` yields tuples in column order;
``out`` is a path or a binary file object. Values: Decimal kept exact (CSV: its text;
XLSX: a numeric cell with a 2-decimal format, 4 for unit prices), dates ISO, timestamps
ISO in Asia/Shanghai, None blank.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(SHANGHAI)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_chunks(columns: Sequence[str], rows: Iterable[Sequence], *, lines_per_chunk: int = 2000) -> Iterator[bytes]:
    """The CSV as UTF-8 byte chunks, BOM first (for streaming responses)."""
    writer = csv.writer(_Echo())
    yield codecs.BOM_UTF8 + writer.writerow(list(columns)).encode("utf-8")
    buf: list[str] = []
    for row in rows:
        buf.append(writer.writerow([cell_text(v) for v in row]))
        if len(buf) >= lines_per_chunk:
            yield "".join(buf).encode("utf-8")
            buf = []
    if buf:
        yield "".join(buf).encode("utf-8")


def write_csv(columns: Sequence[str], rows: Iterable[Sequence], out) -> int:
    counted = [0]

    def counting(it):
        for row in it:
            counted[0] += 1
            yield row

    with _binary(out) as fh:
        for chunk in csv_chunks(columns, counting(rows)):
            fh.write(chunk)
    return counted[0]


def write_xlsx(columns: Sequence[str], rows: Iterable[Sequence], out, *, sheet: str = "data") -> int:
    import xlsxwriter

    target = str(out) if isinstance(out, str | Path) else out
    wb = xlsxwriter.Workbook(target, {"constant_memory": True, "in_memory": not isinstance(out, str | Path)})
    try:
        ws = wb.add_worksheet(sheet[:31])
        bold = wb.add_format({"bold": True})
        money = wb.add_format({"num_format": "0.00"})
        price = wb.add_format({"num_format": "0.0000"})
        date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        for j, name in enumerate(columns):
            ws.write_string(0, j, name, bold)
            ws.set_column(j, j, max(10, min(40, len(name) + 2)))
        n = 0
        for n, row in enumerate(rows, start=1):
            for j, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, Decimal):
                    fmt = price if value.as_tuple().exponent < -2 else money
                    ws.write_number(n, j, value, fmt)
                elif isinstance(value, bool):
                    ws.write_boolean(n, j, value)
                elif isinstance(value, int):
                    ws.write_number(n, j, value)
                elif isinstance(value, dt.datetime):
                    ws.write_string(n, j, cell_text(value))
                elif isinstance(value, dt.date):
                    ws.write_datetime(n, j, dt.datetime.combine(value, dt.time()), date_fmt)
                else:
                    ws.write_string(n, j, str(value))
        ws.freeze_panes(1, 0)
    finally:
        wb.close()
    return n


def write_table(columns: Sequence[str], rows: Iterable[Sequence], fmt: str, out) -> int:
    """Write ``rows`` under a header of ``columns``; returns the number of data rows."""
    if fmt == "csv":
        return write_csv(columns, rows, out)
    if fmt == "xlsx":
        return write_xlsx(columns, rows, out)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


class _binary:
    """A binary file object for ``out`` (path opened here and closed after; objects left open)."""

    def __init__(self, out) -> None:
        self.out = out
        self.fh = None

    def __enter__(self):
        if isinstance(self.out, str | Path):
            self.fh = open(self.out, "wb")  # noqa: SIM115 - closed in __exit__
            return self.fh
        if isinstance(self.out, io.TextIOBase):
            raise TypeError("write_table needs a binary file object")
        return self.out

    def __exit__(self, *exc) -> None:
        if self.fh is not None:
            self.fh.close()
