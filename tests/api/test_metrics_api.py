"""/metrics: Prometheus text for GraphQL traffic, the accrual backlog and its lag, the
database round trip and the process; for loopback clients or holders of the metrics token."""
from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pymongo import MongoClient
from pymongo.collection import Collection
from starlette.applications import Starlette
from starlette.requests import Request

from service.config import Settings
from service.metrics import MAX_OPERATION_NAMES, Operation, ServiceMetrics, metrics_endpoint
from tests.api.engine_helpers import create_program, dealer, record, row, settled, wait_for
from tests.conftest import Api, serving

FAMILIES = {"rebates_graphql_requests", "rebates_graphql_request_duration_seconds",
            "rebates_accrual_backlog", "rebates_accrual_lag_seconds", "rebates_database_up",
            "rebates_database_ping_seconds", "process_cpu_seconds",
            "process_resident_memory_bytes", "python_info"}


class Scrape:
    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[Sample] = [sample for family in text_string_to_metric_families(text)
                                      for sample in family.samples]
        self.families = {family.name for family in text_string_to_metric_families(text)}

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of that name whose labels include these (0 if none)."""
        return sum(s.value for s in self.samples if s.name == name
                   and all(s.labels.get(k) == v for k, v in labels.items()))


def scrape(client: httpx.Client, **headers: str) -> Scrape:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


def requests(api: Api, **labels: str) -> float:
    return scrape(api.client).value("rebates_graphql_requests_total", **labels)


def test_metrics_are_prometheus_text_with_every_named_family(api: Api) -> None:
    api.gql("query Warmup { __typename }")
    found = scrape(api.client)
    assert found.families >= FAMILIES, FAMILIES - found.families


def test_a_named_query_counts_as_ok_under_its_name_and_in_the_latency_histogram(
        api: Api) -> None:
    ok = {"operation": "DealerCount", "type": "query", "outcome": "ok", "status": "2xx"}
    before = scrape(api.client)
    api.gql("query DealerCount { dealers { totalCount } }")
    after = scrape(api.client)
    assert after.value("rebates_graphql_requests_total", **ok) == \
        before.value("rebates_graphql_requests_total", **ok) + 1
    count = "rebates_graphql_request_duration_seconds_count"
    assert after.value(count, type="query") == before.value(count, type="query") + 1
    assert after.value("rebates_graphql_request_duration_seconds_bucket", type="query",
                       le="+Inf") == after.value(count, type="query")


def test_an_error_counts_as_an_error_and_a_refusal_as_refused(api: Api) -> None:
    broken = {"operation": "Broken", "type": "query", "outcome": "error", "status": "2xx"}
    before = requests(api, **broken)
    response = api.post("query Broken { noSuchField }")
    assert response.status_code == 200 and response.json()["errors"]
    assert requests(api, **broken) == before + 1

    refused = {"operation": "(none)", "outcome": "refused", "status": "4xx"}
    before = requests(api, **refused)
    assert api.post("query Secret { dealers { totalCount } }", role=None).status_code == 401
    assert requests(api, **refused) == before + 1
    assert requests(api, operation="Secret") == 0  # a refused request names nothing

    before = requests(api, operation="(none)", outcome="refused")
    unknown = api.client.post("/graphql", headers={"authorization": f"Bearer {api.token()}"},
                              json={"query": "query A { __typename } query B { __typename }",
                                    "operationName": "Missing"})
    assert unknown.json()["errors"]  # a request error, whatever its status
    assert requests(api, operation="(none)", outcome="refused") == before + 1


def test_anonymous_operations_and_mutations_are_labelled_so(api: Api) -> None:
    anonymous = {"operation": "(anonymous)", "type": "query", "outcome": "ok"}
    mutation = {"operation": "AddDealer", "type": "mutation", "outcome": "ok"}
    before = requests(api, **anonymous), requests(api, **mutation)
    api.gql("{ __typename }")
    api.gql('mutation AddDealer { upsertDealer(input: {code: "MET1", name: "m"}) '
            "{ userErrors { code } } }")
    assert (requests(api, **anonymous), requests(api, **mutation)) == \
        (before[0] + 1, before[1] + 1)


def test_operation_names_are_capped_and_the_rest_count_as_other() -> None:
    metrics = ServiceMetrics()
    for i in range(MAX_OPERATION_NAMES + 50):
        metrics.observe(Operation(run=True, name=f"Op{i}", type="query"), 200, 0.01)
    metrics.observe(Operation(run=True, name="Not a GraphQL name!", type="query"), 200, 0.01)
    found = Scrape(_exposition(metrics))
    names = {s.labels["operation"] for s in found.samples
             if s.name == "rebates_graphql_requests_total"}
    assert len(names) == MAX_OPERATION_NAMES + 1 and "(other)" in names
    assert found.value("rebates_graphql_requests_total", operation="(other)") == 51


def _exposition(metrics: ServiceMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_the_database_ping_is_measured_at_each_scrape(api: Api) -> None:
    found = scrape(api.client)
    assert found.value("rebates_database_up") == 1
    ping = found.value("rebates_database_ping_seconds")
    assert 0 < ping < 2, ping


@pytest.fixture()
def accrual_jobs(api: Api, settings: Settings) -> Iterator[Collection[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]]
    with MongoClient(settings.mongodb_uri) as client:
        yield client[settings.database]["accrual_jobs"]


def test_backlog_and_lag_follow_pending_work_a_stalled_worker_holds(
        api: Api, accrual_jobs: Collection[dict[str, Any]]) -> None:
    assert create_program(api, "MXP")["userErrors"] == []
    dealer(api, "MX01", region="EAST")
    settled(api)
    assert scrape(api.client).value("rebates_accrual_backlog") == 0
    assert scrape(api.client).value("rebates_accrual_lag_seconds") == 0
    # another worker leased this dealer's job and stopped answering: marks pile up behind it
    accrual_jobs.update_one({"dealerCode": "MX01", "programCode": "MXP"}, {"$set": {
        "owner": "stalled-worker", "leaseUntil": dt.datetime(2099, 1, 1, tzinfo=dt.UTC)}},
        upsert=True)
    assert record(api, [row("mx-1", "MX01", "INVOICE", "2026-11-05", "1000")])["accepted"] == 1
    time.sleep(1.2)
    found = scrape(api.client)
    assert found.value("rebates_accrual_backlog") == 1
    assert api.gql("{ accrualBacklog }")["accrualBacklog"] == 1
    assert found.value("rebates_accrual_lag_seconds") >= 1.0
    assert "MX01" not in found.text and "MXP" not in found.text  # no data in labels
    later = scrape(api.client).value("rebates_accrual_lag_seconds")
    assert later > found.value("rebates_accrual_lag_seconds")  # the lag grows while stuck

    accrual_jobs.update_one({"dealerCode": "MX01"}, {"$set": {"leaseUntil": None}})  # expired
    wait_for(lambda: scrape(api.client).value("rebates_accrual_backlog") == 0)
    assert scrape(api.client).value("rebates_accrual_lag_seconds") == 0


def test_with_a_metrics_token_only_its_bearer_may_scrape(settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics_token": "scrape-" + "m" * 24})
    with serving(guarded) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        found = scrape(client, authorization="Bearer scrape-" + "m" * 24)
        assert found.value("rebates_database_up") == 1


async def test_without_a_token_clients_off_the_loopback_interface_are_refused(
        settings: Settings) -> None:
    app = Starlette()
    app.state.deps = SimpleNamespace(settings=settings)
    app.state.metrics = ServiceMetrics()
    response = await metrics_endpoint(Request({
        "type": "http", "method": "GET", "path": "/metrics", "headers": [], "app": app,
        "client": ("10.1.2.3", 4321)}))
    assert response.status_code == 403
    assert b"REBATES_METRICS_TOKEN" in response.body


async def test_a_database_out_of_reach_reads_as_down_not_as_stale_figures() -> None:
    metrics = ServiceMetrics()

    class Down:
        async def ping(self) -> bool:
            return False

    deps = SimpleNamespace(db=Down(), now=lambda: dt.datetime.now(dt.UTC))
    await metrics.refresh(deps)  # type: ignore[arg-type]
    found = Scrape(_exposition(metrics))
    assert found.value("rebates_database_up") == 0
    assert math.isnan(found.value("rebates_database_ping_seconds"))
    assert math.isnan(found.value("rebates_accrual_backlog"))
