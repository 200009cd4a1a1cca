from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.forecast import (
    Forecast,
    ForecastScope,
    PeriodShare,
    explanation,
    forecast,
    period_share,
)
from domain.periods import DateRange
from domain.text import Language, Locale
from domain.tiers import RateKind, RebateBasis, Tier, TierMode

D = Decimal
RETRO, INCR = TierMode.RETROACTIVE, TierMode.INCREMENTAL
SPEC_TIERS = (Tier(D("0"), D("1")), Tier(D("1000000"), D("2")))
FROM_5000 = (Tier(D("5000"), D("1")), Tier(D("10000"), D("2")))


def maybe(value: str | None) -> Decimal | None:
    return D(value) if value is not None else None


@pytest.mark.parametrize(
    ("tiers", "mode", "current", "more", "expected"),
    [
        # "collect 400,000 more to reach 2 %": at the threshold the rebate would be 20,000
        (
            SPEC_TIERS,
            RETRO,
            "600000",
            "500000",
            ("600000", "1", "6000.00", "1100000", "2", "22000.00", "1000000", "400000", "20000.00"),
        ),
        (
            SPEC_TIERS,
            INCR,
            "600000",
            "500000",
            ("600000", "1", "6000.00", "1100000", "2", "12000.00", "1000000", "400000", "10000.00"),
        ),
        # exactly on the top threshold: nothing above
        (
            SPEC_TIERS,
            RETRO,
            "1000000",
            "0",
            ("1000000", "2", "20000.00", "1000000", "2", "20000.00", None, None, None),
        ),
        (
            SPEC_TIERS,
            RETRO,
            "1200000",
            "-300000",
            ("1200000", "2", "24000.00", "900000", "1", "9000.00", None, None, None),
        ),
        # below the first threshold
        (
            FROM_5000,
            RETRO,
            "0",
            "4999.99",
            ("0", "0", "0.00", "4999.99", "0", "0.00", "5000", "5000", "50.00"),
        ),
        # rounding half up once per figure
        (
            SPEC_TIERS,
            RETRO,
            "0.5",
            "1",
            ("0.5", "1", "0.01", "1.5", "1", "0.02", "1000000", "999999.5", "20000.00"),
        ),
    ],
)
def test_the_forecast_shows_what_selling_more_would_earn_and_the_way_to_the_next_tier(
    tiers: tuple[Tier, ...],
    mode: TierMode,
    current: str,
    more: str,
    expected: tuple[str | None, ...],
) -> None:
    assert forecast(tiers, mode, RateKind.PERCENT, D(current), D(more)) == Forecast(
        *(maybe(v) for v in expected)  # type: ignore[arg-type]
    )


def test_a_fixed_forecast_shows_the_lump_sum_at_the_next_tier() -> None:
    lump = (Tier(D("100000"), D("1000")), Tier(D("500000"), D("5000")))
    result = forecast(lump, INCR, RateKind.FIXED, D("200000"), D("300000"))
    assert (result.current_rebate, result.projected_rebate) == (D("1000.00"), D("6000.00"))
    assert (result.amount_to_next_tier, result.rebate_at_next_tier) == (D("300000"), D("6000.00"))


JUL_TO_DATE = DateRange(date(2026, 1, 1), date(2026, 9, 30))


@pytest.mark.parametrize(
    ("scope", "earlier", "expected"),
    [
        # the SPEC's worked example seen from Q2: 6,000 accrued in Q1, 22,000 year to date
        (ForecastScope.YEAR_TO_DATE, ["6000.00"], ("6000.00", "16000.00", "16000.00", None)),
        (ForecastScope.YEAR_TO_DATE, [], ("0.00", "22000.00", "22000.00", None)),
        # after returns the true-up is a clawback
        (ForecastScope.YEAR_TO_DATE, ["6000.00", "20000.00"], ("26000.00", "-4000.00",
                                                                "-4000.00", None)),
        # PER_PERIOD: earlier periods never count
        (ForecastScope.PERIOD, ["6000.00"], ("0.00", "22000.00", "22000.00", None)),
    ],
)
def test_the_periods_own_share_subtracts_what_earlier_periods_accrued(
    scope: ForecastScope, earlier: list[str], expected: tuple[str | None, ...]
) -> None:
    result = forecast(SPEC_TIERS, RETRO, RateKind.PERCENT, D("1100000"), D("0"))
    share = period_share(result, scope, [D(v) for v in earlier])
    assert share == PeriodShare(scope, *(maybe(v) for v in expected))  # type: ignore[arg-type]


