"""Period close, settlement, disputes and violations over the API."""
from __future__ import annotations

from typing import Any

from tests.api.engine_helpers import ACCRUAL_FIELDS
from tests.conftest import Api


def close(api: Api, program: str, period: str, role: str = "FINANCE") -> dict[str, Any]:
    return api.gql(f"""mutation($input: ClosePeriodInput!) {{ closePeriod(input: $input) {{
        accruals {{ {ACCRUAL_FIELDS} }} userErrors {{ field message code }} }} }}""",
                   {"input": {"programCode": program, "period": period}},
                   role=role)["closePeriod"]


def settle(api: Api, program: str, period: str, role: str = "FINANCE") -> dict[str, Any]:
    return api.gql("""mutation($input: SettleInput!) { settle(input: $input) {
        settlement { id period totalPayable createdAt program { code }
          lines { dealer { code } accrual { id status } amount taxWithheld payable form } }
        userErrors { field message code } } }""",
                   {"input": {"programCode": program, "period": period}}, role=role)["settle"]


def violation(api: Api, dealer_code: str, day: str, kind: str, percent: str | None = None,
              type_: str = "PRICE_DISRUPTION", role: str = "SALES") -> dict[str, Any]:
    penalty: dict[str, Any] = {"kind": kind}
    if percent is not None:
        penalty["percent"] = percent
    return api.gql("""mutation($input: ViolationInput!) { recordViolation(input: $input) {
        violation { id type occurredOn penalty { kind percent } dealer { code status } }
        userErrors { field message code } } }""",
                   {"input": {"dealerCode": dealer_code, "type": type_, "occurredOn": day,
                              "description": f"{type_.lower()} seen by the channel manager",
                              "penalty": penalty}}, role=role)["recordViolation"]


def accrual(api: Api, program: str, dealer: str, period: str) -> dict[str, Any]:
    data = api.gql(f"""query($f: AccrualFilter) {{ accruals(filter: $f) {{
        edges {{ node {{ {ACCRUAL_FIELDS} }} }} }} }}""",
                   {"f": {"programCode": program, "dealerCode": dealer, "period": period}})
    edges = data["accruals"]["edges"]
    assert len(edges) == 1, edges
    return edges[0]["node"]


def trace(found: dict[str, Any]) -> str:
    return " | ".join(f"{s['label']}: {s['formula']}" for s in found["calculation"])
