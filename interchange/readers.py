"""Reading an input file into a frame of text cells (INTERCHANGE.md "General rules").

- CSV: UTF-8 with BOM, else strict UTF-8, else GB18030 (what Excel on a Chinese
  Windows writes). XLSX: the first sheet, read-only.
- Headers: canonical English name or Chinese alias; unknown columns → warning; the
  caller rejects the file when a required column is missing.
- Every cell comes back as ``str``; ``""`` is a blank (null) cell. The frame's index is
  the row number in the file, counting the header as row 1; blank lines are dropped
  without renumbering the others.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from interchange import reasons
from interchange.tables import TableSpec

XLSX_MAGIC = b"PK\x03\x04"
_STR = np.dtypes.StringDType()


class UnreadableFile(Exception):
    """The file is neither readable CSV nor XLSX; the message says why."""


@dataclass
class RawTable:
    frame: pd.DataFrame  # canonical column names → str cells, index = file row number
    encoding: str
    missing: list[str] = field(default_factory=list)  # required columns not found
    unknown: list[str] = field(default_factory=list)  # headers ignored
    duplicated: list[str] = field(default_factory=list)  # canonical columns given twice


def decode_csv(data: bytes) -> tuple[str, str]:
    """(text, encoding): BOM first, then strict UTF-8, else GB18030."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"{reasons.UNREADABLE}: {exc}") from exc


def _csv_frame(text: str) -> pd.DataFrame:
    if not text.strip():
        return pd.DataFrame()
    try:
        df = pd.read_csv(
            io.StringIO(text),
            dtype=object,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            header=None,
            quoting=csv.QUOTE_MINIMAL,
            engine="c",
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise UnreadableFile(f"{reasons.UNREADABLE}: {exc}") from exc
    return df


def _cell_text(value) -> str:
    """An XLSX cell as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Excel stores every number as a double; integral ones are written without ".0".
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    return str(value)


def _xlsx_frame(data: bytes) -> pd.DataFrame:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise UnreadableFile(f"{reasons.UNREADABLE}: {exc}") from exc
    try:
        ws = wb.worksheets[0]
        rows = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    if not rows:
        return pd.DataFrame()
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    return pd.DataFrame(rows, dtype=object)


def read_table(path: str | Path, spec: TableSpec) -> RawTable:
    """The file at ``path`` as text cells under canonical column names."""
    data = Path(path).read_bytes()
    return read_bytes(data, spec, name=str(path))


def read_bytes(data: bytes, spec: TableSpec, *, name: str = "") -> RawTable:
    if data.startswith(XLSX_MAGIC) or name.lower().endswith((".xlsx", ".xlsm")):
        grid = _xlsx_frame(data)
        encoding = "xlsx"
    else:
        text, encoding = decode_csv(data)
        grid = _csv_frame(text)
    return _with_headers(grid, spec, encoding)


def _with_headers(grid: pd.DataFrame, spec: TableSpec, encoding: str) -> RawTable:
    if grid.shape[0] == 0:
        missing = [c.name for c in spec.columns if c.required]
        return RawTable(pd.DataFrame(columns=list(spec.column_names), dtype=object), encoding, missing=missing)
    header_cells = [str(h).strip().lstrip("\ufeff").strip() for h in grid.iloc[0].tolist()]
    mapping = spec.header_map()
    selected: dict[str, int] = {}
    unknown: list[str] = []
    duplicated: list[str] = []
    for pos, header in enumerate(header_cells):
        if header == "":
            continue
        canonical = mapping.get(header.casefold()) or mapping.get(_fold_fullwidth(header).casefold())
        if canonical is None:
            unknown.append(header)
        elif canonical in selected:
            duplicated.append(canonical)
        else:
            selected[canonical] = pos
    body = grid.iloc[1:]
    # Row numbers as in the file: header is row 1.
    index = pd.RangeIndex(2, 2 + len(body), name="row")
    cols = {name: body.iloc[:, pos].to_numpy(dtype=object) for name, pos in selected.items()}
    for c in spec.columns:
        if c.name not in cols:
            cols[c.name] = np.full(len(body), "", dtype=object)
    frame = pd.DataFrame(cols, index=index)[list(spec.column_names)]
    # Drop rows whose every cell is blank (blank lines, trailing Excel rows).
    if len(frame):
        nonblank = np.zeros(len(body), dtype=bool)
        for j in range(body.shape[1]):
            cells = body.iloc[:, j].to_numpy(dtype=object).astype(_STR)
            nonblank |= np.strings.str_len(np.strings.strip(cells)) > 0
        if not nonblank.all():
            frame = frame[nonblank]
    missing = [c.name for c in spec.columns if c.required and c.name not in selected]
    return RawTable(frame, encoding, missing=missing, unknown=unknown, duplicated=duplicated)


_FULLWIDTH_HEADER = str.maketrans({0x3000: " ", 0xFF08: "(", 0xFF09: ")", 0xFF0F: "/"})


def _fold_fullwidth(text: str) -> str:
    """Header spelling with full-width brackets/slash (中选价（元/包装）) folded."""
    return text.translate(_FULLWIDTH_HEADER)
