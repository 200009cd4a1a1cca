"""Targets and achievement tiers end to end (SPEC §3 "Targets and achievement tiers").

Every expected figure is worked out here by hand from the inputs, with Decimal.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.api.control_helpers import close
from tests.api.engine_helpers import dealer, record, row, settled, wait_for
from tests.api.policy_helpers import (
    accrual,
    created,
    dec,
    find,
    money,
    run_period,
    set_targets,
    targets_set,
    trace,
)
from tests.conftest import Api

# The SPEC's worked example: bands at 110 / 115 / 120 % of target.
BANDS = [{"threshold": "110", "rate": "2"}, {"threshold": "115", "rate": "3"},
         {"threshold": "120", "rate": "4"}]
# Seed practice: nothing below 90 % of the task, then 1 %, 2 % from 100 %, 3 % from 110 %.
SEED = [{"threshold": "90", "rate": "1"}, {"threshold": "100", "rate": "2"},
        {"threshold": "110", "rate": "3"}]


@pytest.fixture(scope="module", autouse=True)
def dealers(api: Api) -> None:
    for code in ("WX1", "N1", "N2", "N3", "N4", "Y1", "H1", "L1", "F1", "R1", "R2", "V1"):
        dealer(api, code, region="EAST")


def by_hand(basis: Decimal, target: Decimal, tiers: list[dict[str, str]], mode: str) -> Decimal:
    """R(basis) against a target, as a finance user works it out with a calculator."""
    bands = [(Decimal(t["threshold"]), Decimal(t["rate"])) for t in tiers]
    reached = [(t, r) for t, r in bands if basis * 100 >= t * target]
    if not reached:
        return Decimal(0)
    _top, rate = reached[-1]
    if mode == "RETROACTIVE":
        return basis * rate / 100
    if mode == "ON_EXCESS_OVER_TARGET":
        return max(Decimal(0), basis - target) * rate / 100
    earned = Decimal(0)  # INCREMENTAL: each slice between two thresholds at its own rate
    for index, (t, r) in enumerate(bands):
        low = t * target / 100
        high = bands[index + 1][0] * target / 100 if index + 1 < len(bands) else basis
        if basis > low:
            earned += (min(basis, high) - low) * r / 100
    return earned


def test_the_by_hand_function_agrees_with_the_specs_figures() -> None:
    target, basis = Decimal(2_000_000), Decimal(2_350_000)
    assert by_hand(basis, target, BANDS, "RETROACTIVE") == Decimal(70_500)
    assert by_hand(basis, target, BANDS, "INCREMENTAL") == Decimal(3_500)
    assert by_hand(basis, target, BANDS, "ON_EXCESS_OVER_TARGET") == Decimal(10_500)


@pytest.mark.parametrize(("mode", "gross"), [("RETROACTIVE", "70500.00"),
                                             ("INCREMENTAL", "3500.00"),
                                             ("ON_EXCESS_OVER_TARGET", "10500.00")])
def test_the_specs_worked_example_in_each_tier_mode(api: Api, mode: str, gross: str) -> None:
    code = f"WX-{mode[:6]}"
    program = created(api, code, tierMeasure="TARGET_ACHIEVEMENT", tierMode=mode,
                      productCodes=["WX"], terms=[{"tiers": BANDS}])
    assert (program["tierMeasure"], program["tierEvaluation"], program["tierMode"]) == \
        ("TARGET_ACHIEVEMENT", "PERIOD_TOTAL", mode)
    targets_set(api, code, [("WX1", "2026-Q1", "2000000")])
    record(api, [row("wx-1", "WX1", "INVOICE", "2026-02-10", "2000000", productCode="WX",
                     quantity="1"),
                 row("wx-2", "WX1", "INVOICE", "2026-03-10", "350000", productCode="WX",
                     quantity="1")])
    found = run_period(api, code, "2026-Q1")["WX1"]
    assert (found["basis"], found["rate"], found["grossAmount"], found["netAmount"]) == \
        ("2350000", "3", gross, gross)
    assert dec(found["target"]) == Decimal(2_000_000)
    assert found["achievementPercent"] == "117.50"
    assert found["status"] == "OPEN"
    words = trace(found)
    # "target CNY 2,000,000.00, reached CNY 2,350,000.00 = 117.50 % ≥ 115 %: rate 3 %"
    for piece in ("2,000,000.00", "2,350,000.00", "117.50", "115"):
        assert piece in words, (piece, words)
    assert "target" in words.lower()
    gross_step = next(s["formula"] for s in found["calculation"]
                      if s["amount"] is not None and Decimal(s["amount"]) == Decimal(gross))
    assert f"{Decimal(gross):,.2f}" in gross_step
    if mode == "ON_EXCESS_OVER_TARGET":  # 3 % of the growth over target only
        assert "2,350,000.00" in gross_step and "2,000,000.00" in gross_step, gross_step


def test_the_90_percent_rule_is_an_exact_comparison(api: Api) -> None:
    tiers = [{"threshold": "90", "rate": "1"}, {"threshold": "100", "rate": "2"}]
    created(api, "NINETY", tierMeasure="TARGET_ACHIEVEMENT", productCodes=["NINETY"],
            terms=[{"tiers": tiers}])
    # N3/N4: 90 % of 300,001.00 is 270,000.90 exactly; 270,000.89 shows as 90.00 % once
    # rounded for display, yet basis × 100 < 90 × target, so it earns nothing.
    targets_set(api, "NINETY", [("N1", "2026-Q2", "100000"), ("N2", "2026-Q2", "100000"),
                                ("N3", "2026-Q2", "300001"), ("N4", "2026-Q2", "300001")])
    amounts = {"N1": "89990", "N2": "90000", "N3": "270000.89", "N4": "270000.90"}
    record(api, [row(f"ninety-{d}", d, "INVOICE", "2026-05-05", a, productCode="NINETY",
                     quantity="1") for d, a in amounts.items()])
    found = run_period(api, "NINETY", "2026-Q2")
    assert {d: (a["achievementPercent"], a["rate"], a["grossAmount"])
            for d, a in found.items()} == {
        "N1": ("89.99", "0", "0.00"),
        "N2": ("90.00", "1", "900.00"),
        "N3": ("90.00", "0", "0.00"),
        "N4": ("90.00", "1", str(money(Decimal("270000.90") / 100))),
    }
    below = trace(found["N1"])
    assert "89.99" in below and "90" in below


def test_year_to_date_against_quarterly_targets_that_follow_the_season(api: Api) -> None:
    """gross_n = R(cumulative basis vs cumulative target) − earlier gross, quarter by quarter;
    the year's gross adds up to R(the year's basis vs the year's target)."""
    created(api, "YTDT", tierMeasure="TARGET_ACHIEVEMENT", accumulation="YEAR_TO_DATE",
            productCodes=["YTDT"], terms=[{"tiers": SEED}])
    quarters = ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    targets = dict(zip(quarters, ["500000", "800000", "700000", "1000000"], strict=True))
    sales = dict(zip(quarters, ["470000", "900000", "500000", "1300000"], strict=True))
    days = dict(zip(quarters, ["2026-02-14", "2026-05-14", "2026-08-14", "2026-10-14"],
                    strict=True))
    targets_set(api, "YTDT", [("Y1", q, a) for q, a in targets.items()])
    record(api, [row(f"ytdt-{q}", "Y1", "INVOICE", days[q], sales[q], productCode="YTDT",
                     quantity="1") for q in quarters])
    run_period(api, "YTDT", "2026-Q4")  # a YEAR_TO_DATE run covers the earlier quarters
    assert check_year_to_date(api, quarters, targets, sales) == Decimal("63400.00")
    # Q3 falls back under 100 % of the year-to-date task: the true-up claws back.
    assert accrual(api, "YTDT", "Y1", "2026-Q3")["grossAmount"] == "-8700.00"
    # A lower Q1 target moves every later quarter's cumulative target: all follow.
    targets_set(api, "YTDT", [("Y1", "2026-Q1", "400000")])
    targets["2026-Q1"] = "400000"
    wait_for(lambda: dec(accrual(api, "YTDT", "Y1", "2026-Q4")["target"]) == Decimal(2_900_000),
             timeout=8)
    settled(api)
    # Q1 470,000 / 400,000 = 117.5 % → 3 %; the year 3,170,000 / 2,900,000 = 109.3 % → 2 %
    assert check_year_to_date(api, quarters, targets, sales) == Decimal("63400.00")
    assert accrual(api, "YTDT", "Y1", "2026-Q1")["grossAmount"] == "14100.00"


