"""A scripted SSE server for the browser suite: it can drop, stall, refuse (503) and close on command.

Events come from the clock: event k (id "k", data `<li data-id="k">`) is due at T0 + k * PERIOD, with
T0 from the environment, so the event log is the same after the server is killed and started again,
and a client resuming from id j is sent exactly j+1 .. now. Every request to the stream is logged.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import time

from fasthtml.common import H1, A, Body, Div, Head, Html, Li, Meta, P, Script, Title, Ul, to_xml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sse_monitor.browser.assets import monitor_assets_route, sse_monitor_headers
from sse_monitor.browser.config import SSEConnectionConfig
from sse_monitor.browser.element import SSEElement
from sse_monitor.browser.ids import HtmlIds
from sse_monitor.browser.monitor import SSEConnectionMonitor, SSEConnectionMonitorScript, SSEStatus, runtime_tags
from sse_monitor.server.hub import Hub
from sse_monitor.server.sse import encode_event
from sse_monitor.wire import SHARE_PARAM, share_check_body, share_digest, share_frame
from support.servers import REPO_DIR

# htmx and its SSE extension for each major version, from this repo's node_modules (package.json).
HTMX_ASSETS = {2: ("htmx.org/dist/htmx.min.js", "htmx-ext-sse/dist/sse.js"),
               4: ("htmx4/dist/htmx.min.js", "htmx4/dist/ext/hx-sse.js")}

T0 = float(os.environ.get("SCRIPTED_T0", time.time()))
PERIOD = float(os.environ.get("SCRIPTED_PERIOD", "0.2"))
HEARTBEAT = float(os.environ.get("SCRIPTED_HEARTBEAT", "0.5"))
HTMX = int(os.environ.get("SCRIPTED_HTMX", "2"))
# htmx 4 as FastHTML loads it (`fast_app(htmx4=True)`: metaCharacter "-"), or plain (":").
HTMX_META = os.environ.get("SCRIPTED_HTMX_META", "-")



class Control:
    stalled = False
    unavailable_until = 0.0
    generations: dict[str, int] = {}     # per channel, bumped to end its open streams
    endings: dict[str, bytes] = {}       # what ended streams send last (b"" = just drop)
    requests: list[dict] = []
    open_streams = 0                     # responses streaming right now (a zombie loop shows here)
    open_by_channel: dict[str, int] = {}  # the same, per channel
    init_scripts: list[str] = []         # run first in every page: the WebKit driver's add_init_script
    intervals: list[list] = []           # [channel, opened, closed or None] of every stream response
    quiet: dict[str, dict] = {}          # per channel: {"heartbeat": bool, "events": bool}
    room_seq: dict[str, int] = {}        # hub channels: events published so far
    stream_log: list[tuple[float, str, int]] = []  # (time, channel, +1 opened / -1 ended)
    share_checks: list[dict] = []        # tab sharing's "what would this tab be streamed?" requests
    tickers: dict[str, asyncio.Task] = {}  # hub channels published to every PERIOD (`tick`)


# A real Hub for the channel-switching tests (ids "<boot>-<n>" per channel, as in production).
# SCRIPTED_REPLAY: the events each channel keeps for resumes (a small one: a page older than it).
hub = Hub(heartbeat_interval=HEARTBEAT, replay_size=int(os.environ.get("SCRIPTED_REPLAY", "1000")))


def current() -> int:
    return int((time.time() - T0) / PERIOD)


def event_bytes(k: int) -> bytes:
    return encode_event(f'<li data-id="{k}">event {k}</li>', id=str(k))


async def stream(request: Request) -> Response:
    """Every tab is streamed the same events, so it vouches for sharing as a Hub does (sse_monitor.wire):
    `?sseMonitorShare=check` answers the digest, `=stream` starts the stream with it."""
    share = request.query_params.get(SHARE_PARAM)
    digest = share_digest("scripted:" + request.path_params["channel"])
    if share == "check":
        Control.share_checks.append({"path": request.url.path, "time": time.time()})
        return Response(share_check_body(digest), media_type="application/json")
    last = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    Control.requests.append({"path": request.url.path, "query": dict(request.query_params),
                             "last_event_id_header": request.headers.get("last-event-id"),
                             "time": time.time(), "port": request.client.port if request.client else None})
    if time.time() < Control.unavailable_until:
        return PlainTextResponse("Service Unavailable", status_code=503)
    Control.generations.setdefault(request.path_params["channel"], 0)
    start = int(last) if last and last.isdigit() else current()
    channel = request.path_params["channel"]
    generation = Control.generations.get(channel, 0)

    def count(change: int) -> None:
        Control.open_streams += change
        Control.open_by_channel[channel] = Control.open_by_channel.get(channel, 0) + change
        Control.stream_log.append((time.time(), channel, change))

    async def body():
        count(+1)
        interval = [channel, time.time(), None, last]
        Control.intervals.append(interval)
        try:
            async for chunk in events():
                yield chunk
        finally:
            count(-1)
            interval[2] = time.time()

    async def events():
        sent, next_beat = start, time.monotonic() + HEARTBEAT
        yield encode_event(retry=1000) + (share_frame(digest) if share == "stream" else b"")
        while True:
            mode = Control.quiet.get(channel, {})
            if Control.generations.get(channel, 0) != generation:
                if Control.endings.get(channel):
                    yield Control.endings[channel]
                return
            if not Control.stalled:
                now = current()
                if now > sent and mode.get("events", True):
                    yield b"".join(event_bytes(k) for k in range(sent + 1, now + 1))
                    sent = now
                if time.monotonic() >= next_beat and mode.get("heartbeat", True):
                    next_beat = time.monotonic() + HEARTBEAT
                    yield encode_event("", event="heartbeat")
            await asyncio.sleep(0.02)

    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def sse_element(connection_id: str, since: int | None = None) -> Div:
    # Like Hub.sse_url: the page carries the position it was rendered at, so nothing published
    # between rendering and connecting is lost. `since`: a page rendered that long ago.
    position = current() if since is None else since
    return SSEElement(connection_id, f"/events/{connection_id}?lastEventId={position}", htmx=HTMX,
                      hx_swap="beforeend", hx_target=HtmlIds.as_selector(f"log-{connection_id}"))


NONCE = "r4nd0m-n0nce"
# Strict for scripts (no 'unsafe-inline', no 'unsafe-eval'); htmx injects its indicator styles inline.
CSP = {
    "asset": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'",
    "nonce": f"default-src 'self'; script-src 'nonce-{NONCE}'; style-src 'self' 'unsafe-inline'",
}
CSP["nonce-missing"] = CSP["nonce"]


async def page(request: Request) -> HTMLResponse:
    """`/?ids=a,b&config={json of SSEConnectionConfig kwargs}&style=monitor|script|swappable&csp=asset|nonce`

    `rawconfig` puts a JSON string into data-sse-config as it is (the runtime's own contract);
    `since=k` renders the SSE elements at event k (a page rendered long ago, or from an old cache);
    `setup` loads a broken page setup instead of htmx + its SSE extension (see SETUPS); `stream=URL`
    points the SSE elements at URL; `runtime=none` leaves the runtime out; `element_for=X` gives the
    SSE element the id of monitor X; `markup=2|4` writes it for that htmx."""
    csp = request.query_params.get("csp")
    if csp is not None:
        return csp_page(csp)
    ids = request.query_params.get("ids", "feed").split(",")
    config = SSEConnectionConfig(**json.loads(request.query_params.get("config", "{}")))
    style = request.query_params.get("style", "monitor")
    indicators = json.loads(request.query_params.get("indicators", "null"))
    raw_config = request.query_params.get("rawconfig")
    parts: list = [Script(next_runtime())] if request.query_params.get("runtime") == "next" else []
    for connection_id in ids:
        if style == "script":  # the original pattern's shape: the page builds its own container
            parts += [Div(id=HtmlIds.sse_status(connection_id)),
                      SSEConnectionMonitorScript(connection_id, indicators, config)]
        elif style == "swappable":  # status, monitor and SSE element in one fragment that a swap replaces
            parts.append(swappable(connection_id, config))
        elif indicators is not None:
            parts += [SSEStatus(connection_id, indicators, config), *runtime_tags()]
        else:
            status, script = SSEConnectionMonitor(connection_id, config=config)
            if raw_config is not None:
                status.attrs["data-sse-config"] = raw_config
            parts += [status] if request.query_params.get("runtime") == "none" else [status, script]
        element_for = request.query_params.get("element_for", connection_id)   # a monitor id of another element
        markup = int(request.query_params.get("markup", HTMX))                # markup of the other htmx
        if style != "swappable" and (request.query_params.get("stream") or element_for != connection_id
                                     or markup != HTMX):
            url = request.query_params.get("stream") or f"/events/{element_for}?lastEventId={current()}"
            parts.append(SSEElement(element_for, url, htmx=markup, hx_swap="beforeend",
                                    hx_target=HtmlIds.as_selector(f"log-{connection_id}")))
        elif style != "swappable":
            since = request.query_params.get("since")
            parts.append(sse_element(connection_id, int(since) if since else None))
        parts.append(Ul(id=f"log-{connection_id}"))
    return HTMLResponse(document(head_tags(setup=request.query_params.get("setup")), parts))


def next_runtime() -> str:
    """Another build of the runtime, as a deploy puts one beside the old: its tab-sharing protocol is
    one version on, and it relays each event under another field name (a shape this build drops)."""
    from sse_monitor.browser.monitor import runtime_js
    js = runtime_js()
    for old, new in (("SHARE_PROTOCOL = 2", "SHARE_PROTOCOL = 3"), ('{t: "event", e: e}', '{t: "event", evt: e}'),
                     (r"msg\.e\b", "msg.evt")):
        js, found = re.subn(old if old.startswith("msg") else re.escape(old), new, js)
        assert found, f"the runtime has changed: {old!r} not found"
    return js


def swappable(connection_id: str, config: SSEConnectionConfig | None = None) -> Div:
    status, script = SSEConnectionMonitor(connection_id, config=config)
    return Div(status, script, sse_element(connection_id), id=f"swap-{connection_id}")


# Broken page setups a user really builds, per htmx version: what the head loads instead of htmx + its
# SSE extension. "missing-ext" is the README Quick start's `Script(src="/sse.js")` that nobody serves.
SETUPS = {
    2: {"missing-ext": ("htmx.org/dist/htmx.min.js", "/sse.js"),
        "htmx1-ext": ("htmx.org/dist/htmx.min.js", "htmx.org/dist/ext/sse.js"),
        "other-version-ext": ("htmx.org/dist/htmx.min.js", "htmx4/dist/ext/hx-sse.js"),   # exts='sse4'
        "no-htmx": ("htmx-ext-sse/dist/sse.js",)},
    4: {"missing-ext": ("htmx4/dist/htmx.min.js", "/hx-sse.js"),
        "other-version-ext": ("htmx4/dist/htmx.min.js", "htmx-ext-sse/dist/sse.js"),
        "htmx1-ext": ("htmx4/dist/htmx.min.js", "htmx.org/dist/ext/sse.js"),
        "no-htmx": ("htmx4/dist/ext/hx-sse.js",)},
}


def head_tags(nonce: str | None = None, setup: str | None = None) -> list:
    extra = {"nonce": nonce} if nonce else {}
    meta = [Meta(name="htmx-config", content=json.dumps({"metaCharacter": HTMX_META}))] if HTMX == 4 else []
    init = [Script(src="/control/init.js", **extra)] if Control.init_scripts else []
    paths = SETUPS[HTMX][setup] if setup else HTMX_ASSETS[HTMX]
    return [*meta, *init, *[Script(src=path if path.startswith("/") else f"/assets/{path}", **extra)
                            for path in paths]]


def document(head: list, parts: list) -> str:
    html = Html(Head(Meta(charset="utf-8"), Title("scripted"), *head), Body(H1("Scripted SSE"), *parts))
    return "<!doctype html>" + to_xml(html)


def csp_page(mode: str) -> HTMLResponse:
    """One monitor under a strict CSP: the runtime as a static asset, inline with the nonce, or
    inline without it (`nonce-missing`, which the browser must refuse)."""
    if mode == "asset":
        status, script = SSEConnectionMonitor("feed", include_runtime=False)
        head = [*head_tags(), *sse_monitor_headers()]
    elif mode in ("nonce", "nonce-missing"):
        status, script = SSEConnectionMonitor("feed", nonce=NONCE if mode == "nonce" else None)
        head = head_tags(NONCE)
    else:
        return PlainTextResponse("unknown csp mode", status_code=400)
    body = document(head, [status, script, sse_element("feed"), Ul(id="log-feed")])
    return HTMLResponse(body, headers={"Content-Security-Policy": CSP[mode]})


async def control(request: Request) -> Response:
    action = request.path_params["action"]
    query = request.query_params
    channels = query.get("channel", "").split(",") if query.get("channel") else list(Control.generations) or ["feed"]

    def end_streams(ending: bytes) -> None:
        for name in channels:
            Control.endings[name] = ending
            Control.generations[name] = Control.generations.get(name, 0) + 1
    if action == "stall":
        Control.stalled = query.get("on", "1") == "1"
    elif action == "unavailable":
        Control.unavailable_until = time.time() + float(query.get("seconds", "5"))
    elif action == "drop":
        end_streams(b"")
    elif action == "close":
        end_streams(encode_event(query.get("data", "Server closed the stream"), event="close"))
    elif action == "init-script":    # WebDriver has no init scripts: the WebKit driver sends them here
        Control.init_scripts = list(await request.json())
    elif action == "init.js":
        return Response("\n;\n".join(Control.init_scripts), media_type="text/javascript")
    elif action == "requests":
        return JSONResponse(Control.requests)
    elif action == "now":
        return JSONResponse({"current": current()})
    elif action == "open":
        return JSONResponse({"open": Control.open_streams, "by_channel": Control.open_by_channel})
    elif action == "stream_log":
        return JSONResponse(Control.stream_log)
    elif action == "hub-open":
        return JSONResponse({"open": hub.subscriber_count(), "opened": hub.stats()["opened"]})
    elif action == "intervals":
        return JSONResponse(Control.intervals)
    elif action == "most-open":
        return JSONResponse(most_open(query.get("channel", "feed")))
    elif action == "quiet":   # a server without heartbeats (heartbeat=0) and/or without events (events=0)
        for name in channels:
            Control.quiet[name] = {"heartbeat": query.get("heartbeat", "1") == "1",
                                   "events": query.get("events", "1") == "1"}
    elif action == "tick":   # publish to a hub channel every PERIOD from now on
        for name in channels:
            if name not in Control.tickers:
                Control.tickers[name] = asyncio.create_task(tick(name))
    elif action == "hub-seq":   # events published so far to a hub channel
        return JSONResponse({"seq": Control.room_seq.get(channels[0], 0)})
    elif action == "end":   # hub.end: the hub channel is finished, with ?outcome= and ?detail=
        for name in channels:
            task = Control.tickers.pop(name, None)
            if task is not None:
                task.cancel()
            await hub.end(name, query.get("outcome", "done"), query.get("detail"))
    elif action == "publish":  # `count` events to a hub channel
        for name in channels:
            await publish_room(name, int(query.get("count", "1")))
    else:
        return PlainTextResponse("unknown action", status_code=400)
    return JSONResponse({"ok": True})


def most_open(channel: str) -> dict:
    """The most streams of `channel` open at one moment, and how long more than one was open in all."""
    edges = []
    for name, opened, closed, _ in Control.intervals:
        if name == channel:
            edges += [(opened, 1), (closed if closed is not None else time.time(), -1)]
    most = count = 0
    crowded, previous = 0.0, 0.0
    for at, step in sorted(edges):   # at one instant a close sorts before an open
        if count > 1:
            crowded += at - previous
        count += step
        most, previous = max(most, count), at
    return {"most": most, "crowded_seconds": round(crowded, 3)}


async def publish_room(channel: str, count: int) -> None:
    for _ in range(count):
        seq = Control.room_seq[channel] = Control.room_seq.get(channel, 0) + 1
        await hub.publish(channel, Li(f"{channel} {seq}", data_id=str(seq), data_room=channel))


async def tick(channel: str) -> None:
    while True:
        await publish_room(channel, 1)
        await asyncio.sleep(PERIOD)


async def page_by_mistake(request: Request) -> Response:
    """A page where a stream was meant (an SSE element's URL naming a page route): HTML, counted."""
    Control.requests.append({"path": request.url.path, "query": dict(request.query_params), "time": time.time()})
    return HTMLResponse("<!doctype html><h1>A page, not a stream</h1>")


async def room_stream(request: Request) -> Response:
    Control.requests.append({"path": request.url.path, "query": dict(request.query_params), "time": time.time()})
    return hub.stream(request, request.path_params["channel"])


async def fragment(request: Request) -> HTMLResponse:
    """Markup for htmx swaps: the SSE element, a placeholder instead of it, or an OOB removal."""
    kind, connection_id = request.path_params["kind"], request.path_params["connection_id"]
    if kind == "element":
        return HTMLResponse(to_xml(sse_element(connection_id)))
    if kind == "placeholder":
        return HTMLResponse(f'<div id="placeholder-{connection_id}">gone</div>')
    if kind == "swappable":
        return HTMLResponse(to_xml(swappable(connection_id)))
    if kind == "room":  # the SSE element for another hub channel, as a chat page swaps rooms
        room = request.query_params["room"]
        element = SSEElement(connection_id, hub.sse_url(f"/hub/{room}", room), htmx=HTMX,
                             hx_swap="beforeend", hx_target=f"#log-{connection_id}")
        # events published between rendering this element and the browser connecting
        await publish_room(room, int(request.query_params.get("publish_after", "0")))
        return HTMLResponse(to_xml(element))
    if kind == "oob-remove":  # the original pattern's way to stop a stream from the server
        return HTMLResponse(f'<p>done</p><div id="{HtmlIds.sse_element(connection_id)}" hx-swap-oob="outerHTML"></div>')
    return PlainTextResponse("unknown fragment", status_code=404)


def hub_element(connection_id: str, channel: str, **attrs) -> Div:
    """The SSE element for hub channel `channel`, at its position now (hub.sse_url), swapping into the log."""
    return SSEElement(connection_id, hub.sse_url(f"/hub/{channel}", channel), htmx=HTMX, hx_swap="beforeend",
                      hx_target=f"#log-{connection_id}", **attrs)


async def boost_page(request: Request) -> HTMLResponse:
    """A site of two pages in an `hx-boost` body, for history restores (issue 26).

    `/boost/live?channel=c&config={json}`: a monitor on hub channel `c`, its log, and a boosted link to
    `/boost/away` (and a region `#region` that `/fragment/...` swaps replace). `/boost/away`: a page
    without a stream, linking back. `history=cache` loads htmx 4's hx-history-cache extension (htmx 4's
    own history fetches the page again); `preserve=1` gives the SSE element `hx-preserve`; `area=1` puts
    the stream and its log in an `hx-history-elt` (the status stays outside it) with an hx-push-url link
    that replaces only `#content`."""
    query = request.query_params
    channel = query.get("channel", "tick")
    back = f"/boost/live?{request.url.query}"
    head = head_tags()
    if HTMX == 4 and query.get("history") == "cache":
        head.append(Script(src="/assets/htmx4/dist/ext/hx-history-cache.js"))
    name = request.path_params["name"]
    if name == "detail":   # a fragment, for the hx-push-url link of `area=1`
        return HTMLResponse(to_xml(P("Details", id="detail-page")))
    if name == "away":
        parts = [P("Another page of the site", id="away-page"), A("Back to the stream", href=back, id="back")]
    else:
        config = SSEConnectionConfig(**json.loads(query.get("config", "{}")))
        status, script = SSEConnectionMonitor("feed", config=config)
        extra = {"hx_preserve": "true"} if query.get("preserve") else {}
        # The links come before the log, which grows every PERIOD: a click aimed at a link below it could
        # land where the link was a moment before.
        stream = [Div(hub_element("feed", channel, **extra), id="region"), Ul(id="log-feed")]
        if query.get("area"):   # htmx history keeps only #area (#content, the stream, its log), not the status
            detail = A("Details", hx_get="/boost/detail", hx_target="#content", hx_push_url="true", id="detail")
            parts = [status, script, Div(Div(detail, id="content"), *stream, id="area", hx_history_elt="true")]
        else:
            parts = [status, script, A("Elsewhere", href=f"/boost/away?{request.url.query}", id="away"), *stream]
    # htmx 4 inherits attributes only where asked: `hx-boost:inherited` (`-` for FastHTML's metaCharacter).
    boost = {"hx-boost" if HTMX == 2 else f"hx-boost{HTMX_META}inherited": "true"}
    html = Html(Head(Meta(charset="utf-8"), Title("boost"), *head), Body(H1("Boosted site"), *parts, **boost))
    return HTMLResponse("<!doctype html>" + to_xml(html))


async def hub_fragment(request: Request) -> HTMLResponse:
    """Markup that brings the SSE element of hub channel `channel` back, rendered now and sent `delay` s
    later (events the page receives meanwhile are newer than its position): `oob` re-inserts it with an
    out-of-band swap; `region` is a new `#region` (marked `data-swapped`) holding it (with `hx-preserve`
    if `preserve=1`)."""
    query = request.query_params
    channel = query.get("channel", "tick")
    extra = {"hx_preserve": "true"} if query.get("preserve") else {}
    element = hub_element("feed", channel, **extra)
    await asyncio.sleep(float(query.get("delay", "0")))
    if request.path_params["kind"] == "oob":
        element.attrs["hx-swap-oob"] = "true"
        return HTMLResponse(to_xml(P("saved", id="saved")) + to_xml(element))
    return HTMLResponse(to_xml(Div(element, id="region", data_swapped="1")))


app = Starlette(routes=[
    Route("/favicon.ico", lambda request: Response(status_code=204)),
    Route("/favicon-page", page_by_mistake),
    Route("/fragment/{kind}/{connection_id}", fragment),
    Route("/hub-fragment/{kind}", hub_fragment),
    Route("/boost/{name}", boost_page),
    Route("/", page),
    Route("/events/{channel}", stream),
    Route("/hub/{channel}", room_stream),
    Route("/control/{action}", control, methods=["GET", "POST"]),
    Mount("/assets", StaticFiles(directory=str(REPO_DIR / "node_modules"))),
    monitor_assets_route(),
], lifespan=hub.lifespan)
