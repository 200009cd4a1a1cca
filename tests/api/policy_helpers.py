"""Targets, achievement tiers, immediate rebates and minimum payouts over the API (issue 10).

Expected figures in the tests using these helpers are worked out by hand with Decimal, the
way a finance user checks a statement, never with the service's own functions.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.api.engine_helpers import ACCRUAL_FIELDS, PROGRAM_FIELDS, program_input
from tests.conftest import Api

POLICY_PROGRAM_FIELDS = f"{PROGRAM_FIELDS} tierMeasure tierEvaluation minimumPayout"
TARGET_ACCRUAL_FIELDS = f"{ACCRUAL_FIELDS} target achievementPercent"
TARGET_FIELDS = "dealer { code } program { code } period amount"


def create(api: Api, code: str, role: str = "ADMIN", **overrides: Any) -> dict[str, Any]:
    """createProgram with the issue-10 fields in the answer."""
    return api.gql(f"""mutation($input: ProgramInput!) {{ createProgram(input: $input) {{
        program {{ {POLICY_PROGRAM_FIELDS} }} userErrors {{ field message code }} }} }}""",
                   {"input": program_input(code, **overrides)}, role=role)["createProgram"]


def created(api: Api, code: str, **overrides: Any) -> dict[str, Any]:
    result = create(api, code, **overrides)
    assert result["userErrors"] == [], result["userErrors"]
    return result["program"]


def set_targets(api: Api, program: str, rows: list[tuple[str, str, str]],
                role: str = "ADMIN", dealer: str | None = None) -> dict[str, Any]:
    """rows: (dealerCode, period, amount)."""
    return api.gql(f"""mutation($input: SetTargetsInput!) {{ setTargets(input: $input) {{
        targets {{ {TARGET_FIELDS} }} userErrors {{ field message code }} }} }}""",
                   {"input": {"programCode": program,
                              "targets": [{"dealerCode": d, "period": p, "amount": a}
                                          for d, p, a in rows]}},
                   role=role, dealer=dealer)["setTargets"]


def targets_set(api: Api, program: str, rows: list[tuple[str, str, str]],
                role: str = "ADMIN") -> None:
    result = set_targets(api, program, rows, role=role)
    assert result["userErrors"] == [], result["userErrors"]


def find(api: Api, program: str, dealer_code: str, period: str, role: str = "ADMIN",
         dealer: str | None = None) -> dict[str, Any] | None:
    """The accrual with target and achievement, or None when there is none (yet)."""
    data = api.gql(f"""query($f: AccrualFilter) {{ accruals(filter: $f) {{
        edges {{ node {{ {TARGET_ACCRUAL_FIELDS} }} }} }} }}""",
                   {"f": {"programCode": program, "dealerCode": dealer_code,
                          "period": period}}, role=role, dealer=dealer)
    edges = data["accruals"]["edges"]
    assert len(edges) <= 1, edges
    return edges[0]["node"] if edges else None


def accrual(api: Api, program: str, dealer_code: str, period: str) -> dict[str, Any]:
    found = find(api, program, dealer_code, period)
    assert found is not None, (program, dealer_code, period)
    return found


def run_period(api: Api, program: str, period: str) -> dict[str, Any]:
    result = api.gql(f"""mutation($input: RunAccrualsInput!) {{ runAccruals(input: $input) {{
        accruals {{ {TARGET_ACCRUAL_FIELDS} }} userErrors {{ field message code }} }} }}""",
                     {"input": {"programCode": program, "period": period}},
                     role="FINANCE")["runAccruals"]
    assert result["userErrors"] == [], result["userErrors"]
    return {a["dealer"]["code"]: a for a in result["accruals"]}


def trace(found: dict[str, Any]) -> str:
    return " | ".join(f"{s['label']}: {s['formula']}" for s in found["calculation"])


def money(value: Decimal) -> Decimal:
    """To the cent, half up: how finance rounds each figure once."""
    return value.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


def dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
