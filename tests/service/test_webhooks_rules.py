"""Webhook rules that need no server: the signature, the backoff schedule, the settings, when
a tier counts as reached, and what each event's payload says (and leaves out)."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import pytest
from bson import ObjectId
from pydantic import ValidationError

from service.config import Settings
from service.repositories import outbox
from service.usecases import events
from service.webhooks import backoff, shown, signature, verify

D = Decimal
AT = dt.datetime(2026, 11, 20, 9, 30, 5, 123000, tzinfo=dt.UTC)
SECRET = "whsec-" + "s" * 26


# ---- the signature ----------------------------------------------------------------------------

@pytest.mark.parametrize(("secret", "body", "expected"), [
    # RFC 4231 test case 2: HMAC-SHA256 with key "Jefe"
    ("Jefe", b"what do ya want for nothing?",
     "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    # the empty body still signs (and so differs by secret)
    ("k", b"", "sha256=" + hmac.new(b"k", b"", hashlib.sha256).hexdigest()),
    # bytes as sent: UTF-8 of the JSON, Chinese text included
    (SECRET, '{"message":"窜货"}'.encode(),
     "sha256=" + hmac.new(SECRET.encode(), '{"message":"窜货"}'.encode(),
                          hashlib.sha256).hexdigest()),
])
def test_the_signature_is_the_hex_hmac_sha256_of_the_raw_body(secret: str, body: bytes,
                                                              expected: str) -> None:
    assert signature(secret, body) == expected
    assert verify(secret, body, expected)


BODY = b'{"id":"alert.raised:X","type":"alert.raised"}'


@pytest.mark.parametrize(("secret", "body", "header"), [
    ("other-secret-0123456789", BODY, signature(SECRET, BODY)),  # wrong secret
    (SECRET, BODY + b" ", signature(SECRET, BODY)),  # body changed (even white space)
    (SECRET, BODY, signature(SECRET, BODY).removeprefix("sha256=")),  # prefix missing
    (SECRET, BODY, signature(SECRET, BODY).upper()),  # hex is lower case
    (SECRET, BODY, None),  # no header
    (SECRET, BODY, ""),
])
def test_a_signature_that_does_not_match_is_refused(secret: str, body: bytes,
                                                    header: str | None) -> None:
    assert not verify(secret, body, header)


# ---- the backoff schedule ---------------------------------------------------------------------

@pytest.mark.parametrize(("attempts", "jitter", "delay"), [
    (1, 0.0, 5.0),  # base 10: the first retry waits 5 to 10 s
    (1, 0.999, 9.995),
    (2, 0.0, 10.0),
    (3, 0.5, 30.0),  # 40 → a point in [20, 40]
    (7, 0.0, 320.0),  # 640 → [320, 640]
    (9, 0.0, 1280.0),  # 2560 → [1280, 2560]
    (10, 0.0, 1800.0),  # 5120 capped at 3600 → [1800, 3600]
    (10, 1.0, 3600.0),
    (500, 0.0, 1800.0),  # far past the cap: no overflow
])
def test_backoff_doubles_up_to_the_cap_with_equal_jitter(attempts: int, jitter: float,
                                                         delay: float) -> None:
    assert backoff(attempts, base=10, cap=3600, jitter=jitter) == pytest.approx(delay)


@pytest.mark.parametrize("jitters", [(0.999, 0.0), (0.0, 0.999), (0.5, 0.5)])
def test_below_the_cap_a_delay_is_never_shorter_than_the_one_before(
        jitters: tuple[float, float]) -> None:
    for attempts in range(1, 40):
        before = backoff(attempts, base=0.2, cap=30, jitter=jitters[0])
        after = backoff(attempts + 1, base=0.2, cap=30, jitter=jitters[1])
        if 0.2 * 2 ** attempts <= 30:  # the next delay's doubling is not capped
            assert after >= before - 1e-9
        else:  # capped: somewhere between half the cap and the cap
            assert 15 <= after <= 30


# ---- settings ---------------------------------------------------------------------------------

def _settings(**env: Any) -> Settings:
    return Settings(**env)


def test_webhook_urls_are_a_comma_list_like_cors_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBATES_WEBHOOK_URLS",
                       " https://crm.example/hooks , http://10.0.0.5:8080/in,,")
    monkeypatch.setenv("REBATES_WEBHOOK_SECRET", SECRET)
    settings = Settings()
    assert settings.webhook_urls == ["https://crm.example/hooks", "http://10.0.0.5:8080/in"]


@pytest.mark.parametrize("url", ["ftp://crm.example/x", "crm.example/hooks", "https:///path",
                                 "https://crm.example/hooks#frag", "file:///etc/passwd"])
def test_a_webhook_url_must_be_http_or_https_with_a_host(url: str) -> None:
    with pytest.raises(ValidationError):
        _settings(webhook_urls=[url], webhook_secret=SECRET)


@pytest.mark.parametrize("secret", [None, "", "too-short"])
def test_webhook_urls_need_a_secret_of_sixteen_characters(secret: str | None) -> None:
    with pytest.raises(ValidationError, match="REBATES_WEBHOOK_SECRET"):
        _settings(webhook_urls=["https://crm.example/hooks"], webhook_secret=secret)


def test_no_urls_need_no_secret() -> None:
    assert _settings().webhook_urls == []


def test_a_url_is_logged_without_its_credentials_or_query() -> None:
    assert shown("https://user:pw@crm.example:8443/hooks/in?token=abc#x") == \
        "https://crm.example:8443/hooks/in"


# ---- when a tier counts as reached ------------------------------------------------------------

def _figures(rate: str) -> dict[str, Any]:
    return {"rate": D(rate), "basis": D("1200000"), "cumulativeBasis": D("1200000"),
            "grossAmount": D("24000.00"), "netAmount": D("24000.00"), "status": "OPEN",
            "currency": "CNY", "target": None, "achievementPercent": None,
            "calculation": ["not copied"], "inputsVersion": 7}


@pytest.mark.parametrize(("stored", "rate", "noticed", "previous"), [
    (None, "2", True, "0"),  # a new accrual that reached a tier
    (None, "0", False, None),  # a new accrual below the first threshold
    ({"rate": D("1")}, "2", True, "1"),  # a rise
    ({"rate": D("2")}, "2", False, None),  # the same tier: new figures only
    ({"rate": D("2")}, "1", False, None),  # a fall (returns) is no tier reached
    ({}, "1", True, "0"),  # stored without a rate (older documents)
])
def test_a_tier_is_reached_when_the_rate_rises_above_the_stored_one(
        stored: dict[str, Any] | None, rate: str, noticed: bool, previous: str | None) -> None:
    found = outbox.tier_notice(stored, _figures(rate), AT)
    assert bool(found) is noticed
    if noticed:
        mark = found[outbox.NOTICE]
        assert mark["previousRate"] == D(previous or "0") and mark["since"] == AT
        assert mark["figures"]["rate"] == D(rate)
        assert set(mark["figures"]) == set(outbox.TIER_FIGURES)  # no trace, no stamps


# ---- payloads -------------------------------------------------------------------------------

ACCRUAL_ID = ObjectId("65f0c0ffee0000000000000a")
SETTLEMENT_ID = ObjectId("65f0c0ffee0000000000000b")


def _accrual_doc() -> dict[str, Any]:
    figures = _figures("2")
    return {"_id": ACCRUAL_ID, "dealerCode": "D001", "programCode": "DEMO-COLLECT",
            "programVersion": 3, "period": "2026-Q1", "periodStart": "2026-01-01",
            "periodEnd": "2026-03-31", "calculation": [{"label": "secret trace"}],
            "inputsVersion": 99, "figuresDigest": "abc", **figures,
            outbox.NOTICE: {"id": "n1", "since": AT, "previousRate": D("1"),
                            "figures": {k: figures[k] for k in outbox.TIER_FIGURES}}}


def _alert_doc() -> dict[str, Any]:
    return {"_id": ObjectId(), "key": "CROSS_REGION:D001:65f0c0ffee00000000000001",
            "kind": "CROSS_REGION", "status": "OPEN", "dealerCode": "D001",
            "programCode": None, "period": None, "message": "D001 sold outside East",
            "messageText": {"key": "x"}, "createdAt": AT,
            "details": {"batchId": "65f0c0ffee00000000000001", "dealerRegion": "East",
                        "regions": ["West"], "count": 2, "externalIds": ["T1", "T2"],
                        "listed": 2},
            "resolvedBy": "sales.li", "pending": {"actor": "admin"}}


def _entry_doc() -> dict[str, Any]:
    return {"_id": "order:ORD-9:RESERVE", "account": "D001:CNY", "dealerCode": "D001",
            "currency": "CNY", "seq": 4, "at": AT, "kind": "RESERVE", "amount": D("80.00"),
            "balanceAfter": D("200.00"), "reservedAfter": D("80.00"), "orderId": "ORD-9",
            "orderAmount": D("500.00"), "useAmount": D("80.00"),
            "state": {"debt": D(0), "lots": [{"id": "settlement:S:A", "remaining": D(200)}]},
            "draw": [{"lot": "settlement:S:A"}], "pending": {"actor": "svc", "role": "SERVICE"},
            "cause": {"settlementId": "S"}, "note": {"key": "Reserved"}}


def _settlement_doc() -> dict[str, Any]:
    def line(dealer: str, amount: str, tax: str, payable: str) -> dict[str, Any]:
        return {"dealerCode": dealer, "accrualId": f"acc-{dealer}", "amount": D(amount),
                "taxWithheld": D(tax), "payable": D(payable), "form": "CASH",
                "payee": {"dealerCode": dealer, "name": f"Dealer {dealer}", "region": "East",
                          "payoutForm": "CASH", "taxRate": D("10")}}
    return {"_id": SETTLEMENT_ID, "programCode": "PAY", "period": "2026-Q1",
            "number": "STL-2026-000007", "createdAt": AT, "createdBy": "finance.wang",
            "lines": [line("S1", "1000.00", "100.00", "900.00"),
                      line("S2", "123.45", "12.35", "111.10")],
            "totalPayable": D("1011.10"), "pending": {"actor": "finance.wang"}}


def _envelope(found: outbox.Event) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(found.body)
    return parsed


PAYLOADS = [
    ("tier", lambda: [events.tier_reached(_accrual_doc())], [{
        "id": f"accrual.tier_reached:{ACCRUAL_ID}:n1", "type": "accrual.tier_reached",
        "occurredAt": "2026-11-20T09:30:05.123Z",
        "data": {"accrualId": str(ACCRUAL_ID), "dealerCode": "D001",
                 "programCode": "DEMO-COLLECT", "programVersion": 3, "period": "2026-Q1",
                 "periodStart": "2026-01-01", "periodEnd": "2026-03-31",
                 "previousRate": "1", "rate": "2", "basis": "1200000",
                 "cumulativeBasis": "1200000", "grossAmount": "24000.00",
                 "netAmount": "24000.00", "status": "OPEN", "currency": "CNY",
                 "target": None, "achievementPercent": None}}]),
    ("alert", lambda: [events.alert_raised(_alert_doc())], [{
        "id": "alert.raised:CROSS_REGION:D001:65f0c0ffee00000000000001",
        "type": "alert.raised", "occurredAt": "2026-11-20T09:30:05.123Z",
        "data": {"alertId": "CROSS_REGION:D001:65f0c0ffee00000000000001",
                 "kind": "CROSS_REGION", "dealerCode": "D001", "programCode": None,
                 "period": None, "message": "D001 sold outside East",
                 "details": {"batchId": "65f0c0ffee00000000000001", "dealerRegion": "East",
                             "regions": ["West"], "count": 2, "externalIds": ["T1", "T2"],
                             "listed": 2},
                 "raisedAt": "2026-11-20T09:30:05.123Z"}}]),
    ("entry", lambda: [events.account_changed(_entry_doc())], [{
        "id": "rebate_account.changed:D001:CNY:4", "type": "rebate_account.changed",
        "occurredAt": "2026-11-20T09:30:05.123Z",
        "data": {"dealerCode": "D001", "currency": "CNY", "sequence": 4, "kind": "RESERVE",
                 "amount": "80.00", "balanceAfter": "200.00", "reservedAfter": "80.00",
                 "orderId": "ORD-9", "settlementId": None, "expiresOn": None,
                 "at": "2026-11-20T09:30:05.123Z"}}]),
    ("settlement", lambda: events.settlement_lines(_settlement_doc(), "CNY"), [
        {"id": f"settlement.created:{SETTLEMENT_ID}:{code}", "type": "settlement.created",
         "occurredAt": "2026-11-20T09:30:05.123Z",
         "data": {"settlementId": str(SETTLEMENT_ID), "settlementNumber": "STL-2026-000007",
                  "programCode": "PAY", "period": "2026-Q1", "dealerCode": code,
                  "dealerName": f"Dealer {code}", "accrualId": f"acc-{code}",
                  "currency": "CNY", "payoutForm": "CASH", "amount": amount,
                  "taxWithheld": tax, "payable": payable,
                  "createdAt": "2026-11-20T09:30:05.123Z"}}
        for code, amount, tax, payable in [("S1", "1000.00", "100.00", "900.00"),
                                           ("S2", "123.45", "12.35", "111.10")]]),
]


@pytest.mark.parametrize(("kind", "build", "expected"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_each_event_says_exactly_what_a_crm_needs(kind: str, build: Any,
                                                  expected: list[dict[str, Any]]) -> None:
    built = build()
    assert [_envelope(e) for e in built] == expected
    for found, wanted in zip(built, expected, strict=True):
        assert found.id == wanted["id"] and found.type == wanted["type"]
        assert found.dealer_code == wanted["data"]["dealerCode"]
        assert list(_envelope(found)) == ["id", "type", "occurredAt", "data"]


@pytest.mark.parametrize(("kind", "build", "expected"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_no_event_carries_internals(kind: str, build: Any,
                                    expected: list[dict[str, Any]]) -> None:
    """Actors, traces, stamps, lots and pending markers stay in the database."""
    for found in build():
        text = found.body.decode()
        for internal in ("finance.wang", "sales.li", "svc", "admin", "secret trace",
                         "figuresDigest", "inputsVersion", "lots", "pending", "notice",
                         "messageText", "draw", "cause"):
            assert internal not in text, (kind, internal)


def test_a_settlement_event_names_one_dealer_only() -> None:
    """One event per line: dealer S1's event has nothing of S2's."""
    s1, s2 = events.settlement_lines(_settlement_doc(), "CNY")
    assert "S2" not in s1.body.decode() and "123.45" not in s1.body.decode()
    assert "S1" not in s2.body.decode() and "1000.00" not in s2.body.decode()


def test_the_same_change_makes_the_same_bytes() -> None:
    """Published twice (a retry, two processes): the same id, body and signature."""
    first, again = events.alert_raised(_alert_doc()), events.alert_raised(_alert_doc())
    assert first == again
    assert signature(SECRET, first.body) == signature(SECRET, again.body)


def test_an_endpoint_is_named_by_a_key_not_its_url() -> None:
    key = outbox.endpoint_key("https://user:pw@crm.example/hooks")
    assert len(key) == 16 and "crm" not in key
    assert key == outbox.endpoint_key("https://user:pw@crm.example/hooks")
    assert key != outbox.endpoint_key("https://user:pw@crm.example/hooks2")
