"""People's text follows Accept-Language (SPEC §6): the same figures in en and zh-CN.

The test clock says today is 2026-11-20, so 2026-Q4 is open: its basis reads "to date".
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from tests.api.engine_helpers import (
    ACCRUAL_FIELDS,
    create_program,
    dealer,
    program_input,
    record,
    row,
    run,
)
from tests.conftest import FIXED_NOW, Api

ZH = {"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"accept-language": "en"}
TODAY = FIXED_NOW.date().isoformat()  # 2026-11-20
SPEC_TIERS = [{"threshold": "0", "rate": "1"}, {"threshold": "1000000", "rate": "2"}]
GOLD_TIERS = [{"threshold": "0", "rate": "1.5"}, {"threshold": "1000000", "rate": "3"}]
STAFF_AND_OWNER = [("ADMIN", None), ("FINANCE", None), ("SALES", None), ("DEALER", "LG1")]


@pytest.fixture(scope="module", autouse=True)
def data(api: Api) -> None:
    for code in ["LG1", "LG2"]:
        dealer(api, code, region="EAST")
    dealer(api, "LG3", region="华东")
    segment = api.gql("""mutation { upsertSegment(input: {code: "GOLD", name: "黄金经销商",
        priority: 1, dealerCodes: ["LG1"]}) { userErrors { message } } }""")
    assert segment["upsertSegment"]["userErrors"] == []
    created = create_program(api, "LANG-YTD", basis="COLLECTED_AMOUNT",
                             accumulation="YEAR_TO_DATE",
                             terms=[{"tiers": SPEC_TIERS},
                                    {"segmentCode": "GOLD", "tiers": GOLD_TIERS}])
    assert created["userErrors"] == []
    assert create_program(api, "LANG-QTR", terms=[{"tiers": SPEC_TIERS}])["userErrors"] == []
    recorded = record(api, [
        row("lg-1", "LG1", "PAYMENT", "2026-02-10", "600000"),
        row("lg-2", "LG1", "PAYMENT", "2026-05-10", "500000"),
        row("lg-3", "LG1", "PAYMENT", "2026-08-10", "40000"),
        row("lg-4", "LG1", "PAYMENT", "2026-10-15", "100000.50"),
        row("lg-5", "LG2", "PAYMENT", "2026-03-10", "200000"),
        row("lg-6", "LG2", "PAYMENT", "2026-11-05", "50000"),
        row("lg-7", "LG2", "INVOICE", "2026-10-20", "12345.67"),
    ])
    assert recorded["errors"] == [] and recorded["accepted"] == 7
    moved = record(api, [row("lg-r1", "LG3", "INVOICE", "2026-06-01", "100", region="华南")])
    assert moved["errors"] == [] and moved["accepted"] == 1
    assert run(api, "LANG-YTD", "2026-Q4")["userErrors"] == []
    assert run(api, "LANG-QTR", "2026-Q4")["userErrors"] == []


def accrual_in(api: Api, headers: dict[str, str], program: str, dealer_code: str,
               period: str, role: str = "ADMIN", scope: str | None = None) -> dict[str, Any]:
    found = api.gql(f"""query($f: AccrualFilter) {{ accruals(filter: $f) {{
        edges {{ node {{ {ACCRUAL_FIELDS} }} }} }} }}""",
                    {"f": {"programCode": program, "dealerCode": dealer_code, "period": period}},
                    role=role, dealer=scope, headers=headers)["accruals"]["edges"]
    assert len(found) == 1, found
    return found[0]["node"]


def cent(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def steps(accrual: dict[str, Any]) -> dict[str, str]:
    return {s["label"]: s["formula"] for s in accrual["calculation"]}


def figures(accrual: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in accrual.items() if k not in ("calculation", "computedAt")}


@pytest.mark.parametrize(("role", "scope"), STAFF_AND_OWNER)
def test_the_same_trace_reads_in_english_and_in_chinese(api: Api, role: str,
                                                        scope: str | None) -> None:
    en = accrual_in(api, EN, "LANG-YTD", "LG1", "2026-Q4", role, scope)
    zh = accrual_in(api, ZH, "LANG-YTD", "LG1", "2026-Q4", role, scope)
    assert figures(en) == figures(zh)
    assert [s["amount"] for s in en["calculation"]] == [s["amount"] for s in zh["calculation"]]
    english, chinese = steps(en), steps(zh)
    # the open quarter reads "to date", by the service's clock
    assert english["Basis 2026-Q4"] == \
        f"cash collected from 2026-10-01 to date (as of {TODAY}): CNY 100,000.50"
    assert chinese["2026-Q4 基数"] == f"回款额，自 2026-10-01 至今（截至 {TODAY}）：100,000.50 元"
    assert english["Cumulative basis"] == \
        f"cash collected from 2026-01-01 to date (as of {TODAY}): CNY 1,240,000.50"
    assert chinese["累计基数"] == \
        f"回款额，自 2026-01-01 至今（截至 {TODAY}）：1,240,000.50 元"
    # the terms applied are named, with the segment's own name
    assert english["Terms"] == "terms for segment GOLD (黄金经销商)"
    assert chinese["适用条款"] == "客户分类 GOLD（黄金经销商）的条款"
    assert english["Tier reached"] == \
        "CNY 1,240,000.50 ≥ threshold CNY 1,000,000.00: rate 3%"
    assert chinese["达到档位"] == "1,240,000.50 元 ≥ 门槛 1,000,000.00 元：返利标准 3%"
    # the true-up subtracts what the earlier quarters accrued, in the program's currency
    earlier = sum(Decimal(accrual_in(api, EN, "LANG-YTD", "LG1", p, role, scope)["grossAmount"])
                  for p in ["2026-Q1", "2026-Q2", "2026-Q3"])
    cumulative = cent(Decimal("1240000.50") * 3 / 100)
    assert Decimal(en["grossAmount"]) == cumulative - earlier
    assert english["Gross (true-up)"] == \
        f"CNY {cumulative:,} − CNY {earlier:,} = CNY {Decimal(en['grossAmount']):,}"
    assert chinese["本期毛额（累计补差）"] == \
        f"{cumulative:,} 元 − {earlier:,} 元 = {Decimal(en['grossAmount']):,} 元"
    assert chinese["净额"] == f"{Decimal(en['netAmount']):,.2f} 元"


def test_a_closed_quarter_reads_its_end_date_and_default_terms_are_named(api: Api) -> None:
    q1 = steps(accrual_in(api, EN, "LANG-YTD", "LG2", "2026-Q1"))
    assert q1["Basis 2026-Q1"] == "cash collected from 2026-01-01 to 2026-03-31: CNY 200,000.00"
    assert q1["Terms"] == "default terms"
    zh_q1 = steps(accrual_in(api, ZH, "LANG-YTD", "LG2", "2026-Q1"))
    assert zh_q1["2026-Q1 基数"] == "回款额，自 2026-01-01 至 2026-03-31：200,000.00 元"
    assert zh_q1["适用条款"] == "默认条款"
    assert zh_q1["按累计基数计算的返利"] == "200,000.00 元 × 1% = 2,000.00 元"


def test_without_accept_language_the_text_is_english(api: Api) -> None:
    plain = steps(accrual_in(api, {}, "LANG-QTR", "LG2", "2026-Q4"))
    assert plain["Basis 2026-Q4"] == \
        f"net sales (invoices − returns) from 2026-10-01 to date (as of {TODAY}): CNY 12,345.67"
    assert plain["Gross rebate"] == "CNY 12,345.67 × 1% = CNY 123.4567 → CNY 123.46 " \
                                    "(rounded half up to the cent)"
    chinese = steps(accrual_in(api, ZH, "LANG-QTR", "LG2", "2026-Q4"))
    assert chinese["返利毛额"] == "12,345.67 元 × 1% = 123.4567 元 → 123.46 元（四舍五入到分）"


@pytest.mark.parametrize(("header", "basis_label"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "2026-Q4 基数"),
    ("zh", "2026-Q4 基数"),
    ("zh-Hans", "2026-Q4 基数"),
    ("zh-SG", "2026-Q4 基数"),
    ("fr-FR, zh;q=0.5", "2026-Q4 基数"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", "Basis 2026-Q4"),
    ("fr", "Basis 2026-Q4"),
    ("zh-CN;q=0", "Basis 2026-Q4"),
    ("*", "Basis 2026-Q4"),
    ("", "Basis 2026-Q4"),
    (";;q=,zh;q=abc,,,", "Basis 2026-Q4"),
    ("zh;q=2", "Basis 2026-Q4"),
    ("x" * 5000 + ",zh", "Basis 2026-Q4"),
    (b"\xe9\xe8;q=0.5, \xff\xfe", "Basis 2026-Q4"),  # not even UTF-8
    ("zh-CN; q=0.5, en; q=0.6", "Basis 2026-Q4"),
    ("en; q=0.6, zh-TW; q=0.7", "2026-Q4 基数"),
])
def test_accept_language_is_negotiated_and_garbage_means_english(
        api: Api, header: str | bytes, basis_label: str) -> None:
    response = api.post("""{ accruals(filter: {programCode: "LANG-QTR", dealerCode: "LG2",
        period: "2026-Q4"}) { edges { node { calculation { label } } } } }""",
                        headers={"accept-language": header})  # type: ignore[dict-item]
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    labels = [s["label"] for s in body["data"]["accruals"]["edges"][0]["node"]["calculation"]]
    assert labels[0] == basis_label


def test_chinese_comes_back_as_raw_utf8_not_escaped(api: Api) -> None:
    response = api.post("""{ accruals(filter: {programCode: "LANG-YTD", dealerCode: "LG2",
        period: "2026-Q1"}) { edges { node { calculation { label formula } } } } }""",
                        headers=ZH)
    assert response.status_code == 200
    assert "默认条款".encode() in response.content
    assert "累计基数".encode() in response.content
    assert b"\\u" not in response.content
    assert response.headers["content-type"].endswith("charset=utf-8") or \
        "utf-8" in response.headers["content-type"].lower() or \
        response.headers["content-type"].startswith("application/")


BAD_PROGRAM = program_input("LANG-BAD", validFrom="2026-06-01", validTo="2026-01-01",
                            terms=[{"tiers": [{"threshold": "0", "rate": "101"}]}],
                            activate=False)
CREATE = """mutation($input: ProgramInput!) { createProgram(input: $input) {
    program { code } userErrors { field message code } } }"""


@pytest.mark.parametrize("role", ["ADMIN", "SALES"])
def test_user_errors_of_a_bad_mutation_come_back_in_chinese(api: Api, role: str) -> None:
    en = api.gql(CREATE, {"input": BAD_PROGRAM}, role=role, headers=EN)["createProgram"]
    zh = api.gql(CREATE, {"input": BAD_PROGRAM}, role=role, headers=ZH)["createProgram"]
    assert en["program"] is None and zh["program"] is None
    assert [(e["field"], e["code"]) for e in en["userErrors"]] == \
        [(e["field"], e["code"]) for e in zh["userErrors"]]
    english = {tuple(e["field"]): e["message"] for e in en["userErrors"]}
    chinese = {tuple(e["field"]): e["message"] for e in zh["userErrors"]}
    assert english[("input", "validTo")] == "validTo must not be before validFrom"
    assert chinese[("input", "validTo")] == "validTo 不能早于 validFrom"
    rate = ("input", "terms", "0", "tiers", "0", "rate")
    assert english[rate] == "a percentage rate must be at most 100"
    assert chinese[rate] == "百分比返利率不能超过 100"


def test_a_dealers_refused_dispute_and_a_refused_row_speak_chinese(api: Api) -> None:
    own = accrual_in(api, ZH, "LANG-YTD", "LG1", "2026-Q4", "DEALER", "LG1")
    opened = api.gql("""mutation($input: OpenDisputeInput!) { openDispute(input: $input) {
        dispute { id } userErrors { field message code } } }""",
                     {"input": {"accrualId": own["id"], "reason": "少算了回款"}},
                     role="DEALER", dealer="LG1", headers=ZH)["openDispute"]
    assert opened["dispute"] is None
    assert opened["userErrors"] == [{
        "field": ["input", "accrualId"], "code": "LOCKED",
        "message": "只有已批准且未结算的计提可以申诉；该计提的状态为 OPEN"}]
    refused = api.gql("""mutation($input: RecordTransactionsInput!) {
        recordTransactions(input: $input) { accepted errors { index message code } } }""",
                      {"input": {"transactions": [
                          row("lg-x1", "NOBODY", "INVOICE", "2026-10-01", "10"),
                          row("lg-x2", "LG1", "INVOICE", "2026-10-01", "-1", currency="cny")]}},
                      role="SERVICE", headers=ZH)["recordTransactions"]
    assert refused["accepted"] == 0
    assert refused["errors"] == [
        {"index": 0, "code": "NOT_FOUND", "message": "没有代码为 'NOBODY' 的经销商"},
        {"index": 1, "code": "INVALID",
         "message": "amount 必须为正数（正负由类型决定）；"
                    "currency 必须是 3 位大写字母代码（ISO 4217）"}]


@pytest.mark.parametrize("role", ["ADMIN", "FINANCE", "SALES"])
def test_an_alert_reads_in_chinese(api: Api, role: str) -> None:
    query = """{ alerts(first: 100) { edges { node { kind message dealer { code } } } } }"""
    zh = [e["node"] for e in api.gql(query, role=role, headers=ZH)["alerts"]["edges"]
          if e["node"]["dealer"]["code"] == "LG3"]
    en = [e["node"] for e in api.gql(query, role=role, headers=EN)["alerts"]["edges"]
          if e["node"]["dealer"]["code"] == "LG3"]
    assert [a["kind"] for a in zh] == ["CROSS_REGION"]
    assert zh[0]["message"] == (
        "有 1 笔销售申报发往 华南，超出经销商 LG3 的所属区域 华东。这可能是跨区域销售（窜货）；"
        "记录违规前请先与经销商核实。")
    assert en[0]["message"].startswith("1 sale was reported as delivered to 华南, outside "
                                       "dealer LG3's region 华东.")


FORECAST = """query($program: String!, $more: Decimal!, $dealer: String! = "LG1") {
  rebateForecast(dealerCode: $dealer, programCode: $program, period: "2026-Q4",
                 additionalBasis: $more) {
    scope currency currentBasis currentRebate projectedRebate nextTierThreshold
    rebateAtNextTier earlierPeriodsRebate periodRebate projectedPeriodRebate
    periodRebateAtNextTier explanation } }"""


@pytest.mark.parametrize(("role", "scope"), STAFF_AND_OWNER)
def test_a_year_to_date_forecast_says_so_and_gives_the_periods_own_true_up(
        api: Api, role: str, scope: str | None) -> None:
    data = api.gql(FORECAST, {"program": "LANG-YTD", "more": "0"}, role=role, dealer=scope,
                   headers=EN)["rebateForecast"]
    earlier = [accrual_in(api, EN, "LANG-YTD", "LG1", p) for p in
               ["2026-Q1", "2026-Q2", "2026-Q3"]]
    earlier_gross = sum(Decimal(a["grossAmount"]) for a in earlier)
    q4 = accrual_in(api, EN, "LANG-YTD", "LG1", "2026-Q4")
    assert (data["scope"], data["currency"]) == ("YEAR_TO_DATE", "CNY")
    assert Decimal(data["currentBasis"]) == Decimal(q4["cumulativeBasis"])
    assert Decimal(data["earlierPeriodsRebate"]) == earlier_gross
    assert Decimal(data["periodRebate"]) == \
        Decimal(data["currentRebate"]) - earlier_gross == Decimal(q4["grossAmount"])
    assert data["nextTierThreshold"] is None and data["periodRebateAtNextTier"] is None
    assert data["explanation"].startswith(
        f"Year to date, from 2026-01-01 to date (as of {TODAY}): a basis of CNY 1,240,000.50 "
        f"earns CNY {Decimal(data['currentRebate']):,.2f}; the earlier periods already accrued "
        f"CNY {earlier_gross:,.2f}, so the true-up of 2026-Q4 is "
        f"CNY {Decimal(q4['grossAmount']):,.2f}.")
    more = api.gql(FORECAST, {"program": "LANG-YTD", "more": "100000"}, role=role,
                   dealer=scope, headers=ZH)["rebateForecast"]
    projected = Decimal(more["projectedRebate"])
    assert projected == cent(Decimal("1340000.50") * 3 / 100)
    assert Decimal(more["projectedPeriodRebate"]) == projected - earlier_gross
    assert more["explanation"] == (
        f"年初至今，自 2026-01-01 至今（截至 {TODAY}）：基数 1,240,000.50 元 可得返利 "
        f"{Decimal(more['currentRebate']):,.2f} 元；此前各期已计提 {earlier_gross:,.2f} 元，"
        f"因此 2026-Q4 的补差为 {Decimal(q4['grossAmount']):,.2f} 元。已达到最高档位。"
        f"如再增加 100,000.00 元：返利 {projected:,.2f} 元（其中 2026-Q4 为 "
        f"{projected - earlier_gross:,.2f} 元）。以上均未计考核系数、扣减和封顶。")


def test_a_per_period_forecast_is_the_periods_own(api: Api) -> None:
    data = api.gql(FORECAST, {"program": "LANG-QTR", "more": "0", "dealer": "LG2"},
                   role="DEALER", dealer="LG2", headers=EN)["rebateForecast"]
    q4 = accrual_in(api, EN, "LANG-QTR", "LG2", "2026-Q4")
    assert data["scope"] == "PERIOD" and data["earlierPeriodsRebate"] == "0.00"
    assert data["periodRebate"] == data["currentRebate"] == q4["grossAmount"]
    assert data["projectedPeriodRebate"] == data["projectedRebate"]
    assert data["periodRebateAtNextTier"] == data["rebateAtNextTier"]
    assert data["explanation"] == (
        f"2026-Q4 on its own, from 2026-10-01 to date (as of {TODAY}): a basis of "
        "CNY 12,345.67 earns CNY 123.46. CNY 987,654.33 more reaches the next tier at "
        "CNY 1,000,000.00, where the rebate would be CNY 20,000.00. "
        "All before scorecard, deductions and cap.")
