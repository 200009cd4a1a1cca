"""The embeddable rebate card (`<rebate-card>`, SPEC §8) in a real Chromium, offline.

The service runs with its demo data (`make run`'s). The card is put on a stand-in CRM page
of another origin (http://localhost:<port>, fulfilled by the test, allowed through
REBATES_CORS_ORIGINS) under a strict Content-Security-Policy and a hostile stylesheet; the
CRM's own script hands each card a token fetched from "its backend" (`getToken`). The card's
figures must equal the API's for the same dealer and program; a transaction recorded over
HTTP during the test must move its bar; a DEALER token for another dealer must show an error
and no data. The zh-CN card is kept as tests/browser/artifacts/rebate-card-zh-CN.png.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from service.embedded import free_port
from tests.browser.conftest import ARTIFACTS, Offline
from tests.crash import conftest as crash_conftest
from tests.crash.conftest import CrashHarness, ServicePool

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
# The demo data's dealers (service/demo.py): D002 and D003 collect well under the million
# that is DEMO-COLLECT's second tier, so their bars have somewhere to go.
DEALER, OTHER_DEALER, MOVER = "D002", "D001", "D003"
COLLECT, TARGET = "DEMO-COLLECT", "DEMO-TARGET"
START_BOUND = 120.0  # seconds: the demo data (a year of sales) loads before /readyz is 200

CARD_QUERY = """
query($dealer: String!, $program: String!, $period: String!) {
  program(code: $program) { name basis currency validFrom validTo periodKind accumulation
                            tierMeasure }
  dealer(code: $dealer) {
    code name
    accruals(programCode: $program, last: 12) {
      edges { node { period basis cumulativeBasis netAmount status } }
    }
    rebateAccounts { currency balance available }
  }
  rebateForecast(dealerCode: $dealer, programCode: $program, period: $period,
                 additionalBasis: "0") {
    currentBasis currentRebate currentRate nextTierThreshold amountToNextTier
    rebateAtNextTier target achievementPercent amountToTarget
  }
}"""
PROGRAM_QUERY = "query($p: String!) { program(code: $p) { periodKind validFrom validTo } }"
RECORD = """mutation($input: RecordTransactionsInput!) {
  recordTransactions(input: $input) { accepted duplicates errors { message } } }"""
SUBSCRIPTIONS = "{ __schema { subscriptionType { fields { name } } } }"

# Records what a page's Content-Security-Policy refused (an init script is not subject to it).
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
}, true);
"""
# The CRM's own code: it asks its backend for a rebate token and hands it to every card, as
# a callback (called before each request and socket), never as an attribute.
CRM_JS = """
for (const card of document.querySelectorAll("rebate-card")) {
  card.getToken = () => fetch("backend/rebate-token", {cache: "no-store"})
    .then((response) => response.text());
}
"""
# A CRM stylesheet that would wreck the card if it leaked into its shadow root.
HOSTILE_CSS = """
* { color: #ff00ff !important; font-family: serif !important; }
dd, dt, p, h2, h3, section, svg, footer { display: none !important; }
div { border: 7px dashed #ff00ff !important; }
#rebates { display: flex !important; gap: 16px; align-items: flex-start; padding: 12px;
           width: fit-content;
           border: none !important; background: #f0f4f8; }
#rebates rebate-card { flex: 0 0 420px; }
"""
CRM_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>CRM · Account</title>
<link rel="stylesheet" href="crm.css">
<script async src="{script}" integrity="{integrity}" crossorigin="anonymous"></script>
<script defer src="crm.js"></script>
</head>
<body>
<h1>Account</h1>
<div id="rebates">{cards}</div>
</body>
</html>
"""
# WCAG 2.1 contrast of every text in the card's shadow root against what is behind it.
CONTRAST = """
(card) => {
  const parse = (text) => {
    const parts = text.match(/rgba?\\(([^)]+)\\)/)[1].split(",").map(Number.parseFloat);
    return {r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1};
  };
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92
                                       : Math.pow((v + 0.055) / 1.055, 2.4); };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g)
                           + 0.0722 * channel(c.b);
  const ratio = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)];
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  };
  const behind = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const color = parse(getComputedStyle(n).backgroundColor);
      if (color.a > 0) return color;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const found = [];
  for (const node of card.shadowRoot.querySelectorAll("*")) {
    const text = [...node.childNodes].filter((c) => c.nodeType === 3)
      .map((c) => c.textContent).join("").trim();
    if (!text || !node.getClientRects().length || node.closest("title")) continue;
    const style = getComputedStyle(node);
    const svgText = node.namespaceURI === "http://www.w3.org/2000/svg";
    const size = Number.parseFloat(style.fontSize);
    const bold = Number(style.fontWeight) >= 700;
    found.push({text: text.slice(0, 40), size,
                large: size >= 24 || (bold && size >= 18.66),
                ratio: ratio(parse(svgText ? style.fill : style.color), behind(node))});
  }
  const bar = card.shadowRoot.querySelector("[role=progressbar]");
  if (bar) {
    found.push({text: "(the bar's fill against its track)", size: 0, large: true,
                ratio: ratio(parse(getComputedStyle(bar.firstElementChild).backgroundColor),
                             parse(getComputedStyle(bar).backgroundColor))});
  }
  return found;
}
"""
# The text Intl gives for a figure, in the page's own browser: what the card must show.
MONEY = """([value, currency, locale]) => new Intl.NumberFormat(locale,
  {style: "currency", currency}).format(Number(value))"""
PERCENT = """([value, locale]) => new Intl.NumberFormat(locale,
  {style: "percent", minimumFractionDigits: 0, maximumFractionDigits: 2})
  .format(Number(value) / 100)"""


# -- the service and the pages -----------------------------------------------------------


class CrmSite:
    """The stand-in CRM: real HTTP servers on loopback (a page the test fulfilled itself
    would count as public to Chromium, which keeps public pages off loopback), one port per
    origin, serving each page's files under a prefix of its own."""

    def __init__(self, count: int) -> None:
        self.files: dict[str, tuple[str, bytes, dict[str, str]]] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = site.files.get(self.path.split("?")[0])
                if found is None:
                    self.send_error(404)
                    return
                media, body, headers = found
                self.send_response(200)
                for name, value in {"Content-Type": media, "Cache-Control": "no-store",
                                    "Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.servers = [ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
                        for _ in range(count)]
        self.threads = [threading.Thread(target=server.serve_forever, daemon=True)
                        for server in self.servers]
        for thread in self.threads:
            thread.start()

    def origin(self, index: int) -> str:
        return f"http://localhost:{self.servers[index].server_address[1]}"

    def add(self, files: dict[str, tuple[str, str, dict[str, str]]]) -> str:
        prefix = f"/{uuid.uuid4().hex[:12]}/"
        for name, (media, body, headers) in files.items():
            self.files[prefix + name] = (media, body.encode(), headers)
        return prefix

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(5)


