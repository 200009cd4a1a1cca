"""The monthly sales ledger: running sums of transactions per dealer × month × currency ×
kind × product, from which a program's basis is read instead of the transactions.

A *cell* is one such key with its sums (amount, quantity, count). Sums of cells are exact
(Decimal), so the basis read from cells equals the basis summed from the transactions,
whatever order the cells were added in; `month_figures` applies a program's counting rule
(`BASIS_RULES`: which kinds, which field, which sign; products; currency) to cells.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from domain.basis import BASIS_RULES, QUANTITY
from domain.money import ZERO
from domain.tiers import RebateBasis
from domain.transactions import Transaction


@dataclass(frozen=True)
class CellKey:
    dealer: str
    month: str  # "YYYY-MM"
    currency: str
    kind: str  # a TransactionKind value
    product: str | None

    def order(self) -> tuple[str, str, str, str, str]:
        """A total order (no product sorts first), for writing cells in a fixed order."""
        return self.dealer, self.month, self.currency, self.kind, self.product or ""


@dataclass(frozen=True)
class CellSums:
    amount: Decimal = ZERO
    quantity: Decimal = ZERO
    count: int = 0

    def __add__(self, other: CellSums) -> CellSums:
        return CellSums(self.amount + other.amount, self.quantity + other.quantity,
                        self.count + other.count)

    def __sub__(self, other: CellSums) -> CellSums:
        return CellSums(self.amount - other.amount, self.quantity - other.quantity,
                        self.count - other.count)

    def __bool__(self) -> bool:
        return bool(self.count or self.amount or self.quantity)


Cells = dict[CellKey, CellSums]


def key_of(txn: Transaction) -> CellKey:
    return CellKey(txn.dealer_code, txn.date.isoformat()[:7], txn.currency, txn.kind.value,
                   txn.product_code)


def cells_of(transactions: Iterable[Transaction]) -> Cells:
    """The cells a set of transactions adds to the ledger."""
    cells: Cells = {}
    for txn in transactions:
        key = key_of(txn)
        cells[key] = cells.get(key, CellSums()) + CellSums(txn.amount, txn.quantity or ZERO, 1)
    return cells


def in_order(cells: Mapping[CellKey, CellSums]) -> list[tuple[CellKey, CellSums]]:
    return sorted(cells.items(), key=lambda item: item[0].order())


def add_cells(into: Cells, cells: Iterable[tuple[CellKey, CellSums]]) -> Cells:
    for key, sums in cells:
        into[key] = into.get(key, CellSums()) + sums
    return into


def difference(now: Mapping[CellKey, CellSums], before: Mapping[CellKey, CellSums]) -> Cells:
    """What `now` adds on top of `before` (cells that did not change left out)."""
    changed: Cells = {}
    for key in set(now) | set(before):
        delta = now.get(key, CellSums()) - before.get(key, CellSums())
        if delta:
            changed[key] = delta
    return changed


@dataclass(frozen=True)
class MonthFigures:
    """One dealer's transactions of one month: counted in the program's currency, or not."""

    home: Decimal = ZERO
    counted: int = 0
    foreign: int = 0
    currencies: frozenset[str] = frozenset()


Monthly = dict[str, dict[str, MonthFigures]]  # dealer → "YYYY-MM" → figures


@dataclass(frozen=True)
class CountingRule:
    """What a program counts: its basis rule, products (empty: all) and currency."""

    basis: RebateBasis
    currency: str
    products: frozenset[str] = frozenset()

    def counts(self, key: CellKey) -> bool:
        if key.kind not in {kind.value for kind in BASIS_RULES[self.basis]}:
            return False
        return not self.products or key.product in self.products

    def value(self, key: CellKey, sums: CellSums) -> Decimal:
        term = next(term for kind, term in BASIS_RULES[self.basis].items()
                    if kind.value == key.kind)
        return (sums.quantity if term.field == QUANTITY else sums.amount) * term.sign


def month_figures(rule: CountingRule, cells: Iterable[tuple[CellKey, CellSums]],
                  months: set[str] | None = None, into: Monthly | None = None) -> Monthly:
    """Per dealer and month, the signed basis in the program's currency and the count of
    transactions in other currencies — what the program's aggregation over the raw
    transactions gives, read from cells. `months`: only these (None: all)."""
    found: Monthly = into if into is not None else {}
    for key, sums in cells:
        if (months is not None and key.month not in months) or not rule.counts(key):
            continue
        if not sums.count:
            continue
        figures = found.setdefault(key.dealer, {})
        was = figures.get(key.month, MonthFigures())
        if key.currency == rule.currency:
            figures[key.month] = replace(was, home=was.home + rule.value(key, sums),
                                         counted=was.counted + sums.count)
        else:
            figures[key.month] = replace(was, foreign=was.foreign + sums.count,
                                         currencies=was.currencies | {key.currency})
    return found
