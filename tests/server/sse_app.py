"""The app the server tests run under real uvicorn: a Hub with test-friendly knobs from env vars.

Routes: GET /events/{channel} (the stream), POST /publish/{channel}?event=..&n=..&size=..,
POST /end/{channel}?outcome=..&detail=.. (hub.end),
POST /drain?window_ms=.. (hub.begin_drain),
POST /fault/redis-reader?kind=raise|cancel (break the Redis reader once), GET /stats (hub.stats() as
JSON), GET /metrics (Prometheus, "news" listed), POST /sse-monitor/reports, GET /url/{channel}
(hub.sse_url), GET /page (FastHTML page), GET /client-port (the port this request's connection
comes from: a proxy's upstream connection, seen from the worker).
Runs: POST /runs/{id}/start?tokens=..&delay=..&fail=..|crash, POST /runs/{id}/cancel,
GET /runs/{id}/state, GET /runs/{id} (its stream), GET /runs-produced (producer calls and ends).
"""
from __future__ import annotations

import asyncio
import os

from fasthtml.common import Div, fast_app
from starlette.responses import JSONResponse, PlainTextResponse

from sse_monitor.scaleout import BackendUnavailable
from sse_monitor.scaleout.redis import RedisBackend
from sse_monitor.server.hub import Hub
from sse_monitor.server.runs import RunFailed, Runs


def _num(name: str, default, cast=float):
    value = os.environ.get(name)
    return cast(value) if value else default


def authorize(request, channel: str) -> bool:
    return not channel.startswith("private")


async def authorize_async(request, channel: str) -> bool:
    return request.query_params.get("token") == "letmein" or not channel.startswith("secret")


def _backend():
    """HUB_REDIS_URL (+ HUB_REDIS_MAXLEN) runs the hub on Redis Streams; default: in memory."""
    url = os.environ.get("HUB_REDIS_URL")
    if not url:
        return None
    return RedisBackend(url, maxlen=_num("HUB_REDIS_MAXLEN", 10_000, int), max_retry_delay=0.5)


hub = Hub(
    _backend(),
    replay_size=_num("HUB_REPLAY_SIZE", 1000, int),
    replay_max_age=_num("HUB_REPLAY_MAX_AGE", None),
    heartbeat_interval=_num("HUB_HEARTBEAT", 15.0),
    max_streams_per_channel=_num("HUB_MAX_PER_CHANNEL", None, int),
    send_timeout=_num("HUB_SEND_TIMEOUT", 10.0),
    max_send_bytes=_num("HUB_MAX_SEND_BYTES", 65536, int),
    close_reconnect_after_ms=_num("HUB_RECONNECT_AFTER_MS", 2000, int),
    close_window_ms=_num("HUB_CLOSE_WINDOW_MS", None, int),
    close_event=os.environ.get("HUB_CLOSE_EVENT", "close"),
    reset_event=os.environ.get("HUB_RESET_EVENT", "reset"),
    authorize=lambda request, channel: (authorize(request, channel) if not channel.startswith("secret")
                                        else authorize_async(request, channel)),
)

app, rt = fast_app(lifespan=hub.lifespan)
hub.route(app, "/events/{channel}")
hub.metrics_route(app, "/metrics", channels=["news"])     # per-channel series for "news" only
hub.reports_route(app)                                    # POST /sse-monitor/reports (browser beacons)
runs = Runs(hub, keep_seconds=_num("HUB_RUN_KEEP", 600.0), lease_seconds=_num("HUB_RUN_LEASE", 3.0),
            event="token")
runs.route(app, "/runs/{run_id}")
produced: dict[str, int] = {}      # run id -> times its producer was called (here)
stopped: dict[str, int] = {}       # run id -> times its producer ended (ran its finally)


async def tokens(run_id: str, n: int, delay: float, fail: str | None):
    produced[run_id] = produced.get(run_id, 0) + 1
    try:
        for i in range(n):
            await asyncio.sleep(delay)
            yield f"{run_id}-{i}"
        if fail == "crash":
            raise RuntimeError("internal detail the page must not see")
        if fail:
            raise RunFailed(fail)
    finally:
        stopped[run_id] = stopped.get(run_id, 0) + 1


@rt("/runs/{run_id}/start")
async def post(request, run_id: str):
    q = request.query_params
    n, delay, fail = int(q.get("tokens", "5")), float(q.get("delay", "0.01")), q.get("fail")
    try:
        started = await runs.start(run_id, lambda: tokens(run_id, n, delay, fail))
    except ValueError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    return JSONResponse({"started": started})


@rt("/runs/{run_id}/cancel")
async def post(run_id: str):
    return JSONResponse({"cancelled": await runs.cancel(run_id)})


@rt("/runs/{run_id}/state")
async def get(run_id: str):
    state = await runs.state(run_id)
    return JSONResponse({"state": state.value if state else None})


@rt("/runs-produced")
def get():
    return JSONResponse({"produced": produced, "stopped": stopped, "running": sorted(runs._tasks),
                         "channels": len(hub._channels), "states": len(getattr(runs.store, "states", ()))})


@rt("/client-port")
def get(request):
    return JSONResponse({"port": request.client.port})


@rt("/plain/{channel}")
async def get(request, channel: str):
    """The CONTRACTS.md form: FastHTML route returning hub.stream."""
    return hub.stream(request, channel)


@rt("/publish/{channel}")
async def post(request, channel: str):
    q = request.query_params
    n = int(q.get("n", "1"))
    size = int(q.get("size", "0"))
    body = (await request.body()).decode()
    ids = []
    for i in range(n):
        data = body if body else f"{channel}-{i}" + ("x" * size if size else "")
        if q.get("ft"):
            data = Div(data, cls="item")
        try:
            ids.append(await hub.publish(channel, data, event=q.get("event") or None))
        except BackendUnavailable as exc:
            return JSONResponse({"ids": ids, "error": str(exc)}, status_code=503)
    return JSONResponse({"ids": ids})


@rt("/end/{channel}")
async def post(request, channel: str):
    """hub.end(channel, ?outcome=, ?detail=): the channel is finished."""
    q = request.query_params
    try:
        event_id = await hub.end(channel, q.get("outcome", "done"), q.get("detail"))
    except ValueError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    return JSONResponse({"id": event_id})


@rt("/drain")
async def post(request):
    """Rolling deploy: refuse new streams (503), tell the open ones in batches over ?window_ms=."""
    window = request.query_params.get("window_ms")
    hub.begin_drain(window_ms=int(window) if window else None)
    return JSONResponse({"draining": True})


@rt("/fault/redis-reader")
async def post(request):
    """Break this worker's Redis reader once: ?kind=raise (default) makes its next read raise
    before anything read is delivered; ?kind=cancel cancels its task from outside."""
    backend = hub.backend
    if request.query_params.get("kind") == "cancel":
        if backend._reader is None or backend._reader.done():
            return JSONResponse({"injected": False, "error": "no reader is running"}, status_code=409)
        backend._reader.cancel()
    else:
        def fail(reply):
            del backend._dispatch                    # one shot: the class's method is back
            raise RuntimeError("injected reader fault")
        backend._dispatch = fail
    return JSONResponse({"injected": True})


@rt("/stats")
def get():
    return JSONResponse(hub.stats())


@rt("/url/{channel}")
def get(channel: str):
    return PlainTextResponse(hub.sse_url(f"/events/{channel}", channel))


@rt("/rss")
def get():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return PlainTextResponse(str(int(line.split()[1]) * 1024))
    return PlainTextResponse("0")
