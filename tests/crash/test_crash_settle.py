"""settle killed after each of its writes (issue 8): money is paid exactly once.

Whether finance retries the call or nobody does (the worker finishes or rolls back what
was interrupted), in the end every accrual approved at close is in exactly one payout
document shown by the API, is SETTLED, and no accrual stays claimed by a settlement that
does not exist or does not list it.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from bson import ObjectId

from service.failpoints import POINTS
from tests.api.control_helpers import close, settle
from tests.api.engine_helpers import create_program, dealer, program_input, record, row
from tests.crash.checks import local_id
from tests.crash.conftest import RECOVERY_BOUND, CrashHarness, eventually

pytestmark = pytest.mark.crash

# Points only a settlement with CREDIT_NOTE lines reaches (killed at by the credit tests).
CREDIT_ONLY_POINTS = ["settle.between_credits"]
SETTLE_POINTS = sorted(p for p in POINTS
                       if p.startswith("settle.") and p not in CREDIT_ONLY_POINTS)
# From the lines to SETTLED: where a settlement with credits can stop half-credited.
CREDIT_POINTS = ["settle.after_lines", *CREDIT_ONLY_POINTS, "settle.after_credits",
                 "settle.after_settled"]
PROGRAM, PERIOD = "PAY", "2026-Q1"
# Quarterly, 10 % of sales, CASH with 10 % withheld (the helpers' defaults).
SALES = {"S1": "10000", "S2": "1234.50", "S3": "5000", "S4": "777.77"}
NETS = {"S1": Decimal("1000.00"), "S2": Decimal("123.45"), "S3": Decimal("500.00"),
        "S4": Decimal("77.78")}  # 77.777 → 77.78
SETTLEMENTS = """query($program: String, $period: String) {
  settlements(programCode: $program, period: $period) {
    id period totalPayable lines { amount taxWithheld payable dealer { code }
                                   accrual { id status netAmount } } } }"""
PAID_TO = """query($program: String, $period: String) {
  settlements(programCode: $program, period: $period) {
    id number createdAt lines { taxWithheld payee { dealerCode name region payoutForm taxRate } }
  } }"""


@pytest.fixture
def closed(crash: CrashHarness, point: str) -> dict[str, Decimal]:
    """A service armed at `point`, the program's 2026-Q1 closed: the approved accruals
    (accrual id → net), all positive."""
    return close_armed(crash, point)


def close_armed(crash: CrashHarness, point: str, **program: Any) -> dict[str, Decimal]:
    api = crash.start(point)
    for code in SALES:
        dealer(api, code)
    assert create_program(api, PROGRAM, terms=[{"tiers": [{"threshold": "0", "rate": "10"}]}],
                          productCodes=[PROGRAM], **program)["userErrors"] == []
    answer = record(api, [row(f"pay-{code}", code, "INVOICE", "2026-02-10", amount,
                              productCode=PROGRAM) for code, amount in SALES.items()])
    assert (answer["accepted"], answer["errors"]) == (len(SALES), [])
    crash.drained()
    result = close(api, PROGRAM, PERIOD)
    assert result["userErrors"] == []
    approved = [a for a in result["accruals"] if a["status"] == "APPROVED"]
    assert {a["dealer"]["code"]: Decimal(a["netAmount"]) for a in approved} == NETS
    return {local_id(a["id"]): Decimal(a["netAmount"]) for a in approved}


def settle_answered(answer: dict[str, Any]) -> None:
    """A settlement, or NOTHING_TO_SETTLE (someone finished it already): nothing else."""
    codes = [e["code"] for e in answer["userErrors"]]
    assert (answer["settlement"] is not None and codes == []) or \
        (answer["settlement"] is None and codes == ["NOTHING_TO_SETTLE"]), answer


def unpaid_or_paid_problems(crash: CrashHarness,
                            approved: dict[str, Decimal]) -> tuple[list[str], dict[str, Any]]:
    """What is wrong in the books now, whether or not everything is paid yet: each approved
    accrual is either unclaimed and APPROVED, or SETTLED in exactly one shown settlement
    that lists it; shown settlements add up; no claim points at a document that does not
    pay it. Returns (problems, what was read)."""
    problems: list[str] = []
    shown = crash.api.gql(SETTLEMENTS, {"program": PROGRAM, "period": PERIOD})["settlements"]
    shown_ids = {ObjectId(local_id(s["id"])) for s in shown}
    lines: Counter[str] = Counter()
    for settlement in shown:
        if not settlement["lines"]:
            problems.append(f"settlement {settlement['id']} is shown without lines")
        payable = sum((Decimal(line["payable"]) for line in settlement["lines"]), Decimal(0))
        if Decimal(settlement["totalPayable"]) != payable:
            problems.append(f"settlement {settlement['id']}: totalPayable "
                            f"{settlement['totalPayable']} ≠ Σ payable {payable}")
        for line in settlement["lines"]:
            accrual_id = local_id(line["accrual"]["id"])
            lines[accrual_id] += 1
            if accrual_id not in approved:
                problems.append(f"a line pays {accrual_id}, not approved at close")
            elif Decimal(line["amount"]) != approved[accrual_id]:
                problems.append(f"the line for {accrual_id} pays {line['amount']}, its net "
                                f"is {approved[accrual_id]}")
    documents = {doc["_id"]: doc for doc in crash.db.settlements.find({"programCode": PROGRAM})}
    accruals = {str(doc["_id"]): doc for doc in crash.db.accruals.find({"programCode": PROGRAM})}
    for accrual_id, doc in accruals.items():
        claim = doc.get("settlementId")
        if claim is None:
            continue
        owner = documents.get(claim)
        if owner is None:
            problems.append(f"accrual {accrual_id} is claimed by settlement {claim}, which "
                            "does not exist")
        elif accrual_id not in {line["accrualId"] for line in owner.get("lines", [])}:
            problems.append(f"accrual {accrual_id} is claimed by settlement {claim}, which "
                            "does not list it")
        elif claim not in shown_ids:
            problems.append(f"accrual {accrual_id} is claimed by settlement {claim}, which "
                            "the API does not show")
    for accrual_id in approved:
        doc = accruals[accrual_id]
        paid = lines[accrual_id]
        if paid > 1:
            problems.append(f"accrual {accrual_id} is paid {paid} times")
        elif paid == 1 and doc["status"] != "SETTLED":
            problems.append(f"accrual {accrual_id} is paid but {doc['status']}")
        elif paid == 0 and (doc["status"] != "APPROVED" or doc.get("settlementId")):
            problems.append(f"accrual {accrual_id} is not paid but {doc['status']}, claimed "
                            f"by {doc.get('settlementId')}")
    return problems, {"shown": shown, "lines": dict(lines)}


def assert_paid_exactly_once(crash: CrashHarness, approved: dict[str, Decimal]) -> None:
    problems, seen = unpaid_or_paid_problems(crash, approved)
    assert problems == [], problems
    assert seen["lines"] == {accrual_id: 1 for accrual_id in approved}, \
        f"not every approved accrual is paid once: {seen['lines']}"
    paid = sum((Decimal(line["amount"]) for s in seen["shown"] for line in s["lines"]),
               Decimal(0))
    assert paid == sum(approved.values()) == Decimal("1701.23")


def assert_nothing_left_to_settle(crash: CrashHarness) -> None:
    again = settle(crash.api, PROGRAM, PERIOD)
    assert again["settlement"] is None
    assert [e["code"] for e in again["userErrors"]] == ["NOTHING_TO_SETTLE"], again


@pytest.mark.parametrize("point", SETTLE_POINTS)
def test_settle_retried_after_a_crash_pays_every_accrual_exactly_once(
        crash: CrashHarness, closed: dict[str, Decimal], point: str) -> None:
    crash.crash(point, lambda api: settle(api, PROGRAM, PERIOD))
    api = crash.restart()
    settle_answered(settle(api, PROGRAM, PERIOD))
    assert_paid_exactly_once(crash, closed)
    crash.past_recovery()  # the worker's recovery pass, after the retry, pays nothing again
    assert_paid_exactly_once(crash, closed)
    assert_nothing_left_to_settle(crash)
    assert_paid_exactly_once(crash, closed)


@pytest.mark.parametrize("point", SETTLE_POINTS)
def test_an_interrupted_settlement_is_finished_or_undone_by_the_worker_alone(
        crash: CrashHarness, closed: dict[str, Decimal], point: str) -> None:
    crash.crash(point, lambda api: settle(api, PROGRAM, PERIOD))
    api = crash.restart()
    eventually(lambda: unpaid_or_paid_problems(crash, closed)[0], lambda found: found == [],
               timeout=RECOVERY_BOUND,
               what="the worker to finish or undo the interrupted settlement")
    crash.past_recovery()
    settle_answered(settle(api, PROGRAM, PERIOD))  # finance settles later, as usual
    assert_paid_exactly_once(crash, closed)
    assert_nothing_left_to_settle(crash)


def rename_and_raise_the_tax(api: Any) -> None:
    """What changes between the crash and the retry: S1 renamed and moved, the program's tax
    rate doubled (Q1 is closed, so no accrual changes)."""
    dealer(api, "S1", name="S1 renamed", region="WEST")
    answer = api.gql("""mutation($input: ProgramInput!) { updateProgram(input: $input) {
        userErrors { code } } }""", {"input": program_input(
        PROGRAM, activate=None, taxRate="20", productCodes=[PROGRAM],
        terms=[{"tiers": [{"threshold": "0", "rate": "10"}]}])})["updateProgram"]
    assert answer["userErrors"] == [], answer


@pytest.mark.parametrize("point", SETTLE_POINTS)
def test_a_settlement_finished_after_a_crash_keeps_its_number_and_the_payees_it_began_with(
        crash: CrashHarness, closed: dict[str, Decimal], point: str) -> None:
    """Whoever finishes it (the retry or the worker, racing here), a settlement whose intent
    was written pays the dealers, and the tax, as they were when it began, under the number
    it took then. Killed before the intent, the number is lost (a gap, never a duplicate) and
    the retry is a new settlement of the dealers as they are now."""
    crash.crash(point, lambda api: settle(api, PROGRAM, PERIOD))
    intent = crash.db.settlements.find_one({"programCode": PROGRAM})
    assert (intent is None) == (point == "settle.after_number"), intent
    api = crash.restart()
    rename_and_raise_the_tax(api)
    settle_answered(settle(api, PROGRAM, PERIOD))
    assert_paid_exactly_once(crash, closed)
    [paid] = api.gql(PAID_TO, {"program": PROGRAM, "period": PERIOD})["settlements"]
    year = paid["createdAt"][:4]
    if intent is None:  # the number taken before the crash is skipped
        expected, name, region, rate = f"STL-{year}-000002", "S1 renamed", "WEST", "20"
    else:
        assert intent["number"] == f"STL-{year}-000001", intent
        expected, name, region, rate = intent["number"], "S1", None, "10"
    assert re.fullmatch(r"STL-\d{4}-\d{6}", paid["number"]) and paid["number"] == expected
    payees = {line["payee"]["dealerCode"]: line["payee"] for line in paid["lines"]}
    assert payees["S1"] == {"dealerCode": "S1", "name": name, "region": region,
                            "payoutForm": "CASH", "taxRate": rate}
    assert {p["taxRate"] for p in payees.values()} == {rate}
    taxes = {line["payee"]["dealerCode"]: Decimal(line["taxWithheld"]) for line in paid["lines"]}
    assert taxes["S1"] == NETS["S1"] * Decimal(rate) / 100
    crash.past_recovery()  # and the worker's pass after it changes none of that
    assert api.gql(PAID_TO, {"program": PROGRAM, "period": PERIOD})["settlements"] == [paid]
    assert crash.db.settlements.count_documents({"number": paid["number"]}) == 1


# ---- CREDIT_NOTE: the rebate accounts are credited exactly once (issue 11) ---------------
VALIDITY_DAYS = 90
ACCOUNTS = """query($code: String!) { dealer(code: $code) { rebateAccounts {
  currency balance reserved available
  entries(first: 50) { totalCount edges { node { kind amount balanceAfter settlementId
                                                 expiresOn } } } } } }"""


@pytest.fixture
def credit_closed(crash: CrashHarness, point: str) -> dict[str, Decimal]:
    """As `closed`, the program paying by CREDIT_NOTE, its credits valid for 90 days."""
    return close_armed(crash, point, payoutForm="CREDIT_NOTE",
                       creditValidityDays=VALIDITY_DAYS)


def credit_problems(crash: CrashHarness) -> list[str]:
    """What is wrong with the accounts now: each dealer holds exactly one CREDIT, of its
    line's payable, linked to the one shown settlement, expiring 90 days after it."""
    shown = crash.api.gql(SETTLEMENTS, {"program": PROGRAM, "period": PERIOD})["settlements"]
    if len(shown) != 1:
        return [f"{len(shown)} settlements shown"]
    [settlement] = shown
    settled_on = dt.date.fromisoformat(
        crash.api.gql(PAID_TO, {"program": PROGRAM, "period": PERIOD})
        ["settlements"][0]["createdAt"][:10])
    expires = (settled_on + dt.timedelta(days=VALIDITY_DAYS)).isoformat()
    problems = []
    for code, net in NETS.items():
        accounts = crash.api.gql(ACCOUNTS, {"code": code})["dealer"]["rebateAccounts"]
        entries = [edge["node"] for account in accounts
                   for edge in account["entries"]["edges"]]
        wanted = [{"kind": "CREDIT", "amount": str(net), "balanceAfter": str(net),
                   "settlementId": settlement["id"], "expiresOn": expires}]
        if entries != wanted:
            problems.append(f"{code}: entries {entries}, wanted {wanted}")
        elif [(a["currency"], a["balance"]) for a in accounts] != [("CNY", str(net))]:
            problems.append(f"{code}: accounts {accounts}")
    return problems


