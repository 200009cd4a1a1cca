"""A DEALER probing for another dealer's data through the live updates (SPEC §5, §8).

D-A's token may follow D-A only. Asking for D-B is refused exactly as asking for a code that
does not exist, so not even D-B's existence is confirmed; and whatever D-A is pushed — when
D-B's accruals change in the same batch, when D-A follows everything — holds nothing of D-B.
The subscription root is introspected: a new subscription fails here until it is probed.
"""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gql import Client, GraphQLRequest

from tests.api.engine_helpers import create_program, dealer, record, row
from tests.api.subscription_helpers import bearer, in_thread, refusal, subscribed, transport
from tests.conftest import Api

A, B, NOBODY = "SA", "SB", "SZZ"
PROGRAM, B_ONLY = "SUB-PROBE", "SUB-B-ONLY"
B_NAME = "Bravo Subscribed Secret"
PROBED = {"accrualUpdates"}


@pytest.fixture(scope="module", autouse=True)
def dataset(api: Api) -> None:
    dealer(api, A, channel="RETAIL")
    dealer(api, B, channel="KA", name=B_NAME, region="WEST-BRAVO")
    segment = api.gql("""mutation($input: SegmentInput!) { upsertSegment(input: $input) {
        userErrors { field message } } }""", {"input": {
        "code": "SUB-SEG-B", "name": "only B", "priority": 71, "rule": {"channels": ["KA"]}}})
    assert segment["upsertSegment"]["userErrors"] == []
    assert create_program(api, PROGRAM, productCodes=["SP"])["userErrors"] == []
    assert create_program(api, B_ONLY, productCodes=["SP"], terms=[
        {"segmentCode": "SUB-SEG-B", "tiers": [{"threshold": "0", "rate": "5"}]}],
    )["userErrors"] == []


def sale(external_id: str, dealer_code: str, amount: str) -> dict[str, Any]:
    return row(external_id, dealer_code, "INVOICE", "2026-11-12", amount, productCode="SP",
               quantity="1")


def test_every_subscription_is_probed(api: Api) -> None:
    fields = api.gql("{ __schema { subscriptionType { fields { name } } } }")
    assert {f["name"] for f in fields["__schema"]["subscriptionType"]["fields"]} == PROBED


@pytest.mark.parametrize("code", [B, NOBODY, "sb", f" {B} ", "", "*", '{"$ne": null}'])
async def test_another_dealers_code_is_refused_exactly_like_an_unknown_one(
        api: Api, code: str) -> None:
    errors = await refusal(api.base_url, bearer(api, "DEALER", A), {"dealer": code})
    unknown = await refusal(api.base_url, bearer(api, "DEALER", A), {"dealer": NOBODY})
    assert errors == unknown
    assert len(errors) == 1
    assert errors[0]["message"] == "a DEALER may subscribe only to its own accruals"
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert B not in str(errors) or code.strip() == B  # only what it sent comes back


async def test_a_program_is_not_confirmed_to_a_dealer_either(api: Api) -> None:
    """A program D-A cannot see, or one that does not exist: both subscribe, both silent."""
    for program in (B_ONLY, "SUB-ZZ-NONE"):
        async with subscribed(api.base_url, bearer(api, "DEALER", A),
                              {"program": program}) as pushes:
            await in_thread(record, api, [sale(f"sp-{program}", B, "10")])
            assert await pushes.quiet(1.0) == []


async def test_a_batch_of_both_dealers_pushes_only_its_own(api: Api) -> None:
    async with subscribed(api.base_url, bearer(api, "DEALER", A)) as pushes:
        await in_thread(record, api, [sale("sp-a-1", A, "100"), sale("sp-b-1", B, "98765")])
        own = await pushes.until(lambda a: a["program"]["code"] == PROGRAM)
        assert own.accrual["dealer"]["code"] == A
        later = await pushes.quiet(1.5)
        seen = [p.accrual for p in [*pushes.seen, *later]]
        assert {a["dealer"]["code"] for a in seen} == {A}
        assert B not in str(seen) and B_NAME not in str(seen) and "98765" not in str(seen)


async def test_nested_fields_of_a_push_carry_nothing_of_the_other_dealer(api: Api) -> None:
    query = """subscription { accrualUpdates {
        id netAmount dealer { code name segments { code } }
        program { code terms { segment { code } tiers { threshold rate } } } } }"""
    client = Client(transport=transport(api.base_url, bearer(api, "DEALER", A)),
                    fetch_schema_from_transport=False)
    async with client as session:
        got: list[dict[str, Any]] = []

        async def consume() -> None:
            async for result in session.subscribe(GraphQLRequest(query)):
                got.append(result["accrualUpdates"])

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.5)
        await in_thread(record, api, [sale("sp-a-2", A, "7"), sale("sp-b-2", B, "31337")])
        await asyncio.sleep(2.0)
        task.cancel()
    assert got and all(a["dealer"]["code"] == A for a in got)
    assert "SUB-SEG-B" not in str(got) and B_NAME not in str(got) and "31337" not in str(got)


async def test_a_dealer_token_naming_itself_is_accepted(api: Api) -> None:
    async with subscribed(api.base_url, bearer(api, "DEALER", A), {"dealer": A}) as pushes:
        await in_thread(record, api, [sale("sp-a-3", A, "1")])
        push = await pushes.until(lambda a: a["program"]["code"] == PROGRAM)
        assert push.accrual["dealer"]["code"] == A


async def test_staff_are_told_when_a_dealer_does_not_exist(api: Api) -> None:
    errors = await refusal(api.base_url, bearer(api, "SALES"), {"dealer": NOBODY})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert NOBODY in errors[0]["message"]
