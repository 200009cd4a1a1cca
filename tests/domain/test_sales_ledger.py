"""The monthly sales ledger's cells (domain/sales_ledger.py): what a program reads from them
equals what the basis rules (domain/basis.py) sum from the transactions themselves, however
the cells were grouped, ordered or split into deltas."""
from __future__ import annotations

import calendar
import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.basis import BasisFact, TransactionKind, contribution, sum_basis
from domain.periods import DateRange
from domain.sales_ledger import (
    CellKey,
    Cells,
    CellSums,
    CountingRule,
    MonthFigures,
    Monthly,
    add_cells,
    cells_of,
    difference,
    in_order,
    key_of,
    month_figures,
)
from domain.tiers import RebateBasis
from domain.transactions import Transaction

# No example database: the domain suite must leave nothing behind in the working tree.
FAST = settings(max_examples=120, deadline=None, database=None)

D = Decimal
SALES, QUANTITY, COLLECTED = (RebateBasis.SALES_AMOUNT, RebateBasis.QUANTITY,
                              RebateBasis.COLLECTED_AMOUNT)
INVOICE, RETURN, PAYMENT = TransactionKind.INVOICE, TransactionKind.RETURN, TransactionKind.PAYMENT


def txn(external_id: str, kind: TransactionKind, day: str, amount: str, *, dealer: str = "D1",
        currency: str = "CNY", product: str | None = None,
        quantity: str | None = None) -> Transaction:
    return Transaction(external_id, dealer, kind, date.fromisoformat(day), D(amount), currency,
                       product_code=product,
                       quantity=D(quantity) if quantity is not None else None)


def key(kind: str = "INVOICE", *, dealer: str = "D1", month: str = "2026-03",
        currency: str = "CNY", product: str | None = None) -> CellKey:
    return CellKey(dealer, month, currency, kind, product)


def sums(amount: str, quantity: str = "0", count: int = 1) -> CellSums:
    return CellSums(D(amount), D(quantity), count)


# ------------------------------------------------------------------ cells_of, difference

def test_cells_of_sums_each_dealer_month_currency_kind_and_product_apart() -> None:
    cells = cells_of([
        txn("a", INVOICE, "2026-03-01", "100.50", product="NX.100", quantity="2"),
        txn("b", INVOICE, "2026-03-31", "10", product="NX.100", quantity="1.5"),
        txn("c", INVOICE, "2026-03-15", "7", product=None),  # no product: its own cell
        txn("d", INVOICE, "2026-04-01", "1", product="NX.100", quantity="1"),  # next month
        txn("e", RETURN, "2026-03-02", "30", product="NX.100"),  # quantity missing: 0 units
        txn("f", INVOICE, "2026-03-03", "5", currency="USD", product="NX.100"),
        txn("g", INVOICE, "2026-03-04", "9", dealer="D2", product="NX.100", quantity="3"),
    ])
    assert cells == {
        key(product="NX.100"): sums("110.50", "3.5", 2),
        key(product=None): sums("7", "0", 1),
        key(month="2026-04", product="NX.100"): sums("1", "1", 1),
        key("RETURN", product="NX.100"): sums("30", "0", 1),
        key(currency="USD", product="NX.100"): sums("5", "0", 1),
        key(dealer="D2", product="NX.100"): sums("9", "3", 1),
    }
    assert key_of(txn("x", PAYMENT, "2026-12-31", "1", dealer="Z.9", currency="EUR",
                      product="a-b_c")) == CellKey("Z.9", "2026-12", "EUR", "PAYMENT", "a-b_c")
    assert cells_of([]) == {}


def test_amounts_arrive_positive_and_cells_keep_them_so_the_kind_gives_the_sign() -> None:
    assert cells_of([txn("r", RETURN, "2026-01-05", "40", quantity="2")]) == {
        key("RETURN", month="2026-01"): sums("40", "2", 1)}


