"""Soak: many connections for a long time on one in-memory worker, watching for leaks and drift.

    python benchmarks/soak.py                         # 2000 connections, 5 events/s, 10 minutes
    python benchmarks/soak.py --clients 200 --minutes 1 --every 10    # a smoke run

Besides the steady clients, `--churn` extra streams open every second and drop a second later
(connect/disconnect clean-up under load). Every `--every` seconds it prints the period's delivered
events, p50/p99 latency, open streams, client errors, the server's RSS and its asyncio task count;
then a summary: RSS growth from the first period (after warm-up) to the last, task count first vs
last, p99 first vs last, total lost.
"""
from __future__ import annotations

import argparse
import json
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
from run import pinned, read_json_line, save_results  # noqa: E402

from support.servers import free_port, wait_for_port  # noqa: E402


def health(port: int) -> dict:
    with urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds per reported period")
    parser.add_argument("--churn", type=int, default=20,
                        help="extra streams opened every second and dropped a second later")
    parser.add_argument("--kind", default="ours_mount", choices=["ours", "ours_mount"])
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    seconds = args.minutes * 60
    port = free_port()
    server = subprocess.Popen(pinned([sys.executable, str(HERE / "servers.py"), "--kind", args.kind,
                                      "--port", str(port), "--rate", str(args.rate)], 0))
    client = None
    try:
        wait_for_port(port, 20)
        client = subprocess.Popen(pinned(["node", str(HERE / "loadclient.mjs"), f"http://127.0.0.1:{port}/events/bench",
                                          str(args.clients), str(seconds), str(args.every), str(args.churn)], 1),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        read_json_line(client, "connected", 120)
        time.sleep(2.0)
        urlopen(f"http://127.0.0.1:{port}/start", timeout=10).read()
        client.stdin.write("go\n")
        client.stdin.flush()
        periods = []
        print("| t s | delivered ev/s | p50 ms | p99 ms | open | churned | errors | RSS MB | tasks |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
        while len(periods) * args.every < seconds - 1e-9:
            report = read_json_line(client, "interval", args.every + 60)
            report.update(health(port))
            report["t"] = report["interval"] * args.every
            periods.append(report)
            print(f"| {report['t']:.0f} | {report['received'] / args.every:,.0f} | {report['p50'] or 0:.1f} | "
                  f"{report['p99'] or 0:.1f} | {report['open']} | {report['churned']} | {report['errors']} | "
                  f"{report['rss_kb'] / 1024:.1f} | {report['tasks']} |", flush=True)
        final = read_json_line(client, "received", 70)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        if client is not None:
            client.kill()
    first, last = periods[0], periods[-1]
    expected = args.clients * args.rate * seconds
    growth = (last["rss_kb"] - first["rss_kb"]) / first["rss_kb"] * 100
    print()
    print(f"clients {args.clients}, {args.rate:g} events/s, {args.minutes:g} min: delivered {final['received']:,} "
          f"of {expected:,.0f} (lost {max(0, int(expected - final['received'])):,}), client errors {final['errors']}")
    print(f"RSS {first['rss_kb'] / 1024:.1f} MB -> {last['rss_kb'] / 1024:.1f} MB ({growth:+.2f} %, target < 5 %)")
    print(f"asyncio tasks {first['tasks']} -> {last['tasks']} (2 per open stream: its own and its disconnect "
          f"watcher; churned streams {last['churned']:,})")
    print(f"p99 {first['p99']:.1f} ms (first period) -> {last['p99']:.1f} ms (last); "
          f"worst period {max(p['p99'] or 0 for p in periods):.1f} ms")
    save_results("soak", {"periods": periods, "final": final, "args": vars(args)})


if __name__ == "__main__":
    main()
