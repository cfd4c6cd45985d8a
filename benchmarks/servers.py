"""The SSE servers the fan-out benchmark compares, each run alone in its own process.

    python benchmarks/servers.py --kind ours|bare|sse_starlette|raw --port P --rate 10

Every server streams one channel to every client at `/events/bench`. `GET /start` starts publishing
`rate` events per second; each event's data is the wall-clock publish time in ms, for latency.
- ours: sse_monitor's Hub behind a plain Starlette route (`hub.stream`).
- ours_mount: the same Hub answering streams in front of the app (`hub.mount`).
- ours_redis: ours_mount on Redis Streams (`RedisBackend(BENCH_REDIS_URL)`), see redis_bench.py.
- bare: a StreamingResponse with one asyncio.Queue per client, as FastHTML users write it today.
- sse_starlette: sse-starlette's EventSourceResponse with one queue per client.
- raw: an asyncio.Protocol HTTP server writing SSE bytes straight to each socket: the ceiling.
- asgi_floor: the least an ASGI app under uvicorn can hold per open stream (headers sent, then
  parked; it publishes nothing): the floor for the idle-memory column of every uvicorn server.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))


def now_ms() -> str:
    return f"{time.time() * 1000:.3f}"


class Publisher:
    """Calls `publish(data)` `rate` times a second once started, on a fixed schedule."""

    def __init__(self, rate: float, publish) -> None:
        self.rate, self.publish, self.task = rate, publish, None

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        period, next_at = 1.0 / self.rate, time.monotonic()
        while True:
            await self.publish(now_ms())
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


def starlette_app(kind: str, rate: float):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    if kind in ("ours", "ours_mount", "ours_redis"):
        from sse_monitor import Hub, RedisBackend

        backend = RedisBackend(os.environ["BENCH_REDIS_URL"]) if kind == "ours_redis" else None
        hub = Hub(backend, heartbeat_interval=15.0, replay_size=100)
        publisher = Publisher(rate, lambda data: hub.publish("bench", data))

        async def events(request):
            return hub.stream(request, "bench")
        lifespan = hub.lifespan
    else:
        queues: set[asyncio.Queue] = set()

        async def fan_out(data: str) -> None:
            for queue in list(queues):
                queue.put_nowait(data)
        publisher = Publisher(rate, fan_out)
        lifespan = None

        async def subscription():
            """One queue per client: what both peers do."""
            queue: asyncio.Queue = asyncio.Queue()
            queues.add(queue)
            try:
                while True:
                    yield await queue.get()
            finally:
                queues.discard(queue)

        if kind == "bare":
            async def events(request):
                return StreamingResponse((f"data: {data}\n\n" async for data in subscription()),
                                         media_type="text/event-stream")
        else:
            from sse_starlette import EventSourceResponse

            async def events(request):
                return EventSourceResponse(({"data": data} async for data in subscription()), ping=15)

    async def start(request):
        publisher.start()
        return PlainTextResponse("started")

    async def health(request):
        """For the soak: the process's asyncio task count and RSS."""
        from starlette.responses import JSONResponse
        with open("/proc/self/status") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        return JSONResponse({"tasks": len(asyncio.all_tasks()), "rss_kb": rss})

    app = Starlette(routes=[Route("/events/bench", events), Route("/start", start), Route("/health", health)],
                    lifespan=lifespan)
    if kind in ("ours_mount", "ours_redis"):  # the Hub's fast path: streams are answered before the app's routing
        return hub.mount(app, "/events/")
    return app


class RawSSE(asyncio.Protocol):
    """Just enough HTTP/1.1: answer any request with an endless text/event-stream."""

    clients: set[asyncio.Transport] = set()
    publisher: Publisher | None = None

    def connection_made(self, transport) -> None:
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            return
        if self.buffer.startswith(b"GET /start"):
            RawSSE.publisher.start()
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nstarted")
            self.transport.close()
            return
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                             b"cache-control: no-cache\r\nconnection: close\r\n\r\n")
        RawSSE.clients.add(self.transport)

    def connection_lost(self, exc) -> None:
        RawSSE.clients.discard(self.transport)


async def serve_raw(port: int, rate: float) -> None:
    async def publish(data: str) -> None:
        payload = f"data: {data}\n\n".encode()
        for transport in list(RawSSE.clients):
            transport.write(payload)
    RawSSE.publisher = Publisher(rate, publish)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(RawSSE, "127.0.0.1", port, backlog=8192)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    await stop
    for transport in list(RawSSE.clients):
        transport.write(b'event: close\ndata: {"reason": "shutdown"}\n\n')
        transport.close()
    server.close()


def asgi_floor_app():
    """A bare ASGI callable: `/start` answers, every other request opens a stream and parks."""
    parked: list[asyncio.Future] = []

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            for future in parked:
                future.cancel()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/start":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"started"})
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        future = asyncio.get_running_loop().create_future()
        parked.append(future)
        try:
            await future
        except asyncio.CancelledError:
            await send({"type": "http.response.body", "body": b"event: close\ndata: bye\n\n"})
    return app


def trace_on_signal(directory: str) -> None:
    """For memory_breakdown.py: trace every allocation (25 frames deep) and, on each SIGUSR1, dump
    a snapshot to `directory`/snapshot-<n> (written to a temporary name, then renamed)."""
    import tracemalloc

    tracemalloc.start(25)
    dumped = [0]

    def dump(signum, frame) -> None:
        dumped[0] += 1
        path = os.path.join(directory, f"snapshot-{dumped[0]}")
        tracemalloc.take_snapshot().dump(path + ".part")
        os.replace(path + ".part", path)
    signal.signal(signal.SIGUSR1, dump)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", required=True,
                        choices=["ours", "ours_mount", "ours_redis", "bare", "sse_starlette", "raw", "asgi_floor"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=10.0)
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    if args.kind == "raw":
        asyncio.run(serve_raw(args.port, args.rate))
        return
    import uvicorn

    app = asgi_floor_app() if args.kind == "asgi_floor" else starlette_app(args.kind, args.rate)
    if os.environ.get("BENCH_TRACEMALLOC_DIR"):
        trace_on_signal(os.environ["BENCH_TRACEMALLOC_DIR"])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="error",
                backlog=8192, timeout_graceful_shutdown=None)


if __name__ == "__main__":
    main()
