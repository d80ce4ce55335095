"""Column-at-a-time normalisation and typing of text cells (no Python loop per row).

Canonical forms, shared by file rows and rows read back from the database so the two
compare with ``==``:

- code / text / enum / date / period: ``str`` (``""`` = blank); dates ``YYYY-MM-DD``;
- int: pandas ``Int64`` (``<NA>`` = blank or invalid);
- amount / price / rate: ``Int64`` in units of the column's scale (fen; 1/10000 yuan);
- timestamp: ``datetime64[us, UTC]`` (``NaT`` = blank or invalid).

An invalid cell is logged (``ErrorLog``) and becomes blank in the typed frame, so the
rules that follow skip it instead of reporting the same cell twice.
"""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pandas as pd

from interchange import reasons
from interchange.reasons import Reason
from interchange.tables import INT_DIGITS, SCALE, Column, TableSpec

STR = np.dtypes.StringDType()
UTC_US = "datetime64[us, UTC]"
SHANGHAI = "Asia/Shanghai"
_SEP = "\x00"

# Full-width forms typed in hand-made sheets → ASCII (digits, letters, , : . - + / and the
# ideographic space). Free-text columns are only trimmed: their punctuation is content.
_FOLD = {0xFF10 + i: 0x30 + i for i in range(10)}
_FOLD.update({0xFF21 + i: 0x41 + i for i in range(26)})
_FOLD.update({0xFF41 + i: 0x61 + i for i in range(26)})
_FOLD.update(
    {
        0xFF0C: ",",  # ，
        0xFF1A: ":",  # ：
        0xFF0E: ".",  # ．
        0x3002: ".",  # 。 typed for a decimal point
        0xFF0D: "-",  # －
        0x2212: "-",  # − minus sign
        0xFF0B: "+",  # ＋
        0xFF0F: "/",  # ／
        0x3000: " ",  # ideographic space
    }
)
FULLWIDTH_TABLE = str.maketrans(_FOLD)
_STRIP_AROUND_SEP = re.compile(r"\s*\x00\s*")
_THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
# Control characters no cell may hold: PostgreSQL text refuses NUL (COPY fails mid-import)
# and XLSX (openpyxl) the other C0 controls but tab, LF and CR, which free text may keep;
# identifiers, numbers, dates … take none (not DEL either).
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_IN_VALUE = re.compile("[\x00-\x1f\x7f]")
_ZONE = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"


BAD_CHARACTER = reasons.BAD_CHARACTER


class ErrorLog:
    """Row errors gathered in one pass: (row, column, value, reason, message)."""

    COLUMNS = ("row", "column", "value", "reason", "message")

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def add(self, rows, column: str, values, reason: Reason, detail=None) -> None:
        rows = np.asarray(rows)
        if rows.size == 0:
            return
        message = str(reason.message)
        if detail is None:
            msg = np.full(rows.size, message, dtype=object)
        elif isinstance(detail, str):
            msg = np.full(rows.size, f"{message} ({detail})", dtype=object)
        else:
            detail = np.asarray(detail, dtype=object)
            msg = np.array([f"{message} ({d})" if d not in (None, "") else message for d in detail], dtype=object)
        vals = np.asarray(values, dtype=object) if not np.isscalar(values) else np.full(rows.size, values, dtype=object)
        self._parts.append(
            pd.DataFrame(
                {
                    "row": rows.astype(np.int64),
                    "column": column,
                    "value": vals,
                    "reason": reason.code,
                    "message": msg,
                }
            )
        )

    def add_mask(self, frame: pd.DataFrame, mask, column: str, reason: Reason, *, text: pd.DataFrame, detail=None):
        """Log ``reason`` for the rows of ``frame`` where ``mask``; the value is the cell of ``text``."""
        if isinstance(mask, np.ndarray) and mask.dtype == bool:
            if mask.shape != (len(frame),):
                raise ValueError(f"mask of {mask.shape} for {len(frame)} rows")
        else:
            mask = np.asarray(pd.Series(mask, index=frame.index).fillna(False), dtype=bool)
        if not mask.any():
            return
        rows = frame.index.to_numpy()[mask]
        values = text.loc[rows, column].to_numpy(dtype=object) if column in text.columns else ""
        if detail is not None and not isinstance(detail, str):
            detail = np.asarray(detail, dtype=object)[mask]
        self.add(rows, column, values, reason, detail)

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in self.COLUMNS})
        df = pd.concat(self._parts, ignore_index=True)
        df["value"] = df["value"].map(lambda v: "" if v is None or v is pd.NA else str(v))
        return df.sort_values(["row", "column"], kind="stable").reset_index(drop=True)

    def bad_rows(self) -> np.ndarray:
        if not self._parts:
            return np.array([], dtype=np.int64)
        return np.unique(np.concatenate([p["row"].to_numpy() for p in self._parts]))

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)


