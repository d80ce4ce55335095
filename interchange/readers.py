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
    layout = _layout(grid.iloc[0].tolist(), spec)
    frame = _body(grid.iloc[1:], layout, spec, first_row=2)
    return RawTable(frame, encoding, missing=layout.missing, unknown=layout.unknown, duplicated=layout.duplicated)


@dataclass
class _Layout:
    selected: dict[str, int]  # canonical column → position in the file
    missing: list[str]
    unknown: list[str]
    duplicated: list[str]


def _layout(header_row: list, spec: TableSpec) -> _Layout:
    header_cells = [str(h).strip().lstrip("\ufeff").strip() for h in header_row]
    mapping = spec.header_map()
    selected: dict[str, int] = {}
    unknown: list[str] = []
    duplicated: list[str] = []
    for pos, header in enumerate(header_cells):
        if header == "":
            continue
        canonical = mapping.get(header.casefold()) or mapping.get(_fold_fullwidth(header).casefold())
        if canonical is None:
            # Shown as "\x00": the warning is stored in a PostgreSQL jsonb column, which refuses NUL.
            unknown.append(header.replace("\x00", "\\x00"))
        elif canonical in selected:
            duplicated.append(canonical)
        else:
            selected[canonical] = pos
    missing = [c.name for c in spec.columns if c.required and c.name not in selected]
    return _Layout(selected, missing, unknown, duplicated)


def _body(body: pd.DataFrame, layout: _Layout, spec: TableSpec, *, first_row: int) -> pd.DataFrame:
    """Data rows under canonical names; index = row number in the file (header = row 1)."""
    index = pd.RangeIndex(first_row, first_row + len(body), name="row")
    cols = {name: body.iloc[:, pos].to_numpy(dtype=object) for name, pos in layout.selected.items()}
    for c in spec.columns:
        if c.name not in cols:
            cols[c.name] = np.full(len(body), "", dtype=object)
    frame = pd.DataFrame(cols, index=index)[list(spec.column_names)]
    # Drop rows whose every cell is blank (blank lines, trailing Excel rows).
    if len(frame):
        # Only rows with no non-blank cell so far are looked at again: after the first
        # column that is nearly always none, so the strip runs on a handful of cells.
        nonblank = np.zeros(len(body), dtype=bool)
        for j in range(body.shape[1]):
            todo = np.flatnonzero(~nonblank)
            if todo.size == 0:
                break
            cells = body.iloc[:, j].to_numpy(dtype=object)[todo]
            filled = cells != ""
            if filled.any():
                stripped = np.strings.strip(cells[filled].astype(_STR))
                todo_filled = todo[filled]
                some = np.strings.str_len(stripped) > 0
                if not some.all():
                    # StringDType takes trailing NULs for padding (" \x00" strips to ""): ask Python.
                    empty = np.flatnonzero(~some)
                    some[empty] = [bool(v.strip()) for v in cells[filled][empty]]
                nonblank[todo_filled[some]] = True
        if not nonblank.all():
            frame = frame[nonblank]
    return frame


# -- reading in chunks ------------------------------------------------------------------


@dataclass
class OpenTable:
    """A file opened for reading in chunks: its layout now, its rows by ``chunks()``.

    ``frame`` is set (and ``chunks()`` yields it whole) for XLSX and when no chunk size
    was asked for; for CSV each chunk is read from disk when its turn comes, so memory
    follows the chunk size, not the file size.
    """

    encoding: str
    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    frame: pd.DataFrame | None = None
    path: Path | None = None
    chunk_rows: int = 0
    layout: _Layout | None = None
    spec: TableSpec | None = None

    def chunks(self):
        """Frames of text cells (index = file row number); raises UnreadableFile mid-way on a broken row."""
        if self.frame is not None:
            yield self.frame
            return
        if self.layout is None:  # blank file
            return
        reader = _csv_reader(self.path, self.encoding, self.chunk_rows)
        next_row = 1  # row number of the reader's next record (the header is row 1)
        try:
            for grid in reader:
                body = grid.iloc[1:] if next_row == 1 else grid
                first = next_row + (1 if next_row == 1 else 0)
                next_row += len(grid)
                yield _body(body, self.layout, self.spec, first_row=first)
        except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
            raise UnreadableFile(f"{reasons.UNREADABLE}: {exc}") from exc
        finally:
            reader.close()


def _csv_reader(path: Path, encoding: str, chunk_rows: int):
    return pd.read_csv(
        path,
        encoding=encoding,
        chunksize=chunk_rows,
        dtype=object,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=False,
        header=None,
        quoting=csv.QUOTE_MINIMAL,
        engine="c",
    )


def sniff_csv(path: Path) -> tuple[str, bool]:
    """(encoding, has content) of a CSV file, read in blocks: BOM, else strict UTF-8, else GB18030."""
    with open(path, "rb") as fh:
        first = fh.read(len(codecs.BOM_UTF8))
    candidates = ["utf-8-sig"] if first == codecs.BOM_UTF8 else ["utf-8", "gb18030"]
    last_exc: Exception | None = None
    for encoding in candidates:
        decoder = codecs.getincrementaldecoder(encoding)()
        content = False
        try:
            with open(path, "rb") as fh:
                while block := fh.read(1 << 24):
                    text = decoder.decode(block)
                    content = content or bool(text.strip())
                text = decoder.decode(b"", final=True)
                content = content or bool(text.strip())
            return encoding, content
        except UnicodeDecodeError as exc:
            last_exc = exc
    raise UnreadableFile(f"{reasons.UNREADABLE}: {last_exc}")


def open_table(path: str | Path, spec: TableSpec, chunk_rows: int | None = None) -> OpenTable:
    """Open ``path`` for ``spec``; CSV in chunks of ``chunk_rows`` rows when given, else whole."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(len(XLSX_MAGIC))
    if not chunk_rows or magic == XLSX_MAGIC or path.name.lower().endswith((".xlsx", ".xlsm")):
        raw = read_table(path, spec)
        return OpenTable(raw.encoding, raw.missing, raw.unknown, raw.duplicated, frame=raw.frame)
    encoding, content = sniff_csv(path)
    if not content:
        missing = [c.name for c in spec.columns if c.required]
        return OpenTable(encoding, missing=missing, path=path, chunk_rows=chunk_rows, spec=spec)
    try:
        reader = _csv_reader(path, encoding, 1)
        try:
            header = reader.get_chunk().iloc[0].tolist()
        finally:
            reader.close()
    except (pd.errors.ParserError, ValueError) as exc:
        raise UnreadableFile(f"{reasons.UNREADABLE}: {exc}") from exc
    layout = _layout(header, spec)
    return OpenTable(
        encoding,
        missing=layout.missing,
        unknown=layout.unknown,
        duplicated=layout.duplicated,
        path=path,
        chunk_rows=chunk_rows,
        layout=layout,
        spec=spec,
    )


_FULLWIDTH_HEADER = str.maketrans({0x3000: " ", 0xFF08: "(", 0xFF09: ")", 0xFF0F: "/"})


def _fold_fullwidth(text: str) -> str:
    """Header spelling with full-width brackets/slash (中选价（元/包装）) folded."""
    return text.translate(_FULLWIDTH_HEADER)
