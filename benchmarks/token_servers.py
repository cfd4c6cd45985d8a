"""The servers the token benchmark compares: one generated answer per client, tokens at a fixed rate.

    python benchmarks/token_servers.py --kind runs|sse_starlette --port P --rate 50

`GET /answers/{n}` streams answer n; `GET /start` starts every answer's tokens (so all run at once,
once every client is connected). Each token's data is the wall-clock time in ms at which the model
made it: its place on the answer's schedule of `rate` tokens per second (a model's tokens arrive on
their own clock; a server whose loop falls behind emits them late, and that lateness counts).
- runs: sse_monitor's `Runs` on a Hub (in memory): the answer runs in the background, once, and the
  request follows its channel (`runs.route`), as `examples/answers.py` does.
- sse_starlette: the usual way today: sse-starlette's EventSourceResponse around a generator that
  makes the tokens inside the request.
Both make tokens the same way: a loop sleeping 1/rate between tokens (as a model client awaits them).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))


def build(kind: str, rate: float):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    go = asyncio.Event()

    async def tokens():
        await go.wait()
        interval = 1 / rate
        phase = random.random() * interval        # answers are not in step: each has its own clock
        start_mono, start_wall = time.monotonic() + phase, time.time() + phase
        for k in itertools.count(1):
            await asyncio.sleep(max(0.0, start_mono + k * interval - time.monotonic()))
            yield f"{(start_wall + k * interval) * 1000:.3f}"

    async def start(request):
        go.set()
        return PlainTextResponse("started")

    if kind == "runs":
        from sse_monitor import Hub, Runs
        hub = Hub(heartbeat_interval=15)
        runs = Runs(hub)

        async def answer(request):
            run_id = f"answer-{request.path_params['n']}"
            await runs.start(run_id, tokens)
            return runs.stream(request, run_id)

        app = Starlette(routes=[Route("/answers/{n}", answer), Route("/start", start)], lifespan=hub.lifespan)
    elif kind == "sse_starlette":
        from sse_starlette.sse import EventSourceResponse

        async def answer(request):
            async def events():
                async for token in tokens():
                    yield {"data": token}
            return EventSourceResponse(events(), ping=15)

        app = Starlette(routes=[Route("/answers/{n}", answer), Route("/start", start)])
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    import uvicorn
    uvicorn.run(build(args.kind, args.rate), host="127.0.0.1", port=args.port, log_level="warning",
                backlog=4096, timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
