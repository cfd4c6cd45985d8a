"""The demo: three live channels on one in-memory Hub, a monitor for each, and buttons that drop,
stall, refuse (503) or close the streams, so every state of the monitor can be watched."""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from fasthtml.common import H1, H2, Button, Div, Form, Input, Li, Main, Meta, P, Section, Style, Title, Ul, fast_app
from starlette.requests import Request

from ..browser.assets import monitor_assets_route, sse_headers
from ..browser.config import SSEConnectionConfig
from ..browser.element import SSEElement, validate_htmx_version
from ..browser.monitor import SSEConnectionMonitor
from ..scaleout import BackendUnavailable
from ..scaleout.redis import RedisBackend
from ..server.hub import Hub
from .chaos import Chaos

CHANNELS = {
    "clock": "The server's clock, every second",
    "counter": "A counter, twice a second, from the half-seconds since midnight (UTC) when the server "
               "started: after a dropped connection it resumes with no number skipped; after a restart it "
               "jumps ahead by the time the server was down",
    "news": "Whatever you publish below",
}

PAGE_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1f2937; }
main { max-width: 980px; margin: 0 auto; padding: 1.5rem; }
header { display: flex; align-items: center; justify-content: space-between; gap: 1rem; flex-wrap: wrap; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 1rem; }
section { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 1rem; }
section h2 { display: flex; justify-content: space-between; align-items: center; font-size: 1rem; margin: 0 0 .25rem; }
section p { color: #6b7280; margin: 0 0 .5rem; font-size: .85rem; }
ul { list-style: none; padding: 0; margin: 0; max-height: 14rem; overflow: auto; font-variant-numeric: tabular-nums; }
li { padding: .15rem 0; border-bottom: 1px dashed #f0f0f0; }
.controls { display: flex; flex-wrap: wrap; gap: .5rem; margin: 1rem 0; }
button { font: inherit; padding: .4rem .8rem; border-radius: 8px; border: 1px solid #d1d5db; background: #fff; color: #1f2937; cursor: pointer; width: auto; margin: 0; }
button:hover { background: #f3f4f6; }
form { display: flex; gap: .5rem; margin-top: .5rem; }
input { font: inherit; flex: 1; padding: .4rem; border: 1px solid #d1d5db; border-radius: 8px; }
"""  # noqa: E501  (CSS rules one per line)

# Empty the box once its message is sent, unless the user has typed the next one meanwhile: a message
# can arrive on the stream before its POST's answer, and a plain `this.reset()` would wipe what was
# typed in between. `hx-on--` names the same event on htmx 2 and 4.
KEEP_TYPED_TEXT = {"hx_on__before_request": "this.dataset.sent = this.elements.text.value",
                   "hx_on__after_request": "if (this.elements.text.value === this.dataset.sent) this.reset()"}


def create_app(assets: str | Path | None = None, heartbeat: float = 2.0, htmx: int | None = None,
               redis_url: str | None = None, share_tabs: bool | None = None) -> Any:
    """The demo app. htmx comes from FastHTML's CDN and the SSE extension from `sse_headers()`, or,
    with `assets` (a folder holding an npm install of htmx.org and htmx-ext-sse, or of htmx.org@4),
    everything from this app. `htmx` is the major version the page runs on: 2 or 4. `redis_url` runs
    the hub on Redis Streams (several workers or hosts share the channels). `share_tabs=False` gives
    every tab its own streams (to watch HTTP/2 carry them). Defaults come from the environment
    (SSE_MONITOR_DEMO_ASSETS, SSE_MONITOR_DEMO_HTMX, SSE_MONITOR_REDIS_URL, SSE_MONITOR_DEMO_SHARE_TABS), so that
    `uvicorn --factory sse_monitor.demo:create_app --workers 2` works too."""
    env = os.environ.get
    htmx = validate_htmx_version(htmx if htmx is not None else env("SSE_MONITOR_DEMO_HTMX", "2"))
    assets = assets if assets is not None else env("SSE_MONITOR_DEMO_ASSETS") or None
    redis_url = redis_url if redis_url is not None else env("SSE_MONITOR_REDIS_URL") or None
    share_tabs = share_tabs if share_tabs is not None else env("SSE_MONITOR_DEMO_SHARE_TABS", "1") != "0"
    monitor_config = SSEConnectionConfig(stall_timeout=6000, log_to_console=True, share_across_tabs=share_tabs)
    live_headers = sse_headers(htmx, assets=assets)      # a ValueError naming the npm install if missing
    hub = Hub(RedisBackend(redis_url) if redis_url else None,
              heartbeat_interval=heartbeat, close_reconnect_after_ms=1500)
    chaos = Chaos()

    async def lifespan(app: Any) -> AsyncIterator[None]:  # FastHTML takes an async generator
        async with hub.lifespan(app):
            tickers = _tickers(hub) if not redis_url else _lead(redis_url, lambda: _tickers(hub))
            tasks = [asyncio.create_task(tickers)]
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()

    # A session secret of its own: FastHTML would otherwise write `.sesskey` into the current folder.
    # The CLI hands one to every worker (SSE_MONITOR_DEMO_SECRET); a demo needs no lasting one.
    secret = os.environ.get("SSE_MONITOR_DEMO_SECRET") or secrets.token_hex(32)
    app, rt = fast_app(default_hdrs=assets is None, htmx4=htmx == 4, lifespan=lifespan, secret_key=secret, hdrs=(
        *([] if assets is None else [Meta(charset="utf-8"),
                                     Meta(name="viewport", content="width=device-width, initial-scale=1")]),
        *live_headers, Style(PAGE_CSS)))
    if assets is not None:   # before FastHTML's catch-all static route, which would look in the cwd
        app.routes.insert(0, monitor_assets_route(assets=assets, htmx=htmx))
    if _has_prometheus():    # the `metrics` extra: GET /metrics, with a series per demo channel
        hub.metrics_route(app, "/metrics", channels=CHANNELS)

    @rt("/")
    def index() -> Any:
        sections = []
        for channel, about in CHANNELS.items():
            status, script = SSEConnectionMonitor(channel, config=monitor_config, include_runtime=False)
            sections.append(Section(
                H2(channel, status), P(about),
                SSEElement(channel, hub.sse_url(f"/events/{channel}", channel), htmx=htmx,
                           hx_swap="afterbegin", hx_target=f"#items-{channel}"),
                Ul(id=f"items-{channel}"),
                *([Form(Input(name="text", placeholder="Say something", required=True, maxlength=200),
                        Button("Publish"), hx_post="/publish", hx_swap="none",
                        **KEEP_TYPED_TEXT)] if channel == "news" else []),
                script))
        return Title("fasthtml-sse-monitor demo"), Main(
            Div(H1("fasthtml-sse-monitor demo"), P(f"htmx {htmx}", cls="htmx-version"),
                P("Break the stream with the buttons and watch each indicator. Click a Disconnected "
                  "indicator to retry."), cls="header"),
            Div(Button("Drop streams", hx_post="/chaos/drop"),
                Button("Stall 15 s", hx_post="/chaos/stall"),
                Button("503 for 10 s", hx_post="/chaos/unavailable"),
                Button("Server close (for good)", hx_post="/chaos/close"),
                Button("Server close (restart in 3 s)", hx_post="/chaos/restart"),
                cls="controls", hx_swap="none"),
            Div(*sections, cls="grid"))

    @rt("/events/{channel}")
    async def get(request: Request, channel: str) -> Any:   # FastHTML passes the request by this type
        return chaos.wrap(hub.stream(request, channel))

    @rt("/publish")
    async def post(text: str = "") -> str:
        text = text.strip()[:200]
        if text:
            await hub.publish("news", Li(time.strftime("%H:%M:%S "), text))
        return ""

    @rt("/chaos/{action}")  # type: ignore[no-redef]
    def post(action: str) -> Any:  # noqa: F811 (FastHTML routes by path)
        if action == "drop":
            chaos.drop()
        elif action == "stall":
            chaos.stall(15)
        elif action == "unavailable":
            chaos.unavailable(10)
        elif action == "close":
            chaos.close("The demo server closed the stream")
        elif action == "restart":
            chaos.close(json.dumps({"reason": "restart", "reconnect_after_ms": 3000}))
        return ""

    app.state.hub = hub
    return app


def _has_prometheus() -> bool:
    """Whether the optional `metrics` extra (prometheus_client) is installed."""
    import importlib.util
    return importlib.util.find_spec("prometheus_client") is not None


async def _tickers(hub: Hub) -> None:
    """The demo's own publishers: a clock every second, a counter twice a second. Counter value `v`
    is published no earlier than `v` half-seconds after midnight (UTC), and a process starts from the
    half-second after the one it starts in; so a restarted server (or another worker taking over on
    Redis) goes on from a larger number, never back to, or again through, ones a page has shown."""
    midnight = time.time() // 86400 * 86400
    n = int((time.time() - midnight) * 2)       # the half-second this process starts in: maybe shown
    last = 0.0
    while True:     # at most one value a half-second: a server that fell behind never bursts to catch up
        await asyncio.sleep(max(0.0, midnight + (n + 1) / 2 - time.time(), last + 0.5 - time.monotonic()))
        last = time.monotonic()
        try:
            if (n + 1) % 2:
                await hub.publish("clock", Li(time.strftime("%H:%M:%S")))
            await hub.publish("counter", Li(str(n + 1)))
            n += 1
        except BackendUnavailable:
            pass        # Redis is down: streams stay up; the counter goes on where it stopped


async def _lead(redis_url: str, make_work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `make_work()` in one worker only: the holder of a Redis lease (renewed every second,
    taken over by another worker within 3 s of the holder's death). Else N workers = N clocks."""
    import secrets

    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client, me, key = aioredis.from_url(redis_url), secrets.token_hex(8).encode(), "sse-monitor:demo:leader"
    task: asyncio.Task[None] | None = None
    try:
        while True:
            try:
                held = bool(await client.set(key, me, nx=True, px=3000)) or \
                    (await client.get(key) == me and bool(await client.pexpire(key, 3000)))
            except RedisError:
                held = task is not None     # Redis is down: carry on; publishing reports it
            if held and task is None:
                task = asyncio.create_task(make_work())
            elif not held and task is not None:
                task.cancel()
                task = None
            await asyncio.sleep(1)
    finally:
        if task is not None:
            task.cancel()
        await client.aclose()
