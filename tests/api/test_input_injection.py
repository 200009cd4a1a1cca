"""No input ever reaches MongoDB as an operator (issue 5, "Input hygiene").

Every String and ID a client can send — each argument of every query and mutation, each
field of their input objects (through lists and nested inputs), and the arguments of nested
fields — is introspected, and each gets MongoDB-operator-shaped strings (`{"$gt": ""}`,
`$where`, `$regex`, dotted paths), a NUL byte after a real code and a very long string.
Each answer is compared with the same request carrying a harmless unknown value: never a
5xx, never more data. As objects (where a JSON variable could smuggle `{"$gt": ""}` in),
the GraphQL layer must refuse them before any resolver runs. Finally the database is read
directly: no `$` key, no NUL, no huge string, no malformed code stored, and a bystander
dealer is untouched.
"""
from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient

from domain.codes import CODE_PATTERN
from schema.relay import to_global_id
from service.config import Settings
from tests.api.control_helpers import close
from tests.api.engine_helpers import create_program, dealer, record, row, settled
from tests.conftest import Api

HARMLESS = "zz-harmless-unknown"
PAYLOADS = [
    '{"$gt": ""}',
    '{"$ne": null}',
    '{"$where": "function() { return true; }"}',
    '{"$regex": ".*"}',
    "$where",
    "a.b.$[]",
    "INJ-D\u0000x",  # a real code, then NUL: must not be cut to "INJ-D"
    "' || '1'=='1",
    "x" * 100_000,
]
OBJECT_PAYLOADS: list[Any] = [{"$gt": ""}, [{"$ne": None}]]
TYPE_REF = "kind name ofType { kind name ofType { kind name ofType { kind name } } }"
INTROSPECTION = f"""{{ __schema {{ queryType {{ name }} mutationType {{ name }}
  subscriptionType {{ name }}
  types {{ kind name enumValues {{ name }}
    fields {{ name args {{ name defaultValue type {{ {TYPE_REF} }} }} type {{ {TYPE_REF} }} }}
    inputFields {{ name defaultValue type {{ {TYPE_REF} }} }} }} }} }}"""


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """Over a thousand requests with two tokens: no rate limit here."""
    if "rate_limit_per_minute" in Settings.model_fields:
        return settings.model_copy(update={"rate_limit_per_minute": 0})
    return settings


# ---- the schema, introspected ------------------------------------------------------------

class SchemaModel:
    def __init__(self, api: Api) -> None:
        data = api.gql(INTROSPECTION)["__schema"]
        self.types: dict[str, dict[str, Any]] = {t["name"]: t for t in data["types"]}
        self.query = data["queryType"]["name"]
        self.mutation = data["mutationType"]["name"]
        # its arguments are probed over WebSocket (tests/api/test_subscriptions_dealer_probes.py)
        self.subscription = (data.get("subscriptionType") or {}).get("name")

    @staticmethod
    def named(ref: dict[str, Any]) -> dict[str, Any]:
        while ref["kind"] in ("NON_NULL", "LIST"):
            ref = ref["ofType"]
        return ref

    @staticmethod
    def text(ref: dict[str, Any]) -> str:
        if ref["kind"] == "NON_NULL":
            return SchemaModel.text(ref["ofType"]) + "!"
        if ref["kind"] == "LIST":
            return f"[{SchemaModel.text(ref['ofType'])}]"
        return str(ref["name"])

    def slots(self, ref: dict[str, Any], path: tuple[Any, ...],
              seen: frozenset[str] = frozenset()) -> Iterator[tuple[Any, ...]]:
        """Paths to every String/ID under a type (list positions as 0)."""
        if ref["kind"] == "NON_NULL":
            yield from self.slots(ref["ofType"], path, seen)
        elif ref["kind"] == "LIST":
            yield from self.slots(ref["ofType"], (*path, 0), seen)
        elif ref["kind"] == "SCALAR" and ref["name"] in ("String", "ID"):
            yield path
        elif ref["kind"] == "INPUT_OBJECT" and ref["name"] not in seen:
            for field in self.types[ref["name"]]["inputFields"]:
                yield from self.slots(field["type"], (*path, field["name"]),
                                      seen | {ref["name"]})

    def selection(self, ref: dict[str, Any]) -> str:
        """A small selection that shows whether anything was found."""
        named = self.named(ref)
        if named["kind"] in ("SCALAR", "ENUM"):
            return ""
        fields = {f["name"]: f for f in self.types[named["name"]]["fields"] or []}
        if "edges" in fields:
            edge = self.types[self.named(fields["edges"]["type"])["name"]]
            [node] = [f for f in edge["fields"] if f["name"] == "node"]
            shown = "id" if any(f["name"] == "id" for f in
                                self.types[self.named(node["type"])["name"]]["fields"]) \
                else "__typename"
            return f"{{ totalCount edges {{ node {{ {shown} }} }} }}"
        if "id" in fields:
            return "{ __typename id }"
        plain = [name for name, f in fields.items() if not f["args"]
                 and self.named(f["type"])["kind"] in ("SCALAR", "ENUM")]
        return "{ __typename " + " ".join(plain[:4]) + " }"


