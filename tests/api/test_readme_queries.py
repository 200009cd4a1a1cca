"""Every GraphQL example in the README, and the ordinary CRM and portal queries, run on the
demo data of `make run` under the default limits, for every role that may use them."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, OperationType, parse

from service.config import Settings
from tests.api.test_limits_api import DEALER_PROGRAMS, ORDINARY
from tests.conftest import TEST_SECRET, Api, serving

README = Path(__file__).resolve().parents[2] / "README.md"
ROLES = [("DEALER", "D001"), ("SALES", None), ("FINANCE", None), ("ADMIN", None)]
# Values for required variables the README leaves to the reader.
DEMO_VARIABLES = {"code": "D001"}


def readme_operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(title, document, variables) of each operation in the README's ```graphql blocks.
    Operations are separated by blank lines; a `# variables: {...}` comment gives values."""
    text = README.read_text(encoding="utf-8")
    operations = []
    for block in re.findall(r"```graphql\n(.*?)```", text, re.S):
        for chunk in re.split(r"\n\s*\n", block):
            comments = [line.strip()[1:].strip() for line in chunk.splitlines()
                        if line.strip().startswith("#")]
            code = "\n".join(line for line in chunk.splitlines()
                             if not line.strip().startswith("#"))
            if not code.strip():
                continue
            joined = " ".join(comments)
            variables = json.loads(joined.split("variables:", 1)[1]) \
                if "variables:" in joined else {}
            title = comments[0] if comments else code.strip().splitlines()[0][:60]
            operations.append((title, code, variables))
    return operations


OPERATIONS = readme_operations()
QUOTED = [(name, query, {}) for name, (query, _) in ORDINARY.items()] + [
    ("dealer portal programs", DEALER_PROGRAMS, {}),
    ("issue 9: CRM programs", "{ programs { code name status basis terms { segment { code } "
                              "cap tiers { threshold rate } } } }", {})]


@pytest.fixture(scope="module")
def demo(mongo_uri: str, db_name: str, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Api]:
    """The service as `make run` starts it: demo data, default limits (no rate limit, as
    this module sends many requests with one token)."""
    settings = Settings(mongodb_uri=mongo_uri, database=db_name, jwt_secret=TEST_SECRET,
                        demo=True, data_dir=tmp_path_factory.mktemp("data"),
                        rate_limit_per_minute=0)
    with serving(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield Api(base_url=url, client=client, db_name=db_name)


def test_the_readme_has_the_examples_this_module_runs() -> None:
    titles = " | ".join(title for title, _, _ in OPERATIONS)
    assert len(OPERATIONS) >= 9, titles
    for expected in ("dealer card", "CRM sync", "recordScorecard", "alerts"):
        assert expected.lower() in titles.lower() or any(
            expected in code for _, code, _ in OPERATIONS), expected


def _variables(document: str, given: dict[str, Any]) -> dict[str, Any]:
    operation = next(d for d in parse(document).definitions
                     if isinstance(d, OperationDefinitionNode))
    names = [v.variable.name.value for v in operation.variable_definitions or ()]
    return {name: given.get(name, DEMO_VARIABLES.get(name)) for name in names}


def _payload_errors(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        return []
    found = list(data.get("userErrors") or [])
    for value in data.values():
        if isinstance(value, dict):
            found += _payload_errors(value)
    return found


@pytest.mark.parametrize(("title", "document", "given"), OPERATIONS + QUOTED,
                         ids=[t[:40] for t, _, _ in OPERATIONS + QUOTED])
def test_each_example_runs_on_the_demo_for_every_role_that_may(
        demo: Api, title: str, document: str, given: dict[str, Any]) -> None:
    variables = _variables(document, given)
    mutation = any(isinstance(d, OperationDefinitionNode) and d.operation is
                   OperationType.MUTATION for d in parse(document).definitions)
    allowed = []
    for role, dealer in ROLES:
        response = demo.post(document, variables, role=role, dealer=dealer)
        body = response.json()
        assert response.status_code == 200, (role, body)
        cost = body["extensions"]["cost"]
        assert cost["requested"] * 3 <= cost["limit"], (role, cost)
        codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
        if codes == {"FORBIDDEN"}:
            continue  # this role may not use it: refused as such, nothing else wrong
        assert not codes, (role, body["errors"])
        problems = _payload_errors(body["data"])
        # A mutation the README shows is stored by the first role that may send it; the
        # same call again from another role may only meet what the first one stored.
        assert all(p["code"] == "CONFLICT" for p in problems) if allowed and mutation \
            else not problems, (role, problems)
        allowed.append(role)
    assert "ADMIN" in allowed
    assert mutation or any(role in allowed for role in ("SALES", "FINANCE"))
