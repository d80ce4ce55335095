"""Column-wise forms of the checks in ``parties.identifiers`` (same rules, same messages)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from parties.identifiers import CREDIT_CODE_CHARSET, CREDIT_CODE_WEIGHTS

_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(CREDIT_CODE_CHARSET):
    _VALUE[ord(_c)] = _i
_WEIGHTS = np.array(CREDIT_CODE_WEIGHTS, dtype=np.int64)
_CHARS = np.frombuffer(CREDIT_CODE_CHARSET.encode("ascii"), dtype=np.uint8)


def credit_code_problems(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(bad format, bad check character) masks for non-blank cells of ``s``."""
    values = s.to_numpy(dtype=object)
    nonblank = values != ""
    shaped = s.str.fullmatch(f"[{CREDIT_CODE_CHARSET}]{{18}}").fillna(False).to_numpy(dtype=bool)
    bad_format = nonblank & ~shaped
    bad_check = np.zeros(len(s), dtype=bool)
    if shaped.any():
        codes = values[shaped]
        raw = np.frombuffer("".join(codes).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
        vals = _VALUE[raw[:, :17]]
        check = (31 - (vals @ _WEIGHTS) % 31) % 31
        bad_check[np.flatnonzero(shaped)] = _CHARS[check] != raw[:, 17]
    return bad_format, bad_check


_STR = np.dtypes.StringDType()
_DIGIT_RUN = re.compile(r"\\d\{(\d+)(?:,(\d+))?\}")


def _digit_lengths(pattern: str) -> list[tuple[int, int]] | None:
    """``\\d{n}``, ``\\d{a,b}`` or alternatives of them → [(min, max), …]; None for any other pattern."""
    out = []
    for part in pattern.split("|"):
        m = _DIGIT_RUN.fullmatch(part)
        if m is None:
            return None
        lo = int(m.group(1))
        out.append((lo, int(m.group(2)) if m.group(2) else lo))
    return out


def matches(s: pd.Series, pattern: str) -> np.ndarray:
    """Non-blank cells that fully match ``pattern`` (blank cells: False).

    Runs of digits (``\\d{20}``, ``\\d{8,30}`` …) are checked column-wise: length and
    ``isdecimal`` (the characters ``\\d`` matches: Unicode category Nd), no regex per cell.
    """
    lengths = _digit_lengths(pattern)
    values = s.to_numpy(dtype=object)
    if lengths is None or pd.api.types.infer_dtype(values, skipna=False) not in ("string", "empty"):
        return s.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool) & (values != "")
    a = values.astype(_STR)
    n = np.strings.str_len(a)
    sized = np.zeros(len(a), dtype=bool)
    for lo, hi in lengths:
        sized |= (n >= lo) & (n <= hi)
    return sized & np.strings.isdecimal(a) & (n > 0)


REGION_RE = r"\d{6}"
HOSPITAL_RE = r"H\d{11}"
DRUG_RE = r"[XZ][A-Z0-9]{22}"
CONSUMABLE_RE = r"C[A-Z0-9]{26}"
BANK_ACCOUNT_RE = r"\d{8,30}"


def product_category(s: pd.Series) -> pd.Series:
    """'drug', 'consumable' or '' by the code's shape (``parties.identifiers.product_category_of``)."""
    out = np.full(len(s), "", dtype=object)
    out[matches(s, DRUG_RE)] = "drug"
    out[matches(s, CONSUMABLE_RE)] = "consumable"
    return pd.Series(out, index=s.index)


def invoice_number_problems(no: pd.Series, code: pd.Series) -> dict[str, np.ndarray]:
    """Masks for ``validate_invoice_number``'s three failures, for non-blank numbers."""
    nonblank = no.to_numpy(dtype=object) != ""
    digital = matches(no, r"\d{20}")
    paper = matches(no, r"\d{8}")
    has_code = code.to_numpy(dtype=object) != ""
    code_ok = matches(code, r"\d{10}|\d{12}")
    return {
        "invoice_no": nonblank & ~digital & ~paper,
        "invoice_code_unexpected": digital & has_code,
        "invoice_code": paper & ~code_ok,
    }