def check_year_to_date(api: Api, quarters: list[str], targets: dict[str, str],
                       sales: dict[str, str]) -> Decimal:
    """Each quarter against the figures worked out by hand; returns the year's gross."""
    cumulative_basis = cumulative_target = earlier = Decimal(0)
    for quarter in quarters:
        cumulative_basis += Decimal(sales[quarter])
        cumulative_target += Decimal(targets[quarter])
        expected = money(by_hand(cumulative_basis, cumulative_target, SEED, "RETROACTIVE")
                         - earlier)
        earlier += expected
        found = accrual(api, "YTDT", "Y1", quarter)
        assert (dec(found["basis"]), dec(found["cumulativeBasis"]), dec(found["target"]),
                dec(found["grossAmount"])) == \
            (Decimal(sales[quarter]), cumulative_basis, cumulative_target, expected), quarter
        assert dec(found["achievementPercent"]) == money(
            cumulative_basis / cumulative_target * 100), quarter
    # Σ gross over the quarters = R(the year's basis against the year's target)
    assert earlier == money(by_hand(cumulative_basis, cumulative_target, SEED, "RETROACTIVE"))
    return earlier


def test_a_missing_target_holds_the_accrual_until_it_is_set(api: Api) -> None:
    created(api, "HOLD", tierMeasure="TARGET_ACHIEVEMENT", productCodes=["HOLD"],
            terms=[{"tiers": SEED}])
    record(api, [row("hold-1", "H1", "INVOICE", "2026-07-20", "462000", productCode="HOLD",
                     quantity="1")])
    settled(api)
    wait_for(lambda: find(api, "HOLD", "H1", "2026-Q3") is not None)
    held = accrual(api, "HOLD", "H1", "2026-Q3")
    assert held["status"] == "ON_HOLD"
    assert "no target set for 2026-Q3" in trace(held)
    assert held["target"] is None and held["achievementPercent"] is None
    targets_set(api, "HOLD", [("H1", "2026-Q3", "500000")])
    wait_for(lambda: accrual(api, "HOLD", "H1", "2026-Q3")["status"] == "OPEN", timeout=8)
    released = accrual(api, "HOLD", "H1", "2026-Q3")
    # 462,000 / 500,000 = 92.40 % ≥ 90 %: 1 % of 462,000
    assert (dec(released["target"]), released["achievementPercent"], released["rate"],
            released["grossAmount"], released["netAmount"]) == \
        (Decimal(500000), "92.40", "1", "4620.00", "4620.00")
    assert "no target set" not in trace(released)
    assert "500,000.00" in trace(released) and "92.40" in trace(released)
    # A lower target for the open quarter: 462,000 / 420,000 = 110 % → 3 %
    targets_set(api, "HOLD", [("H1", "2026-Q3", "420000")])
    wait_for(lambda: accrual(api, "HOLD", "H1", "2026-Q3")["grossAmount"] == "13860.00",
             timeout=8)
    assert accrual(api, "HOLD", "H1", "2026-Q3")["achievementPercent"] == "110.00"


