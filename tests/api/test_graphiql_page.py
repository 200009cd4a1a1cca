"""The GraphiQL page needs nothing but the service: every asset it names is local and served,
and its Content-Security-Policy lets it load nothing from elsewhere (tests/browser runs it)."""
from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from service.config import Settings
from tests.conftest import Api, serving

PAGE_HEADERS = {"accept": "text/html"}


class Assets(HTMLParser):
    """The URLs a page loads: scripts, stylesheets, icons; and its JSON data blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.inline_scripts: list[dict[str, str | None]] = []
        self._in_script: dict[str, str | None] | None = None
        self.data: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(("script", found["src"] or ""))
        elif tag == "script":
            self._in_script = found
        elif tag == "link" and found.get("href"):
            self.urls.append((found.get("rel") or "", found["href"] or ""))

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            self.data[self._in_script.get("id") or ""] = data
            self.inline_scripts.append(self._in_script)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None


def parsed_page(api: Api) -> Assets:
    response = api.client.get("/graphql", headers=PAGE_HEADERS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parser = Assets()
    parser.feed(response.text)
    return parser


def csp_directives(api: Api) -> dict[str, list[str]]:
    header = api.client.get("/graphql", headers=PAGE_HEADERS).headers["content-security-policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


def test_the_page_names_no_url_outside_the_service(api: Api) -> None:
    page = api.client.get("/graphql", headers=PAGE_HEADERS).text
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page), page
    assert "unpkg" not in page
    parser = parsed_page(api)
    kinds = {kind for kind, _ in parser.urls}
    assert {"script", "stylesheet"} <= kinds
    for kind, url in parser.urls:
        assert url.startswith("/graphiql/") or (kind == "icon" and url.startswith("data:")), url


def test_the_page_runs_no_inline_script(api: Api) -> None:
    parser = parsed_page(api)
    assert [s.get("type") for s in parser.inline_scripts] == ["application/json"]
    config = json.loads(parser.data["graphiql-config"])
    assert config["endpoint"] == "/graphql"
    assert "dealers" in config["defaultQuery"] and "Authorization" in config["defaultQuery"]
    assert [s["global"] for s in config["scripts"]] == [
        "React", "ReactDOM", "GraphiQL", "GraphiQLPluginExplorer"]


def test_the_page_says_what_failed_when_scripts_do_not_run(api: Api) -> None:
    page = api.client.get("/graphql", headers=PAGE_HEADERS).text
    root = page[page.index('<div id="graphiql">'):page.index("<script src=")]
    assert "<noscript>" in root and "Loading GraphiQL" in root
    assert "GraphiQL has not started yet" in root


@pytest.mark.parametrize("kind, media_type", [("script", "text/javascript"),
                                              ("stylesheet", "text/css")])
def test_every_asset_is_served_with_its_type_and_cached_for_good(
        api: Api, kind: str, media_type: str) -> None:
    urls = [url for found, url in parsed_page(api).urls if found == kind]
    assert urls
    for url in urls:
        response = api.client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == f"{media_type}; charset=utf-8", url
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-encoding"] == "gzip"  # httpx asks for it
        version = url.split("?v=")[1]
        assert hashlib.sha256(response.content).hexdigest().startswith(version), url
        plain = api.client.get(url, headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == response.content
        assert int(plain.headers["content-length"]) == len(plain.content) > 500


def test_vendored_files_are_the_npm_packages_own(api: Api) -> None:
    """The same bytes strawberry's template pins with `integrity` on unpkg.com."""
    expected = {
        "react-18.2.0.production.min.js":
            "tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
        "graphiql-3.8.3.min.js":
            "HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
        "graphiql-3.8.3.min.css":
            "Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
    }
    for name, digest in expected.items():
        body = api.client.get(f"/graphiql/{name}").content
        assert base64.b64encode(hashlib.sha384(body).digest()).decode() == digest, name


def test_only_the_listed_assets_are_served(api: Api) -> None:
    for path in ["/graphiql/README.md", "/graphiql/LICENSES.txt", "/graphiql/..%2Fide.py",
                 "/graphiql/../app.py", "/graphiql/"]:
        response = api.client.get(path)
        assert response.status_code == 404, path
    refused = api.client.get("/graphiql/nothing.js")
    assert refused.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_the_content_security_policy_allows_only_the_service(api: Api) -> None:
    csp = csp_directives(api)
    assert csp == {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
    }
    page = api.client.get("/graphql", headers=PAGE_HEADERS)
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_with_graphiql_off_its_assets_are_not_served(settings: Settings, tmp_path: Path) -> None:
    production = settings.model_copy(update={"graphiql": False, "data_dir": tmp_path})
    with serving(production) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/graphql", headers=PAGE_HEADERS).status_code == 401
        assert client.get("/graphiql/graphiql-3.8.3.min.js").status_code == 404
