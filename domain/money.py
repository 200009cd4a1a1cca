"""Decimal discipline for money and quantities.

Every figure is a `Decimal`; floats are refused at the door. Rounding happens once per
accrual figure with one named policy (2 places, ROUND_HALF_UP) — never per transaction,
so a dealer's basis of a million rows rounds exactly like a basis of one.
"""

from __future__ import annotations

from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

ZERO = Decimal("0")
HUNDRED = Decimal("100")
CENT = Decimal("0.01")
ROUNDING = ROUND_HALF_UP

# Largest magnitude we accept on input: far above any real rebate figure, far below the
# 34 significant digits Decimal128 keeps, so sums of millions of rows stay exact.
MAX_ABS = Decimal("1e15")
MAX_PLACES = 6


def round_money(value: Decimal) -> Decimal:
    """Round a final money figure: 2 places, half up (the one rounding policy)."""
    return value.quantize(CENT, rounding=ROUNDING)


def parse_decimal(text: str) -> Decimal:
    """Parse a wire/CSV decimal string; refuse NaN, infinities, exponents out of range.

    Raises ValueError with a message that names the value.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a decimal string, got {type(text).__name__}")
    stripped = text.strip()
    try:
        value = Decimal(stripped)
    except (InvalidOperation, ValueError):
        raise ValueError(f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite decimal number")
    if abs(value) >= MAX_ABS:
        raise ValueError(f"{text!r} is out of range (|x| < 1e15)")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PLACES:
        raise ValueError(f"{text!r} has more than {MAX_PLACES} decimal places")
    return value + ZERO  # normalises -0 to 0


def percent_of(amount: Decimal, percent: Decimal) -> Decimal:
    """amount × percent / 100, unrounded."""
    return amount * percent / HUNDRED


def trim(value: Decimal, places: int = 2) -> Decimal:
    """Show at least `places` decimals and drop only trailing zeros beyond them; never round.

    Used for intermediate trace amounts (an unrounded slice), so a trace never hides or
    invents a rounding step.
    """
    reduced = value.normalize() if value else ZERO
    exponent = reduced.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        return reduced + ZERO
    return reduced.quantize(Decimal(1).scaleb(-places)) + ZERO


def format_amount(value: Decimal, places: int = 2) -> str:
    """`1100000` → `1,100,000.00`; exact values with more places are shown in full."""
    return f"{trim(value, places):,f}"


def format_percent(rate: Decimal) -> str:
    """`2.50` → `2.5%`."""
    return f"{format_amount(rate, 0)}%"


# Context for rebate arithmetic: 80 significant digits keeps every product of inputs
# (< 1e15, <= 6 places) exact, so the only rounding is round_money's, once per figure.
EXACT = Context(prec=80, rounding=ROUNDING, traps=[InvalidOperation, DivisionByZero, Overflow])
