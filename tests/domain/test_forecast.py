from __future__ import annotations

from decimal import Decimal

import pytest

from domain.forecast import Forecast, forecast
from domain.tiers import RateKind, Tier, TierMode

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
