"""Serve the runtime and its stylesheet once, as cacheable static files.

For pages with many monitors, or a Content-Security-Policy without inline scripts:

    app.routes.append(monitor_assets_route())          # GET /_sse_monitor/{sse-monitor.js,css}
    app, rt = fast_app(hdrs=sse_monitor_headers())      # <link> + <script src> in the head
    status, _ = SSEConnectionMonitor("feed", include_runtime=False)
"""
from __future__ import annotations

import hashlib
from typing import Any

from fasthtml.common import Link, Script
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .monitor import runtime_css, runtime_js

__all__ = ["ASSET_PREFIX", "monitor_assets_route", "sse_monitor_headers"]

ASSET_PREFIX = "/_sse_monitor"
_TYPES = {"sse-monitor.js": ("text/javascript; charset=utf-8", runtime_js),
          "sse-monitor.css": ("text/css; charset=utf-8", runtime_css)}


def _version() -> str:
    """A content hash, so the URLs change when the files do and can be cached for a year."""
    return hashlib.sha256((runtime_js() + runtime_css()).encode()).hexdigest()[:12]


def _check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/") or "{" in prefix:
        raise ValueError(f"prefix must be a URL path like '/_sse_monitor', not {prefix!r}")
    return prefix


def monitor_assets_route(prefix: str = ASSET_PREFIX) -> Route:
    """A Starlette route serving `sse-monitor.js` and `sse-monitor.css` under `prefix`, with ETag."""

    async def asset(request: Request) -> Response:
        entry = _TYPES.get(request.path_params["name"])
        if entry is None:
            return PlainTextResponse("Not found", status_code=404)
        media_type, read = entry
        etag = f'"{_version()}"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable",
                   "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(read(), media_type=media_type, headers=headers)

    return Route(f"{_check_prefix(prefix)}/{{name}}", asset, methods=["GET", "HEAD"])


def sse_monitor_headers(prefix: str = ASSET_PREFIX, nonce: str | None = None,
                        stylesheet: bool = True) -> tuple[Any, ...]:
    """Head elements loading the runtime (deferred) and, for the plain theme, its stylesheet."""
    version = _version()
    extra: dict[str, Any] = {"nonce": nonce} if nonce else {}
    tags: list[Any] = [Script(src=f"{_check_prefix(prefix)}/sse-monitor.js?v={version}", defer=True, **extra)]
    if stylesheet:
        tags.insert(0, Link(rel="stylesheet", href=f"{prefix}/sse-monitor.css?v={version}"))
    return tuple(tags)
