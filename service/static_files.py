"""Files the service serves itself (GraphiQL's vendored assets, the embeddable card): each
named by a content hash in its URL, cached for good when asked for by that URL and
revalidated by its ETag otherwise, gzipped for a client that takes it.

Service/ide.py and service/embed.py decide which files exist and under which path; how a
file is answered is the same for both, here.
"""
from __future__ import annotations

import asyncio
import base64
import functools
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=300, must-revalidate"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class StaticFile:
    path: Path
    prefix: str  # the URL path the file is served under, e.g. "/graphiql"
    body: bytes
    version: str  # the first 16 hex digits of its SHA-256
    integrity: str  # SRI: sha384-<base64>

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.path.suffix]

    @property
    def url(self) -> str:
        return f"{self.prefix}/{self.name}?v={self.version}"

    def etag(self, compressed: bool) -> str:
        return f'"{self.version}{"-gz" if compressed else ""}"'


@functools.cache  # read once per process
def static_file(path: Path, prefix: str) -> StaticFile:
    body = path.read_bytes()
    return StaticFile(
        path=path, prefix=prefix, body=body, version=hashlib.sha256(body).hexdigest()[:16],
        integrity="sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode())


@functools.cache  # compressed once per process (GraphiQL's 4.1 MB are 1.1 MB so)
def _gzipped(found: StaticFile) -> bytes:
    return gzip.compress(found.body, compresslevel=6, mtime=0)


def _not_modified(request: Request, found: StaticFile) -> bool:
    given = request.headers.get("if-none-match", "")
    if not given:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in given.split(",")}
    return "*" in tags or bool(tags & {found.etag(False), found.etag(True)})


async def serve(request: Request, found: StaticFile, extra: dict[str, str] | None = None
                ) -> Response:
    """The file with its ETag; immutable when the URL names its version; a 304 for a
    matching If-None-Match; gzipped when the client takes it (off the event loop)."""
    versioned = request.query_params.get("v") == found.version
    compressed = "gzip" in request.headers.get("accept-encoding", "").lower()
    headers = {"Cache-Control": IMMUTABLE if versioned else REVALIDATE,
               "ETag": found.etag(compressed), "Vary": "Accept-Encoding", **(extra or {})}
    if _not_modified(request, found):
        return Response(status_code=304, headers=headers)
    if compressed:
        body = await asyncio.to_thread(_gzipped, found)
        return Response(body, media_type=found.media_type,
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(found.body, media_type=found.media_type, headers=headers)