# ---- values: valid everywhere but the slot under test ------------------------------------

COUNTER = itertools.count(1)
CODE_BY_OWNER = {"dealer": "INJ-D", "segment": "INJ-S", "program": "INJ-P",
                 "scorecardTemplate": "INJ-T", "KpiInput": "K"}
STRINGS = {"dealerCode": "INJ-D", "programCode": "INJ-P", "period": "2026-Q4",
           "templateCode": "INJ-T", "segmentCode": "INJ-S", "kpiCode": "K", "currency": "CNY",
           "entityType": "Dealer", "entityId": "INJ-D"}
DECIMALS = {"weight": "100", "threshold": "0", "minScore": "0"}
DATES = {"validFrom": "2026-01-01", "validTo": "2026-12-31", "joinedOn": "2020-01-01"}
ENUMS = {"PenaltyKind": "FORFEIT_PERIOD"}  # applies without a percent


@dataclass
class Builder:
    model: SchemaModel
    ids: dict[str, str]  # ID arguments: real objects of the dataset

    def value(self, ref: dict[str, Any], owner: str, name: str, path: tuple[Any, ...] | None,
              payload: Any) -> Any:
        if path == ():
            return payload
        if ref["kind"] == "NON_NULL":
            return self.value(ref["ofType"], owner, name, path, payload)
        if ref["kind"] == "LIST":
            return [self.value(ref["ofType"], owner, name, path[1:] if path else None,
                               payload)]
        kind, type_name = ref["kind"], ref["name"]
        if kind == "INPUT_OBJECT":
            built = {}
            for field in self.model.types[type_name]["inputFields"]:
                on_path = path is not None and path[0] == field["name"]
                required = field["type"]["kind"] == "NON_NULL" and field["defaultValue"] is None
                if on_path or required:
                    built[field["name"]] = self.value(field["type"], type_name, field["name"],
                                                      path[1:] if on_path and path else None,
                                                      payload)
            return built
        if kind == "ENUM":
            return ENUMS.get(type_name, self.model.types[type_name]["enumValues"][0]["name"])
        return self.scalar(type_name, owner, name)

    def scalar(self, type_name: str, owner: str, name: str) -> Any:
        n = next(COUNTER)
        if type_name == "ID":
            return self.ids.get(name, to_global_id("Dispute", str(ObjectId())))
        if type_name == "String":
            if name == "code":
                return CODE_BY_OWNER.get(owner, f"INJ-N{n}")
            if name == "externalId":
                return f"inj-{n}"
            return STRINGS.get(name, "probe text")
        if type_name == "Int":
            return 20_000 + n if name == "priority" else 5 if name == "first" else 1
        if type_name == "Decimal":
            return DECIMALS.get(name, "1")
        if type_name == "Date":
            return DATES.get(name, "2026-10-01")
        if type_name == "Boolean":
            return False
        if type_name == "JSON":
            return {}
        raise AssertionError(f"no sample value for scalar {type_name}")


@dataclass(frozen=True)
class Slot:
    """One String/ID a client can send, and how to send a value in it."""

    operation: str  # query | mutation
    field: str
    path: tuple[Any, ...]
    document: str
    arguments: tuple[tuple[str, dict[str, Any]], ...]  # (name, type ref) of the variables

    def variables(self, builder: Builder, payload: Any) -> dict[str, Any]:
        found = {}
        for name, ref in self.arguments:
            on_path = self.path[0] == name
            found[name] = builder.value(ref, self.field, name,
                                        self.path[1:] if on_path else None, payload)
        return found

    def __str__(self) -> str:
        return ".".join(str(p) for p in (self.field, *self.path))


