"""Token-rate streaming: many generated answers at once, `Runs` against sse-starlette, same run.

    python benchmarks/tokens.py                    # 1,000 answers x 50 tokens/s (50,000 tokens/s), 10 s
    python benchmarks/tokens.py --answers 200 --seconds 5

Each server runs alone in its own process on one core (`taskset`); the Node load client
(loadclient.mjs, each client following an answer of its own) runs on the other core. For each server:
tokens delivered per second in the window (against the tokens made), and the p50/p99 latency from a
token's generation to its arrival at the client. See token_servers.py for what each server does.
"""
from __future__ import annotations

import argparse
import resource
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

KINDS = ["runs", "sse_starlette"]


def measure(kind: str, answers: int, rate: float, seconds: float) -> dict:
    port = free_port()
    server = subprocess.Popen(pinned([sys.executable, str(HERE / "token_servers.py"), "--kind", kind,
                                      "--port", str(port), "--rate", str(rate)], 0))
    try:
        wait_for_port(port, 20)
        client = subprocess.Popen(pinned(["node", str(HERE / "loadclient.mjs"),
                                          f"http://127.0.0.1:{port}/answers/{{i}}", str(answers), str(seconds)], 1),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        read_json_line(client, "connected", 120)
        urlopen(f"http://127.0.0.1:{port}/start", timeout=10).read()
        time.sleep(1.0)                       # every answer's loop is running
        client.stdin.write("go\n")
        client.stdin.flush()
        report = read_json_line(client, "received", seconds + 70)
    finally:
        server.kill()
        server.wait()
        client.kill()
    made = answers * rate * seconds
    return {"kind": kind, "answers": answers, "rate": rate, "seconds": seconds,
            "delivered_per_s": report["received"] / seconds, "made_per_s": made / seconds,
            "errors": report["errors"], "p50_ms": report["p50"], "p99_ms": report["p99"], "max_ms": report["max"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="tokens per second per answer")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = []
    for kind in args.kinds.split(","):
        print(f"measuring {kind}: {args.answers} answers x {args.rate:g} tokens/s ...", file=sys.stderr, flush=True)
        results.append(measure(kind, args.answers, args.rate, args.seconds))
    print("| server | answers x tokens/s | tokens delivered/s | of made | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['kind']} | {r['answers']:,} x {r['rate']:g} | {r['delivered_per_s']:,.0f} | "
              f"{r['delivered_per_s'] / r['made_per_s']:.2f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['max_ms']:.1f} |")
    by = {r["kind"]: r for r in results}
    if "runs" in by and "sse_starlette" in by:
        ours, peer = by["runs"], by["sse_starlette"]
        print(f"runs/sse_starlette: delivered x{ours['delivered_per_s'] / max(peer['delivered_per_s'], 1):.2f}, "
              f"p99 x{ours['p99_ms'] / max(peer['p99_ms'], 0.001):.2f}")
    save_results("tokens", {"results": results})


if __name__ == "__main__":
    main()