@dataclass
class CardService:
    harness: CrashHarness
    site: CrmSite
    crm_origin: str       # allowed by REBATES_CORS_ORIGINS
    stranger_origin: str  # not allowed
    script_url: str       # the card's versioned URL
    integrity: str
    live: bool            # whether the service has the accrualUpdates subscription

    @property
    def base(self) -> str:
        return self.harness.api.base_url

    def token(self, role: str = "ADMIN", dealer: str | None = None) -> str:
        return self.harness.api.token(role, dealer)

    def gql(self, query: str, variables: dict[str, Any] | None = None,
            token: str | None = None) -> Any:
        response = self.harness.api.client.post(
            "/graphql", json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token or self.token()}"})
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        return body["data"]


@pytest.fixture(scope="module")
def card_service(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[CardService]:
    site = CrmSite(2)
    crm_origin = site.origin(0)
    pool = ServicePool(tmp_path_factory.mktemp("card-service"), size=1)
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    harness = CrashHarness(pool, mongo_uri, client)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(crash_conftest, "START_BOUND", START_BOUND)
            harness.start("", REBATES_GRAPHIQL="1", REBATES_DEMO="1",
                          REBATES_CORS_ORIGINS=crm_origin)
        pool.close()  # no standby process: this module starts no other service
        manifest = harness.api.client.get("/embed/rebate-card.json").json()
        schema = harness.api.gql(SUBSCRIPTIONS)["__schema"]["subscriptionType"]
        live = bool(schema) and any(f["name"] == "accrualUpdates" for f in schema["fields"])
        yield CardService(harness, site, crm_origin, site.origin(1),
                          harness.api.base_url + manifest["url"], manifest["integrity"],
                          live)
    finally:
        harness.close()
        pool.close()
        client.close()
        site.close()


@dataclass
class CardPage:
    page: Any
    origin: str
    problems: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    graphql_answers: list[Any] = field(default_factory=list)  # Playwright responses

    def card(self, index: int = 0) -> Any:
        return self.page.locator("rebate-card").nth(index)

    def graphql_bodies(self) -> list[str]:
        bodies = []
        for response in self.graphql_answers:
            with contextlib.suppress(Exception):  # a preflight has no body to read
                bodies.append(response.text())
        return bodies

    def csp_violations(self) -> list[str]:
        return list(self.page.evaluate("window.__cspViolations"))


def card_tag(dealer: str, program: str, lang: str, **attributes: str) -> str:
    extra = "".join(f' {name}="{value}"' for name, value in attributes.items())
    return (f'<rebate-card dealer="{dealer}" program="{program}" lang="{lang}"{extra}>'
            "</rebate-card>")


def watch(page: Any, service: CardService, target: CardPage) -> None:
    """Keep console errors, uncaught exceptions, failed requests, sockets and the bodies
    of the GraphQL answers the page received."""
    def console(message: Any) -> None:
        if message.type not in ("error", "warning"):
            return
        text = message.text
        # Chromium's own line for a socket the service did not accept (no subscription
        # yet): the card falls back to polling, which the test checks.
        if not service.live and text.startswith("WebSocket connection to"):
            return
        target.problems.append(f"console {message.type}: {text}")

    def answered(response: Any) -> None:
        if response.url.startswith(service.base + "/graphql") and \
                response.request.method == "POST":
            target.graphql_answers.append(response)

    page.on("console", console)
    page.on("pageerror", lambda error: target.problems.append(f"uncaught: {error}"))
    page.on("requestfailed", lambda request: target.problems.append(
        f"request failed: {request.url} ({request.failure})"))
    page.on("websocket", lambda socket: target.sockets.append(socket.url))
    page.on("response", answered)
    page.add_init_script(CSP_RECORDER)


def crm_page(offline: Offline, service: CardService, cards: str, token: str, *,
             origin: str | None = None, connect: str = "",
             prepare: Callable[[Any], None] | None = None) -> CardPage:
    """The stand-in CRM page at `origin` (default: the allowed one), with `cards`; its
    backend hands out `token`; its CSP lets it connect to the service (and `connect`)."""
    origin = origin or service.crm_origin
    page = offline.context.new_page()
    ws_base = service.base.replace("http://", "ws://")
    csp = "; ".join([
        "default-src 'none'", f"script-src 'self' {service.base}", "style-src 'self'",
        f"connect-src 'self' {service.base} {ws_base} {connect}".strip(),
        "img-src 'self' data:",
        "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"])
    html = CRM_PAGE.format(script=service.script_url,
                           integrity=service.integrity, cards=cards)
    prefix = service.site.add({
        "account": ("text/html; charset=utf-8", html, {"Content-Security-Policy": csp}),
        "crm.css": ("text/css", HOSTILE_CSS, {}),
        "crm.js": ("text/javascript", CRM_JS, {}),
        "backend/rebate-token": ("text/plain", token, {})})
    target = CardPage(page, origin)
    watch(page, service, target)
    if prepare is not None:
        prepare(page)
    page.goto(f"{origin}{prefix}account")
    return target


def settled(card: Any, state: str = "ready", target: CardPage | None = None) -> None:
    """The card reached `state`; if not, the page's problems say why."""
    from playwright.sync_api import expect

    try:
        expect(card).to_have_js_property("state", state, timeout=WAIT_MS)
    except AssertionError as error:
        page = card.page
        seen = page.evaluate("[...document.querySelectorAll('rebate-card')].map("
                             "n => [n.state, n.shadowRoot && n.shadowRoot.textContent])")
        raise AssertionError(f"{error}\ncards: {seen}\nproblems: "
                             f"{target.problems if target else '?'}\nCSP: "
                             f"{page.evaluate('window.__cspViolations')}") from None


# -- what the API says -------------------------------------------------------------------


def period_of(kind: str, day: dt.date) -> str:
    if kind == "MONTH":
        return f"{day.year}-{day.month:02d}"
    if kind == "QUARTER":
        return f"{day.year}-Q{(day.month + 2) // 3}"
    return str(day.year)


def current_period(service: CardService, program: str) -> str:
    """The program's period that contains today (the browser's and this machine's clock),
    or the nearest one within its validity: the period the card shows."""
    found = service.gql(PROGRAM_QUERY, {"p": program})["program"]
    today = dt.date.today().isoformat()
    day = min(max(today, found["validFrom"]), found["validTo"])
    return period_of(found["periodKind"], dt.date.fromisoformat(day))


def api_figures(service: CardService, dealer: str, program: str, token: str) -> dict[str, Any]:
    period = current_period(service, program)
    data = service.gql(CARD_QUERY, {"dealer": dealer, "program": program, "period": period},
                       token)
    data["period"] = period
    return data


def field_value(card: Any, name: str) -> str | None:
    value: str | None = card.locator(f"[data-field='{name}']").get_attribute("data-value")
    return value


def field_text(card: Any, name: str) -> str:
    text: str = card.locator(f"[data-field='{name}']").inner_text()
    return text.strip()


def money(page: Any, value: str, currency: str, locale: str) -> str:
    text: str = page.evaluate(MONEY, [value, currency, locale])
    return text


def check_figures(page: Any, card: Any, api: dict[str, Any], locale: str) -> None:
    """Every figure the card shows is the API's, formatted by Intl in the card's locale."""
    from playwright.sync_api import expect

    program, dealer, forecast = api["program"], api["dealer"], api["rebateForecast"]
    currency = program["currency"]
    assert field_value(card, "period") == api["period"]
    accruals = [edge["node"] for edge in dealer["accruals"]["edges"]]
    accrual = next(a for a in accruals if a["period"] == api["period"])
    for name in ("basis", "cumulativeBasis", "netAmount"):
        assert field_value(card, name) == accrual[name], name
        expect(card.locator(f"[data-field='{name}']")).to_have_text(
            money(page, accrual[name], currency, locale))
    assert field_value(card, "status") == accrual["status"]

    bar = card.get_by_role("progressbar")
    current, threshold = forecast["currentBasis"], forecast["nextTierThreshold"]
    assert bar.get_attribute("data-current") == current
    assert threshold is not None, "the test wants a dealer below the top tier"
    assert bar.get_attribute("data-next") == threshold
    assert bar.get_attribute("aria-valuemin") == "0"
    assert Decimal(bar.get_attribute("aria-valuemax")) == Decimal(threshold)
    assert Decimal(bar.get_attribute("aria-valuenow")) == Decimal(current)
    valuetext = bar.get_attribute("aria-valuetext")
    assert money(page, current, currency, locale) in valuetext
    assert money(page, threshold, currency, locale) in valuetext

    more = Decimal(forecast["rebateAtNextTier"]) - Decimal(forecast["currentRebate"])
    sentence = card.locator("[data-field='forecast']")
    assert sentence.get_attribute("data-amount") == forecast["amountToNextTier"]
    assert Decimal(sentence.get_attribute("data-more")) == more
    to_go = money(page, forecast["amountToNextTier"], currency, locale)
    extra = money(page, str(more), currency, locale)
    verb = {"zh-CN": {"COLLECTED_AMOUNT": "再回款", "SALES_AMOUNT": "再销售"},
            "en": {"COLLECTED_AMOUNT": "Collect", "SALES_AMOUNT": "Sell"}}[locale][
        program["basis"]]
    expected = (f"{verb} {to_go} 即可达到下一档, 多得 {extra}" if locale == "zh-CN"
                else f"{verb} {to_go} more to earn {extra} more")
    expect(sentence).to_have_text(expected)

    bars = card.locator("svg[data-field='chart'] g[data-period]")
    shown = [(bars.nth(i).get_attribute("data-period"), bars.nth(i).get_attribute("data-value"))
             for i in range(bars.count())]
    assert shown == [(a["period"], a["netAmount"]) for a in accruals]

    for account in dealer["rebateAccounts"]:
        code = account["currency"]
        for name in ("balance", "available"):
            assert field_value(card, f"{name}-{code}") == account[name]
            expect(card.locator(f"[data-field='{name}-{code}']")).to_have_text(
                money(page, account[name], code, locale))


def no_leak(page: Any, token: str, target: CardPage, offline: Offline) -> None:
    """The token never went into a URL; the page broke no CSP rule and logged no error."""
    assert all(token not in url for url in offline.requested + target.sockets)
    assert token not in target.page.url
    assert target.csp_violations() == []
    assert target.problems == []
    assert offline.blocked == [], "the page tried to leave the machine"


# -- the tests ---------------------------------------------------------------------------


def test_the_zh_cn_card_on_a_crm_page_of_another_origin_shows_the_apis_figures(
        card_service: CardService, offline: Offline) -> None:
    from playwright.sync_api import expect

    token = card_service.token("DEALER", DEALER)
    target = crm_page(offline, card_service,
                      card_tag(DEALER, COLLECT, "zh-CN") + card_tag(DEALER, TARGET, "zh-CN"),
                      token)
    page, card = target.page, target.card(0)
    settled(card, target=target)
    settled(target.card(1), target=target)
    check_figures(page, card, api_figures(card_service, DEALER, COLLECT, token), "zh-CN")
    expect(card.locator("[data-field='status']")).to_have_text("进行中")
    expect(card.locator("h3").first).to_have_text("档位进度")
    expect(card.get_by_role("heading", name="各期返利净额")).to_be_visible()
    expect(card.get_by_role("heading", name="返利账户")).to_be_visible()

    # the host's stylesheet stops at the shadow root
    figure = card.locator("[data-field='netAmount']")
    expect(figure).to_be_visible()
    assert figure.evaluate("n => getComputedStyle(n).color") != "rgb(255, 0, 255)"
    assert card.locator("article").evaluate(
        "n => getComputedStyle(n).fontFamily.split(',')[0].trim()") == "system-ui"
    assert card.locator("section").first.evaluate(
        "n => getComputedStyle(n).borderTopWidth") == "0px"

    # the target program: achievement against the dealer's target
    second = target.card(1)
    api = api_figures(card_service, DEALER, TARGET, token)
    forecast = api["rebateForecast"]
    assert field_value(second, "achievementPercent") == forecast["achievementPercent"]
    assert field_value(second, "target") == forecast["target"]
    assert field_value(second, "amountToTarget") == forecast["amountToTarget"]
    expect(second.locator("[data-field='achievementPercent']")).to_have_text(
        page.evaluate(PERCENT, [forecast["achievementPercent"], "zh-CN"]))
    expect(second.get_by_text("任务完成率")).to_be_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#rebates").screenshot(path=str(ARTIFACTS / "rebate-card-zh-CN.png"))
    expect(card).to_have_js_property("liveMode",
                                     "subscription" if card_service.live else "polling")
    no_leak(page, token, target, offline)


def test_the_en_card_shows_the_same_figures_in_english(
        card_service: CardService, offline: Offline) -> None:
    from playwright.sync_api import expect

    token = card_service.token("DEALER", DEALER)
    target = crm_page(offline, card_service,
                      card_tag(DEALER, COLLECT, "en") + card_tag(DEALER, TARGET, "en"), token)
    page, card = target.page, target.card(0)
    settled(card, target=target)
    settled(target.card(1), target=target)
    check_figures(page, card, api_figures(card_service, DEALER, COLLECT, token), "en")
    expect(card.locator("[data-field='status']")).to_have_text("Open")
    expect(card.locator("[data-field='netAmount']")).to_contain_text("CN¥")
    expect(card.get_by_role("heading", name="Net rebate by period")).to_be_visible()
    expect(target.card(1).get_by_text("Target achievement")).to_be_visible()

    # switching the language re-renders the same figures in the other one
    card.evaluate("n => n.setAttribute('lang', 'zh-CN')")
    expect(card.locator("[data-field='status']")).to_have_text("进行中")
    check_figures(page, card, api_figures(card_service, DEALER, COLLECT, token), "zh-CN")
    card.evaluate("n => n.setAttribute('lang', 'en')")
    expect(card.locator("[data-field='status']")).to_have_text("Open")

    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#rebates").screenshot(path=str(ARTIFACTS / "rebate-card-en.png"))
    no_leak(page, token, target, offline)


def test_a_transaction_recorded_during_the_test_moves_the_bar(
        card_service: CardService, offline: Offline) -> None:
    """With the subscription the card re-reads its figures when the service pushes the
    changed accrual; without it (not built yet) it polls, here every 5 s."""
    from playwright.sync_api import expect

    token = card_service.token("DEALER", MOVER)
    attributes = {} if card_service.live else {"poll-interval": "5"}
    target = crm_page(offline, card_service, card_tag(MOVER, COLLECT, "zh-CN", **attributes),
                      token)
    page, card = target.page, target.card()
    settled(card, target=target)
    if card_service.live:
        expect(card).to_have_js_property("liveMode", "subscription", timeout=WAIT_MS)
    else:
        expect(card).to_have_js_property("liveMode", "polling", timeout=WAIT_MS)
    bar = card.get_by_role("progressbar")
    before = Decimal(bar.get_attribute("data-current"))
    width_before = bar.locator(".fill").evaluate("n => n.style.width")
    net_before = Decimal(field_value(card, "netAmount") or "0")

    amount = Decimal("54321.09")
    record_payment(card_service, MOVER, amount)
    started = time.monotonic()

    bound = 10.0 if card_service.live else 20.0
    moved = lambda: Decimal(bar.get_attribute("data-current")) == before + amount  # noqa: E731
    assert wait_until(page, moved, bound), (bar.get_attribute("data-current"), before + amount)
    moved_after = time.monotonic() - started
    assert bar.locator(".fill").evaluate("n => n.style.width") != width_before
    # the accrual follows once the worker recomputed it (the next push, or the next poll)
    assert wait_until(page, lambda: Decimal(field_value(card, "netAmount") or "0")
                      != net_before, bound + 30.0)
    check_figures(page, card, api_figures(card_service, MOVER, COLLECT, token), "zh-CN")
    print(f"bar moved {moved_after:.1f} s after recordTransactions "
          f"({'subscription' if card_service.live else 'polling every 5 s'})")
    no_leak(page, token, target, offline)


class StandInSubscriptions:
    """The service's side of graphql-transport-ws, played by the test through Playwright's
    WebSocket routing: it checks the card's half of the protocol whatever the service has."""

    def __init__(self) -> None:
        self.sockets: list[Any] = []
        self.received: list[dict[str, Any]] = []
        self.close_next_with: int | None = None

    def serve(self, socket: Any) -> None:
        self.sockets.append(socket)

        def on_message(text: str | bytes) -> None:
            message = json.loads(text)
            self.received.append(message)
            if message["type"] == "connection_init":
                if self.close_next_with is not None:
                    code, self.close_next_with = self.close_next_with, None
                    socket.close(code=code, reason="stand-in refuses")
                    return
                socket.send(json.dumps({"type": "connection_ack"}))
            elif message["type"] == "ping":
                socket.send(json.dumps({"type": "pong"}))

        socket.on_message(on_message)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.received if message["type"] == kind]

    def push(self, socket: Any) -> None:
        subscription = self.of_type("subscribe")[-1]["id"]
        socket.send(json.dumps({"id": subscription, "type": "next", "payload": {
            "data": {"accrualUpdates": {"__typename": "Accrual"}}}}))