# Arguments of nested fields, reached from an object of the dataset (checked to be complete).
NESTED = {
    ("Dealer", "accruals"): 'dealer(code: "INJ-D")',
    ("Dealer", "scorecards"): 'dealer(code: "INJ-D")',
    ("Dealer", "targets"): 'dealer(code: "INJ-D")',
    ("RebateAccount", "entries"): 'dealer(code: "INJ-D") { rebateAccounts',
    ("Segment", "dealers"): 'segment(code: "INJ-S")',
}
# ... and of nested fields only a mutation's payload has (a simulation is never stored)
NESTED_IN_MUTATIONS = {
    ("ProgramSimulation", "dealers"): (
        'simulateProgram(input: {periods: ["2026-Q4"], program: {code: "INJ-P", name: "p", '
        'basis: SALES_AMOUNT, rateKind: PERCENT, tierMode: RETROACTIVE, periodKind: QUARTER, '
        'accumulation: PER_PERIOD, validFrom: "2026-01-01", validTo: "2026-12-31", '
        'currency: "CNY", payoutForm: CASH, terms: [{tiers: [{threshold: "0", rate: "1"}]}]}})'
        ' { simulation'),
}


def all_slots(model: SchemaModel) -> list[Slot]:
    found: list[Slot] = []
    for operation, root in (("query", model.query), ("mutation", model.mutation)):
        for field in model.types[root]["fields"]:
            found.extend(_field_slots(model, operation, field, None))
    for operation, nested in (("query", NESTED), ("mutation", NESTED_IN_MUTATIONS)):
        for (type_name, field_name), parent in nested.items():
            [field] = [f for f in model.types[type_name]["fields"] if f["name"] == field_name]
            found.extend(_field_slots(model, operation, field, parent))
    return found


def _field_slots(model: SchemaModel, operation: str, field: dict[str, Any],
                 parent: str | None) -> Iterator[Slot]:
    for arg in field["args"]:
        for path in model.slots(arg["type"], (arg["name"],)):
            # the variables: the argument on the path and every required one
            used = [a for a in field["args"] if a["name"] == arg["name"]
                    or (a["type"]["kind"] == "NON_NULL" and a["defaultValue"] is None)]
            declared = ", ".join(f"${a['name']}: {model.text(a['type'])}" for a in used)
            passed = ", ".join(f"{a['name']}: ${a['name']}" for a in used)
            inner = f"{field['name']}({passed}) {model.selection(field['type'])}"
            # a parent may open selections of its own ("dealer(...) { rebateAccounts"): close them
            body = f"{parent} {{ {inner} }}" + " }" * (parent.count("{") - parent.count("}")) \
                if parent else inner
            yield Slot(operation, field["name"], path,
                       f"{operation}({declared}) {{ {body} }}",
                       tuple((a["name"], a["type"]) for a in used))


# ---- the dataset -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model(api: Api) -> SchemaModel:
    return SchemaModel(api)


@pytest.fixture(scope="module")
def builder(api: Api, model: SchemaModel) -> Builder:
    dealer(api, "INJ-D", region="NORTH")
    dealer(api, "D-SAFE", region="SAFE-R", channel="KA")
    segment = api.gql("""mutation { upsertSegment(input: {code: "INJ-S", name: "Injected",
        priority: 19999, rule: {regions: ["NORTH"]}}) { userErrors { message } } }""")
    assert segment["upsertSegment"]["userErrors"] == []
    template = api.gql("""mutation { createScorecardTemplate(input: {code: "INJ-T", name: "T",
        kpis: [{code: "K", name: "K", weight: "100", target: "1",
                direction: HIGHER_IS_BETTER}], bands: [{minScore: "0", multiplier: "1"}]}) {
        userErrors { message } } }""")
    assert template["createScorecardTemplate"]["userErrors"] == []
    assert create_program(api, "INJ-P")["userErrors"] == []
    assert record(api, [row(f"inj-base-{code}-{month}", code, "INVOICE", f"2026-{month}-10",
                            "1000", region="SOUTH")
                        for code in ("INJ-D", "D-SAFE") for month in ("02", "10")]
                  )["errors"] == []
    settled(api)
    assert close(api, "INJ-P", "2026-Q1")["userErrors"] == []
    data = api.gql("""{ dealer(code: "INJ-D") { id accruals { edges { node { id period } } } }
        alerts { edges { node { id dealer { code } } } } }""")
    [q1] = [e["node"]["id"] for e in data["dealer"]["accruals"]["edges"]
            if e["node"]["period"] == "2026-Q1"]
    [alert] = [e["node"]["id"] for e in data["alerts"]["edges"]
               if e["node"]["dealer"]["code"] == "INJ-D"]
    opened = api.gql('mutation($id: ID!) { openDispute(input: {accrualId: $id, reason: "r"}) '
                     '{ dispute { id } userErrors { message } } }', {"id": q1})["openDispute"]
    assert opened["userErrors"] == []
    return Builder(model, {"id": data["dealer"]["id"], "accrualId": q1, "alertId": alert,
                           "disputeId": opened["dispute"]["id"]})


