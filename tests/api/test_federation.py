"""The service as an Apollo Federation v2 subgraph (SPEC §8): `Dealer` is an entity keyed by
`code`, resolved through `_entities` with the caller's scope, and `_service { sdl }` composes
into a CRM's supergraph.

The gateway test uses the npm packages a CRM team would (tests/js/gateway.mjs: a stand-in CRM
subgraph with @apollo/subgraph and @apollo/server, @apollo/composition, @apollo/gateway),
pinned in package.json and installed by `npm ci`, which `make test` runs."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from schema import build_schema, schema
from schema.limits import Limits
from service.config import Settings
from tests.api.engine_helpers import create_program, dealer, record, row, settled
from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "tests" / "js" / "gateway.mjs"
NODE = shutil.which("node")
A, B, NOBODY = "FED-A", "FED-B", "FED-ZZ"
STAFF = ["ADMIN", "FINANCE", "SALES", "SERVICE"]
ENTITIES = """query($representations: [_Any!]!) { _entities(representations: $representations) {
  __typename ... on Dealer { code name accruals(first: 4) { totalCount
    edges { node { period netAmount } } } } } }"""
ACCRUALS = """query($code: String!) { dealer(code: $code) {
  accruals(first: 4) { edges { node { period netAmount } } } } }"""


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_per_minute": 0})


@pytest.fixture(scope="module", autouse=True)
def dataset(api: Api) -> None:
    """Two dealers with sales in every quarter of 2026: four accruals each, with figures that
    tell them apart (1 % of 10,000 × n for A, of 7,000 × n for B)."""
    dealer(api, A, region="NORTH")
    dealer(api, B, region="SOUTH")
    assert create_program(api, "FED-P")["userErrors"] == []
    rows = [row(f"fed-{code}-{month}", code, "INVOICE", f"2026-{month:02d}-15",
                str(base * month))
            for code, base in ((A, 10_000), (B, 7_000)) for month in (2, 5, 8, 11)]
    assert record(api, rows)["errors"] == []
    settled(api)


def reference(code: Any) -> dict[str, Any]:
    return {"__typename": "Dealer", "code": code}


def entities(api: Api, representations: list[Any], role: str = "ADMIN",
             dealer_scope: str | None = None) -> dict[str, Any]:
    response = api.post(ENTITIES, {"representations": representations}, role=role,
                        dealer=dealer_scope)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def own_accruals(api: Api, code: str, role: str = "ADMIN",
                 dealer_scope: str | None = None) -> list[dict[str, str]]:
    data = api.gql(ACCRUALS, {"code": code}, role=role, dealer=dealer_scope)
    return [edge["node"] for edge in data["dealer"]["accruals"]["edges"]]


# ---- the subgraph SDL --------------------------------------------------------------------

def test_the_subgraph_sdl_links_federation_2_and_keys_dealer_by_code(api: Api) -> None:
    sdl = api.gql("{ _service { sdl } }")["_service"]["sdl"]
    assert sdl.startswith('schema @link(url: "https://specs.apollo.dev/federation/v2.0", '
                          'import: ["@key"])')
    assert 'type Dealer implements Node @key(fields: "code") {' in sdl
    assert "union _Entity = Dealer" in sdl


def test_schema_graphql_is_the_subgraph_sdl_after_the_directive_definitions(api: Api) -> None:
    sdl = api.gql("{ _service { sdl } }")["_service"]["sdl"]
    exported = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    definitions, _, rest = exported.partition("\n\nschema @link(")
    assert "schema @link(" + rest.strip() == sdl.strip()
    assert definitions.startswith("directive @link(") and "directive @key(" in definitions


def test_the_sdl_is_refused_like_introspection_when_introspection_is_off() -> None:
    closed = build_schema(Limits(introspection=False))
    result = closed.execute_sync("{ _service { sdl } }")
    assert result.data is None and result.errors
    assert "_service" in result.errors[0].message
    assert schema.execute_sync("{ _service { sdl } }").errors is None


# ---- _entities, per role -----------------------------------------------------------------

@pytest.mark.parametrize("role", STAFF)
def test_staff_resolve_any_dealer_and_null_for_one_that_does_not_exist(api: Api,
                                                                     role: str) -> None:
    body = entities(api, [reference(A), reference(NOBODY), reference(B)], role=role)
    assert "errors" not in body, body
    found = body["data"]["_entities"]
    assert [e and e["code"] for e in found] == [A, None, B]
    assert [e["node"] for e in found[0]["accruals"]["edges"]] == own_accruals(api, A)
    assert found[0]["accruals"]["totalCount"] == 4


def test_a_dealer_resolves_itself_and_null_for_another_exactly_like_nobody(api: Api) -> None:
    mine = entities(api, [reference(A)], role="DEALER", dealer_scope=A)
    assert "errors" not in mine, mine
    [entity] = mine["data"]["_entities"]
    assert entity["code"] == A
    assert [e["node"] for e in entity["accruals"]["edges"]] == \
        own_accruals(api, A, role="DEALER", dealer_scope=A)
    other = entities(api, [reference(B)], role="DEALER", dealer_scope=A)
    nobody = entities(api, [reference(NOBODY)], role="DEALER", dealer_scope=A)
    assert other == nobody == {"data": {"_entities": [None]},
                               "extensions": other.get("extensions")}
    assert B not in json.dumps(other)


def test_a_dealer_gets_null_for_every_spelling_of_another_dealers_code(api: Api) -> None:
    for code in (B, f" {B} ", B.lower(), f"{B}\u0000"):
        body = entities(api, [reference(code)], role="DEALER", dealer_scope=A)
        assert body["data"] == {"_entities": [None]}, (code, body)


def test_representations_that_are_not_ours_are_bad_input_one_by_one(api: Api) -> None:
    body = entities(api, [reference(A), {"__typename": "Account", "id": "1"},
                          {"__typename": "Dealer"}, {"__typename": "Dealer", "code": 7},
                          {"__typename": "Dealer", "code": A, "name": "x"}, "Dealer",
                          {"code": A}, {"__typename": "Accrual", "id": "x"}])
    found = body["data"]["_entities"]
    assert found[0]["code"] == A and found[1:] == [None] * 7
    errors = sorted((e["path"][1], e["extensions"]["code"]) for e in body["errors"])
    assert errors == [(index, "BAD_USER_INPUT") for index in range(1, 8)]


# ---- through a gateway, with the CRM team's own packages -----------------------------------

@pytest.fixture(scope="module")
def gateway(api: Api) -> dict[str, Any]:
    if NODE is None:
        pytest.skip("node is not installed: the gateway test runs on Node.js 18 or later")
    if not (ROOT / "node_modules" / "@apollo" / "gateway").is_dir():
        if shutil.which("npm") is None:
            pytest.skip("@apollo/gateway is not installed and npm is not there to install it")
        pytest.fail("node_modules/@apollo/gateway is missing: run `npm ci` (make test does)")
    admin, dealer_a = api.token("ADMIN"), api.token("DEALER", A)
    plan = {
        "rebates": f"{api.base_url}/graphql", "sdlToken": admin,
        "accounts": [{"id": "ACC-A", "name": "Alpha Ltd", "dealer": A},
                     {"id": "ACC-B", "name": "Bravo Ltd", "dealer": B},
                     {"id": "ACC-N", "name": "Not a dealer", "dealer": None},
                     {"id": "ACC-Z", "name": "Zulu Ltd", "dealer": NOBODY}],
        "calls": [{"label": "admin", "token": admin, "account": "ACC-A"},
                  {"label": "admin", "token": admin, "account": "ACC-B"},
                  {"label": "admin", "token": admin, "account": "ACC-N"},
                  {"label": "dealer", "token": dealer_a, "account": "ACC-A"},
                  {"label": "dealer", "token": dealer_a, "account": "ACC-B"},
                  {"label": "dealer", "token": dealer_a, "account": "ACC-Z"}],
    }
    done = subprocess.run(  # noqa: S603 - our script, our arguments
        [NODE, str(GATEWAY)], cwd=ROOT, input=json.dumps(plan), capture_output=True,
        text=True, timeout=120, check=False, env={**os.environ, "NODE_ENV": "test"})
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    print(json.dumps(report, ensure_ascii=False))
    return report


def answer(report: dict[str, Any], label: str, account: str) -> dict[str, Any]:
    [found] = [r for r in report["results"] if (r["label"], r["account"]) == (label, account)]
    assert found["status"] == 200, found
    body: dict[str, Any] = found["body"]
    return body


def accruals_of(body: dict[str, Any]) -> list[dict[str, str]]:
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["account"]["dealer"]["accruals"]["edges"]]


def test_the_supergraph_composes_with_dealer_an_entity_of_ours(gateway: dict[str, Any]) -> None:
    assert gateway["composition"] == {"dealerIsAnEntityOfRebates": True, "hints": []}


def test_staff_see_each_accounts_rebates_through_the_gateway(api: Api,
                                                             gateway: dict[str, Any]) -> None:
    for account, code in (("ACC-A", A), ("ACC-B", B)):
        body = answer(gateway, "admin", account)
        assert body["data"]["account"]["name"] == {"ACC-A": "Alpha Ltd",
                                                   "ACC-B": "Bravo Ltd"}[account]
        figures = accruals_of(body)
        assert figures == own_accruals(api, code)
        assert [f["period"] for f in figures] == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert accruals_of(answer(gateway, "admin", "ACC-A"))[0]["netAmount"] == "200.00"
    not_a_dealer = answer(gateway, "admin", "ACC-N")
    assert not_a_dealer == {"data": {"account": {"name": "Not a dealer", "dealer": None}}}


def test_a_dealer_token_is_forwarded_and_scopes_what_the_gateway_returns(
        api: Api, gateway: dict[str, Any]) -> None:
    own = answer(gateway, "dealer", "ACC-A")
    assert accruals_of(own) == own_accruals(api, A, role="DEALER", dealer_scope=A)
    other = answer(gateway, "dealer", "ACC-B")
    assert other["data"]["account"] == {"name": "Bravo Ltd", "dealer": None}, other
    assert B not in json.dumps(other) and "0.00" not in json.dumps(other)
    # exactly what a reference to a dealer that does not exist gets
    nobody = answer(gateway, "dealer", "ACC-Z")
    assert json.dumps(other).replace("Bravo", "Zulu") == json.dumps(nobody)
    assert answer(gateway, "admin", "ACC-B") != other  # the control: staff see D-B
