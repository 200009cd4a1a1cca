"""Every connection pages both ways, as a CRM list view does: forward with first/after, back
with last/before, items always in the list's own order, pageInfo saying what is really there."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from service.config import Settings
from tests.api.engine_helpers import create_program, dealer, record, row, settled
from tests.conftest import Api

CODES = [f"PG{n:02d}" for n in range(1, 8)]
PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
ARGUMENTS = "first: $first, after: $after, last: $last, before: $before"
VARIABLES = "$first: Int, $after: String, $last: Int, $before: String"


@dataclass(frozen=True)
class Connection:
    """A query for one page of a connection, and where the connection is in its answer."""
    document: str
    path: tuple[str, ...]

    def __call__(self, api: Api, variables: dict[str, Any]) -> dict[str, Any]:
        found = api.gql(self.document, variables)
        for step in self.path:
            found = found[step]
        return dict(found)


def _connection(document: str, *path: str) -> Connection:
    return Connection(document, path)


CONNECTIONS: dict[str, Connection] = {
    "dealers": _connection(f"""query({VARIABLES}) {{ dealers(segmentCode: "PGSEG", {ARGUMENTS}) {{
        totalCount {PAGE_INFO} edges {{ cursor node {{ key: code }} }} }} }}""", "dealers"),
    "Segment.dealers": _connection(f"""query({VARIABLES}) {{ segment(code: "PGSEG") {{
        dealers({ARGUMENTS}) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ key: code }} }} }}
        }} }}""", "segment", "dealers"),
    "accruals": _connection(f"""query({VARIABLES}) {{ accruals(filter: {{programCode: "PGPROG"}},
        {ARGUMENTS}) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ key: id period
        dealer {{ code }} }} }} }} }}""", "accruals"),
    "Dealer.accruals": _connection(f"""query({VARIABLES}) {{ dealer(code: "PG03") {{
        accruals(programCode: "PGPROG", {ARGUMENTS}) {{ totalCount {PAGE_INFO}
        edges {{ cursor node {{ key: id period }} }} }} }} }}""", "dealer", "accruals"),
    "auditEvents": _connection(f"""query({VARIABLES}) {{ auditEvents(entityType: "Dealer",
        {ARGUMENTS}) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ key: id }} }} }} }}""",
                               "auditEvents"),
    "alerts": _connection(f"""query({VARIABLES}) {{ alerts({ARGUMENTS}) {{ totalCount {PAGE_INFO}
        edges {{ cursor node {{ key: id }} }} }} }}""", "alerts"),
}
MINIMUM = {"dealers": 7, "Segment.dealers": 7, "accruals": 8, "Dealer.accruals": 3,
           "auditEvents": 7, "alerts": 4}


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """Walking every connection page by page sends hundreds of requests with one token."""
    return settings.model_copy(update={"rate_limit_per_minute": 0})


@pytest.fixture(scope="module", autouse=True)
def dataset(api: Api) -> None:
    for code in CODES:
        dealer(api, code, region="PGR")
    result = api.gql('mutation { upsertSegment(input: {code: "PGSEG", name: "Paging", '
                     'priority: 70, rule: {regions: ["PGR"]}}) { userErrors { message } } }')
    assert result["upsertSegment"]["userErrors"] == []
    assert create_program(api, "PGPROG")["userErrors"] == []
    # PG03 and PG06 sell in three quarters, PG02 and PG05 in two, the others in one
    rows = [row(f"pg-{code}-{month}", code, "INVOICE", f"2026-{month:02d}-10", "1000")
            for index, code in enumerate(CODES) for month in (2, 5, 8)[:1 + index % 3]]
    assert record(api, rows)["errors"] == []
    for number, code in enumerate(CODES[:4]):  # goods reported far away: one alert each
        assert record(api, [row(f"pg-away-{number}", code, "INVOICE", "2026-06-01", "5",
                                region="ELSEWHERE")])["errors"] == []
    settled(api)


def _everything(api: Api, name: str) -> list[dict[str, Any]]:
    found = CONNECTIONS[name](api, {"first": 100})
    assert not found["pageInfo"]["hasNextPage"] and not found["pageInfo"]["hasPreviousPage"]
    edges: list[dict[str, Any]] = found["edges"]
    assert found["totalCount"] == len(edges) >= MINIMUM[name]
    return edges


def _walk(api: Api, name: str, size: int, *, backward: bool) -> list[dict[str, Any]]:
    edges: list[dict[str, Any]] = []
    cursor = None
    for number in range(100):
        variables = {"last": size, "before": cursor} if backward \
            else {"first": size, "after": cursor}
        page = CONNECTIONS[name](api, variables)
        info = page["pageInfo"]
        edges = page["edges"] + edges if backward else edges + page["edges"]
        if page["edges"]:
            assert (info["startCursor"], info["endCursor"]) == \
                (page["edges"][0]["cursor"], page["edges"][-1]["cursor"])
        further, behind = (info["hasPreviousPage"], info["hasNextPage"]) if backward \
            else (info["hasNextPage"], info["hasPreviousPage"])
        assert behind is (number > 0)
        if not further:
            return edges
        cursor = info["startCursor"] if backward else info["endCursor"]
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("name", sorted(CONNECTIONS))
@pytest.mark.parametrize("size", [1, 3])
def test_paging_backward_visits_every_item_once_in_the_order_forward_does(
        api: Api, name: str, size: int) -> None:
    everything = [e["node"] for e in _everything(api, name)]
    assert [e["node"] for e in _walk(api, name, size, backward=False)] == everything
    assert [e["node"] for e in _walk(api, name, size, backward=True)] == everything


@pytest.mark.parametrize("name", sorted(CONNECTIONS))
def test_the_last_items_come_in_the_list_s_order_with_the_page_info_of_the_end(
        api: Api, name: str) -> None:
    everything = _everything(api, name)
    page = CONNECTIONS[name](api, {"last": 2})
    assert page["edges"] == everything[-2:]
    assert page["pageInfo"]["hasPreviousPage"] and not page["pageInfo"]["hasNextPage"]
    assert page["totalCount"] == len(everything)
    # the page before the last two, from the start cursor
    before = CONNECTIONS[name](api, {"last": 2, "before": page["pageInfo"]["startCursor"]})
    assert before["edges"] == everything[-4:-2]
    assert before["pageInfo"]["hasNextPage"]
    assert before["pageInfo"]["hasPreviousPage"] is (len(everything) > 4)
    # the first item, asked backward: nothing before it
    first = CONNECTIONS[name](api, {"last": 5, "before": everything[1]["cursor"]})
    assert first["edges"] == everything[:1]
    assert not first["pageInfo"]["hasPreviousPage"] and first["pageInfo"]["hasNextPage"]


@pytest.mark.parametrize("name", sorted(CONNECTIONS))
def test_after_and_before_together_page_the_window_between_them(api: Api, name: str) -> None:
    everything = _everything(api, name)
    after, before = everything[0]["cursor"], everything[-1]["cursor"]
    forward = CONNECTIONS[name](api, {"first": 2, "after": after, "before": before})
    assert forward["edges"] == everything[1:-1][:2]
    backward = CONNECTIONS[name](api, {"last": 2, "after": after, "before": before})
    assert backward["edges"] == everything[1:-1][-2:]
    for page in (forward, backward):
        assert page["pageInfo"]["hasPreviousPage"] and page["pageInfo"]["hasNextPage"]
    whole = CONNECTIONS[name](api, {"first": 100, "after": after, "before": before})
    assert whole["edges"] == everything[1:-1]


def test_accruals_come_by_period_then_dealer_code_both_ways(api: Api) -> None:
    nodes = [e["node"] for e in _everything(api, "accruals")]
    order = [(n["period"], n["dealer"]["code"]) for n in nodes]
    assert order == sorted(order)
    backward = [e["node"] for e in _walk(api, "accruals", 2, backward=True)]
    assert backward == nodes


def test_a_dealer_pages_backward_through_its_own_accruals_only(api: Api) -> None:
    query = """query($last: Int, $before: String) { accruals(last: $last, before: $before) {
        totalCount pageInfo { hasPreviousPage } edges { node { dealer { code } } } } }"""
    own = api.gql(query, {"last": 100}, role="DEALER", dealer="PG03")["accruals"]
    assert own["totalCount"] == 3 and not own["pageInfo"]["hasPreviousPage"]
    assert {e["node"]["dealer"]["code"] for e in own["edges"]} == {"PG03"}
    everyone = api.gql(query, {"last": 100})["accruals"]
    assert everyone["totalCount"] > own["totalCount"]


@pytest.mark.parametrize("name", sorted(CONNECTIONS))
@pytest.mark.parametrize(("variables", "argument", "fragment"), [
    ({"last": 2, "before": "not-a-cursor!"}, "before", "not a valid cursor"),
    ({"before": "ZGVhbGVyOg"}, "before", "not a cursor of this list"),  # "dealer:" and no key
    ({"first": 2, "last": 2}, "last", "cannot be combined with `first`"),
    ({"last": 101}, "last", "exceeds the limit of 100"),
    ({"last": -1}, "last", "must not be negative"),
])
def test_bad_backward_arguments_are_refused_naming_the_argument(
        api: Api, name: str, variables: dict[str, Any], argument: str, fragment: str) -> None:
    body = api.post(CONNECTIONS[name].document, variables).json()
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, error
    assert error["message"].startswith(f"{argument}: ") and fragment in error["message"]


def test_a_cursor_of_another_list_is_refused_as_before(api: Api) -> None:
    dealer_cursor = _everything(api, "dealers")[0]["cursor"]
    for name in ("accruals", "Dealer.accruals", "auditEvents", "alerts"):
        body = api.post(CONNECTIONS[name].document, {"last": 2, "before": dealer_cursor}).json()
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT",
                                                   "argument": "before"}, name


def test_last_costs_what_first_costs(api: Api) -> None:
    def cost(size_argument: str) -> int:
        body = api.post(f"""{{ dealers({size_argument}: 30) {{ edges {{ node {{
            accruals({size_argument}: 10) {{ edges {{ node {{ id }} }} }} }} }} }} }}""").json()
        return int(body["extensions"]["cost"]["requested"])
    assert cost("last") == cost("first") > 300