def bystander(api: Api) -> Any:
    """What no request of this module aims at: D-SAFE, its figures in INJ-P, the program.
    (The harmless value is a valid code: the probes create and activate a program by it.)"""
    return api.gql("""{ dealer(code: "D-SAFE") { name region channel status segments { code }
        accruals(programCode: "INJ-P") { totalCount edges { node { id status netAmount } } }
        scorecards { id }
        violations { id } }
      program(code: "INJ-P") { version status terms { tiers { rate } } }
      segment(code: "INJ-S") { name priority rule { regions } dealerCodes } }""")


@pytest.fixture(scope="module")
def untouched(api: Api, builder: Builder) -> Any:
    return bystander(api)


# ---- the probes --------------------------------------------------------------------------

def send(api: Api, slot: Slot, variables: dict[str, Any], role: str) -> dict[str, Any]:
    response = api.post(slot.document, variables, role=role,
                        dealer="INJ-D" if role == "DEALER" else None)
    assert response.status_code < 500, (str(slot), response.status_code, response.text[:500])
    body: dict[str, Any] = response.json()
    codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]
    assert "INTERNAL" not in codes, (str(slot), body)
    return body


def leaves(data: Any, echo: str) -> Counter[str]:
    """Every value in `data`, the echoed value itself replaced by a placeholder."""
    found: Counter[str] = Counter()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            found[json.dumps(value, ensure_ascii=False).replace(echo, "<V>")] += 1
    walk(data)
    return found


def test_every_nested_argument_is_probed(model: SchemaModel) -> None:
    roots = {model.query, model.mutation, model.subscription}
    with_strings = {(t["name"], f["name"]) for t in model.types.values()
                    if t["kind"] == "OBJECT" and t["name"] not in roots
                    and not t["name"].startswith("__")
                    for f in t["fields"] or []
                    if any(next(model.slots(a["type"], ()), None) is not None
                           for a in f["args"])}
    assert with_strings == set(NESTED) | set(NESTED_IN_MUTATIONS), \
        "a nested field takes a String: add it to NESTED"


def test_the_probe_covers_every_root_argument(model: SchemaModel) -> None:
    slots = all_slots(model)
    assert len(slots) >= 80
    roots = {f["name"] for f in model.types[model.mutation]["fields"]}
    fields = {s.field for s in slots if s.operation == "mutation"} & roots
    # every mutation takes strings somewhere, except refreshSegments (no arguments)
    assert fields == roots - {"refreshSegments"}


@pytest.mark.parametrize("role", ["ADMIN", "DEALER"])
def test_operator_shaped_strings_in_queries_find_nothing_more(
        api: Api, model: SchemaModel, builder: Builder, untouched: Any, role: str) -> None:
    for slot in (s for s in all_slots(model) if s.operation == "query"):
        baseline = send(api, slot, slot.variables(builder, HARMLESS), role)
        expected = leaves(baseline.get("data"), HARMLESS)
        for payload in PAYLOADS:
            body = send(api, slot, slot.variables(builder, payload), role)
            found = leaves(body.get("data"), payload)
            assert not found - expected, (str(slot), payload[:40], body, baseline)