def record_payment(service: CardService, dealer: str, amount: Decimal) -> None:
    period = current_period(service, COLLECT)
    day = min(dt.date.today(), period_end(period))
    recorded = service.gql(RECORD, {"input": {"transactions": [{
        "externalId": f"CARD-TEST-{time.time_ns()}", "dealerCode": dealer, "kind": "PAYMENT",
        "date": day.isoformat(), "amount": str(amount), "currency": "CNY"}]}})
    assert recorded["recordTransactions"]["accepted"] == 1, recorded


def test_the_card_speaks_graphql_transport_ws_and_refetches_on_each_update(
        card_service: CardService, offline: Offline) -> None:
    """The client half of the protocol: the token in connection_init's payload (never in
    the URL), one subscribe for this dealer and program, pong for ping; a pushed `next`
    re-reads the figures at once (not at the next 30 s poll); a dropped socket means
    polling, then a reconnection that subscribes again."""
    from playwright.sync_api import expect

    dealer = "D005"
    stand_in = StandInSubscriptions()
    token = card_service.token("DEALER", dealer)
    socket_url = re.compile(re.escape(card_service.base.replace("http://", "ws://")) +
                            r"/graphql$")
    target = crm_page(offline, card_service, card_tag(dealer, COLLECT, "en"), token,
                      prepare=lambda page: page.route_web_socket(socket_url, stand_in.serve))
    card = target.card()
    settled(card, target=target)
    expect(card).to_have_js_property("liveMode", "subscription", timeout=WAIT_MS)
    expect(card.locator("header .live")).to_have_text("Live")
    assert stand_in.received[0] == {"type": "connection_init",
                                    "payload": {"authorization": f"Bearer {token}"}}
    subscribe = stand_in.received[1]
    assert subscribe["type"] == "subscribe" and subscribe["id"]
    assert "accrualUpdates(dealerCode: $dealerCode, programCode: $programCode)" in \
        subscribe["payload"]["query"]
    assert subscribe["payload"]["variables"] == {"dealerCode": dealer, "programCode": COLLECT}
    assert all(token not in url for url in target.sockets)

    socket = stand_in.sockets[0]
    socket.send(json.dumps({"type": "ping"}))
    assert wait_until(target.page, lambda: len(stand_in.of_type("pong")) == 1, 5.0)

    bar = card.get_by_role("progressbar")
    before = Decimal(bar.get_attribute("data-current"))
    amount = Decimal("1234.56")
    record_payment(card_service, dealer, amount)
    started = time.monotonic()
    stand_in.push(socket)
    assert wait_until(target.page, lambda: Decimal(bar.get_attribute("data-current"))
                      == before + amount, 5.0)
    assert time.monotonic() - started < 5.0  # the push, not the 30 s poll

    stand_in.close_next_with = 1011  # the next connection is refused too
    socket.close(code=1011, reason="server restarting")
    expect(card).to_have_js_property("liveMode", "polling", timeout=WAIT_MS)
    expect(card.locator("header .live")).to_have_text("Refreshes every 30 s")
    # tries again after 5 s (refused: 10 s more), then subscribes again
    expect(card).to_have_js_property("liveMode", "subscription", timeout=WAIT_MS)
    assert len(stand_in.sockets) == 3
    assert len(stand_in.of_type("subscribe")) == 2
    stand_in.sockets[-1].close(code=4403, reason="Forbidden")  # refused for good: no retry
    expect(card).to_have_js_property("liveMode", "polling", timeout=WAIT_MS)
    target.page.wait_for_timeout(6_000)
    assert len(stand_in.sockets) == 3
    no_leak(target.page, token, target, offline)