def test_under_year_to_date_a_missing_quarter_holds_every_window_that_includes_it(
        api: Api) -> None:
    dealer(api, "YH1")
    created(api, "YTDHOLD", tierMeasure="TARGET_ACHIEVEMENT", accumulation="YEAR_TO_DATE",
            productCodes=["YTDHOLD"], terms=[{"tiers": SEED}])
    targets_set(api, "YTDHOLD", [("YH1", "2026-Q1", "100000"), ("YH1", "2026-Q3", "100000")])
    record(api, [row(f"ytdhold-{m}", "YH1", "INVOICE", f"2026-{m:02d}-10", "50000",
                     productCode="YTDHOLD", quantity="1") for m in (2, 5, 8)])
    settled(api)
    wait_for(lambda: find(api, "YTDHOLD", "YH1", "2026-Q3") is not None)
    q1 = accrual(api, "YTDHOLD", "YH1", "2026-Q1")
    assert (q1["status"], q1["grossAmount"]) == ("OPEN", "0.00")  # 50 % of the task
    for quarter in ("2026-Q2", "2026-Q3"):
        held = accrual(api, "YTDHOLD", "YH1", quarter)
        assert held["status"] == "ON_HOLD", quarter
        assert "no target set for 2026-Q2" in trace(held), trace(held)
    targets_set(api, "YTDHOLD", [("YH1", "2026-Q2", "10000")])
    # Q2: 100,000 / 110,000 = 90.9 % → 1 % = 1,000; Q3: 150,000 / 210,000 = 71.4 % → 0 − 1,000
    wait_for(lambda: accrual(api, "YTDHOLD", "YH1", "2026-Q3")["status"] == "OPEN", timeout=8)
    settled(api)
    assert [(accrual(api, "YTDHOLD", "YH1", q)["grossAmount"]) for q in
            ("2026-Q1", "2026-Q2", "2026-Q3")] == ["0.00", "1000.00", "-1000.00"]


