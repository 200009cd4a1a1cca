"""What a transaction adds to a program's basis.

The rule lives here once, as data (`BASIS_RULES`): the service turns it into a MongoDB
aggregation, and `sum_basis` applies it in Python, so both count a transaction the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from domain.money import EXACT, ZERO
from domain.periods import DateRange
from domain.tiers import RebateBasis


class TransactionKind(StrEnum):
    INVOICE = "INVOICE"
    RETURN = "RETURN"
    PAYMENT = "PAYMENT"


class BasisTerm(NamedTuple):
    """Which transaction field counts, and with which sign (amounts arrive positive)."""

    field: str  # "amount" or "quantity"
    sign: int  # +1 or -1


AMOUNT = "amount"
QUANTITY = "quantity"

BASIS_RULES: Mapping[RebateBasis, Mapping[TransactionKind, BasisTerm]] = MappingProxyType(
    {
        RebateBasis.SALES_AMOUNT: MappingProxyType(
            {
                TransactionKind.INVOICE: BasisTerm(AMOUNT, 1),
                TransactionKind.RETURN: BasisTerm(AMOUNT, -1),
            }
        ),
        RebateBasis.QUANTITY: MappingProxyType(
            {
                TransactionKind.INVOICE: BasisTerm(QUANTITY, 1),
                TransactionKind.RETURN: BasisTerm(QUANTITY, -1),
            }
        ),
        RebateBasis.COLLECTED_AMOUNT: MappingProxyType(
            {TransactionKind.PAYMENT: BasisTerm(AMOUNT, 1)}
        ),
    }
)


def contribution(
    basis: RebateBasis,
    kind: TransactionKind,
    amount: Decimal,
    quantity: Decimal | None,
) -> Decimal:
    """A transaction's signed contribution to `basis` (0 when its kind does not count)."""
    term = BASIS_RULES[basis].get(kind)
    if term is None:
        return ZERO
    value = amount if term.field == AMOUNT else (quantity if quantity is not None else ZERO)
    return value if term.sign > 0 else -value


def product_counts(product_codes: Sequence[str], product_code: str | None) -> bool:
    """Empty product_codes means every product counts; else the product must be listed."""
    return not product_codes or product_code in product_codes


@dataclass(frozen=True)
class BasisFact:
    """The part of a transaction the basis needs."""

    kind: TransactionKind
    day: date
    amount: Decimal
    currency: str
    quantity: Decimal | None = None
    product_code: str | None = None
    external_id: str = ""


@dataclass(frozen=True)
class BasisSum:
    total: Decimal
    counted: int
    # Same dealer, dates and products but another currency: not counted, reported.
    foreign_currency: tuple[BasisFact, ...] = ()


def sum_basis(
    facts: Iterable[BasisFact],
    basis: RebateBasis,
    window: DateRange,
    currency: str,
    product_codes: Sequence[str] = (),
) -> BasisSum:
    """The basis of one dealer over `window`, summed exactly (no rounding: it is not money paid)."""
    total, counted = ZERO, 0
    foreign: list[BasisFact] = []
    with localcontext(EXACT):
        for fact in facts:
            if not window.contains(fact.day) or not product_counts(
                product_codes, fact.product_code
            ):
                continue
            if fact.kind not in BASIS_RULES[basis]:
                continue
            if fact.currency != currency:
                foreign.append(fact)
                continue
            total += contribution(basis, fact.kind, fact.amount, fact.quantity)
            counted += 1
    return BasisSum(total + ZERO, counted, tuple(foreign))
