"""Webhooks as a CRM receives them: the real service (uvicorn, lifespan, worker) driven over
GraphQL, posting to a real HTTP receiver with two endpoints, one of which fails its first
attempts (500s and a timeout). Every event arrives at both, signed, with ids that do not
change across retries, saying what the API says — and only about its own dealer."""
from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from service.config import Settings
from service.repositories.outbox import endpoint_key
from tests.api.account_helpers import account, caught_up, reserve
from tests.api.control_helpers import accrual, close, settle
from tests.api.engine_helpers import create_program, dealer, record, row
from tests.api.webhook_helpers import Received, Receiver, receiving, wait_until
from tests.conftest import TEST_SECRET, Api

SECRET = "whsec-api-" + "q" * 30
PROGRAM, PERIOD = "HOOKS", "2026-Q1"
# Two dealers whose codes never appear inside each other's data.
DA, DB = "HKA7", "HKB3"
TIERS = [{"threshold": "0", "rate": "1"}, {"threshold": "10000", "rate": "2"}]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving(hang_seconds=3.0) as found:
        found.script("/flaky", 500, "hang", 502, 500)
        yield found


@pytest.fixture(scope="module")
def settings(mongo_uri: str, db_name: str, tmp_path_factory: pytest.TempPathFactory,
             receiver: Receiver) -> Settings:
    return Settings(mongodb_uri=mongo_uri, database=db_name, jwt_secret=TEST_SECRET,
                    demo=False, data_dir=tmp_path_factory.mktemp("data"),
                    webhook_urls=[receiver.url("/crm"), receiver.url("/flaky")],
                    webhook_secret=SECRET, webhook_timeout_seconds=1.0,
                    webhook_backoff_seconds=0.2, webhook_backoff_max_seconds=1.0,
                    webhook_poll_seconds=0.1)


def local_id(global_id: str) -> str:
    """The stored id behind a Relay global ID ("Accrual:<id>", base64url)."""
    raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    return raw.split(":", 1)[1]


def events_of(receiver: Receiver, path: str = "/crm") -> dict[str, dict[str, Any]]:
    return {r.event_id: r.event for r in receiver.accepted(path)}


def of_type(receiver: Receiver, kind: str, dealer_code: str) -> list[dict[str, Any]]:
    return sorted((e for e in events_of(receiver).values()
                   if e["type"] == kind and e["data"]["dealerCode"] == dealer_code),
                  key=lambda e: e["occurredAt"])


@pytest.fixture(scope="module")
def story(api: Api, receiver: Receiver) -> dict[str, Any]:
    """Sales reach a tier, goods turn up in another region, the quarter is settled as credit
    notes and a dealer reserves some of it for an order: what the API says about each."""
    dealer(api, DA, region="EAST")
    dealer(api, DB, region="EAST")
    assert create_program(api, PROGRAM, payoutForm="CREDIT_NOTE",
                          terms=[{"tiers": TIERS}])["userErrors"] == []
    assert record(api, [row("hk-1", DA, "INVOICE", "2026-02-01", "6000"),
                        row("hk-2", DB, "INVOICE", "2026-02-01", "3000")])["errors"] == []
    caught_up(api)
    assert record(api, [row("hk-3", DA, "INVOICE", "2026-02-03", "5000"),
                        row("hk-4", DB, "INVOICE", "2026-02-04", "100",
                            region="WEST")])["errors"] == []
    caught_up(api)
    open_figures = {code: accrual(api, PROGRAM, code, PERIOD) for code in (DA, DB)}
    assert close(api, PROGRAM, PERIOD)["userErrors"] == []
    settled = settle(api, PROGRAM, PERIOD)
    assert settled["userErrors"] == [], settled["userErrors"]
    reserved = reserve(api, DA, "HK-ORDER-1", "50.00", order_amount="1000")
    assert reserved["userErrors"] == [], reserved["userErrors"]
    wanted = {("accrual.tier_reached", DA): 2, ("accrual.tier_reached", DB): 1,
              ("alert.raised", DB): 1, ("settlement.created", DA): 1,
              ("settlement.created", DB): 1, ("rebate_account.changed", DA): 2,
              ("rebate_account.changed", DB): 1}

    def arrived(path: str) -> bool:
        counted: dict[tuple[str, str], int] = defaultdict(int)
        for found in events_of(receiver, path).values():
            counted[found["type"], found["data"]["dealerCode"]] += 1
        return dict(counted) == wanted
    wait_until(lambda: arrived("/crm"), what="every event at /crm")
    wait_until(lambda: arrived("/flaky"), what="every event at /flaky")
    return {"accruals": open_figures, "settlement": settled["settlement"],
            "accounts": {code: account(api, code) for code in (DA, DB)}}


def test_every_event_reaches_every_endpoint_once_accepted(story: dict[str, Any],
                                                          receiver: Receiver) -> None:
    crm, flaky = receiver.accepted_ids("/crm"), receiver.accepted_ids("/flaky")
    assert sorted(crm) == sorted(flaky) and len(crm) == 9
    assert len(set(crm)) == len(crm)  # nothing accepted twice (no process died here)