# -- normalisation ------------------------------------------------------------


def normalize(values: np.ndarray, *, fold: bool) -> np.ndarray:
    """Trim every cell; with ``fold`` also turn full-width forms into ASCII.

    The column is joined into one string so the work runs in C (translate, one regex);
    if a cell holds the separator itself, fall back to doing it cell by cell.
    """
    values = np.asarray(values, dtype=object)
    if values.size == 0:
        return values
    joined = _SEP.join(values)
    if joined.count(_SEP) != values.size - 1:
        out = [v.translate(FULLWIDTH_TABLE).strip() if fold else v.strip() for v in values]
        return np.array(out, dtype=object)
    if fold and not joined.isascii():
        joined = joined.translate(FULLWIDTH_TABLE)
    if _needs_strip(joined):
        joined = _STRIP_AROUND_SEP.sub(_SEP, joined)
    joined = joined.strip()
    out = np.empty(values.size, dtype=object)
    out[:] = joined.split(_SEP)
    return out


def _needs_strip(joined: str) -> bool:
    """Whitespace next to a cell boundary anywhere? (plain ``in`` tests run in C)."""
    if not joined.isascii():
        return True
    if any(ws in joined for ws in "\t\r\n\x0b\x0c\x1c\x1d\x1e\x1f"):
        return True
    return f" {_SEP}" in joined or f"{_SEP} " in joined or joined.startswith(" ") or joined.endswith(" ")


def _drop_thousands(s: pd.Series) -> pd.Series:
    if "," not in "".join(s.to_numpy(dtype=object)):
        return s
    has_comma = s.str.contains(",", regex=False)
    grouped = has_comma & s.str.fullmatch(_THOUSANDS)
    return s.where(~grouped, s.str.replace(",", "", regex=False))


# -- typing -------------------------------------------------------------------