def period_end(period: str) -> dt.date:
    year = int(period[:4])
    if "-Q" in period:
        month = int(period[-1]) * 3
    elif len(period) == 7:
        month = int(period[5:])
    else:
        month = 12
    first_of_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)


ZH_ERRORS = {
    "noDealer": f"找不到经销商 {OTHER_DEALER} 的返利（经销商不存在，或此令牌无权查看）。",
    "unauthorized": "访问令牌无效或已过期，无法显示返利。请重新登录后再试。",
    "noProgram": "找不到返利政策 NO-SUCH-PROGRAM（政策不存在，或不适用于此经销商）。",
}


def test_a_dealer_token_for_another_dealer_shows_an_error_and_no_data(
        card_service: CardService, offline: Offline) -> None:
    """DEALER probe: D002's token on a card for D001. The card says so, shows none of
    D001's figures, opens no subscription, and the service sent it none of D001's data."""
    from playwright.sync_api import expect

    token = card_service.token("DEALER", DEALER)
    target = crm_page(offline, card_service, card_tag(OTHER_DEALER, COLLECT, "zh-CN"), token)
    card = target.card()
    settled(card, "error", target=target)
    expect(card.get_by_role("alert")).to_contain_text(ZH_ERRORS["noDealer"])
    assert card.locator("dd, [role=progressbar], svg").count() == 0
    expect(card.get_by_role("button", name="重试")).to_be_visible()
    others = api_figures(card_service, OTHER_DEALER, COLLECT, card_service.token())
    shown = card.evaluate("n => n.shadowRoot.textContent")
    assert others["dealer"]["name"] not in shown
    for edge in others["dealer"]["accruals"]["edges"]:
        assert edge["node"]["netAmount"] not in shown
    bodies = target.graphql_bodies()
    answers = [json.loads(body) for body in bodies]
    assert any("dealer" in (answer.get("data") or {}) for answer in answers), answers
    assert all((answer.get("data") or {}).get("dealer") is None for answer in answers)
    assert all(others["dealer"]["name"] not in body and OTHER_DEALER not in body
               for body in bodies)
    assert target.sockets == []  # no subscription for data it may not read
    assert card.evaluate("n => n.liveMode") == "off"
    no_leak(target.page, token, target, offline)


