"""Valid identifiers of DOMAIN.md "Identifiers", built in bulk.

Credit codes take 17 random characters of the GB 32100 charset and the check character
of ``parties.identifiers``; the rest are digit patterns the importer checks.
"""

from __future__ import annotations

import numpy as np

from interchange.synthetic.formats import padded
from parties.identifiers import CREDIT_CODE_CHARSET, CREDIT_CODE_WEIGHTS

_CHARSET = np.array(list(CREDIT_CODE_CHARSET))
_WEIGHTS = np.array(CREDIT_CODE_WEIGHTS, dtype=np.int64)
_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_CHARSET)}


def credit_codes(rng: np.random.Generator, home_codes: list[str]) -> list[str]:
    """One 统一社会信用代码 per home region: `91` + region + 9-character organisation code + check."""
    n = len(home_codes)
    values = np.zeros((n, 17), dtype=np.int64)
    values[:, 0] = _VALUE["9"]  # registered by the market regulator
    values[:, 1] = _VALUE["1"]  # enterprise
    for i, code in enumerate(home_codes):
        values[i, 2:8] = [int(c) for c in code]
    values[:, 8:16] = rng.integers(0, 31, size=(n, 8))
    values[:, 16] = rng.integers(0, 10, size=n)  # the organisation code ends in a digit or X; keep digits
    check = (31 - (values @ _WEIGHTS) % 31) % 31
    chars = _CHARSET[np.concatenate([values, check[:, None]], axis=1)]
    return ["".join(row) for row in chars]


def unique_credit_codes(rng: np.random.Generator, home_codes: list[str]) -> list[str]:
    codes = credit_codes(rng, home_codes)
    while len(set(codes)) < len(codes):  # 31**8 organisation codes: a clash is rare, redraw it
        seen: set[str] = set()
        for i, code in enumerate(codes):
            if code in seen:
                codes[i] = credit_codes(rng, [home_codes[i]])[0]
            seen.add(codes[i])
    return codes


def bank_accounts(rng: np.random.Generator, n: int) -> list[str]:
    """19-digit accounts (8-30 digits allowed)."""
    heads = rng.integers(1000, 9999, size=n)
    tails = rng.integers(0, 10**15, size=n)
    return [f"{h}{t:015d}" for h, t in zip(heads, tails, strict=True)]


def drug_code(kind: str, atc4: str, generic_no: int, form_no: int, spec_no: int, enterprise_no: int) -> str:
    """国家医保药品编码: X/Z + ATC level 4 (5) + generic (4) + form (4) + spec/package (4) + enterprise (5)."""
    return f"{kind}{atc4}G{generic_no:03d}F{form_no:03d}{spec_no:04d}{enterprise_no:05d}"


def consumable_code(class_code: str, generic_no: int, feature_no: int, enterprise_no: int, spec_seq: int) -> str:
    """医保医用耗材编码: C + 19-digit base (class, generic, material, feature, enterprise) + 7-digit spec."""
    return f"C{class_code}{generic_no:03d}01{feature_no:04d}{enterprise_no:04d}{spec_seq:07d}"


def digital_invoice_numbers(year: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """20-digit 全电 numbers: year (2) + province 37 + channel 2 + 000 + 12-digit sequence."""
    return padded(year % 100, 2) + "372000" + padded(seq, 12)
