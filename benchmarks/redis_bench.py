"""Scale-out benchmark: the Hub on Redis Streams with 2 workers against 1 in-memory worker, same load.

    python benchmarks/redis_bench.py               # N = 2000 clients, 10 events/s, 20 s
    python benchmarks/redis_bench.py --quick       # N = 200, 5 s

In-memory: one worker, N clients, publishing in-process. Redis: a real redis-server and two worker
processes (as behind a load balancer), N/2 clients on each; only worker A publishes, so A's clients
get each event through Redis and A's own reader (XADD -> XREAD), B's through B's reader. Reports
delivered events/s, lost events and p50/p99 latency for each, and the latency Redis adds per hop.
"""
from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
from run import measure, pinned, read_json_line, save_results  # noqa: E402

from support.redis_server import RedisServer  # noqa: E402
from support.servers import free_port, wait_for_port  # noqa: E402


def measure_redis(redis_url: str, clients: int, rate: float, seconds: float) -> list[dict]:
    """Two workers on Redis, clients split between them; worker A publishes."""
    workers, loads = [], []
    try:
        for _ in range(2):
            port = free_port()
            proc = subprocess.Popen(pinned([sys.executable, str(HERE / "servers.py"), "--kind", "ours_redis",
                                            "--port", str(port), "--rate", str(rate)], 0),
                                    env={**os.environ, "BENCH_REDIS_URL": redis_url})
            workers.append((port, proc))
        for port, _ in workers:
            wait_for_port(port, 20)
        for port, _ in workers:
            loads.append(subprocess.Popen(
                pinned(["node", str(HERE / "loadclient.mjs"), f"http://127.0.0.1:{port}/events/bench",
                        str(clients // 2), str(seconds)], 1),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for load in loads:
            read_json_line(load, "connected", 120)
        time.sleep(2.0)
        urlopen(f"http://127.0.0.1:{workers[0][0]}/start", timeout=10).read()
        for load in loads:
            load.stdin.write("go\n")
            load.stdin.flush()
        reports = [read_json_line(load, "received", seconds + 70) for load in loads]
    finally:
        for _, proc in workers:
            proc.send_signal(signal.SIGTERM)
        for _, proc in workers:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for load in loads:
            load.kill()
    results = []
    for name, report in zip(("redis: publishing worker", "redis: other worker"), reports, strict=True):
        expected = clients // 2 * rate * seconds
        results.append({"kind": name, "clients": clients // 2, "delivered_per_s": report["received"] / seconds,
                        "lost": max(0, int(expected - report["received"])), "errors": report["errors"],
                        "p50_ms": report["p50"], "p99_ms": report["p99"]})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds = 200, 5.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    print("measuring 1 in-memory worker ...", file=sys.stderr, flush=True)
    memory = measure("ours_mount", args.clients, args.rate, args.seconds)
    memory["kind"] = "memory: 1 worker"
    print("measuring 2 workers on Redis ...", file=sys.stderr, flush=True)
    with RedisServer() as redis_server:
        on_redis = measure_redis(redis_server.url, args.clients, args.rate, args.seconds)

    rows = ["| setup | clients | delivered ev/s | lost | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|---:|"]
    for r in [memory, *on_redis]:
        rows.append(f"| {r['kind']} | {r['clients']} | {r['delivered_per_s']:,.0f} | {r['lost']:,} | "
                    f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
    print("\n".join(rows))
    total = sum(r["delivered_per_s"] for r in on_redis)
    print(f"\ndelivered: 2 workers on Redis {total:,.0f} ev/s vs 1 in-memory worker "
          f"{memory['delivered_per_s']:,.0f} ev/s (x{total / max(memory['delivered_per_s'], 1):.2f})")
    for r in on_redis:
        print(f"added latency per hop ({r['kind']}): p50 +{r['p50_ms'] - memory['p50_ms']:.1f} ms, "
              f"p99 +{r['p99_ms'] - memory['p99_ms']:.1f} ms")
    save_results("redis", {"memory": memory, "redis": on_redis, "args": vars(args)})


if __name__ == "__main__":
    main()
