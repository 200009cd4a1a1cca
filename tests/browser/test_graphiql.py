"""GraphiQL in a real Chromium with no internet: it loads from the service alone, runs a query
with a token pasted into its Headers pane, and says so in plain text when it cannot start."""
from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, Offline
from tests.crash.conftest import CrashHarness

pytestmark = pytest.mark.browser

DEALERS = [("GQ-ANHUI", "安徽华联商贸", "EAST"),
           ("GQ-BEIJING", "Beijing Northstar Trading", "NORTH"),
           ("GQ-CHENGDU", "成都西部电器", "WEST"),
           ("GQ-DALIAN", "Dalian Harbour Supply", "NORTH")]
QUERY = "{ dealers(first: 3) { edges { node { code name } } } }"
# Records what the page's Content-Security-Policy refused (an init script is not subject to it).
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def dealers(service: CrashHarness) -> list[str]:
    for code, name, region in DEALERS:
        payload = service.api.gql(
            "mutation($i: DealerInput!) { upsertDealer(input: $i) { userErrors { code } } }",
            {"i": {"code": code, "name": name, "region": region}})
        assert payload["upsertDealer"]["userErrors"] == []
    edges = service.api.gql(QUERY)["dealers"]["edges"]
    return [edge["node"]["code"] for edge in edges]


def watched_page(offline: Offline) -> tuple[Any, list[str]]:
    """A page whose console errors, uncaught exceptions and failed requests are kept."""
    page = offline.context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console {message.type}: "
                                                       f"{message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("requestfailed", lambda request: problems.append(
        f"request failed: {request.url} ({request.failure})"))
    page.add_init_script(CSP_RECORDER)
    return page, problems


def replace_text(page: Any, editor: Any, text: str) -> None:
    """Select all in a CodeMirror editor and paste `text` over it (an input event, as a
    paste is: no key presses, so no auto-closed brackets)."""
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def test_graphiql_runs_a_query_offline_with_a_pasted_token(
        service: CrashHarness, dealers: list[str], offline: Offline) -> None:
    from playwright.sync_api import expect

    page, problems = watched_page(offline)
    base = service.api.base_url
    page.goto(f"{base}/graphql", wait_until="load")

    query_editor = page.locator(".graphiql-query-editor .CodeMirror")
    expect(query_editor).to_be_visible(timeout=WAIT_MS)
    result = page.locator(".graphiql-response .result-window")
    expect(result).to_contain_text("No bearer token yet", timeout=WAIT_MS)  # nothing sent

    replace_text(page, query_editor, QUERY)
    page.get_by_role("button", name="Headers").click()
    headers_editor = page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) "
                                  ".CodeMirror")
    expect(headers_editor).to_be_visible()
    with page.expect_response(lambda r: r.url == f"{base}/graphql"
                              and "IntrospectionQuery" in (r.request.post_data or ""),
                              timeout=WAIT_MS) as introspection:
        replace_text(page, headers_editor,
                     f'{{"Authorization": "Bearer {service.api.token("ADMIN")}"}}')
    assert introspection.value.status == 200  # the schema loads once a token is given

    page.locator(".graphiql-execute-button").click()
    for code in dealers:
        expect(result).to_contain_text(code, timeout=WAIT_MS)
    shown = result.inner_text()
    assert "errors" not in shown
    assert {name for _, name, _ in DEALERS if name in shown} == {
        name for code, name, _ in DEALERS if code in dealers}  # UTF-8 names intact

    page.get_by_role("button", name="Open settings dialog").click()  # adds inline styles
    expect(page.get_by_role("dialog")).to_contain_text("Settings")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.get_by_role("button", name="Show GraphiQL Explorer").click()
    explorer = page.locator(".graphiql-plugin")
    expect(explorer).to_contain_text("dealers", timeout=WAIT_MS)  # built from the schema

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "graphiql.png"))
    assert page.evaluate("window.__cspViolations") == []
    assert problems == []
    assert offline.blocked == [], "the page tried to leave the machine"
    assert all(url.startswith(base) for url in offline.requested), offline.requested


def test_a_script_that_fails_to_load_is_named_in_plain_text(
        service: CrashHarness, offline: Offline) -> None:
    from playwright.sync_api import expect

    offline.context.route("**/graphiql/graphiql-3.8.3.min.js*",
                          lambda route: route.abort("connectionrefused"))
    page, _ = watched_page(offline)
    page.goto(f"{service.api.base_url}/graphql")
    message = page.get_by_role("alert")
    expect(message).to_contain_text("GraphiQL cannot start: /graphiql/graphiql-3.8.3.min.js "
                                    "did not load from this service", timeout=WAIT_MS)
    assert page.evaluate("window.__cspViolations") == []


def test_without_its_start_script_the_page_says_graphiql_has_not_started(
        service: CrashHarness, offline: Offline) -> None:
    from playwright.sync_api import expect

    offline.context.route("**/graphiql/ide.js*", lambda route: route.abort("connectionrefused"))
    page, _ = watched_page(offline)
    page.goto(f"{service.api.base_url}/graphql")
    stuck = page.get_by_text("GraphiQL has not started yet")
    expect(stuck).to_be_hidden()  # not while the scripts may still be on their way
    expect(stuck).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("Loading GraphiQL")).to_be_visible()


def test_without_javascript_the_page_says_it_needs_it(
        service: CrashHarness, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{service.api.base_url}/graphql")
        assert "GraphiQL needs JavaScript" in page.locator("#graphiql").inner_text()
    finally:
        context.close()
