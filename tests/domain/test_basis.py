from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.basis import (
    BASIS_RULES,
    BasisFact,
    BasisTerm,
    TransactionKind,
    contribution,
    product_counts,
    sum_basis,
)
from domain.periods import DateRange
from domain.tiers import RebateBasis

D = Decimal
SALES, QUANTITY, COLLECTED = (
    RebateBasis.SALES_AMOUNT,
    RebateBasis.QUANTITY,
    RebateBasis.COLLECTED_AMOUNT,
)
INVOICE, RETURN, PAYMENT = TransactionKind.INVOICE, TransactionKind.RETURN, TransactionKind.PAYMENT


@pytest.mark.parametrize(
    ("basis", "kind", "amount", "quantity", "expected"),
    [
        (SALES, INVOICE, "1000.50", "10", "1000.50"),
        (SALES, RETURN, "200.25", "2", "-200.25"),
        (SALES, PAYMENT, "900", None, "0"),
        (QUANTITY, INVOICE, "1000.50", "10", "10"),
        (QUANTITY, RETURN, "200.25", "2.5", "-2.5"),
        (QUANTITY, INVOICE, "1000.50", None, "0"),  # no quantity given: counts as none
        (QUANTITY, PAYMENT, "900", "3", "0"),
        (COLLECTED, PAYMENT, "900", None, "900"),
        (COLLECTED, INVOICE, "1000", "10", "0"),
        (COLLECTED, RETURN, "1000", "10", "0"),
    ],
)
def test_a_transaction_contributes_to_a_basis_with_the_sign_its_kind_gives(
    basis: RebateBasis, kind: TransactionKind, amount: str, quantity: str | None, expected: str
) -> None:
    given = D(quantity) if quantity is not None else None
    assert contribution(basis, kind, D(amount), given) == D(expected)


def test_the_basis_rule_is_also_data_the_service_can_turn_into_a_pipeline() -> None:
    assert dict(BASIS_RULES[SALES]) == {
        INVOICE: BasisTerm("amount", 1),
        RETURN: BasisTerm("amount", -1),
    }
    assert dict(BASIS_RULES[QUANTITY]) == {
        INVOICE: BasisTerm("quantity", 1),
        RETURN: BasisTerm("quantity", -1),
    }
    assert dict(BASIS_RULES[COLLECTED]) == {PAYMENT: BasisTerm("amount", 1)}


@pytest.mark.parametrize("basis", list(RebateBasis))
@pytest.mark.parametrize("kind", list(TransactionKind))
def test_the_rule_as_data_and_the_function_agree(basis: RebateBasis, kind: TransactionKind) -> None:
    term = BASIS_RULES[basis].get(kind)
    fields = {"amount": D("7"), "quantity": D("3")}
    expected = fields[term.field] * term.sign if term else D("0")
    assert contribution(basis, kind, fields["amount"], fields["quantity"]) == expected


@pytest.mark.parametrize(
    ("product_codes", "product", "counts"),
    [
        ((), "ANY", True),
        ((), None, True),
        (("P-1",), "P-1", True),
        (("P-1",), "P-2", False),
        (("P-1",), None, False),
    ],
)
def test_an_empty_product_list_means_every_product_counts(
    product_codes: tuple[str, ...], product: str | None, counts: bool
) -> None:
    assert product_counts(product_codes, product) is counts


def test_summing_a_basis_keeps_the_window_the_products_and_the_currency() -> None:
    facts = [
        BasisFact(INVOICE, date(2026, 1, 10), D("1000.10"), "CNY", D("10"), "P-1", "T1"),
        BasisFact(RETURN, date(2026, 2, 10), D("100.05"), "CNY", D("1"), "P-1", "T2"),
        BasisFact(INVOICE, date(2026, 3, 31), D("50"), "CNY", D("1"), "P-2", "T3"),
        BasisFact(INVOICE, date(2026, 4, 1), D("999"), "CNY", D("9"), "P-1", "T4"),  # after
        BasisFact(INVOICE, date(2026, 3, 1), D("500"), "USD", D("5"), "P-1", "T5"),  # foreign
        BasisFact(INVOICE, date(2026, 3, 1), D("700"), "CNY", D("7"), "P-9", "T6"),  # product
        BasisFact(PAYMENT, date(2026, 3, 1), D("800"), "USD", None, "P-1", "T7"),  # not sales
    ]
    q1 = DateRange(date(2026, 1, 1), date(2026, 3, 31))
    result = sum_basis(facts, SALES, q1, "CNY", ("P-1", "P-2"))
    assert result.total == D("950.05")  # 1000.10 − 100.05 + 50
    assert result.counted == 3
    assert [f.external_id for f in result.foreign_currency] == ["T5"]
    units = sum_basis(facts, QUANTITY, q1, "CNY")
    assert units.total == D("17")  # 10 − 1 + 1 + 7


def test_a_basis_with_nothing_counted_is_zero() -> None:
    empty = sum_basis([], COLLECTED, DateRange(date(2026, 1, 1), date(2026, 1, 31)), "CNY")
    assert (empty.total, empty.counted, empty.foreign_currency) == (D("0"), 0, ())
