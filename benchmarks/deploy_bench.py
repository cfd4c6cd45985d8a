"""Deploy benchmark: N clients behind nginx on 2 workers on Redis; one worker leaves.

    python benchmarks/deploy_bench.py              # N = 5000
    python benchmarks/deploy_bench.py --clients 1000

The clients (deployclient.mjs) behave like the browser runtime: they honour `event: close` and its
`reconnect_after_ms` and come back with Last-Event-ID, through nginx (the examples/deploy config).
Worker A leaves four ways, each on a fresh Redis, workers and nginx:
- SIGTERM, paced: every stream is told at once, each with its own delay over the default window;
- SIGTERM, today: one delay (2 s) for all and the old runtime jitter (x 1-1.5);
- drain, paced: new streams get 503 (nginx moves them), the open ones are told in batches;
- drain, today: the same drain with a zero window (all told at once).
Per run: reconnection arrivals per second at the survivor B (a histogram from B's `opened` counter),
events lost and duplicated over all clients, and the p99 latency of the clients that stayed on B,
before and during the move. Targets: peak <= 1.5 x N_A / window, p99 during <= 2 x before, 0 lost/dup.
Loopback only; each run is bounded (about 40 s plus connecting).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from run import read_json_line, save_results  # noqa: E402

from support.http_clients import AsyncClient  # noqa: E402
from support.nginx import Nginx  # noqa: E402
from support.redis_server import RedisServer  # noqa: E402
from support.servers import ServerProcess  # noqa: E402

RATE = 2             # events per second, published on worker B: the survivor keeps headroom
BEFORE_S = 5.0       # latency period before the move
AFTER_S = 5.0        # after the window, before the report
MAX_MOVE_S = 90.0    # give up waiting for every client to reach B after this


def histogram(at: list[float], opened: list[int]) -> tuple[list[int], int]:
    """Arrivals in each second after the signal (B's `opened` counter, sampled every ~0.25 s at
    the times `at`, interpolated at whole seconds), and the peak rate over any span of >= 1 s
    between two samples (a late sample never turns a slow second into a fast one)."""
    def count_at(t: float) -> float:
        for i in range(1, len(at)):
            if at[i] >= t:
                share = (t - at[i - 1]) / (at[i] - at[i - 1])
                return opened[i - 1] + share * (opened[i] - opened[i - 1])
        return opened[-1]

    per_second = [round(count_at(s + 1) - count_at(s)) for s in range(int(at[-1]))]
    peak = 0.0
    for i in range(len(at)):
        for j in range(i + 1, len(at)):
            if at[j] - at[i] >= 1.0:
                peak = max(peak, (opened[j] - opened[i]) / (at[j] - at[i]))
                break
    return per_second, round(peak)


def paced_window_ms(streams: int) -> int:
    """The hub's default window for this many streams (Hub().close_window)."""
    from sse_monitor.server.hub import Hub
    return Hub(handle_signals=False).close_window(streams)


async def poll_opened(port: int, http: AsyncClient) -> int:
    return (await http.get(f"http://127.0.0.1:{port}/stats")).json()["opened"]


async def publish_loop(port: int, stop: asyncio.Event, http: AsyncClient, sent: list[int]) -> None:
    seq = 0
    next_at = time.monotonic()
    while not stop.is_set():
        seq += 1
        response = await http.post(f"http://127.0.0.1:{port}/publish/bench",
                                   content=f"{seq} {time.time() * 1000:.3f}")
        response.raise_for_status()
        sent.append(seq)
        next_at += 1 / RATE
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


def tell(load: subprocess.Popen, line: str) -> None:
    load.stdin.write(line + "\n")
    load.stdin.flush()


