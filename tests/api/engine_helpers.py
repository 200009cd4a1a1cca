"""Building blocks for engine tests: programs, transactions and accruals over the API."""
from __future__ import annotations

import time
from typing import Any

from tests.conftest import Api

PROGRAM_FIELDS = """code name status version basis rateKind tierMode periodKind accumulation
  validFrom validTo currency productCodes payoutForm taxRate
  terms { segment { code } tiers { threshold rate } cap }"""
ACCRUAL_FIELDS = """id period basis cumulativeBasis rate grossAmount scoreMultiplier
  deductionAmount adjustmentAmount netAmount status programVersion computedAt
  calculation { label formula amount } dealer { code } program { code version }"""


def program_input(code: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "code": code, "name": f"Program {code}", "basis": "SALES_AMOUNT",
        "rateKind": "PERCENT", "tierMode": "RETROACTIVE", "periodKind": "QUARTER",
        "accumulation": "PER_PERIOD", "validFrom": "2026-01-01", "validTo": "2026-12-31",
        "currency": "CNY", "payoutForm": "CASH", "taxRate": "10",
        "terms": [{"tiers": [{"threshold": "0", "rate": "1"}]}], "activate": True,
    }
    values.update(overrides)
    return values


def create_program(api: Api, code: str, role: str = "ADMIN", **overrides: Any) -> dict[str, Any]:
    return api.gql(f"""mutation($input: ProgramInput!) {{ createProgram(input: $input) {{
        program {{ {PROGRAM_FIELDS} }} userErrors {{ field message code }} }} }}""",
                   {"input": program_input(code, **overrides)}, role=role)["createProgram"]


def dealer(api: Api, code: str, **fields: Any) -> None:
    result = api.gql("""mutation($input: DealerInput!) { upsertDealer(input: $input) {
        userErrors { field message } } }""", {"input": {"code": code, "name": code, **fields}})
    assert result["upsertDealer"]["userErrors"] == []


def row(external_id: str, dealer_code: str, kind: str, date: str, amount: str,
        **extra: Any) -> dict[str, Any]:
    return {"externalId": external_id, "dealerCode": dealer_code, "kind": kind, "date": date,
            "amount": amount, "currency": extra.pop("currency", "CNY"), **extra}


def record(api: Api, rows: list[dict[str, Any]], role: str = "SERVICE") -> dict[str, Any]:
    return api.gql("""mutation($input: RecordTransactionsInput!) {
        recordTransactions(input: $input) {
          accepted duplicates errors { index externalId message code } } }""",
                   {"input": {"transactions": rows}}, role=role)["recordTransactions"]


def run(api: Api, program: str, period: str, role: str = "FINANCE") -> dict[str, Any]:
    return api.gql(f"""mutation($input: RunAccrualsInput!) {{ runAccruals(input: $input) {{
        accruals {{ {ACCRUAL_FIELDS} }} userErrors {{ field message code }} }} }}""",
                   {"input": {"programCode": program, "period": period}},
                   role=role)["runAccruals"]


def accruals(api: Api, role: str = "ADMIN", dealer_scope: str | None = None,
             **filters: Any) -> list[dict[str, Any]]:
    data = api.gql(f"""query($filter: AccrualFilter) {{ accruals(filter: $filter, first: 100) {{
        totalCount edges {{ node {{ {ACCRUAL_FIELDS} }} }} }} }}""", {"filter": filters},
                   role=role, dealer=dealer_scope)
    return [e["node"] for e in data["accruals"]["edges"]]


def by_dealer(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["dealer"]["code"]: a for a in found}


def wait_for(predicate: Any, timeout: float = 10.0) -> float:
    """Poll until predicate() is truthy; returns the seconds it took."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        assert time.monotonic() - start < timeout, "not reached in time"
        time.sleep(0.1)


def settled(api: Api) -> None:
    """Wait until the worker has caught up with everything recorded so far."""
    wait_for(lambda: api.gql("{ accrualBacklog }")["accrualBacklog"] == 0)