@pytest.mark.parametrize("point", CREDIT_POINTS)
def test_a_credit_note_settlement_retried_after_a_crash_credits_each_line_exactly_once(
        crash: CrashHarness, credit_closed: dict[str, Decimal], point: str) -> None:
    crash.crash(point, lambda api: settle(api, PROGRAM, PERIOD))
    api = crash.restart()
    settle_answered(settle(api, PROGRAM, PERIOD))
    assert credit_problems(crash) == []
    crash.past_recovery()  # the worker's pass after the retry credits nothing again
    assert credit_problems(crash) == []
    assert_nothing_left_to_settle(crash)
    assert credit_problems(crash) == []


@pytest.mark.parametrize("point", CREDIT_POINTS)
def test_a_credit_note_settlement_interrupted_is_credited_exactly_once_by_the_worker_alone(
        crash: CrashHarness, credit_closed: dict[str, Decimal], point: str) -> None:
    crash.crash(point, lambda api: settle(api, PROGRAM, PERIOD))
    crash.restart()
    eventually(lambda: credit_problems(crash), lambda found: found == [],
               timeout=RECOVERY_BOUND, what="the worker to finish the credits")
    crash.past_recovery()
    assert credit_problems(crash) == []
    assert_paid_exactly_once(crash, credit_closed)
