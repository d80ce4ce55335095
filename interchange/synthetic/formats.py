"""Vectorised text forms of interchange values (INTERCHANGE.md "General rules").

Money arrives here as integers, fen for amounts and 1/10000 yuan for unit prices, and
leaves as decimal text; no float ever holds money. Instants are integer seconds of
Shanghai wall-clock time (UTC+8, no DST), so the Shanghai calendar date is a floor
division and the UTC text is the same clock shifted by eight hours.
"""

from __future__ import annotations

import numpy as np

SHANGHAI_OFFSET_S = 8 * 3600
DAY_S = 86_400

# ".00" … ".99" for amounts; for unit prices the shortest of 2, 3 or 4 decimals.
_FEN_FRACTIONS = np.array([f".{i:02d}" for i in range(100)], dtype=object)
_PRICE_FRACTIONS = np.array(
    [(f".{i:04d}".rstrip("0") + "00")[: max(3, len(f".{i:04d}".rstrip("0")))] for i in range(10_000)],
    dtype=object,
)


def amount_text(fen: np.ndarray) -> np.ndarray:
    """Integer fen → text with exactly two decimals (`-12.30`)."""
    fen = np.asarray(fen, dtype=np.int64)
    neg = fen < 0
    mag = np.abs(fen)
    whole = (mag // 100).astype(str).astype(object)
    out = whole + _FEN_FRACTIONS[mag % 100]
    if neg.any():
        out[neg] = "-" + out[neg]
    return out


def price_text(units: np.ndarray) -> np.ndarray:
    """Integer 1/10000 yuan → text with 2 to 4 decimals (`12.30`, `0.1234`)."""
    units = np.asarray(units, dtype=np.int64)
    uniq, inverse = np.unique(units, return_inverse=True)
    mag = np.abs(uniq)
    text = (mag // 10_000).astype(str).astype(object) + _PRICE_FRACTIONS[mag % 10_000]
    neg = uniq < 0
    if neg.any():
        text[neg] = "-" + text[neg]
    return text[inverse]


def padded(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers as zero-padded digit strings."""
    return np.strings.zfill(np.asarray(values, dtype=np.int64).astype(str), width).astype(object)


def timestamp_text(local_s: np.ndarray, utc: np.ndarray) -> np.ndarray:
    """Shanghai wall-clock seconds → ISO 8601, `+08:00` or (where `utc`) shifted to `Z`."""
    local_s = np.asarray(local_s, dtype=np.int64)
    utc = np.asarray(utc, dtype=bool)
    shown = np.where(utc, local_s - SHANGHAI_OFFSET_S, local_s)
    text = np.datetime_as_string(shown.astype("datetime64[s]"), unit="s").astype(object)
    return text + np.where(utc, "Z", "+08:00").astype(object)


def date_text(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 → `YYYY-MM-DD`."""
    return np.datetime_as_string(np.asarray(days, dtype=np.int64).astype("datetime64[D]"), unit="D").astype(object)


def period_text(month_index: np.ndarray) -> np.ndarray:
    """Months since 1970-01 → `YYYY-MM`."""
    return np.datetime_as_string(np.asarray(month_index, dtype=np.int64).astype("datetime64[M]"), unit="M").astype(
        object
    )


def day_of(local_s: np.ndarray) -> np.ndarray:
    """Shanghai calendar day (days since epoch) of wall-clock seconds."""
    return np.asarray(local_s, dtype=np.int64) // DAY_S


def month_of_day(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of a day number."""
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def day_number(iso_date: str) -> int:
    return int(np.datetime64(iso_date, "D").astype(np.int64))


def month_number(iso_month: str) -> int:
    return int(np.datetime64(iso_month, "M").astype(np.int64))


def month_start_day(month_index: int | np.ndarray) -> np.ndarray | int:
    result = np.asarray(month_index, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return int(result) if np.ndim(result) == 0 else result
