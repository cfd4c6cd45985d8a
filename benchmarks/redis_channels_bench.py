"""Many channels on one worker: the XREAD reader against the Pub/Sub reader, same load.

    python benchmarks/redis_channels_bench.py                  # 1,000 and 10,000 channels, 5 s each
    python benchmarks/redis_channels_bench.py --channels 1000 --seconds 3
    python benchmarks/redis_channels_bench.py --readers pubsub --workers 2   # two workers, one Redis

One worker (this process: a `RedisBackend` whose deliver callback records the latency) follows N
channels, opened 1,000 at a time. A publisher process publishes 1,000 events/s spread over random
channels (each carries its publish time), and the worker opens and closes 50 other channels per
second. Reports events delivered and lost, publish -> deliver p50/p99, the worker's CPU share and
its worst event-loop lag (a 5 ms timer), after a full GC and gc.freeze() of the start-up heap.
With `--workers 2` a second worker process follows the same channels (and churns its own) on the
same Redis, so every event reaches both; each worker's figures are a row.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
from run import save_results  # noqa: E402

from support.redis_server import RedisServer  # noqa: E402


def publisher(url: str, reader: str, channels: int, rate: float, seconds: float) -> None:
    """Publish `rate` events/s over random channels for `seconds` (run as a separate process)."""
    from sse_monitor import RedisBackend

    backend = RedisBackend(url, reader=reader)
    rng, sent, start = random.Random(1), 0, time.perf_counter()
    while (now := time.perf_counter() - start) < seconds:
        due = int(now * rate)
        while sent < due:
            backend.publish_nowait(f"c{rng.randrange(channels)}", None, repr(time.time()))
            sent += 1
        time.sleep(0.002)
    print(sent, flush=True)


async def measure(url: str, reader: str, channels: int, rate: float, seconds: float, workers: int = 1,
                  publish: bool = True) -> dict:
    """One worker's row. The first (`publish`) starts the other workers, waits until each follows
    its channels, then runs the publisher; another worker (`publish=False`, a process of its own)
    says "ready" on stdout and measures for the publisher's `seconds`."""
    from sse_monitor import RedisBackend

    backend = RedisBackend(url, reader=reader)
    latencies: list[float] = []
    backend.bind(lambda ch, event_id, event, data: latencies.append(time.time() - float(data))
                 if ch.startswith("c") else None)
    names = [f"c{n}" for n in range(channels)]
    opened = time.perf_counter()
    for start in range(0, channels, 1000):
        for name in names[start:start + 1000]:
            backend.open_channel(name)
        await asyncio.gather(*(backend.ready(name) for name in names[start:start + 1000]))
    opened = time.perf_counter() - opened
    gc.collect()
    gc.freeze()
    worst, stop = 0.0, False

    async def lag() -> None:
        nonlocal worst
        while not stop:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            worst = max(worst, time.perf_counter() - t - 0.005)

    async def churn() -> None:
        n = 0
        while not stop:
            name = f"churn{n % 50}"
            (backend.close_channel if n % 2 else backend.open_channel)(name)
            n += 1
            await asyncio.sleep(1 / 50)

    others = []
    if publish:
        for _ in range(workers - 1):
            other = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--worker", url, reader, str(channels), str(rate), str(seconds),
                stdout=asyncio.subprocess.PIPE)
            assert other.stdout is not None
            if (await other.stdout.readline()).strip() != b"ready":
                raise RuntimeError("a second worker did not start")
            others.append(other)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--publish", url, reader, str(channels), str(rate), str(seconds),
            stdout=asyncio.subprocess.PIPE)
    else:
        print("ready", flush=True)
    cpu, wall = time.process_time(), time.perf_counter()
    tasks = [asyncio.create_task(lag()), asyncio.create_task(churn())]
    if publish:
        assert proc.stdout is not None
        sent = int((await proc.stdout.read()).decode().strip() or 0)
        await proc.wait()
    else:
        await asyncio.sleep(seconds + 0.1)
        sent = 0
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await asyncio.sleep(1.0)                 # the last events in flight
    stop = True
    await asyncio.gather(*tasks)
    gc.unfreeze()
    await backend.aclose()
    latencies.sort()
    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0
    row = {"reader": reader, "channels": channels, "workers": workers, "worker": 1, "opened_s": opened,
           "sent": sent, "delivered": len(latencies), "lost": sent - len(latencies), "p50_ms": pct(0.5),
           "p99_ms": pct(0.99), "cpu_pct": 100 * cpu / wall, "worst_lag_ms": worst * 1000}
    if not publish:
        return row
    rows = [row]
    for n, other in enumerate(others, start=2):
        assert other.stdout is not None
        found = json.loads((await other.stdout.read()).decode())
        await other.wait()
        found.update(workers=workers, worker=n, sent=sent, lost=sent - found["delivered"])
        rows.append(found)
    return {"rows": rows}


def main() -> None:
    if sys.argv[1:2] == ["--publish"]:
        url, reader, channels, rate, seconds = sys.argv[2:7]
        publisher(url, reader, int(channels), float(rate), float(seconds))
        return
    if sys.argv[1:2] == ["--worker"]:
        url, reader, channels, rate, seconds = sys.argv[2:7]
        row = asyncio.run(measure(url, reader, int(channels), float(rate), float(seconds), publish=False))
        print(json.dumps(row), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--readers", nargs="+", default=["xread", "pubsub"])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1, choices=[1, 2, 3, 4])
    args = parser.parse_args()
    results = []
    for channels in args.channels:
        for reader in args.readers:
            with RedisServer() as server:
                print(f"measuring {reader} with {channels} channels ...", file=sys.stderr, flush=True)
                measured = asyncio.run(measure(server.url, reader, channels, args.rate, args.seconds, args.workers))
                results.extend(measured["rows"])
    rows = ["| reader | channels | worker | open all s | sent | lost | p50 ms | p99 ms | worker CPU % | worst lag ms |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rows.append(f"| {r['reader']} | {r['channels']:,} | {r['worker']} of {r['workers']} | {r['opened_s']:.1f} | "
                    f"{r['sent']:,} | {r['lost']:,} | "
                    f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['cpu_pct']:.1f} | {r['worst_lag_ms']:.0f} |")
    print("\n".join(rows))
    save_results("redis-channels", {"results": results, "args": vars(args)})


if __name__ == "__main__":
    main()