@pytest.mark.parametrize(("now", "before", "expected"), [
    ({}, {}, {}),
    ({key(): sums("10")}, {}, {key(): sums("10")}),
    ({key(): sums("10")}, {key(): sums("10")}, {}),  # unchanged: left out
    ({key(): sums("25", "3", 3)}, {key(): sums("10", "1", 1)}, {key(): sums("15", "2", 2)}),
    ({key(): sums("10")}, {key(): sums("10"), key("RETURN"): sums("4")},
     {key("RETURN"): sums("-4", "0", -1)}),  # gone: a negative difference
    ({key(): sums("10", "0", 1)}, {key(): sums("10", "0", 1), key(product="P"): sums("0", "0", 0)},
     {}),  # an empty cell before is no change
])
def test_difference_is_what_now_adds_on_top_of_before(
        now: Cells, before: Cells, expected: Cells) -> None:
    assert difference(now, before) == expected


def test_empty_sums_are_false_and_any_nonzero_part_makes_them_true() -> None:
    assert not CellSums()
    assert CellSums(count=1) and CellSums(amount=D("0.01")) and CellSums(quantity=D("-1"))
    assert sums("1", "2", 3) - sums("1", "2", 3) == CellSums()


def test_in_order_sorts_no_product_first_whatever_the_insertion_order() -> None:
    cells = {key(product="B"): sums("1"), key(product=None): sums("2"),
             key(product="A.1"): sums("3"), key(dealer="C0"): sums("4")}
    assert [k for k, _ in in_order(cells)] == [
        key(dealer="C0"), key(product=None), key(product="A.1"), key(product="B")]


# ------------------------------------------------------------------ month_figures, by table

MIXED = cells_of([
    txn("i1", INVOICE, "2026-03-02", "1000.50", product="NX.100", quantity="10"),
    txn("i2", INVOICE, "2026-03-20", "500", product="NX.200", quantity="4"),
    txn("i3", INVOICE, "2026-03-21", "300"),  # no product, no quantity
    txn("r1", RETURN, "2026-03-05", "200.25", product="NX.100", quantity="2.5"),
    txn("r2", RETURN, "2026-03-06", "50", product="NX.200"),  # quantity missing
    txn("p1", PAYMENT, "2026-03-07", "900"),
    txn("f1", INVOICE, "2026-03-08", "70", currency="USD", product="NX.100", quantity="1"),
    txn("f2", PAYMENT, "2026-03-09", "80", currency="EUR"),
    txn("f3", RETURN, "2026-03-10", "5", currency="USD", product="NX.200"),
])


def figures(home: str, counted: int, foreign: int = 0,
            currencies: tuple[str, ...] = ()) -> MonthFigures:
    return MonthFigures(D(home), counted, foreign, frozenset(currencies))


@pytest.mark.parametrize(("basis", "products", "expected"), [
    # INVOICE − RETURN on the amount; PAYMENT not counted; USD rows counted, not summed
    (SALES, (), figures("1550.25", 5, 2, ("USD",))),
    # INVOICE − RETURN on the quantity: a missing quantity counts the row, adds no unit
    (QUANTITY, (), figures("11.5", 5, 2, ("USD",))),
    # PAYMENT only
    (COLLECTED, (), figures("900", 1, 1, ("EUR",))),
    # products: a listed one only (and never a row without a product)
    (SALES, ("NX.100",), figures("800.25", 2, 1, ("USD",))),
    (QUANTITY, ("NX.200",), figures("4", 2, 1, ("USD",))),
    (QUANTITY, ("NX.100", "NX.200"), figures("11.5", 4, 2, ("USD",))),
    (COLLECTED, ("NX.100",), None),  # no PAYMENT names a product: nothing at all
    (SALES, ("OTHER",), None),
])
def test_month_figures_apply_the_programs_kinds_signs_field_products_and_currency(
        basis: RebateBasis, products: tuple[str, ...], expected: MonthFigures | None) -> None:
    rule = CountingRule(basis, "CNY", frozenset(products))
    found = month_figures(rule, in_order(MIXED))
    assert found == ({} if expected is None else {"D1": {"2026-03": expected}})


