"""The embeddable rebate card (`<rebate-card>`, SPEC §8): its script, and a demo host page.

- `/embed/rebate-card.js` is the card: one dependency-free script, for any origin (a CRM
  page or a partner portal includes it with `<script src>`). With `?v=<its hash>` (what
  `/embed/rebate-card.json` and the demo page name) it is cached for a year as immutable;
  without it (or with an older hash) for 5 minutes, then revalidated with its ETag. It is
  readable cross-origin (`Access-Control-Allow-Origin: *`, no credentials), so a host page
  may load it with `integrity` (SRI) and `crossorigin="anonymous"`.
- `/embed/rebate-card.json`: the versioned URL and its SRI hash, for a host's build.
- `/embed/demo` (only while GraphiQL is served: a developer page, off in production): a
  host page for `make run` that takes a token from a form field or from the URL's fragment
  (`#token=…`, never sent to any server), under a CSP with no inline script or style.

The card calls the GraphQL endpoint with the token the host page hands it; a host page of
another origin needs that origin in REBATES_CORS_ORIGINS (service/middleware.py).
"""
from __future__ import annotations

import functools
import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from service import static_files
from service.limits import error_response
from service.static_files import StaticFile, serve

STATIC = Path(__file__).parent / "static" / "embed"
PREFIX = "/embed"

# The demo page loads its own script and style from this service and talks to /graphql
# (HTTP and WebSocket: CSP Level 3's 'self' covers ws:/wss: to the same host and port).
# The card's styles are a constructed stylesheet, which style-src does not govern.
DEMO_CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
])
DEMO_HEADERS = {"Content-Security-Policy": DEMO_CSP, "X-Frame-Options": "DENY"}
# The card's script is public code: any origin may read it (no credentials are involved).
CROSS_ORIGIN = {"Access-Control-Allow-Origin": "*",
                "Cross-Origin-Resource-Policy": "cross-origin"}


CARD = "rebate-card.js"
DEMO_FILES = ("demo.js", "demo.css")


def static_file(name: str) -> StaticFile:
    return static_files.static_file(STATIC / name, PREFIX)


async def card_script(request: Request) -> Response:
    return await serve(request, static_file(CARD), CROSS_ORIGIN)


async def card_manifest(_: Request) -> Response:
    """What a host's build pins: the versioned script URL (path) and its SRI hash."""
    found = static_file(CARD)
    return JSONResponse({"version": found.version, "url": found.url,
                         "integrity": found.integrity},
                        headers={"Cache-Control": "no-cache", **CROSS_ORIGIN})


async def demo_asset(request: Request) -> Response:
    name = request.path_params["file"]
    if name not in DEMO_FILES:
        return error_response(404, "NOT_FOUND", "no such file under /embed")
    return await serve(request, static_file(name))


@functools.cache
def render_demo() -> str:
    card = static_file(CARD)
    template = (STATIC / "demo.html").read_text(encoding="utf-8")
    values = {"card_url": card.url, "card_integrity": card.integrity,
              "demo_js": static_file("demo.js").url, "demo_css": static_file("demo.css").url}
    for name, value in values.items():
        template = template.replace("{{" + name + "}}", html.escape(value))
    return template


async def demo_page(_: Request) -> Response:
    return HTMLResponse(render_demo(), headers={**DEMO_HEADERS, "Cache-Control": "no-cache"})


def routes(*, demo: bool) -> list[Route]:
    """The card's routes; the demo page's too when `demo` (served with GraphiQL)."""
    found = [Route(f"{PREFIX}/{CARD}", card_script, methods=["GET", "HEAD"]),
             Route(f"{PREFIX}/rebate-card.json", card_manifest, methods=["GET", "HEAD"])]
    if demo:
        found += [Route(f"{PREFIX}/demo", demo_page, methods=["GET", "HEAD"]),
                  Route(PREFIX + "/{file}", demo_asset, methods=["GET", "HEAD"])]
    return found
