"""Fan-out benchmark: one channel to N clients at R events/s, sse_monitor's Hub against its peers,
all measured in the same run on this machine.

    python benchmarks/run.py                      # N = 1000 and 5000, 10 events/s, 20 s each
    python benchmarks/run.py --quick              # N = 200, 5 s: a smoke run of the harness

Each server runs alone in its own process (pinned to one core when `taskset` exists); the load
client is Node (faster than any server it measures, see the `client ceiling` line) on the other core.
For each server and N: delivered events/s, lost events, p50/p99 delivery latency, RSS per idle
connection, and the time from SIGTERM to exit with N streams open (plus how many clients got a close
event). Prints a markdown table and the ratios the project targets; writes benchmarks/results/*.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from support.servers import free_port, wait_for_port  # noqa: E402

KINDS = ["ours", "ours_mount", "sse_starlette", "bare", "raw", "asgi_floor"]
SHUTDOWN_WAIT = 10.0


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pinned(cmd: list[str], core: int) -> list[str]:
    return (["taskset", "-c", str(core)] + cmd) if shutil.which("taskset") and os.cpu_count() > 1 else cmd


def read_json_line(proc: subprocess.Popen, key: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if key in data:
            return data
    raise RuntimeError(f"load client gave no {key!r} within {timeout}s")


def measure(kind: str, clients: int, rate: float, seconds: float) -> dict:
    port = free_port()
    server = subprocess.Popen(pinned([sys.executable, str(HERE / "servers.py"), "--kind", kind,
                                      "--port", str(port), "--rate", str(rate)], 0))
    try:
        wait_for_port(port, 20)
        time.sleep(0.5)
        baseline = rss_kb(server.pid)
        client = subprocess.Popen(pinned(["node", str(HERE / "loadclient.mjs"), f"http://127.0.0.1:{port}/events/bench",
                                          str(clients), str(seconds)], 1),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        read_json_line(client, "connected", 120)
        time.sleep(2.0)
        idle = rss_kb(server.pid)
        urlopen(f"http://127.0.0.1:{port}/start", timeout=10).read()
        client.stdin.write("go\n")
        client.stdin.flush()
        report = read_json_line(client, "received", seconds + 70)
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(SHUTDOWN_WAIT)
            shutdown = time.monotonic() - started
        except subprocess.TimeoutExpired:
            shutdown = None
        ending = read_json_line(client, "closes", 30)
        client.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    expected = clients * rate * seconds
    return {"kind": kind, "clients": clients, "rate": rate, "seconds": seconds,
            "delivered_per_s": report["received"] / seconds, "expected_per_s": expected / seconds,
            "lost": max(0, int(expected - report["received"])), "errors": report["errors"],
            "p50_ms": report["p50"], "p99_ms": report["p99"],
            "idle_kb_per_conn": (idle - baseline) / clients, "shutdown_s": shutdown,
            "closes_received": ending["closes"]}


def save_results(name: str, payload: dict) -> None:
    """Write a run's figures to benchmarks/results/<name>-<timestamp>.json (not committed)."""
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(payload, indent=2))


def table(results: list[dict]) -> str:
    rows = ["| server | N | delivered ev/s | lost | p50 ms | p99 ms | idle KB/conn | SIGTERM exit | close received |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        exit_s = f"{r['shutdown_s']:.2f} s" if r["shutdown_s"] is not None else f"> {SHUTDOWN_WAIT:.0f} s (killed)"
        p50, p99 = (f"{r[k]:.1f}" if r[k] is not None else "-" for k in ("p50_ms", "p99_ms"))
        delivered, lost = f"{r['delivered_per_s']:,.0f}", f"{r['lost']:,}"
        if r["kind"] == "asgi_floor":   # publishes nothing: only its idle memory means something
            delivered = lost = "-"
        rows.append(f"| {r['kind']} | {r['clients']} | {delivered} | {lost} | "
                    f"{p50} | {p99} | {r['idle_kb_per_conn']:.1f} | {exit_s} | "
                    f"{r['closes_received']}/{r['clients']} |")
    return "\n".join(rows)


def ratios(results: list[dict]) -> list[str]:
    """Each Hub variant against each peer at the same N (the project's targets are at N=5000)."""
    lines = []
    for n in sorted({r["clients"] for r in results}):
        by = {r["kind"]: r for r in results if r["clients"] == n}
        for ours in (by[k] for k in ("ours", "ours_mount") if k in by):
            for peer in (by[k] for k in ("sse_starlette", "bare", "raw") if k in by):
                delivered = ours["delivered_per_s"] / max(peer["delivered_per_s"], 1)
                p99 = (ours["p99_ms"] or 0) / max(peer["p99_ms"] or 0, 0.001)
                lines.append(f"N={n}: {ours['kind']}/{peer['kind']}: delivered x{delivered:.2f}, p99 x{p99:.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1000,5000")
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--quick", action="store_true", help="N=200 for 5 s: check the harness")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds = "200", 5.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    clients = [int(n) for n in args.clients.split(",")]
    results = []
    for n in clients:
        for kind in args.kinds.split(","):
            print(f"measuring {kind} with {n} clients ...", file=sys.stderr, flush=True)
            results.append(measure(kind, n, args.rate, args.seconds))
    ceiling_rate = args.rate * 5
    print(f"measuring the client ceiling (raw server at {ceiling_rate:g} events/s) ...", file=sys.stderr)
    ceiling = measure("raw", max(clients), ceiling_rate, min(args.seconds, 10.0))
    print(table(results))
    print()
    for line in ratios(results):
        print(line)
    print(f"client ceiling: {ceiling['delivered_per_s']:,.0f} events/s received from the raw server at "
          f"{ceiling_rate:g} events/s x {max(clients)} clients (lost {ceiling['lost']:,})")
    save_results("fanout", {"results": results, "ceiling": ceiling, "cpus": os.cpu_count()})


if __name__ == "__main__":
    main()