def test_a_month_only_in_foreign_currency_is_reported_with_no_home_basis() -> None:
    cells = cells_of([txn("u", INVOICE, "2026-02-01", "10", currency="USD"),
                      txn("e", RETURN, "2026-02-02", "3", currency="EUR")])
    assert month_figures(CountingRule(SALES, "CNY"), in_order(cells)) == {
        "D1": {"2026-02": figures("0", 0, 2, ("EUR", "USD"))}}
    # in its own currency, the program sums what the CNY program only counted
    assert month_figures(CountingRule(SALES, "USD"), in_order(cells)) == {
        "D1": {"2026-02": figures("10", 1, 1, ("EUR",))}}


def test_a_month_whose_counted_rows_net_to_zero_is_still_there_with_its_count() -> None:
    cells = cells_of([txn("i", INVOICE, "2026-02-01", "10"), txn("r", RETURN, "2026-02-03", "10")])
    assert month_figures(CountingRule(SALES, "CNY"), in_order(cells)) == {
        "D1": {"2026-02": figures("0", 2)}}


def test_month_figures_keep_to_the_months_asked_for_and_add_into_what_is_given() -> None:
    cells = cells_of([txn("a", INVOICE, "2026-01-31", "1"), txn("b", INVOICE, "2026-02-01", "2"),
                      txn("c", INVOICE, "2026-03-01", "4", dealer="D2")])
    rule = CountingRule(SALES, "CNY")
    assert month_figures(rule, in_order(cells), {"2026-02", "2026-03"}) == {
        "D1": {"2026-02": figures("2", 1)}, "D2": {"2026-03": figures("4", 1)}}
    assert month_figures(rule, in_order(cells), set()) == {}
    into: Monthly = {"D1": {"2026-01": figures("100", 7)}}
    assert month_figures(rule, [(key(month="2026-01"), sums("5", "0", 2))], into=into) is into
    assert into == {"D1": {"2026-01": figures("105", 9)}}


def test_cells_that_count_nothing_add_nothing() -> None:
    rule = CountingRule(SALES, "CNY")
    assert month_figures(rule, [(key(), CellSums())]) == {}
    # a delta that took back as many rows as it gave adds nothing either
    assert month_figures(rule, [(key(), sums("10", "0", 1)), (key(), sums("-10", "0", -1))]) \
        == {"D1": {"2026-03": figures("0", 0)}}


# ------------------------------------------------------------------ properties

DEALERS = ("D1", "D2", "D.3")
CURRENCIES = ("CNY", "USD", "EUR")
PRODUCTS = (None, "P1", "NX.100", "7", "a-b_c")
FIRST_DAY, LAST_DAY = date(2025, 11, 1), date(2026, 3, 31)


# Few draws per row: generating the rows is most of these properties' time.
SHAPES = [(dealer, kind, currency, product) for dealer in DEALERS for kind in TransactionKind
          for currency in CURRENCIES for product in PRODUCTS]