def test_a_closed_periods_target_is_locked_an_open_ones_still_changes(
        api: Api) -> None:
    created(api, "LOCKT", tierMeasure="TARGET_ACHIEVEMENT", productCodes=["LOCKT"],
            terms=[{"tiers": SEED}])
    targets_set(api, "LOCKT", [("L1", "2026-Q1", "100000")])
    record(api, [row("lockt-1", "L1", "INVOICE", "2026-02-01", "95000", productCode="LOCKT",
                     quantity="1")])
    settled(api)
    assert close(api, "LOCKT", "2026-Q1")["userErrors"] == []
    before = accrual(api, "LOCKT", "L1", "2026-Q1")
    assert (before["status"], before["grossAmount"]) == ("APPROVED", "950.00")
    result = set_targets(api, "LOCKT", [("L1", "2026-Q1", "50000")])
    assert [(e["field"][:3], e["code"]) for e in result["userErrors"]] == \
        [(["input", "targets", "0"], "LOCKED")]
    assert result["targets"] == []
    targets_set(api, "LOCKT", [("L1", "2026-Q2", "80000")])  # Q2 is still open
    stored = api.gql('{ dealer(code: "L1") { targets(programCode: "LOCKT") { period amount '
                     "program { code } } } }")["dealer"]["targets"]
    assert sorted((t["period"], dec(t["amount"])) for t in stored) == \
        [("2026-Q1", Decimal(100000)), ("2026-Q2", Decimal(80000))]
    after = accrual(api, "LOCKT", "L1", "2026-Q1")
    assert (after["status"], after["grossAmount"], after["target"]) == \
        ("APPROVED", "950.00", before["target"])


@pytest.mark.parametrize(("bad", "code"), [
    (("NOBODY", "2026-Q1", "1000"), "NOT_FOUND"),
    (("R1", "2026-Q1", "0"), "INVALID"),
    (("R1", "2026-Q1", "-5"), "INVALID"),
    (("R1", "2027-Q1", "1000"), None),  # not a period of the program
    (("R1", "2026-03", "1000"), None),  # a month in a quarterly program
])
def test_bad_target_rows_are_reported_by_index(api: Api, bad: tuple[str, str, str],
                                               code: str | None) -> None:
    if find_program(api, "ROWS") is None:
        created(api, "ROWS", tierMeasure="TARGET_ACHIEVEMENT", productCodes=["ROWS"],
                terms=[{"tiers": SEED}])
    result = set_targets(api, "ROWS", [("R2", "2026-Q4", "1000"), bad])
    assert [e["field"][:3] for e in result["userErrors"]] == [["input", "targets", "1"]]
    if code is not None:
        assert result["userErrors"][0]["code"] == code


def test_a_call_with_a_bad_row_stores_nothing_and_reports_every_problem(api: Api) -> None:
    """All or nothing (README *Targets*): a corrected file is simply sent again; the import
    re-sends the good rows of a refused batch itself."""
    if find_program(api, "ROWS") is None:
        created(api, "ROWS", tierMeasure="TARGET_ACHIEVEMENT", productCodes=["ROWS"],
                terms=[{"tiers": SEED}])
    result = set_targets(api, "ROWS", [("R2", "2026-Q3", "1000"), ("R1", "2026-Q3", "0"),
                                       ("GHOST", "2026-Q3", "1000")])
    assert [(e["field"][:3], e["code"]) for e in result["userErrors"]] == \
        [(["input", "targets", "1"], "INVALID"), (["input", "targets", "2"], "NOT_FOUND")]
    assert result["targets"] == []
    stored = api.gql('{ dealer(code: "R2") { targets(programCode: "ROWS") { period } } }')
    assert {"period": "2026-Q3"} not in stored["dealer"]["targets"]