@pytest.mark.parametrize("case", ["bad token", "no such program", "network",
                                  "origin not allowed"])
def test_errors_are_readable_messages_never_a_stack(
        case: str, card_service: CardService, offline: Offline) -> None:
    from playwright.sync_api import expect

    token = card_service.token("DEALER", DEALER)
    program, origin, attributes, connect = COLLECT, None, {}, ""
    if case == "bad token":
        token = token[:-6] + "AAAAAA"  # a forged signature
    elif case == "no such program":
        program = "NO-SUCH-PROGRAM"
    elif case == "network":
        connect = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        attributes = {"endpoint": f"{connect}/graphql"}
    else:
        origin = card_service.stranger_origin
    target = crm_page(offline, card_service, card_tag(DEALER, program, "zh-CN", **attributes),
                      token, origin=origin, connect=connect)
    card = target.card()
    settled(card, "error", target=target)
    alert = card.get_by_role("alert")
    message = alert.inner_text()
    expected = {"bad token": ZH_ERRORS["unauthorized"],
                "no such program": ZH_ERRORS["noProgram"],
                "network": "无法连接返利服务",
                "origin not allowed": "REBATES_CORS_ORIGINS"}[case]
    expect(alert).to_contain_text(expected)
    for trace in ("Error:", "TypeError", " at ", ".js:", "Traceback", "undefined"):
        assert trace not in message, message
    assert card.locator("dd, [role=progressbar], svg").count() == 0
    # the browser's own lines for the refused request; the card logs nothing of its own
    target.problems = [p for p in target.problems if not p.startswith(
        ("request failed:", "console error: Access to fetch",
         "console error: Failed to load resource"))]
    assert target.problems == []
    assert target.csp_violations() == []