def test_operator_shaped_strings_in_mutations_change_nothing_they_should_not(
        api: Api, model: SchemaModel, builder: Builder, untouched: Any) -> None:
    for slot in (s for s in all_slots(model) if s.operation == "mutation"):
        send(api, slot, slot.variables(builder, HARMLESS), "ADMIN")
        for payload in PAYLOADS:
            send(api, slot, slot.variables(builder, payload), "ADMIN")
    settled(api)
    assert bystander(api) == untouched


def test_operator_objects_are_refused_by_the_graphql_layer(
        api: Api, model: SchemaModel, builder: Builder, untouched: Any) -> None:
    for slot in all_slots(model):
        for payload in OBJECT_PAYLOADS:
            body = send(api, slot, slot.variables(builder, payload), "ADMIN")
            assert body.get("data") is None and body["errors"], (str(slot), body)
            message = body["errors"][0]["message"]
            assert "cannot represent" in message.lower() or "expected" in message.lower(), \
                (str(slot), message)
    assert bystander(api) == untouched


def test_inline_object_literals_are_refused_before_execution(api: Api,
                                                             model: SchemaModel) -> None:
    """`$gt` cannot even be spelled as a GraphQL name; an object literal where a String goes
    is a validation error."""
    for field in model.types[model.query]["fields"]:
        for arg in field["args"]:
            if model.named(arg["type"])["name"] not in ("String", "ID"):
                continue
            document = (f'{{ {field["name"]}({arg["name"]}: {{gt: ""}}) '
                        f'{model.selection(field["type"])} }}')
            response = api.post(document)
            assert response.status_code < 500
            body = response.json()
            assert body.get("data") is None and body["errors"], (document, body)
    response = api.post('{ dealer(code: {$gt: ""}) { id } }')
    assert response.status_code < 500 and response.json()["errors"]


def test_json_attributes_refuse_operator_keys(api: Api) -> None:
    """`attributes` is the one place a client sends an object: no `$` keys, no dotted keys."""
    for attributes in ({"$gt": ""}, {"a.b": 1}, {"crm": {"$where": "1"}},
                       {"list": [{"$ne": None}]}):
        result = api.gql("""mutation($a: JSON) { upsertDealer(input: {code: "INJ-ATTR",
            name: "a", attributes: $a}) { dealer { code } userErrors { field code } } }""",
                         {"a": attributes})["upsertDealer"]
        assert result["dealer"] is None and result["userErrors"], (attributes, result)
    assert api.gql('{ dealer(code: "INJ-ATTR") { code } }')["dealer"] is None


def test_nothing_operator_shaped_or_oversized_was_stored(api: Api, settings: Settings,
                                                        builder: Builder) -> None:
    """Read every stored document: what the probes left must be plain, bounded data."""
    stored = api.gql("""mutation { upsertDealer(input: {code: "INJ-TEXT",
        name: "{\\"$gt\\": \\"\\"}"}) { userErrors { message } } }""")
    assert stored["upsertDealer"]["userErrors"] == []
    problems: list[str] = []

    def walk(where: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key.startswith("$") or "\x00" in key:
                    problems.append(f"{where}: key {key!r}")
                walk(f"{where}.{key}", item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(f"{where}[{index}]", item)
        elif isinstance(value, str):
            if "\x00" in value:
                problems.append(f"{where}: NUL in {value[:40]!r}")
            if len(value) > 5000:
                problems.append(f"{where}: {len(value)} characters")

    with MongoClient(settings.mongodb_uri) as client:
        database = client[settings.database]
        for name in database.list_collection_names():
            for doc in database[name].find():
                walk(f"{name}/{doc.get('_id')}", doc)
        for name in ("dealers", "segments", "programs", "scorecard_templates"):
            for doc in database[name].find({}, {"code": 1}):
                if not CODE_PATTERN.fullmatch(doc["code"]) or len(doc["code"]) > 64:
                    problems.append(f"{name}: code {doc['code'][:40]!r}")
        stored_names = {d["name"] for d in database.dealers.find({}, {"name": 1})}
    assert not problems, problems[:20]
    # operator-shaped text is fine as text: stored as the plain string it was
    assert '{"$gt": ""}' in stored_names


def test_the_service_is_healthy_after_the_probes(api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/readyz").status_code == 200
    assert re.fullmatch(r"\d+", str(api.gql("{ accrualBacklog }")["accrualBacklog"]))
