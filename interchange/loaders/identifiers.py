"""Column-wise forms of the checks in ``parties.identifiers`` (same rules, same messages)."""

from __future__ import annotations

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


def matches(s: pd.Series, pattern: str) -> np.ndarray:
    """Non-blank cells that fully match ``pattern`` (blank cells: False)."""
    return s.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool) & (s.to_numpy(dtype=object) != "")


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
