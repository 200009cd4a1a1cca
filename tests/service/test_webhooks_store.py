"""Webhooks against the real server and a real HTTP receiver: the outbox, leases, retries with
backoff, giving up, one endpoint never holding up another, and notices turned into events."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from domain.accrual import AccrualFigures
from domain.alerts import AlertDraft, AlertKind
from domain.net import AccrualStatus
from domain.periods import parse_period
from domain.text import Text
from service.deps import Deps
from service.repositories import accrual_writes, outbox
from service.repositories import alerts as alert_repo
from service.repositories import rebate_accounts as account_repo
from service.repositories.accruals import ComputedAccrual
from service.repositories.outbox import Event
from service.usecases import events
from service.webhooks import WebhookDeliverer
from tests.api.webhook_helpers import Receiver, receiving

D = Decimal
SECRET = "whsec-test-" + "k" * 24
TIMEOUT = 0.5
BASE = 0.4


@pytest.fixture(scope="module")
async def indexed(deps: Deps) -> Deps:
    await outbox.ensure_indexes(deps.db)
    return deps


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving(hang_seconds=TIMEOUT * 3) as found:
        yield found


def hooked(deps: Deps, *urls: str, **overrides: Any) -> Deps:
    settings = deps.settings.model_copy(update={
        "webhook_urls": list(urls), "webhook_secret": SECRET,
        "webhook_timeout_seconds": TIMEOUT, "webhook_backoff_seconds": BASE,
        "webhook_backoff_max_seconds": 10.0, "webhook_max_attempts": 6,
        "webhook_poll_seconds": 0.05, "webhook_concurrency": 2, **overrides})
    return Deps(db=deps.db, settings=settings, clock=deps.clock)


def sample(name: str, dealer: str = "D001") -> Event:
    return events.event(f"test.event:{name}", "alert.raised", dt.datetime.now(dt.UTC), dealer,
                        {"dealerCode": dealer, "name": name})


async def until(probe: Any, within: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {within:g} s"
        await asyncio.sleep(0.05)


async def states(deps: Deps, event: Event) -> list[dict[str, Any]]:
    return await outbox.of_event(deps.db, event.id)


def done(deps: Deps, event: Event, state: str = "DELIVERED") -> Any:
    async def probe() -> list[dict[str, Any]] | None:
        found = await states(deps, event)
        return found if found and all(d["state"] == state for d in found) else None
    return probe


async def delivering(deps: Deps, probe: Any, **kwargs: Any) -> Any:
    deliverer = WebhookDeliverer(deps, jitter=lambda: 0.0, **kwargs)
    deliverer.start()
    try:
        return await until(probe)
    finally:
        await deliverer.stop()


# ---- delivery ---------------------------------------------------------------------------------

async def test_an_event_arrives_signed_after_failures_with_growing_backoff(
        indexed: Deps, receiver: Receiver) -> None:
    receiver.script("/t1", 500, "hang", 503)
    deps = hooked(indexed, receiver.url("/t1"))
    event = sample("retried")
    assert await outbox.publish(deps.db, [event], events.endpoints(deps), deps.now()) == 1
    [doc] = await delivering(deps, done(deps, event))
    got = receiver.requests("/t1")
    assert [r.answer for r in got] == [500, "hang", 503, 200]
    assert {r.event_id for r in got} == {event.id}  # the same id on every attempt
    assert {r.body for r in got} == {event.body}  # the same bytes, so the same signature
    assert all(r.verified(SECRET) for r in got)
    assert all(r.headers["x-rebates-event-type"] == "alert.raised" for r in got)
    assert all(r.headers["content-type"] == "application/json" for r in got)
    assert receiver.accepted_ids("/t1") == [event.id]
    # waits between the end of one attempt and the next: base/2 × 2^n (jitter 0), growing
    ends = [got[0].at, got[1].at + TIMEOUT, got[2].at]
    waits = [got[n + 1].at - ends[n] for n in range(3)]
    for n, wait in enumerate(waits):
        assert wait >= BASE / 2 * 2 ** n - 0.05, waits
    assert waits[0] < waits[1] < waits[2], waits
    assert (doc["attempts"], doc["lastStatus"]) == (4, 200)
    assert doc["lastError"].startswith("HTTP 503")  # the last failure stays readable


async def test_a_delivery_gives_up_into_dead_after_the_configured_attempts(
        indexed: Deps, receiver: Receiver) -> None:
    receiver.script("/dead", *[500] * 10)
    deps = hooked(indexed, receiver.url("/dead"), webhook_max_attempts=3,
                  webhook_backoff_seconds=0.05)
    event = sample("dead")
    await outbox.publish(deps.db, [event], events.endpoints(deps), deps.now())
    [doc] = await delivering(deps, done(deps, event, "DEAD"))
    assert (doc["attempts"], doc["lastStatus"], doc["lastError"]) == (3, 500, "HTTP 500: ok")
    assert len(receiver.requests("/dead")) == 3
    key = events.endpoints(deps)[0]
    counted = outbox.with_zeros(await outbox.counts(deps.db), deps.settings.webhook_urls)
    assert counted[(key, "DEAD")] == 1 and counted[(key, "PENDING")] == 0


async def test_a_failing_endpoint_does_not_hold_up_the_others(
        indexed: Deps, receiver: Receiver) -> None:
    receiver.script("/slow", *["hang"] * 20)
    deps = hooked(indexed, receiver.url("/slow"), receiver.url("/fast"))
    sent = [sample(f"iso-{n}") for n in range(6)]
    await outbox.publish(deps.db, sent, events.endpoints(deps), deps.now())

    async def fast_has_all() -> bool:
        return sorted(receiver.accepted_ids("/fast")) == sorted(e.id for e in sent)
    started = time.monotonic()
    await delivering(deps, fast_has_all)
    assert time.monotonic() - started < TIMEOUT * 3  # not after the slow one's timeouts
    assert receiver.accepted_ids("/slow") == []
    assert len(receiver.requests("/slow")) <= 2 * 2  # its own slots only (concurrency 2)


@pytest.mark.parametrize(("answer", "error"), [
    (302, "HTTP 302 (redirects are not followed)"),
    ("drop", "RemoteProtocolError"),
    (404, "HTTP 404: ok"),
    ("hang", f"no answer within {TIMEOUT:g} s"),
])
async def test_a_refused_attempt_is_retried_later_and_says_why(
        indexed: Deps, receiver: Receiver, answer: int | str, error: str) -> None:
    path = f"/refused-{answer}"
    receiver.script(path, answer)
    deps = hooked(indexed, receiver.url(path), webhook_backoff_seconds=30.0,
                  webhook_backoff_max_seconds=60.0)
    event = sample(f"refused-{answer}")
    await outbox.publish(deps.db, [event], events.endpoints(deps), deps.now())

    async def failed_once() -> Any:
        found = await states(deps, event)
        return found if found[0]["attempts"] == 1 and found[0]["lastError"] else None
    [doc] = await delivering(deps, failed_once)
    assert doc["state"] == "PENDING" and error in doc["lastError"]
    retry_in = (doc["nextAttemptAt"] - deps.now()).total_seconds()
    assert 10 < retry_in <= 15  # base 30, jitter 0: half of it
    assert receiver.requests("/elsewhere") == []  # the redirect was not followed
    assert len(receiver.requests(path)) == 1


# ---- the outbox --------------------------------------------------------------------------------

async def test_publishing_again_adds_nothing_and_resets_nothing(indexed: Deps,
                                                                receiver: Receiver) -> None:
    deps = hooked(indexed, receiver.url("/a"), receiver.url("/b"))
    event = sample("twice")
    keys = events.endpoints(deps)
    assert await outbox.publish(deps.db, [event], keys, deps.now()) == 2
    await delivering(deps, done(deps, event))
    assert await outbox.publish(deps.db, [event], keys, deps.now()) == 0
    found = await states(deps, event)
    assert [(d["endpoint"], d["state"]) for d in found] == \
        sorted((key, "DELIVERED") for key in keys)
    assert receiver.accepted_ids("/a") == receiver.accepted_ids("/b") == [event.id]


async def test_a_lease_lets_one_sender_attempt_at_a_time(indexed: Deps) -> None:
    deps = hooked(indexed, "http://127.0.0.1:9/lease")
    event = sample("lease")
    [key] = events.endpoints(deps)
    now = deps.now()
    await outbox.publish(deps.db, [event], [key], now)
    lease = dt.timedelta(seconds=5)
    claims = await asyncio.gather(*[outbox.claim(deps.db, key, now=now, lease=lease)
                                    for _ in range(4)])
    held = [c for c in claims if c is not None]
    assert len(held) == 1 and held[0].attempts == 1
    assert await outbox.claim(deps.db, key, now=now + dt.timedelta(seconds=4),
                              lease=lease) is None  # still held
    later = now + dt.timedelta(seconds=6)  # the holder died: its lease ran out
    taken = await outbox.claim(deps.db, key, now=later, lease=lease)
    assert taken is not None and taken.attempts == 2
    # the first holder comes back late: its outcome no longer counts
    assert not await outbox.delivered(deps.db, held[0], status=200, now=later)
    assert await outbox.failed(deps.db, taken, error="x", status=500,
                               retry_at=later + lease)
    [doc] = await states(deps, event)
    assert (doc["state"], doc["attempts"], doc["lastStatus"]) == ("PENDING", 2, 500)


async def test_an_endpoint_no_longer_configured_is_never_sent_to(
        indexed: Deps, receiver: Receiver) -> None:
    old = hooked(indexed, receiver.url("/removed"))
    event = sample("removed")
    await outbox.publish(old.db, [event], events.endpoints(old), old.now())
    now = hooked(indexed, receiver.url("/kept"))
    deliverer = WebhookDeliverer(now)
    assert await deliverer.poll() == 0
    await deliverer.stop()
    assert receiver.requests() == []


# ---- notices -----------------------------------------------------------------------------------

def computed(dealer: str, rate: str, version: int, basis: str = "1000") -> ComputedAccrual:
    figures = AccrualFigures(
        basis=D(basis), cumulative_basis=D(basis), rate=D(rate), gross_amount=D("10.00"),
        score_multiplier=D(1), deduction_percent=D(0), deduction_amount=D(0),
        cap_reduction=D(0), adjustment_amount=D(0), net_amount=D("10.00"),
        status=AccrualStatus.OPEN, calculation=(), currency="CNY")
    return ComputedAccrual(dealer_code=dealer, program_code="HOOK", program_version=1,
                           period=parse_period("2026-Q1"), figures=figures,
                           inputs_version=version)


async def outboxed(deps: Deps, prefix: str) -> list[dict[str, Any]]:
    return await deps.db.db[outbox.COLLECTION].find(
        {"eventId": {"$regex": f"^{prefix}"}}).sort("createdAt", 1).to_list()


async def test_a_tier_rise_is_noticed_with_the_write_and_published_once(
        indexed: Deps) -> None:
    deps = hooked(indexed, "http://127.0.0.1:9/tiers")
    # new at 1, new figures at 1, a rise, a fall, a rise back below the earlier 2, a rise
    rates = ["1", "1", "2", "1", "1.5", "3"]
    for version, rate in enumerate(rates, 1):
        await accrual_writes.save_computed(deps.db, [computed("T1", rate, version,
                                                            basis=str(version))],
                                         now=deps.now())
        await events.publish_notices(deps)
    doc = await deps.db.accruals.find_one({"programCode": "HOOK", "dealerCode": "T1"})
    assert doc is not None and outbox.NOTICE not in doc  # cleared once published
    found = await outboxed(deps, f"accrual.tier_reached:{doc['_id']}:")
    reached = [(e["body"].split('"previousRate":"')[1].split('"')[0],
                e["body"].split('"rate":"')[1].split('"')[0]) for e in found]
    # against the stored rate: 0→1, 1→2, then a fall to 1, 1→1.5 and 1.5→3
    assert reached == [("0", "1"), ("1", "2"), ("1", "1.5"), ("1.5", "3")]
    assert await events.publish_notices(deps) == 0
    assert len(await outboxed(deps, f"accrual.tier_reached:{doc['_id']}:")) == 4


async def test_a_stale_computation_writes_neither_figures_nor_a_notice(indexed: Deps) -> None:
    deps = hooked(indexed, "http://127.0.0.1:9/stale")
    await accrual_writes.save_computed(deps.db, [computed("T2", "1", 10)], now=deps.now())
    await events.publish_notices(deps)
    # an older computation (sales version 9) that would have reached a tier: refused whole
    await accrual_writes.save_computed(deps.db, [computed("T2", "5", 9)], now=deps.now())
    doc = await deps.db.accruals.find_one({"programCode": "HOOK", "dealerCode": "T2"})
    assert doc is not None and doc["rate"] == D(1) and outbox.NOTICE not in doc


async def test_alerts_and_account_entries_are_noticed_once(indexed: Deps) -> None:
    deps = hooked(indexed, "http://127.0.0.1:9/notices")
    draft = AlertDraft(key="SURGE:N1:HOOK:2026-Q1", kind=AlertKind.SURGE, dealer_code="N1",
                       message=Text("surge"), details={"basis": D("900")},
                       program_code="HOOK", period="2026-Q1")
    for _ in range(2):  # raised again: the same alert, no second notice
        await alert_repo.raise_alerts(deps.db, [draft], now=deps.now())
        await events.publish_notices(deps)
    for _ in range(2):  # credited again: the same entry
        await account_repo.credit(deps.db, dealer_code="N1", currency="CNY",
                                  amount=D("50.00"), expires_on=None, source="test:N1:1",
                                  cause={}, now=deps.now())
        await events.publish_notices(deps)
    assert [d["eventId"] for d in await outboxed(deps, "alert.raised:SURGE:N1")] == \
        ["alert.raised:SURGE:N1:HOOK:2026-Q1"]
    [entry] = await outboxed(deps, "rebate_account.changed:N1:")
    assert entry["eventId"] == "rebate_account.changed:N1:CNY:1"
    assert '"kind":"CREDIT","amount":"50.00","balanceAfter":"50.00"' in entry["body"]
    assert await deps.db.alerts.count_documents({"notice": {"$exists": True}}) == 0
    assert await deps.db.rebate_entries.count_documents({"notice": {"$exists": True}}) == 0


async def test_without_endpoints_nothing_is_published_and_notices_go_after_an_hour(
        indexed: Deps) -> None:
    off = hooked(indexed)  # no URLs
    await account_repo.credit(off.db, dealer_code="N2", currency="CNY", amount=D("5.00"),
                              expires_on=None, source="test:N2:1", cause={}, now=off.now())
    assert await events.publish_notices(off) == 0
    assert await outboxed(off, "rebate_account.changed:N2:") == []
    waiting = {"dealerCode": "N2", "notice": {"$exists": True}}
    # kept for a while: a process with webhooks (a rolling deployment) still publishes it
    assert await off.db.rebate_entries.count_documents(waiting) == 1
    later = Deps(db=off.db, settings=off.settings,
                 clock=lambda: indexed.clock() + dt.timedelta(hours=1, seconds=1))
    await events.publish_notices(later)
    assert await off.db.rebate_entries.count_documents(waiting) == 0
    assert await outboxed(off, "rebate_account.changed:N2:") == []
