"""Money at the boundary: Decimal in, Decimal out, ROUND_HALF_UP once.

Amounts have 2 decimals (yuan.fen), unit prices 4. Bulk code works in integer fen
(amounts) and integer 1/10000 yuan (unit prices) and converts here.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from moneyed import Money

CURRENCY = "CNY"
AMOUNT_PLACES = 2
PRICE_PLACES = 4
CENT = Decimal("0.01")
PRICE_QUANTUM = Decimal("0.0001")
AMOUNT_MAX_DIGITS = 16
PRICE_MAX_DIGITS = 14
ZERO = Decimal("0.00")


def round_amount(value: Decimal) -> Decimal:
    """四舍五入 to the fen."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def round_price(value: Decimal) -> Decimal:
    return Decimal(value).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)


def line_amount(qty: int, unit_price: Decimal) -> Decimal:
    """round_half_up(qty × unit_price, 2): what an invoice line's amount should be."""
    return round_amount(Decimal(qty) * Decimal(unit_price))


def to_fen(amount: Decimal) -> int:
    """Exact: the amount must already have at most 2 decimals."""
    fen = Decimal(amount) * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} has more than 2 decimals")
    return int(fen)


def from_fen(fen: int) -> Decimal:
    return (Decimal(int(fen)) / 100).quantize(CENT)


def price_to_units(price: Decimal) -> int:
    """Unit price in 1/10000 yuan, exact."""
    units = Decimal(price) * 10000
    if units != units.to_integral_value():
        raise ValueError(f"{price} has more than 4 decimals")
    return int(units)


def units_to_price(units: int) -> Decimal:
    return (Decimal(int(units)) / 10000).quantize(PRICE_QUANTUM)


def cny(amount: Decimal) -> Money:
    return Money(amount, CURRENCY)
