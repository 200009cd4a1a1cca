"""The rebate account's rules (domain/rebate_account.py)."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import rebate_account as ledger
from domain.dealers import DealerStatus
from domain.rebate_account import AccountState, Refused

D = Decimal
TODAY = date(2026, 3, 1)


def _credited(*lots: tuple[str, str, date | None]) -> AccountState:
    state = AccountState()
    for lot_id, amount, expires in lots:
        state = ledger.credit(state, lot_id, D(amount), expires)
    return state


def test_reservations_take_the_oldest_expiry_first_and_unexpiring_credit_last() -> None:
    state = _credited(("none", "50", None), ("late", "50", date(2026, 6, 30)),
                      ("early", "50", date(2026, 3, 31)))
    state, draw = ledger.reserve(state, D("80"), as_of=TODAY, currency="CNY")
    assert [(lot, amount) for lot, _, amount in draw] == [("early", D("50")), ("late", D("30"))]
    assert (state.balance, state.reserved, state.available(TODAY)) == (D("150"), D("80"),
                                                                        D("70"))


@pytest.mark.parametrize(("as_of", "available"), [
    (date(2026, 3, 31), D("60")),  # usable through its expiresOn
    (date(2026, 4, 1), D("10")),   # expired the day after, swept or not
])
def test_expired_credit_is_never_available(as_of: date, available: Decimal) -> None:
    state = _credited(("q1", "50", date(2026, 3, 31)), ("open", "10", None))
    assert state.available(as_of) == available
    with pytest.raises(Refused) as refused:
        ledger.reserve(state, available + D("0.01"), as_of=as_of, currency="CNY")
    assert refused.value.problems[0].code == "INSUFFICIENT_BALANCE"


def test_expiry_takes_only_free_money_and_held_money_expires_once_released() -> None:
    state = _credited(("q1", "50", date(2026, 3, 31)))
    state, held = ledger.reserve(state, D("20"), as_of=TODAY, currency="CNY")
    later = date(2026, 4, 1)
    assert ledger.expiries(state, later) == (("q1", D("30")),)
    state = ledger.expire(state, "q1", D("30"))
    assert (state.balance, state.reserved) == (D("20"), D("20"))
    state = ledger.release(state, held)
    assert ledger.expiries(state, later) == (("q1", D("20")),)


def test_a_refund_restores_the_spent_money_with_its_expiry() -> None:
    state = _credited(("q1", "50", date(2026, 3, 31)), ("open", "50", None))
    state, held = ledger.reserve(state, D("70"), as_of=TODAY, currency="CNY")
    state = ledger.capture(state, held)
    assert state.balance == D("30")
    state, restored = ledger.refund(state, held, D("30"), "r")
    assert [(expires, amount) for _, expires, amount in restored] == [(None, D("20")),
                                                                      (date(2026, 3, 31),
                                                                       D("10"))]
    assert state.balance == D("60")


def test_a_reclaim_beyond_the_balance_is_debt_that_blocks_reservations_until_covered() -> None:
    state = ledger.reclaim(_credited(("a", "30", None)), D("50"))
    assert state.balance == D("-20")
    with pytest.raises(Refused):
        ledger.reserve(state, D("1"), as_of=TODAY, currency="CNY")
    state = ledger.credit(state, "b", D("25"), None)
    assert (state.balance, state.debt, state.available(TODAY)) == (D("5"), D("0"), D("5"))


@pytest.mark.parametrize(("percents", "amount", "code"), [
    ([None, D("10")], D("100"), None),
    ([None, D("10")], D("100.01"), "OVER_ORDER_LIMIT"),
    ([D("30"), D("10")], D("300"), None),  # the highest-priority segment setting it wins
    ([], D("1000"), None),
])
def test_the_offset_limit_comes_from_the_highest_priority_segment_setting_it(
        percents: list[Decimal | None], amount: Decimal, code: str | None) -> None:
    def check() -> None:
        ledger.check_reservation(amount=amount, order_amount=D("1000"), currency="CNY",
                                 dealer_status=DealerStatus.ACTIVE, segment_percents=percents)
    if code is None:
        check()
    else:
        with pytest.raises(Refused) as refused:
            check()
        assert refused.value.problems[0].code == code


@pytest.mark.parametrize("status", [DealerStatus.SUSPENDED, DealerStatus.DISQUALIFIED])
def test_a_suspended_or_disqualified_dealer_cannot_reserve(status: DealerStatus) -> None:
    with pytest.raises(Refused):
        ledger.check_reservation(amount=D("1"), order_amount=D("10"), currency="CNY",
                                 dealer_status=status, segment_percents=[])


@pytest.mark.parametrize(("amount", "refunded", "ok"), [
    (D("40"), D("0"), True), (D("41"), D("0"), False), (D("10"), D("30"), True),
    (D("10.01"), D("30"), False)])
def test_refunds_never_exceed_what_was_captured_minus_what_was_refunded(
        amount: Decimal, refunded: Decimal, ok: bool) -> None:
    if ok:
        ledger.check_refund(amount=amount, captured=D("40"), refunded=refunded, currency="CNY")
    else:
        with pytest.raises(Refused):
            ledger.check_refund(amount=amount, captured=D("40"), refunded=refunded,
                                currency="CNY")


# ---- properties ---------------------------------------------------------------------------

amounts = st.integers(min_value=1, max_value=50_000).map(lambda cents: D(cents) / 100)
operations = st.lists(st.one_of(
    st.tuples(st.just("credit"), amounts, st.one_of(st.none(), st.integers(-5, 30))),
    st.tuples(st.just("reserve"), amounts, st.none()),
    st.tuples(st.just("capture"), st.integers(0, 20), st.none()),
    st.tuples(st.just("release"), st.integers(0, 20), st.none()),
    st.tuples(st.just("refund"), st.integers(0, 20), amounts),
    st.tuples(st.just("reclaim"), amounts, st.none()),
    st.tuples(st.just("expire"), st.integers(0, 40), st.none()),
), max_size=40)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_any_sequence_keeps_the_balance_the_sum_of_entries_and_spends_nothing_twice(
        ops: list[tuple[str, object, object]]) -> None:
    state, day = AccountState(), TODAY
    entries: list[Decimal] = []  # effects on the balance
    open_holds: list[ledger.Draw] = []
    captured: list[tuple[ledger.Draw, Decimal]] = []  # spent, refunded so far
    for index, (kind, first, second) in enumerate(ops):
        if kind == "credit":
            assert isinstance(first, Decimal)
            expires = None if second is None else day + timedelta(days=int(str(second)))
            state = ledger.credit(state, f"c{index}", first, expires)
            entries.append(first)
        elif kind == "reserve":
            assert isinstance(first, Decimal)
            before = state.available(day)
            try:
                state, held = ledger.reserve(state, first, as_of=day, currency="CNY")
            except Refused:
                assert first > before or state.debt > 0
                continue
            assert sum(a for _, _, a in held) == first
            assert state.available(day) == before - first >= 0
            open_holds.append(held)
        elif kind in ("capture", "release") and open_holds:
            held = open_holds.pop(int(str(first)) % len(open_holds))  # each hold ends once
            if kind == "capture":
                state = ledger.capture(state, held)
                spent = sum(a for _, _, a in held)
                entries.append(-spent)
                captured.append((held, D(0)))
            else:
                state = ledger.release(state, held)
        elif kind == "refund" and captured:
            position = int(str(first)) % len(captured)
            spent, refunded = captured[position]
            left = sum(a for _, _, a in spent) - refunded
            assert isinstance(second, Decimal)
            amount = min(second, left)
            if amount > 0:
                state, _ = ledger.refund(state, spent, amount, f"r{index}")
                captured[position] = (spent, refunded + amount)
                entries.append(amount)
        elif kind == "reclaim":
            assert isinstance(first, Decimal)
            state = ledger.reclaim(state, first)
            entries.append(-first)
        elif kind == "expire":
            day = day + timedelta(days=int(str(first)))
            for lot_id, amount in ledger.expiries(state, day):
                state = ledger.expire(state, lot_id, amount)
                entries.append(-amount)
            assert ledger.expiries(state, day) == ()
        assert state.balance == sum(entries, D(0))
        assert state.reserved == sum((a for h in open_holds for _, _, a in h), D(0))
        assert all(lot.remaining >= lot.held >= 0 for lot in state.lots)
        assert state.debt == 0 or state.reserved <= sum((lot.remaining for lot in state.lots),
                                                        D(0))