def test_keyboard_contrast_and_reduced_motion(
        card_service: CardService, offline: Offline, browser: Any) -> None:
    from playwright.sync_api import expect

    token = card_service.token("DEALER", DEALER)
    target = crm_page(offline, card_service, card_tag(DEALER, COLLECT, "zh-CN"), token)
    page, card = target.page, target.card()
    settled(card, target=target)
    focused = "n => n.shadowRoot.activeElement && n.shadowRoot.activeElement.getAttribute('%s')"
    page.keyboard.press("Tab")
    assert card.evaluate(focused % "role") == "progressbar"
    assert page.evaluate("document.activeElement.tagName") == "REBATE-CARD"
    bar = card.get_by_role("progressbar")
    expect(bar).to_have_accessible_name("档位进度")
    assert bar.evaluate("n => getComputedStyle(n).outlineStyle") == "solid"  # focus ring
    page.keyboard.press("Tab")
    assert card.evaluate(focused % "data-field") == "chart"
    assert "各期返利净额" in (card.locator("svg").get_attribute("aria-label") or "")

    checked = card.evaluate(CONTRAST)
    assert len(checked) > 15
    low = [c for c in checked if c["ratio"] < (3.0 if c["large"] else 4.5)]
    assert low == [], low  # WCAG 2.1 AA
    assert bar.locator(".fill").evaluate(
        "n => getComputedStyle(n).transitionDuration") == "0.6s"

    still = Offline(browser.new_context(reduced_motion="reduce"))
    try:
        calm = crm_page(still, card_service, card_tag(DEALER, COLLECT, "zh-CN"), token)
        settled(calm.card(), target=calm)
        assert calm.card().locator("[role=progressbar] .fill").evaluate(
            "n => getComputedStyle(n).transitionDuration") == "0s"
    finally:
        still.context.close()


