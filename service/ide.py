"""GraphiQL for a browser, served entirely by the service: the page, its assets and the
Content-Security-Policy that keeps the page from loading anything from anywhere else.

The machines the service runs on have no internet: strawberry's own page names unpkg.com and
stays blank there. The assets are vendored in `service/static/graphiql/` (versions and
licences in its README) and served from `/graphiql/<file>` with a content hash in the URL,
so they can be cached as immutable (service/static_files.py). The page has no inline script
(`script-src 'self'`): it starts GraphiQL from `static/ide.js`, which reads its settings from
a JSON data block.
"""
from __future__ import annotations

import functools
import html
import json
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from service.limits import error_response
from service.static_files import StaticFile, serve, static_file

STATIC = Path(__file__).parent / "static"
ASSET_PREFIX = "/graphiql"
ENDPOINT = "/graphql"

CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    # GraphiQL's dialogs and CodeMirror add <style> elements and style attributes at run time.
    "style-src 'self' 'unsafe-inline'",
    "font-src 'self' data:",  # graphiql.min.css carries its fonts as data: URLs
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
])
# On top of the headers every response carries (service/middleware.py).
PAGE_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": CSP}

DEFAULT_QUERY = """\
# Rebates GraphQL: GraphiQL served by this service (it needs no internet).
#
# Every operation needs a bearer token. Paste one into the Headers tab below:
#   {"Authorization": "Bearer <token>"}
# `make run` prints an ADMIN token; more with
#   .venv/bin/rebates token --role FINANCE
#   .venv/bin/rebates token --role DEALER --dealer <code>
# The schema (completion, Docs, Explorer) then loads by itself.
# Run the query with Ctrl-Enter or the ▶ button.

query FirstDealers {
  dealers(first: 5) {
    totalCount
    edges {
      node {
        code
        name
        region
        status
      }
    }
  }
}
"""
DEFAULT_HEADERS = '{\n  "Authorization": "Bearer <paste a token here>"\n}'
HEADERS_HINT = ("No bearer token yet: put {\"Authorization\": \"Bearer <token>\"} into the "
                "Headers pane below (`make run` prints an ADMIN token; more with "
                "`.venv/bin/rebates token --role <ROLE>`). The schema then loads by itself.")


@dataclass(frozen=True)
class Asset:
    path: Path
    global_name: str | None = None  # what a script defines on `window` once it has run

    @property
    def file(self) -> StaticFile:
        return static_file(self.path, ASSET_PREFIX)

    @property
    def url(self) -> str:
        return self.file.url


VENDORED = STATIC / "graphiql"
STYLES = (Asset(VENDORED / "graphiql-3.8.3.min.css"),
          Asset(VENDORED / "plugin-explorer-1.0.2.css"),
          Asset(STATIC / "ide.css"))
SCRIPTS = (Asset(VENDORED / "react-18.2.0.production.min.js", "React"),
           Asset(VENDORED / "react-dom-18.2.0.production.min.js", "ReactDOM"),
           Asset(VENDORED / "graphiql-3.8.3.min.js", "GraphiQL"),
           Asset(VENDORED / "plugin-explorer-1.0.2.umd.js", "GraphiQLPluginExplorer"),
           Asset(STATIC / "ide.js"))
ASSETS = {asset.path.name: asset for asset in (*STYLES, *SCRIPTS)}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rebates GraphQL · GraphiQL</title>
<link rel="icon" href="data:,">
{styles}
<script type="application/json" id="graphiql-config">{config}</script>
</head>
<body>
<div id="graphiql">
<div class="ide-fallback">
<p>Loading GraphiQL…</p>
<noscript><p>GraphiQL needs JavaScript, which this browser does not run for this page. The
API itself answers at POST {endpoint} with a bearer token.</p></noscript>
<p class="ide-stuck">GraphiQL has not started yet: its scripts (about 1 MB, served by this
service under {prefix}/) are still on their way, or one of them failed to load or to run.
The browser console names the file that failed; check that the service is still running,
then reload the page.</p>
</div>
</div>
{scripts}
</body>
</html>
"""


def _json_block(data: object) -> str:
    """JSON that cannot end its <script> element early."""
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.cache  # the assets' hashes are read once per process
def render_page() -> str:
    config = {"endpoint": ENDPOINT, "defaultQuery": DEFAULT_QUERY,
              "defaultHeaders": DEFAULT_HEADERS, "headersHint": HEADERS_HINT,
              "scripts": [{"url": s.url, "global": s.global_name} for s in SCRIPTS
                          if s.global_name]}
    return PAGE.format(
        styles="\n".join(f'<link rel="stylesheet" href="{html.escape(s.url)}">'
                         for s in STYLES),
        scripts="\n".join(f'<script src="{html.escape(s.url)}"></script>' for s in SCRIPTS),
        config=_json_block(config), endpoint=ENDPOINT, prefix=ASSET_PREFIX)


def page_response() -> HTMLResponse:
    return HTMLResponse(render_page(), headers=PAGE_HEADERS)


async def asset(request: Request) -> Response:
    found = ASSETS.get(request.path_params["file"])
    if found is None:
        return error_response(404, "NOT_FOUND", "no such GraphiQL asset")
    return await serve(request, found.file)


ROUTES = [Route(ASSET_PREFIX + "/{file}", asset, methods=["GET", "HEAD"])]