def test_below_the_next_tier_the_share_at_the_next_tier_is_shown_too() -> None:
    result = forecast(SPEC_TIERS, RETRO, RateKind.PERCENT, D("600000"), D("500000"))
    share = period_share(result, ForecastScope.YEAR_TO_DATE, [D("2500.00")])
    assert (share.period_rebate, share.projected_period_rebate,
            share.period_rebate_at_next_tier) == (D("3500.00"), D("19500.00"), D("17500.00"))


def test_the_explanation_says_what_the_figures_cover_in_both_languages() -> None:
    result = forecast(SPEC_TIERS, RETRO, RateKind.PERCENT, D("600000"), D("500000"))
    share = period_share(result, ForecastScope.YEAR_TO_DATE, [D("2500.00")])
    text = explanation(result, share, period="2026-Q3", window=JUL_TO_DATE,
                       basis_kind=RebateBasis.COLLECTED_AMOUNT, currency="CNY")
    today = date(2026, 8, 15)
    assert text.render(Locale(Language.EN, today)) == (
        "Year to date, from 2026-01-01 to date (as of 2026-08-15): a basis of CNY 600,000.00 "
        "earns CNY 6,000.00; the earlier periods already accrued CNY 2,500.00, so the true-up "
        "of 2026-Q3 is CNY 3,500.00. CNY 400,000.00 more reaches the next tier at "
        "CNY 1,000,000.00, where the rebate would be CNY 20,000.00 (CNY 17,500.00 for "
        "2026-Q3). With CNY 500,000.00 more: CNY 22,000.00 (CNY 19,500.00 for 2026-Q3). "
        "All before scorecard, deductions and cap.")
    assert text.render(Locale(Language.ZH_CN, today)) == (
        "年初至今，自 2026-01-01 至今（截至 2026-08-15）：基数 600,000.00 元 可得返利 "
        "6,000.00 元；此前各期已计提 2,500.00 元，因此 2026-Q3 的补差为 3,500.00 元。"
        "再增加 400,000.00 元 即可达到下一档门槛 1,000,000.00 元，届时返利为 20,000.00 元"
        "（其中 2026-Q3 为 17,500.00 元）。如再增加 500,000.00 元：返利 22,000.00 元（其中 "
        "2026-Q3 为 19,500.00 元）。以上均未计考核系数、扣减和封顶。")


def test_a_per_period_explanation_in_units_at_the_top_tier() -> None:
    result = forecast(FROM_5000, RETRO, RateKind.PER_UNIT, D("12000"), D("0"))
    share = period_share(result, ForecastScope.PERIOD)
    text = explanation(result, share, period="2026-03",
                       window=DateRange(date(2026, 3, 1), date(2026, 3, 31)),
                       basis_kind=RebateBasis.QUANTITY, currency="CNY")
    assert str(text) == ("2026-03 on its own, from 2026-03-01 to 2026-03-31: a basis of "
                         "12,000 units earns CNY 24,000.00. The top tier is reached. "
                         "All before scorecard, deductions and cap.")
    assert text.render(Locale(Language.ZH_CN, date(2026, 4, 2))) == (
        "2026-03 本期，自 2026-03-01 至 2026-03-31：基数 12,000 件 可得返利 24,000.00 元。"
        "已达到最高档位。以上均未计考核系数、扣减和封顶。")