def test_the_demo_page_takes_the_token_from_the_fragment_under_its_csp(
        card_service: CardService, offline: Offline) -> None:
    from playwright.sync_api import expect

    token = card_service.token("DEALER", DEALER)
    page = offline.context.new_page()
    target = CardPage(page, card_service.base)
    watch(page, card_service, target)
    page.goto(f"{card_service.base}/embed/demo?dealer={DEALER}#token={token}")
    card = target.card()
    settled(card, target=target)
    assert page.url == f"{card_service.base}/embed/demo?dealer={DEALER}"  # fragment gone
    expect(page.get_by_role("status").first).to_contain_text("fragment")
    check_figures(page, card, api_figures(card_service, DEALER, COLLECT, token), "zh-CN")

    page.get_by_label("Language").select_option("en")
    expect(card.locator("[data-field='status']")).to_have_text("Open")
    page.get_by_label("Program").select_option(TARGET)
    page.get_by_role("button", name="Show the card").click()
    expect(card.locator("[data-field='achievementPercent']")).to_be_visible(timeout=WAIT_MS)
    no_leak(page, token, target, offline)


def test_the_script_is_versioned_cacheable_and_readable_from_any_origin(
        card_service: CardService) -> None:
    client: httpx.Client = card_service.harness.api.client
    plain = client.get("/embed/rebate-card.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert plain.headers["cache-control"] == "public, max-age=300, must-revalidate"
    assert plain.headers["access-control-allow-origin"] == "*"
    assert plain.headers["cross-origin-resource-policy"] == "cross-origin"
    etag = plain.headers["etag"]
    digest = hashlib.sha384(plain.content).digest()
    assert card_service.integrity == "sha384-" + base64.b64encode(digest).decode()
    version = hashlib.sha256(plain.content).hexdigest()[:16]
    assert card_service.script_url.endswith(f"/embed/rebate-card.js?v={version}")

    versioned = client.get(card_service.script_url)
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert versioned.content == plain.content  # httpx undid the gzip
    assert versioned.headers["content-encoding"] == "gzip"
    again = client.get("/embed/rebate-card.js", headers={"If-None-Match": etag,
                                                         "Accept-Encoding": "identity"})
    assert again.status_code == 304 and again.content == b""
    older = client.get("/embed/rebate-card.js?v=0123456789abcdef")
    assert older.headers["cache-control"].startswith("public, max-age=300")

    demo = client.get("/embed/demo")
    csp = demo.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "<script>" not in demo.text  # no inline script
    assert client.get("/embed/nothing.js").status_code == 404


def wait_until(page: Any, probe: Callable[[], bool], timeout: float) -> bool:
    """Whether `probe()` came true within `timeout` seconds (asked every 0.2 s). Waits
    through the page, so that Playwright's events (socket messages) keep coming in."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(200)
    return True