def find_program(api: Api, code: str) -> dict[str, str] | None:
    return api.gql("query($code: String!) { program(code: $code) { code } }",
                   {"code": code})["program"]


def test_an_unknown_program_is_not_found(api: Api) -> None:
    result = set_targets(api, "NO-SUCH", [("R1", "2026-Q1", "1000")])
    assert result["targets"] == [] and result["userErrors"][0]["code"] == "NOT_FOUND"


def test_the_forecast_shows_target_achievement_and_what_is_left_to_100_percent(
        api: Api) -> None:
    created(api, "FCT", tierMeasure="TARGET_ACHIEVEMENT", productCodes=["FCT"],
            terms=[{"tiers": SEED}])
    targets_set(api, "FCT", [("F1", "2026-Q4", "500000")])
    record(api, [row("fct-1", "F1", "INVOICE", "2026-10-20", "462000", productCode="FCT",
                     quantity="1")])
    settled(api)
    forecast = api.gql("""{ rebateForecast(dealerCode: "F1", programCode: "FCT",
        period: "2026-Q4", additionalBasis: "38000") { currentBasis currentRate
        currentRebate projectedBasis projectedRebate nextTierThreshold amountToNextTier
        rebateAtNextTier target achievementPercent } }""", role="DEALER",
                       dealer="F1")["rebateForecast"]
    # 462,000 of 500,000 = 92.40 %: 1 % now; 38,000 more reaches 100 % and 2 % of 500,000
    assert {k: dec(v) for k, v in forecast.items()} == {
        "currentBasis": Decimal(462000), "currentRate": Decimal(1),
        "currentRebate": Decimal("4620.00"), "projectedBasis": Decimal(500000),
        "projectedRebate": Decimal("10000.00"), "nextTierThreshold": Decimal(500000),
        "amountToNextTier": Decimal(38000), "rebateAtNextTier": Decimal("10000.00"),
        "target": Decimal(500000), "achievementPercent": Decimal("92.40")}
    assert forecast["achievementPercent"] == "92.40"


def test_admin_and_sales_set_targets_a_dealer_reads_only_its_own(api: Api) -> None:
    created(api, "ROLES", tierMeasure="TARGET_ACHIEVEMENT", productCodes=["ROLES"],
            terms=[{"tiers": SEED}])
    targets_set(api, "ROLES", [("V1", "2026-Q4", "100000")], role="ADMIN")
    targets_set(api, "ROLES", [("R1", "2026-Q4", "200000")], role="SALES")
    refused = api.post("""mutation { setTargets(input: {programCode: "ROLES", targets: [
        {dealerCode: "V1", period: "2026-Q4", amount: "1"}]}) { userErrors { code } } }""",
                       role="DEALER", dealer="V1").json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    record(api, [row("roles-v1", "V1", "INVOICE", "2026-10-05", "95000", productCode="ROLES",
                     quantity="1"),
                 row("roles-r1", "R1", "INVOICE", "2026-10-05", "100000", productCode="ROLES",
                     quantity="1")])
    settled(api)
    query = '{ dealer(code: "%s") { code targets(programCode: "ROLES") { period amount } } }'
    own = api.gql(query % "V1", role="DEALER", dealer="V1")["dealer"]
    assert [(t["period"], dec(t["amount"])) for t in own["targets"]] == \
        [("2026-Q4", Decimal(100000))]  # the SALES change of another dealer is not here
    assert api.gql(query % "R1", role="DEALER", dealer="V1") == {"dealer": None}
    mine = find(api, "ROLES", "V1", "2026-Q4", role="DEALER", dealer="V1")
    assert mine is not None
    assert (dec(mine["target"]), mine["achievementPercent"], mine["grossAmount"]) == \
        (Decimal(100000), "95.00", "950.00")
    assert find(api, "ROLES", "R1", "2026-Q4", role="DEALER", dealer="V1") is None
    everyone = api.gql('{ dealer(code: "R1") { targets { program { code } period amount } } }',
                       role="SALES")["dealer"]["targets"]
    assert [(t["program"]["code"], t["period"], dec(t["amount"])) for t in everyone] == \
        [("ROLES", "2026-Q4", Decimal(200000))]
