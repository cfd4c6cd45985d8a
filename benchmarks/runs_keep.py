"""Finished runs are freed: 10,000 answers run, finish, and after `keep_seconds` leave nothing behind.

    python benchmarks/runs_keep.py                       # 10,000 runs of 20 tokens, in memory and on Redis
    python benchmarks/runs_keep.py --runs 1000 --tokens 50

In this process: a Hub (in memory, then on a throwaway redis-server) and `Runs(keep_seconds=K)`.
Starts the runs 500 at a time, waits for all to finish, then for K seconds. Reports the Python
heap (`sys.getallocatedblocks()`, after a full GC; tracemalloc would slow the run several times)
at start, with every run finished and kept, and after K; on Redis also the keys and Redis's
`used_memory` at the same points.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
from run import save_results  # noqa: E402

from support.redis_server import RedisServer  # noqa: E402


async def tokens(n: int):
    for i in range(n):
        yield f"token {i} "


def heap_blocks() -> int:
    gc.collect()
    return sys.getallocatedblocks()


async def measure(backend, runs_count: int, token_count: int, keep: float, redis_url: str | None) -> dict:
    from sse_monitor import Hub, Runs

    hub = Hub(backend)
    await hub.on_startup()
    runs = Runs(hub, keep_seconds=keep)
    client = None
    if redis_url:
        import redis.asyncio as aioredis
        client = aioredis.from_url(redis_url, decode_responses=True)

    async def redis_figures() -> dict:
        if client is None:
            return {}
        return {"keys": await client.dbsize(), "redis_used_mb": (await client.info("memory"))["used_memory"] / 1e6}

    start_heap, start_redis = heap_blocks(), await redis_figures()
    began = time.perf_counter()
    for first in range(0, runs_count, 500):
        await asyncio.gather(*[runs.start(f"run-{i}", lambda: tokens(token_count))
                               for i in range(first, min(first + 500, runs_count))])
    while runs._tasks:
        await asyncio.sleep(0.05)
    ran = time.perf_counter() - began
    held_heap, held_redis = heap_blocks(), await redis_figures()
    await asyncio.sleep(keep + 1.5)
    freed_heap, freed_redis = heap_blocks(), await redis_figures()
    left = [run_id for run_id in (f"run-{i}" for i in (0, runs_count - 1)) if await runs.state(run_id)]
    await runs.aclose()
    await hub.on_shutdown()
    await backend.aclose()
    if client is not None:
        await client.aclose()
    return {"runs": runs_count, "tokens": token_count, "keep_s": keep, "ran_s": round(ran, 2),
            "heap_blocks": [start_heap, held_heap, freed_heap],
            "redis": [start_redis, held_redis, freed_redis] if redis_url else None,
            "states_left": left, "channels_left": len(hub._channels)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--keep", type=float, default=3.0)
    args = parser.parse_args()
    from sse_monitor import MemoryBackend, RedisBackend

    results = [{"backend": "memory", **asyncio.run(measure(MemoryBackend(), args.runs, args.tokens, args.keep, None))}]
    with RedisServer() as server:
        results.append({"backend": "redis", **asyncio.run(
            measure(RedisBackend(server.url), args.runs, args.tokens, args.keep, server.url))})
    print("| backend | runs x tokens | ran in | Python heap blocks: start / all kept / after keep | Redis keys | "
          "Redis used MB | left |")
    print("|---|---:|---:|---|---|---|---|")
    for r in results:
        redis = r["redis"]
        heap = " / ".join(format(x, ",") for x in r["heap_blocks"])
        keys = " / ".join(str(x["keys"]) for x in redis) if redis else "-"
        used = " / ".join(f"{x['redis_used_mb']:.1f}" for x in redis) if redis else "-"
        print(f"| {r['backend']} | {r['runs']:,} x {r['tokens']} | {r['ran_s']} s | "
              f"{heap} | {keys} | {used} | "
              f"{len(r['states_left'])} states, {r['channels_left']} channels |")
    save_results("runs_keep", {"results": results})


if __name__ == "__main__":
    main()