def scaled(n: int) -> Decimal:
    """A decimal with 0–6 places from one integer (its last digit says how many)."""
    return D(n // 10).scaleb(-(n % 10 % 7))


@st.composite
def transactions(draw: st.DrawFn) -> Transaction:
    dealer, kind, currency, product = draw(st.sampled_from(SHAPES))
    quantity = draw(st.none() | st.integers(0, 10**8))
    return Transaction(
        external_id="x", dealer_code=dealer, kind=kind,
        date=FIRST_DAY + timedelta(days=draw(st.integers(0, (LAST_DAY - FIRST_DAY).days))),
        amount=scaled(draw(st.integers(10, 10**13))), currency=currency, product_code=product,
        quantity=None if quantity is None else scaled(quantity))


rules = st.builds(CountingRule, st.sampled_from(list(RebateBasis)),
                  st.sampled_from(CURRENCIES),
                  st.frozensets(st.sampled_from([p for p in PRODUCTS if p]), max_size=3))
txn_lists = st.lists(transactions(), max_size=25)


def month_range(month: str) -> DateRange:
    year, number = int(month[:4]), int(month[5:])
    return DateRange(date(year, number, 1),
                     date(year, number, calendar.monthrange(year, number)[1]))


def summed_directly(rule: CountingRule, txns: list[Transaction]) -> Monthly:
    """Per dealer and month, `sum_basis` over that month's transactions: the rule as the
    accrual engine applied it before the ledger existed."""
    by_month: dict[tuple[str, str], list[BasisFact]] = defaultdict(list)
    for t in txns:
        by_month[(t.dealer_code, t.date.isoformat()[:7])].append(BasisFact(
            t.kind, t.date, t.amount, t.currency, t.quantity, t.product_code, t.external_id))
    found: Monthly = {}
    for (dealer, month), facts in by_month.items():
        summed = sum_basis(facts, rule.basis, month_range(month), rule.currency,
                           tuple(sorted(rule.products)))
        if not summed.counted and not summed.foreign_currency:
            continue
        found.setdefault(dealer, {})[month] = MonthFigures(
            summed.total, summed.counted, len(summed.foreign_currency),
            frozenset(f.currency for f in summed.foreign_currency))
    return found


def without_empty(cells: Cells) -> Cells:
    return {k: s for k, s in cells.items() if s}


@FAST
@given(rules, txn_lists)
def test_month_figures_over_the_cells_equal_the_basis_summed_row_by_row(
        rule: CountingRule, txns: list[Transaction]) -> None:
    assert month_figures(rule, in_order(cells_of(txns))) == summed_directly(rule, txns)


@FAST
@given(rules, txn_lists)
def test_the_home_basis_is_the_sum_of_each_counted_rows_contribution(
        rule: CountingRule, txns: list[Transaction]) -> None:
    found = month_figures(rule, in_order(cells_of(txns)))
    home: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for t in txns:
        if t.currency == rule.currency and (not rule.products or t.product_code in rule.products):
            home[(t.dealer_code, t.date.isoformat()[:7])] += contribution(
                rule.basis, t.kind, t.amount, t.quantity)
    for dealer, months in found.items():
        for month, figures_ in months.items():
            assert figures_.home == home[(dealer, month)]


@FAST
@given(rules, txn_lists, st.data())
def test_cells_added_in_any_grouping_and_order_give_the_same_cells_and_figures(
        rule: CountingRule, txns: list[Transaction], data: st.DataObject) -> None:
    whole = cells_of(txns)
    # the rows split into batches (deltas), each batch's cells, in any order
    parts = data.draw(st.lists(st.integers(0, 4), min_size=len(txns), max_size=len(txns)),
                      label="batch of each row")
    batches = [cells_of(t for t, part in zip(txns, parts, strict=True) if part == number)
               for number in range(5)]
    items = [item for batch in batches for item in batch.items()]
    random.Random(data.draw(st.integers(0, 2**32), label="shuffle seed")).shuffle(items)
    assert add_cells({}, items) == whole
    # month_figures sums the unmerged list (a key may repeat) to the same figures …
    assert month_figures(rule, items) == month_figures(rule, in_order(whole))
    # … and batch by batch into one result, as a reader adds deltas to ledger documents
    into: Monthly = {}
    for batch in data.draw(st.permutations(batches), label="batch order"):
        month_figures(rule, in_order(batch), into=into)
    assert into == month_figures(rule, in_order(whole))


@FAST
@given(txn_lists, txn_lists)
def test_the_difference_of_a_and_b_over_a_is_b(a_txns: list[Transaction],
                                               b_txns: list[Transaction]) -> None:
    a, b = cells_of(a_txns), cells_of(b_txns)
    both = add_cells(dict(a), b.items())
    assert both == cells_of(a_txns + b_txns)
    assert difference(both, a) == b
    assert difference(a, a) == {}
    # a delta is what brings the counted cells up to the rows: adding it gives the rows
    assert without_empty(add_cells(dict(a), difference(b, a).items())) == b


@FAST
@given(rules, txn_lists, st.sets(st.sampled_from(
    ["2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04"])))
def test_month_figures_for_some_months_are_the_figures_of_those_months(
        rule: CountingRule, txns: list[Transaction], months: set[str]) -> None:
    everything = month_figures(rule, in_order(cells_of(txns)))
    expected = {dealer: {m: f for m, f in found.items() if m in months}
                for dealer, found in everything.items()}
    assert month_figures(rule, in_order(cells_of(txns)), months) == {
        dealer: found for dealer, found in expected.items() if found}