def test_every_request_is_signed_and_names_its_event(story: dict[str, Any],
                                                     receiver: Receiver) -> None:
    for got in receiver.requests():
        assert got.verified(SECRET), got
        assert not got.verified("another-secret-of-the-crm"), got
        assert got.event["id"] == got.event_id
        assert got.headers["x-rebates-event-type"] == got.event["type"]
        assert list(got.event) == ["id", "type", "occurredAt", "data"]


def test_a_failing_endpoint_gets_the_same_event_again_later(story: dict[str, Any],
                                                            receiver: Receiver) -> None:
    tries: dict[str, list[Received]] = defaultdict(list)
    for got in receiver.requests("/flaky"):
        tries[got.event_id].append(got)
    retried = {event_id: got for event_id, got in tries.items() if len(got) > 1}
    assert sum(len(got) - 1 for got in retried.values()) == 4  # 500, timeout, 502, 500
    for got in retried.values():
        assert len({r.body for r in got}) == 1  # the same id, the same bytes
        assert got[-1].answer == 200
    assert not any(len(got) > 1 for got in [*tries.values()]
                   if got[0].answer == 200)  # accepted at once: sent once


def test_tier_events_follow_the_accrual_up_its_tiers(story: dict[str, Any],
                                                     receiver: Receiver) -> None:
    first, second = of_type(receiver, "accrual.tier_reached", DA)
    assert (first["data"]["previousRate"], first["data"]["rate"]) == ("0", "1")
    assert (second["data"]["previousRate"], second["data"]["rate"]) == ("1", "2")
    shown = story["accruals"][DA]  # as the API showed it before the close
    assert second["data"]["accrualId"] == local_id(shown["id"])
    assert second["data"]["status"] == shown["status"] == "OPEN"
    for name in ("basis", "cumulativeBasis", "grossAmount", "netAmount"):
        assert Decimal(second["data"][name]) == Decimal(shown[name]), name
    assert (second["data"]["programCode"], second["data"]["period"]) == (PROGRAM, PERIOD)
    assert second["data"]["currency"] == "CNY" and Decimal(second["data"]["basis"]) == 11000
    [only] = of_type(receiver, "accrual.tier_reached", DB)
    assert (only["data"]["rate"], only["data"]["basis"]) == ("1", "3000")


def test_the_alert_event_names_the_rows_in_another_region(story: dict[str, Any],
                                                          receiver: Receiver) -> None:
    [raised] = of_type(receiver, "alert.raised", DB)
    data = raised["data"]
    assert data["kind"] == "CROSS_REGION" and data["alertId"].startswith(f"CROSS_REGION:{DB}:")
    assert data["details"]["externalIds"] == ["hk-4"] and data["details"]["regions"] == ["WEST"]
    assert raised["id"] == f"alert.raised:{data['alertId']}"


def test_settlement_and_account_events_carry_the_apis_figures(story: dict[str, Any],
                                                              receiver: Receiver) -> None:
    lines = {line["dealer"]["code"]: line for line in story["settlement"]["lines"]}
    for code in (DA, DB):
        [created] = of_type(receiver, "settlement.created", code)
        data = created["data"]
        assert (data["payable"], data["amount"], data["taxWithheld"]) == (
            lines[code]["payable"], lines[code]["amount"], lines[code]["taxWithheld"])
        assert data["payoutForm"] == "CREDIT_NOTE" and data["currency"] == "CNY"
        assert data["settlementNumber"].startswith("STL-")
    credit, reservation = of_type(receiver, "rebate_account.changed", DA)
    assert (credit["data"]["kind"], credit["data"]["amount"]) == ("CREDIT", lines[DA]["payable"])
    assert reservation["data"]["kind"] == "RESERVE"
    assert reservation["data"]["orderId"] == "HK-ORDER-1"
    after = story["accounts"][DA]
    assert Decimal(reservation["data"]["balanceAfter"]) == Decimal(after["balance"])
    assert Decimal(reservation["data"]["reservedAfter"]) == Decimal(after["reserved"]) == 50


def test_a_dealers_events_never_contain_another_dealers_data(story: dict[str, Any],
                                                             receiver: Receiver) -> None:
    """DEALER safety: a CRM may forward an event to the dealer's own portal as it is."""
    mine = {DA: {DA, "hk-1", "hk-3", "HK-ORDER-1"}, DB: {DB, "hk-2", "hk-4"}}
    for got in receiver.requests():
        owner = got.event["data"]["dealerCode"]
        other = DB if owner == DA else DA
        text = got.body.decode()
        for foreign in mine[other]:
            assert foreign not in text, (owner, foreign, text)


def test_metrics_show_nothing_waiting_and_nothing_dead(story: dict[str, Any], api: Api,
                                                       receiver: Receiver) -> None:
    text = api.client.get("/metrics").text
    for path in ("/crm", "/flaky"):
        key = endpoint_key(receiver.url(path))
        for state in ("PENDING", "DEAD"):
            line = f'rebates_webhook_deliveries{{endpoint="{key}",state="{state}"}} 0.0'
            assert line in text, (line, [x for x in text.splitlines() if "webhook" in x])
    assert receiver.url("/crm") not in text  # endpoints are keys, never URLs


def test_the_body_is_json_a_receiver_can_parse_as_sent(story: dict[str, Any],
                                                       receiver: Receiver) -> None:
    for got in receiver.accepted("/crm"):
        assert json.loads(got.body.decode("utf-8")) == got.event
