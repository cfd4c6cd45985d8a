"""A plain Starlette app behind `hub.mount(...)` (the fast path: streams skip the middleware)."""
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from sse_monitor.server.hub import Hub

hub = Hub(heartbeat_interval=0.3)


async def publish(request):
    channel = request.path_params["channel"]
    n = int(request.query_params.get("n", "1"))
    return JSONResponse({"ids": [await hub.publish(channel, f"{channel}-{i}") for i in range(n)]})


async def stats(request):
    return JSONResponse(hub.stats())

inner = Starlette(routes=[Route("/publish/{channel}", publish, methods=["POST"]), Route("/stats", stats)],
                  lifespan=hub.lifespan)
app = hub.mount(inner, "/events/")