def _split_sign(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    a = s.to_numpy(dtype=object).astype(STR)
    neg = np.strings.startswith(a, "-")
    signed = neg | np.strings.startswith(a, "+")
    body = np.where(signed, np.strings.slice(a, 1, None), a)
    return neg, body


def _ascii_digits(a: np.ndarray) -> np.ndarray:
    """Non-empty and every character 0-9 (``isdigit`` alone also takes ² and ٣, and ignores
    trailing NULs: StringDType treats them as padding, so ``"1\x00"`` passes it)."""
    digits = np.strings.isdigit(a)
    if digits.any():
        cells = a[digits].astype(object)
        joined = "".join(cells)
        if not joined.isascii() or "\x00" in joined:
            digits[np.flatnonzero(digits)] = pd.Series(cells, dtype=object).str.fullmatch("[0-9]+").to_numpy(dtype=bool)
    return digits


# -- the plain cells, as a byte matrix ---------------------------------------------
#
# Nearly every numeric cell is plain: an optional "-", ASCII digits and (decimals) one
# "." between digits. Those are read column-wise from an (n, width) matrix of bytes
# with integer arithmetic only; every other cell (blank, "+", thousands separators,
# anything odd) goes through the general path below, which gives each cell the same
# result on its own, so the two agree cell for cell (tests/interchange/test_parsing_fast.py).

_POW10 = 10 ** np.arange(19, dtype=np.int64)
_MAX_FAST_WIDTH = 40


def _plain_cells(s: pd.Series, *, dot: bool) -> dict | None:
    """None when the column can't be viewed as ASCII bytes; else the byte matrix and per-cell shape."""
    values = s.to_numpy(dtype=object)
    n = len(values)
    if n == 0 or pd.api.types.infer_dtype(values, skipna=False) != "string":
        return None
    joined = "".join(values)
    if not joined.isascii() or "\x00" in joined:
        return None
    b = values.astype("S")
    width = b.dtype.itemsize
    if width == 0 or width > _MAX_FAST_WIDTH:
        return None
    m = b.view(np.uint8).reshape(n, width)
    pos = np.arange(width, dtype=np.int64)
    length = np.count_nonzero(m, axis=1)  # no NUL inside a cell (checked): the bytes are a prefix
    neg = m[:, 0] == ord("-")
    start = neg.astype(np.int64)
    inside = pos < length[:, None]
    body = inside & (pos >= start[:, None])
    digit = (m >= ord("0")) & (m <= ord("9"))
    is_dot = (m == ord(".")) & body if dot else np.zeros_like(digit)
    n_dots = np.count_nonzero(is_dot, axis=1)
    dot_at = np.where(n_dots == 1, np.argmax(is_dot, axis=1), length)
    plain = (length > start) & ~np.any(body & ~digit & ~is_dot, axis=1) & (n_dots <= 1)
    # "1." and "-.5" are not plain (the general path calls them bad).
    plain &= (n_dots == 0) | ((dot_at > start) & (dot_at < length - 1))
    if not plain.all():
        m, neg, start, length, dot_at = m[plain], neg[plain], start[plain], length[plain], dot_at[plain]
    return {"plain": plain, "m": m, "neg": neg, "start": start, "length": length, "dot_at": dot_at}


def _plain_units(c: dict, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the plain cells: (units, a non-zero digit after ``scale`` decimals, places of the whole part
    after its leading zeros). One pass over the byte columns, integer arithmetic only."""
    m, start, length, dot_at = c["m"], c["start"], c["length"], c["dot_at"]
    n = len(m)
    units = np.zeros(n, dtype=np.int64)
    extra = np.zeros(n, dtype=bool)
    top = np.zeros(n, dtype=np.int64)
    for j in range(m.shape[1]):
        d = m[:, j].astype(np.int64) - ord("0")
        nonzero = (d > 0) & (d <= 9) & (j >= start) & (j < length) & (j != dot_at)
        if not nonzero.any():
            continue
        whole = j < dot_at
        place = dot_at - 1 - j  # whole part: 0 = the units digit
        exp = np.where(whole, place + scale, scale - (j - dot_at))
        used = nonzero & (exp >= 0) & (exp < _POW10.size)
        units += np.where(used, d * _POW10[np.clip(exp, 0, _POW10.size - 1)], 0)
        extra |= nonzero & (exp < 0)
        top = np.where(nonzero & whole & (top == 0), place + 1, top)
    return units, extra, top


def _merge_plain(plain: np.ndarray, fast: tuple, slow: tuple, index) -> tuple:
    """Put the general path's results for the other cells beside the plain cells'."""
    values_fast, *masks_fast = fast
    values_slow, *masks_slow = slow
    units = np.zeros(plain.size, dtype=np.int64)
    na = np.ones(plain.size, dtype=bool)
    units[plain] = values_fast[0]
    na[plain] = values_fast[1]
    other = ~plain
    units[other] = values_slow.fillna(0).to_numpy(dtype=np.int64)
    na[other] = values_slow.isna().to_numpy()
    values = pd.array(units, dtype="Int64")
    values[na] = pd.NA
    masks = []
    for mf, ms in zip(masks_fast, masks_slow, strict=True):
        mask = np.zeros(plain.size, dtype=bool)
        mask[plain] = mf
        mask[other] = ms
        masks.append(mask)
    return (pd.Series(values, index=index), *masks)


_ASCII_DIGITS = re.compile(r"[0-9]+")


def _digit_cells(cells: np.ndarray, max_digits: int) -> np.ndarray | None:
    """int64 values when every cell is 1 to ``max_digits`` ASCII digits (the usual column), else None."""
    if len(cells) == 0 or max_digits >= _POW10.size:
        return None
    if pd.api.types.infer_dtype(cells, skipna=False) != "string":
        return None
    lengths = np.fromiter(map(len, cells), dtype=np.int64, count=len(cells))
    if lengths.min() < 1 or lengths.max() > max_digits or not _ASCII_DIGITS.fullmatch("".join(cells)):
        return None
    return cells.astype(np.int64)


def parse_int(s: pd.Series, *, max_digits: int = 15) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """(values Int64, bad mask, too-large mask); blanks are NA and not bad."""
    digits = _digit_cells(s.to_numpy(dtype=object), max_digits)
    if digits is not None:
        none = np.zeros(len(s), dtype=bool)
        return pd.Series(pd.array(digits, dtype="Int64"), index=s.index), none, none.copy()
    c = _plain_cells(s, dot=False) if max_digits < _POW10.size else None
    if c is None:
        return _parse_int_general(s, max_digits=max_digits)
    plain = c["plain"]
    units, _, _ = _plain_units(c, 0)
    too_large = (c["length"] - c["start"]) > max_digits
    units = np.where(c["neg"], -units, units)
    fast = ((units, too_large), np.zeros(len(units), dtype=bool), too_large)
    if plain.all():
        slow = (pd.Series(pd.array([], dtype="Int64")), np.zeros(0, bool), np.zeros(0, bool))
    else:
        slow = _parse_int_general(s[~plain], max_digits=max_digits)
    return _merge_plain(plain, fast, slow, s.index)


def _parse_int_general(s: pd.Series, *, max_digits: int = 15) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    s = _drop_thousands(s)
    blank = (s == "").to_numpy()
    neg, body = _split_sign(s)
    ok = _ascii_digits(body) & ~blank
    lengths = np.strings.str_len(body)
    too_large = ok & (lengths > max_digits)
    ok &= ~too_large
    out = np.zeros(len(s), dtype=np.int64)
    if ok.any():
        out[ok] = body[ok].astype(np.int64)
    out = np.where(neg, -out, out)
    values = pd.array(out, dtype="Int64")
    values[~ok] = pd.NA
    return pd.Series(values, index=s.index), (~ok & ~blank & ~too_large), too_large


def parse_decimal(s: pd.Series, *, scale: int, int_digits: int):
    """Decimal text → Int64 units of 10**-scale. Returns (values, bad, too_many_decimals, too_large)."""
    c = _plain_cells(s, dot=True) if int_digits + scale < _POW10.size else None
    if c is None:
        return _parse_decimal_general(s, scale=scale, int_digits=int_digits)
    plain = c["plain"]
    units, too_many, top = _plain_units(c, scale)
    too_large = top > int_digits
    units = np.where(c["neg"], -units, units)
    fast = ((units, too_many | too_large), np.zeros(len(units), dtype=bool), too_many, too_large)
    if plain.all():
        slow = (pd.Series(pd.array([], dtype="Int64")), np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, bool))
    else:
        slow = _parse_decimal_general(s[~plain], scale=scale, int_digits=int_digits)
    return _merge_plain(plain, fast, slow, s.index)


def _parse_decimal_general(s: pd.Series, *, scale: int, int_digits: int):
    s = _drop_thousands(s)
    blank = (s == "").to_numpy()
    neg, body = _split_sign(s)
    whole, dot, frac = np.strings.partition(body, np.array(".", dtype=STR))
    has_dot = np.strings.str_len(dot) > 0
    whole_ok = _ascii_digits(whole)
    frac_ok = ~has_dot | _ascii_digits(frac)
    shape_ok = whole_ok & frac_ok & ~blank
    frac_sig = np.strings.rstrip(frac, "0")
    too_many = shape_ok & (np.strings.str_len(frac_sig) > scale)
    too_large = shape_ok & (np.strings.str_len(np.strings.lstrip(whole, "0")) > int_digits)
    ok = shape_ok & ~too_many & ~too_large
    units = np.zeros(len(s), dtype=np.int64)
    if ok.any():
        w = whole[ok].astype(np.int64)
        f = np.strings.ljust(np.strings.slice(frac[ok], 0, scale), scale, "0")
        f = f.astype(np.int64) if scale else np.zeros(ok.sum(), dtype=np.int64)
        units[ok] = w * (10**scale) + f
    units = np.where(neg, -units, units)
    values = pd.array(units, dtype="Int64")
    values[~ok] = pd.NA
    bad = ~shape_ok & ~blank
    return pd.Series(values, index=s.index), bad, too_many, too_large


def _factorized(s: pd.Series, func) -> pd.Series:
    """Apply a column function to the distinct values only (dates, codes repeat a lot)."""
    codes, uniques = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=False)
    mapped = func(pd.Series(uniques, dtype=object))
    return pd.Series(np.asarray(mapped, dtype=object)[codes], index=s.index)


def parse_date(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    def one(u: pd.Series):
        shaped = u.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
        parsed = pd.to_datetime(u.where(shaped, None), format="%Y-%m-%d", errors="coerce")
        return np.where(parsed.notna(), u, None)

    out = _factorized(s, one)
    blank = (s == "").to_numpy()
    bad = out.isna().to_numpy() & ~blank
    return out.fillna("").astype(object), bad


def parse_period(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    def one(u: pd.Series):
        return np.where(u.str.fullmatch(r"\d{4}-(?:0[1-9]|1[0-2])"), u, None)

    out = _factorized(s, one)
    blank = (s == "").to_numpy()
    bad = out.isna().to_numpy() & ~blank
    return out.fillna("").astype(object), bad


def _has_zone(a: np.ndarray) -> np.ndarray:
    """``Z``, ``±HH:MM``, ``±HHMM`` or ``±HH`` at the end of a timestamp (not a bare date)."""
    n = np.strings.str_len(a)

    def at(i: int) -> np.ndarray:
        return np.strings.slice(a, i, i + 1 if i != -1 else None)

    def sign(c: np.ndarray) -> np.ndarray:
        return (c == "+") | (c == "-")

    last = at(-1)
    zoned = (last == "Z") | (last == "z") | (sign(at(-6)) & (at(-3) == ":")) | sign(at(-5)) | sign(at(-3))
    return zoned & (n > 10)


def parse_timestamp(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """ISO 8601 with or without zone; no zone means Asia/Shanghai (UTC+8)."""
    blank = (s == "").to_numpy()
    a = s.to_numpy(dtype=object).astype(STR)
    n = np.strings.str_len(a)
    date_only = n == 10
    zoned = _has_zone(a)
    text = np.where(date_only, np.strings.add(a, "T00:00:00"), a)
    text = np.where(zoned, text, np.strings.add(text, "+08:00"))
    # pandas' ISO 8601 parser is strict; a space for the "T" is accepted.
    values = pd.Series(text.astype(object), index=s.index).where(~blank, None)
    parsed = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce").astype(UTC_US)
    bad = parsed.isna().to_numpy() & ~blank
    return parsed, bad


def parse_enum(s: pd.Series, choices: dict[str, str]) -> tuple[pd.Series, np.ndarray]:
    folded = {k.casefold(): v for k, v in choices.items()}

    def one(u: pd.Series):
        return np.array([folded.get(v.casefold()) if v else "" for v in u], dtype=object)

    out = _factorized(s, one)
    bad = out.isna().to_numpy()
    return out.fillna("").astype(object), bad


def shanghai_date(ts: pd.Series) -> pd.Series:
    """The Asia/Shanghai calendar date (``YYYY-MM-DD``) of UTC timestamps; ``""`` for NaT."""
    local = ts.dt.tz_convert(SHANGHAI).dt.tz_localize(None)
    days = local.to_numpy().astype("datetime64[D]")
    text = np.datetime_as_string(days, unit="D").astype(object)
    text[pd.isna(ts).to_numpy()] = ""
    return pd.Series(text, index=ts.index)


# -- a whole table --------------------------------------------------------------


def parse_table(raw: pd.DataFrame, spec: TableSpec, log: ErrorLog) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(typed frame, normalised text frame). Shape and required-value errors go to ``log``."""
    text = pd.DataFrame(index=raw.index)
    typed = pd.DataFrame(index=raw.index)
    for col in spec.columns:
        values = normalize(raw[col.name].to_numpy(dtype=object), fold=col.kind != "text")
        s = pd.Series(values, index=raw.index, dtype=object)
        text[col.name] = s
        typed[col.name] = _typed_column(s, col, log, text)
        if col.required:
            log.add_mask(typed, (s == "").to_numpy(), col.name, reasons.REQUIRED, text=text)
    return typed, text


def _lengths(s: pd.Series) -> np.ndarray:
    """Characters per cell (cells are ``str`` after ``normalize``)."""
    values = s.to_numpy(dtype=object)
    return np.fromiter(map(len, values), dtype=np.int64, count=len(values))


# The reason a cell with a control character is refused with: a number that is no number,
# a date that is no date …; identifiers and free text say which characters are refused.
_CONTROL_REASON = {
    "int": reasons.BAD_INTEGER,
    "amount": reasons.BAD_DECIMAL,
    "price": reasons.BAD_DECIMAL,
    "rate": reasons.BAD_DECIMAL,
    "date": reasons.BAD_DATE,
    "period": reasons.BAD_PERIOD,
    "timestamp": reasons.BAD_TIMESTAMP,
    "enum": reasons.BAD_ENUM,
}


def control_cells(s: pd.Series, *, text: bool = False) -> np.ndarray | None:
    """Mask of the cells holding a control character (``text``: free text, which may keep tab,
    LF and CR); None when there is none (one regex search over the joined column)."""
    values = s.to_numpy(dtype=object)
    pattern = _CONTROL_IN_TEXT if text else _CONTROL_IN_VALUE
    if not len(values) or pattern.search("".join(values)) is None:
        return None
    return np.fromiter((pattern.search(v) is not None for v in values), dtype=bool, count=len(values))


def _typed_column(s: pd.Series, col: Column, log: ErrorLog, text: pd.DataFrame) -> pd.Series:
    frame = text
    kind = col.kind
    control = control_cells(s, text=kind == "text")
    if control is not None:
        # Refused here, blank from now on: no parser sees them (NumPy's string functions take
        # trailing NULs for padding) and no NUL reaches a COPY or a look-up.
        log.add_mask(frame, control, col.name, _CONTROL_REASON.get(kind, BAD_CHARACTER), text=text)
        s = s.where(~control, "")
    if kind in ("code", "text"):
        if col.max_length:
            too_long = _lengths(s) > col.max_length
            if too_long.any():
                log.add_mask(frame, too_long, col.name, reasons.TOO_LONG, text=text, detail=f"max {col.max_length}")
                s = s.where(~too_long, "")
        return s
    if kind == "int":
        values, bad, too_large = parse_int(s)
        log.add_mask(frame, bad, col.name, reasons.BAD_INTEGER, text=text)
        log.add_mask(frame, too_large, col.name, reasons.TOO_LARGE, text=text)
        return values
    if kind in SCALE:
        values, bad, too_many, too_large = parse_decimal(s, scale=SCALE[kind], int_digits=INT_DIGITS[kind])
        log.add_mask(frame, bad, col.name, reasons.BAD_DECIMAL, text=text)
        log.add_mask(frame, too_many, col.name, reasons.TOO_MANY_DECIMALS, text=text, detail=f"max {SCALE[kind]}")
        log.add_mask(frame, too_large, col.name, reasons.TOO_LARGE, text=text)
        return values
    if kind == "date":
        values, bad = parse_date(s)
        log.add_mask(frame, bad, col.name, reasons.BAD_DATE, text=text)
        return values
    if kind == "period":
        values, bad = parse_period(s)
        log.add_mask(frame, bad, col.name, reasons.BAD_PERIOD, text=text)
        return values
    if kind == "timestamp":
        values, bad = parse_timestamp(s)
        log.add_mask(frame, bad, col.name, reasons.BAD_TIMESTAMP, text=text)
        return values
    if kind == "enum":
        values, bad = parse_enum(s, col.choices or {})
        allowed = "/".join(sorted(set((col.choices or {}).values())))
        log.add_mask(frame, bad, col.name, reasons.BAD_ENUM, text=text, detail=allowed)
        return values
    raise ValueError(f"unknown column kind {kind!r}")


# -- database values into canonical form ----------------------------------------


def units_from_db(values, scale: int) -> pd.Series:
    """Numbers read back from the database → Int64 units, exact.

    PostgreSQL (COPY text, Decimal) gives decimal text with the column's scale; SQLite
    gives int/float (NUMERIC affinity), which is exact to 4 decimals at these magnitudes.
    """
    s = pd.Series(values, dtype=object).reset_index(drop=True)
    if len(s) == 0:
        return pd.Series(pd.array([], dtype="Int64"))
    na = s.isna().to_numpy()
    kinds = {type(v) for v in s[~na]}
    if kinds <= {str, Decimal}:
        text = s.where(~na, "").astype(str)
        text = text.where(~text.str.contains("E", regex=False), text.map(lambda v: format(Decimal(v), "f")))
        values_, *_ = parse_decimal(text, scale=scale, int_digits=20)
        return values_.reset_index(drop=True)
    nums = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    arr = np.rint(nums * 10**scale)
    out = pd.array(np.nan_to_num(arr).astype(np.int64), dtype="Int64")
    out[np.isnan(arr)] = pd.NA
    return pd.Series(out)


def timestamps_from_db(values) -> pd.Series:
    """Aware datetimes, SQLite text (UTC) or PostgreSQL text → ``datetime64[us, UTC]``."""
    s = pd.Series(values, dtype=object).reset_index(drop=True)
    blank = (s.isna() | (s == "")).to_numpy()
    if not blank.any():
        return pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce").astype(UTC_US)
    # Blank cells (NULL) are NaT without going through the parser, which is slow on them.
    out = pd.Series(pd.NaT, index=s.index, dtype=UTC_US)
    if not blank.all():
        parsed = pd.to_datetime(s[~blank], utc=True, format="ISO8601", errors="coerce").astype(UTC_US)
        out.iloc[np.flatnonzero(~blank)] = parsed.to_numpy()
    return out


def ints_from_db(values) -> pd.arrays.IntegerArray:
    """Integers read back from the database (PostgreSQL COPY text, SQLite ints; NULL blank) → Int64."""
    s = pd.Series(values, dtype=object)
    cells = s.to_numpy(dtype=object)
    if len(cells) and pd.api.types.infer_dtype(cells, skipna=False) == "string":
        blank = cells == ""
        filled = np.flatnonzero(~blank)
        if filled.size == 0:
            return pd.array([pd.NA] * len(cells), dtype="Int64")
        digits = _digit_cells(cells[filled], _POW10.size - 1)
        if digits is not None:
            out = np.zeros(len(cells), dtype=np.int64)
            out[filled] = digits
            arr = pd.array(out, dtype="Int64")
            arr[blank] = pd.NA
            return arr
        c = _plain_cells(pd.Series(cells[filled], dtype=object), dot=False)
        if c is not None and c["plain"].all() and int((c["length"] - c["start"]).max()) < _POW10.size:
            units, _, _ = _plain_units(c, 0)
            out = np.zeros(len(cells), dtype=np.int64)
            out[filled] = np.where(c["neg"], -units, units)
            arr = pd.array(out, dtype="Int64")
            arr[blank] = pd.NA
            return arr
    return pd.array(pd.to_numeric(s.replace("", None), errors="coerce"), dtype="Int64")


def units_text(units: pd.Series, scale: int) -> pd.Series:
    """Int64 units → exact decimal text (``-12.30``); ``""`` for NA."""
    na = units.isna().to_numpy()
    u = units.fillna(0).to_numpy(dtype=np.int64)
    neg = u < 0
    mag = np.abs(u)
    whole = (mag // 10**scale).astype(str).astype(STR)
    if scale:
        frac = np.strings.zfill((mag % 10**scale).astype(str).astype(STR), scale)
        txt = np.strings.add(np.strings.add(whole, "."), frac)
    else:
        txt = whole
    txt = np.where(neg, np.strings.add("-", txt), txt).astype(object)
    txt[na] = ""
    return pd.Series(txt, index=units.index)