async def scenario(clients: int, how: str, paced: bool, log_dir: Path) -> dict:
    env = {"HUB_HEARTBEAT": "5", "HUB_RECONNECT_AFTER_MS": "2000"}
    if not paced:
        env["HUB_CLOSE_WINDOW_MS"] = "0"
    with RedisServer() as redis:
        env["HUB_REDIS_URL"] = redis.url
        workers = [ServerProcess("server.sse_app:app", env=env, log_path=log_dir / f"{how}-{paced}-{i}.log")
                   for i in range(2)]
        proxy = None
        load = None
        try:
            for w in workers:
                w.start(30)
            a, b = workers
            proxy = Nginx([a.port, b.port]).start()
            load = subprocess.Popen(["node", str(HERE / "deployclient.mjs"), f"{proxy.url}/events/bench",
                                     str(clients), "paced" if paced else "today"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            read_json_line(load, "connected", 120)
            async with AsyncClient(timeout=10) as http:
                await asyncio.sleep(1.0)
                on_a = (await http.get(f"http://127.0.0.1:{a.port}/stats")).json()["streams"]
                window_ms = paced_window_ms(on_a) if paced else 0
                stop, sent = asyncio.Event(), []
                publisher = asyncio.create_task(publish_loop(b.port, stop, http, sent))
                await asyncio.sleep(1.0)
                tell(load, "before")
                await asyncio.sleep(BEFORE_S)
                tell(load, "during")
                opened = [await poll_opened(b.port, http)]
                started = time.monotonic()
                at = [0.0]
                exit_s, exited = None, []
                if how == "sigterm":
                    a.proc.send_signal(signal.SIGTERM)
                    waiter = threading.Thread(target=lambda: (a.proc.wait(), exited.append(time.monotonic())))
                    waiter.start()
                else:
                    (await http.post(f"http://127.0.0.1:{a.port}/drain",
                                     params={"window_ms": window_ms})).raise_for_status()
                span = 2.0 + 1.5 + window_ms / 1000 + 1.0          # delay + today's jitter + window
                moved_s = None
                while time.monotonic() - started < MAX_MOVE_S:      # until every client is on B
                    await asyncio.sleep(0.25)
                    opened.append(await poll_opened(b.port, http))
                    at.append(time.monotonic() - started)
                    if exit_s is None and exited:
                        exit_s = exited[0] - started
                    if moved_s is None and opened[-1] - opened[0] >= on_a:
                        moved_s = time.monotonic() - started
                    if moved_s is not None and time.monotonic() - started >= span:
                        break
                tell(load, "after")
                await asyncio.sleep(AFTER_S)
                stop.set()
                await publisher
                await asyncio.sleep(2.0)                           # the last events in flight
                tell(load, f"report {sent[-1]}")
                report = read_json_line(load, "report", 60)["report"]
        finally:
            if load is not None and load.poll() is None:
                load.kill()
            if proxy is not None:
                proxy.stop()
            for w in workers:
                w.kill()
    per_second, peak = histogram(at, opened)
    return {"how": how, "paced": paced, "clients": clients, "on_a": on_a, "window_ms": window_ms,
            "arrivals_per_s": per_second, "peak_per_s": peak, "exit_s": exit_s,
            "all_on_b_s": moved_s, **report}


def seconds(value: float | None, places: int, otherwise: str) -> str:
    """A duration for the table, or `otherwise` when there is none."""
    return otherwise if value is None else f"{value:.{places}f} s"


def table(results: list[dict]) -> str:
    rows = ["| worker A leaves | hub | moved | window | peak arrivals/s at B | target <= | lost | dup | "
            "B's p99 before | during | ratio | A exit | all on B after |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        target = 1.5 * r["on_a"] / (paced_window_ms(r["on_a"]) / 1000)    # the same bar for both
        pb, pd = r["stayed_p99_before_ms"], r["stayed_p99_during_ms"]
        ratio = f"{pd / pb:.2f}" if pb and pd else "-"
        rows.append(f"| {r['how']} | {'paced' if r['paced'] else 'today'} | {r['on_a']} | "
                    f"{r['window_ms'] / 1000 if r['paced'] else 'one (2-3 s)' if r['how'] == 'sigterm' else 'none'} "
                    f"| {r['peak_per_s']} | {target:.0f} | {r['lost']} | {r['dup']} | "
                    f"{pb:.1f} ms | {pd:.1f} ms | {ratio} | "
                    f"{seconds(r['exit_s'], 2, '-')} | "
                    f"{seconds(r['all_on_b_s'], 1, f'not within {MAX_MOVE_S:.0f} s')} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--only", choices=["sigterm", "drain"])
    args = parser.parse_args()
    log_dir = HERE / "results" / "deploy-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for how in ("sigterm", "drain"):
        if args.only and how != args.only:
            continue
        for paced in (True, False):
            result = asyncio.run(scenario(args.clients, how, paced, log_dir))
            print(json.dumps({k: v for k, v in result.items()}), flush=True)
            results.append(result)
    print(table(results))
    for r in results:
        print(f"{r['how']} {'paced' if r['paced'] else 'today'}: arrivals/s at B {r['arrivals_per_s']}")
    save_results("deploy", {"results": results})


if __name__ == "__main__":
    main()
