"""Everything a page needs for live updates, in one call: `sse_headers()`.

htmx itself comes from FastHTML (`fast_app()` loads htmx 2, `fast_app(htmx4=True)` htmx 4). What it
does not bring is the SSE extension for htmx 2 (FastHTML has no `exts="sse"`), and the monitor's
runtime and stylesheet. `sse_headers(htmx=2)` puts them in the page head:

    app, rt = fast_app(hdrs=sse_headers())                       # htmx 2, extension from the CDN
    app, rt = fast_app(htmx4=True, hdrs=sse_headers(htmx=4))     # htmx 4: FastHTML's own hx-sse

The extension comes from the same CDN FastHTML loads htmx from, pinned to one version and checked by
the browser against a Subresource Integrity hash (computed from the npm package's file, see
`tests/unit/test_assets.py`). The runtime and its CSS are inlined (`nonce=` for a CSP with nonces).

Offline, or under a CSP that allows only `'self'`, serve everything from your own app instead, from an
npm install (`npm install htmx.org@2.0.11 htmx-ext-sse@2.2.4`) or a folder laid out the same way:

    app, rt = fast_app(default_hdrs=False, hdrs=sse_headers(assets="node_modules"))
    app.routes.insert(0, monitor_assets_route(assets="node_modules"))   # before FastHTML's static route

The older pair `sse_monitor_headers()` + `monitor_assets_route()` serves only the runtime and its CSS.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fasthtml.common import Link, Meta, Script, Style
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..validate import check_str
from .element import validate_htmx_version
from .monitor import runtime_css, runtime_js

__all__ = ["ASSET_PREFIX", "CDN_EXTENSION", "LOCAL_FILES", "NPM_INSTALL", "CdnFile",
           "monitor_assets_route", "sse_headers", "sse_monitor_headers", "find_local_assets"]

ASSET_PREFIX = "/_sse_monitor"
CDN = "https://cdn.jsdelivr.net/npm"     # where FastHTML 0.12-0.14 loads htmx from


@dataclass(frozen=True)
class CdnFile:
    """One file of an npm package on the CDN, with the SRI hash of that exact file."""
    package: str
    version: str
    path: str
    integrity: str

    @property
    def url(self) -> str:
        return f"{CDN}/{self.package}@{self.version}/{self.path}"


# The SSE extension for each htmx major version. htmx 2: htmx-ext-sse 2.2.x (htmx.org@2 still ships
# an htmx-1-era `dist/ext/sse.js` that shows Live and swaps nothing). htmx 4: the hx-sse that
# FastHTML's `exts="sse4"` loads, matching the htmx 4 it loads (`fasthtml.core.htmx_exts["sse4"]`).
CDN_EXTENSION = {
    2: CdnFile("htmx-ext-sse", "2.2.4", "dist/sse.min.js",
               "sha384-A986SAtodyH8eg8x8irJnYUk7i9inVQqYigD6qZ9evobksGNIXfeFvDwLSHcp31N"),
    4: CdnFile("htmx.org", "4.0.0", "dist/ext/hx-sse.min.js",
               "sha384-VZD0TLKqhJ26ayBUgQg3ud6DsOLMJvtcz0ANpNc9WSbgIuQTnlXI2IfsF5jhBjT6"),
}

# Served locally: htmx and the extension, as `<folder>/<package>/<path>` (a node_modules folder, or the
# folder holding it). These are the versions the test suite runs on.
LOCAL_FILES = {
    2: (("htmx.org", "dist/htmx.min.js"), ("htmx-ext-sse", "dist/sse.min.js")),
    4: (("htmx.org", "dist/htmx.min.js"), ("htmx.org", "dist/ext/hx-sse.min.js")),
}
NPM_INSTALL = {2: "htmx.org@2.0.11 htmx-ext-sse@2.2.4", 4: "htmx.org@4.0.1"}


def _version() -> str:
    """A content hash, so the URLs change when the files do and can be cached for a year."""
    return hashlib.sha256((runtime_js() + runtime_css()).encode()).hexdigest()[:12]


def _check_prefix(prefix: str) -> str:
    if not check_str("prefix", prefix).startswith("/") or prefix.endswith("/") or "{" in prefix:
        raise ValueError(f"prefix must be a URL path like '/_sse_monitor', not {prefix!r}")
    return prefix


def _package_dir(folder: Path, package: str) -> Path:
    for candidate in (folder / package, folder / "node_modules" / package):
        if (candidate / "package.json").is_file():
            return candidate
    return folder / package


def find_local_assets(assets: str | Path, htmx: int = 2) -> dict[str, Path]:
    """`{"<package>/<path>": file}` for htmx and its SSE extension under `assets`, or a ValueError
    saying exactly which `npm install` provides them."""
    htmx = validate_htmx_version(htmx)
    if not isinstance(assets, (str, Path)):
        raise TypeError(f"assets must be a folder (str or Path), not {type(assets).__name__}")
    if not str(assets):
        raise ValueError(f"assets must be a folder (str or Path), not {assets!r}")
    folder = Path(assets)
    install = f"`npm install --prefix {folder} {NPM_INSTALL[htmx]}`"
    found: dict[str, Path] = {}
    for package, path in LOCAL_FILES[htmx]:
        package_dir = _package_dir(folder, package)
        file = package_dir / path
        if not file.is_file():
            raise ValueError(f"assets: {file} is missing (htmx {htmx}); run {install}")
        if package == "htmx.org":
            version = str(json.loads((package_dir / "package.json").read_text()).get("version", "?"))
            if not version.startswith(f"{htmx}."):
                raise ValueError(f"assets: {package_dir} is htmx {version}, not htmx {htmx}; install htmx "
                                 f"{htmx} in a folder of its own, e.g. `npm install --prefix htmx{htmx}-assets "
                                 f"{NPM_INSTALL[htmx]}`, and pass that folder")
        found[f"{package}/{path}"] = file
    return found


def sse_headers(htmx: int = 2, *, assets: str | Path | None = None, prefix: str = ASSET_PREFIX,
                nonce: str | None = None) -> tuple[Any, ...]:
    """Head elements for live pages: the pinned SSE extension for htmx `htmx` (2 or 4), the monitor's
    runtime and its stylesheet. Pass them as `fast_app(hdrs=...)`.

    By default the extension comes from the CDN with an `integrity` hash and the runtime is inline.
    With `assets=<folder>` everything (htmx too) is loaded from `prefix` on your own app, which
    `monitor_assets_route(prefix, assets=<folder>)` serves: use it with `fast_app(default_hdrs=False)`.
    """
    htmx = validate_htmx_version(htmx)
    prefix = _check_prefix(prefix)
    extra: dict[str, Any] = {"nonce": nonce} if nonce else {}
    if assets is None:
        ext = CDN_EXTENSION[htmx]
        return (Script(src=ext.url, integrity=ext.integrity, crossorigin="anonymous", **extra),
                Style(runtime_css(), **extra), Script(runtime_js(), **extra))
    files = find_local_assets(assets, htmx)
    # htmx 4 set up as FastHTML's `fast_app(htmx4=True)` does: metaCharacter "-" (hx-on--after-request).
    config = [Meta(name="htmx-config", content=json.dumps({"metaCharacter": "-"}))] if htmx == 4 else []
    return (*config, *[Script(src=f"{prefix}/vendor/{name}", **extra) for name in files],
            *sse_monitor_headers(prefix, nonce=nonce))


def monitor_assets_route(prefix: str = ASSET_PREFIX, *, assets: str | Path | None = None,
                         htmx: int | None = None) -> Route:
    """A Starlette route serving `sse-monitor.js` and `sse-monitor.css` under `prefix`, with ETag.

    With `assets=<folder>` it also serves htmx and its SSE extension from that folder as
    `{prefix}/vendor/<package>/<path>` (only those files; `htmx` picks 2 or 4, else whichever the
    folder's htmx.org is). Insert it before FastHTML's catch-all static route:
    `app.routes.insert(0, monitor_assets_route(...))`.
    """
    table: dict[str, tuple[str, Callable[[], str | bytes]]] = {
        "sse-monitor.js": ("text/javascript; charset=utf-8", runtime_js),
        "sse-monitor.css": ("text/css; charset=utf-8", runtime_css)}
    if assets is not None:
        versions = [htmx] if htmx is not None else [2, 4]
        errors = []
        for version in versions:
            try:
                files = find_local_assets(assets, version)
            except ValueError as error:
                errors.append(error)
                continue
            for name, file in files.items():
                table[f"vendor/{name}"] = ("text/javascript; charset=utf-8", file.read_bytes)
            break
        else:
            raise errors[0]

    async def asset(request: Request) -> Response:
        entry = table.get(request.path_params["name"])
        if entry is None:
            return PlainTextResponse("Not found", status_code=404)
        media_type, read = entry
        body = read()
        etag = f'"{hashlib.sha256(body.encode() if isinstance(body, str) else body).hexdigest()[:16]}"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable",
                   "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media_type, headers=headers)

    return Route(f"{_check_prefix(prefix)}/{{name:path}}", asset, methods=["GET", "HEAD"])


def sse_monitor_headers(prefix: str = ASSET_PREFIX, nonce: str | None = None,
                        stylesheet: bool = True) -> tuple[Any, ...]:
    """Head elements loading the runtime (deferred) and, for the plain theme, its stylesheet, from
    `monitor_assets_route(prefix)`. (`sse_headers()` also brings the SSE extension.)"""
    version = _version()
    extra: dict[str, Any] = {"nonce": nonce} if nonce else {}
    tags: list[Any] = [Script(src=f"{_check_prefix(prefix)}/sse-monitor.js?v={version}", defer=True, **extra)]
    if stylesheet:
        tags.insert(0, Link(rel="stylesheet", href=f"{prefix}/sse-monitor.css?v={version}"))
    return tuple(tags)
