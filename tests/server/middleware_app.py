"""The hub behind middleware that wraps `receive` (env MIDDLEWARE: "base" = Starlette's
BaseHTTPMiddleware, "asgi" = a plain ASGI middleware as tracing/metrics packages write them),
plus FastHTML sessions read by `authorize` under `hub.mount` (MOUNT=1)."""
from __future__ import annotations

import asyncio
import os

from fasthtml.common import fast_app
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse

from sse_monitor.server.hub import Hub


class CountingMiddleware:
    """Plain ASGI middleware wrapping receive and send (what a metrics/tracing layer does)."""

    def __init__(self, app):
        self.app = app
        self.messages = 0

    async def __call__(self, scope, receive, send):
        async def counted_receive():
            message = await receive()
            self.messages += 1
            return message

        async def counted_send(message):
            self.messages += 1
            await send(message)

        await self.app(scope, counted_receive, counted_send)


class OpaqueMiddleware:
    """Hands `receive` and `send` over through a queue and a dict: nothing leads from what the
    app gets back to the server's connection (the case the hub cannot see through)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        inbox: asyncio.Queue = asyncio.Queue()
        box = {"send": send}

        async def pump():
            while True:
                message = await receive()
                await inbox.put(message)
                if message["type"] == "http.disconnect":
                    return

        async def hidden_receive():
            return await inbox.get()

        async def hidden_send(message):
            await box["send"](message)

        pumping = asyncio.get_running_loop().create_task(pump())
        try:
            await self.app(scope, hidden_receive, hidden_send)
        finally:
            pumping.cancel()


async def passthrough(request, call_next):
    return await call_next(request)


def authorize(request, channel: str) -> bool:
    if channel.startswith("members"):
        return bool(request.session.get("member"))
    return True


hub = Hub(send_timeout=float(os.environ.get("HUB_SEND_TIMEOUT", "1")),
          max_streams=int(os.environ.get("HUB_MAX_STREAMS", "3")),
          heartbeat_interval=0.5, authorize=authorize)

app, rt = fast_app(lifespan=hub.lifespan)
if os.environ.get("MIDDLEWARE") == "base":
    app.add_middleware(BaseHTTPMiddleware, dispatch=passthrough)
elif os.environ.get("MIDDLEWARE") == "asgi":
    app.add_middleware(CountingMiddleware)
elif os.environ.get("MIDDLEWARE") == "opaque":
    app.add_middleware(OpaqueMiddleware)
if not os.environ.get("MOUNT"):
    hub.route(app, "/events/{channel}")


@rt("/publish/{channel}")
async def post(request, channel: str):
    n, size = int(request.query_params.get("n", "1")), int(request.query_params.get("size", "0"))
    return JSONResponse({"ids": [await hub.publish(channel, f"{i}" + "x" * size) for i in range(n)]})


@rt("/stats")
def get():
    return JSONResponse(hub.stats())


@rt("/custom/{channel}")
async def get(request, channel: str):
    """A stream whose response the route adjusts, as with any Starlette Response."""
    response = hub.stream(request, channel, headers={"X-Trace-Id": "abc"})
    response.headers["X-Extra"] = "1"
    listed = sorted(k for k in response.headers.keys() if k.startswith(("content-", "x-", "cache")))
    response.headers["X-Listed"] = ",".join(listed)
    return response


@rt("/adjusted/{channel}")
async def get(request, channel: str):
    """A stream given no headers whose route adds one afterwards."""
    response = hub.stream(request, channel)
    response.headers["X-Extra"] = "adjusted"
    return response


@rt("/login")
def get(session):
    session["member"] = True
    return "logged in"


if os.environ.get("MOUNT"):
    app = hub.mount(app, "/events/")
