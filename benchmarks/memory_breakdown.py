"""Where an idle stream's memory goes: Python's own allocations per open stream, by who made them.

    python benchmarks/memory_breakdown.py                 # 1,000 streams on each server kind
    python benchmarks/memory_breakdown.py --streams 300 --kinds ours_mount

Each server kind of servers.py (the ASGI floor, `hub.mount`, the `hub.stream` route, sse-starlette)
runs alone with tracemalloc on. A client process opens 100 streams (so first-use caches are filled),
the server dumps a snapshot, the client opens `--streams` more and the server dumps another. The
difference, divided by the streams, is what one more idle stream costs in Python objects, attributed
to the innermost frame of the code that asked for it: sse_monitor's, Starlette's, uvicorn's, or
asyncio's and the rest. Memory outside Python's allocator (libuv's buffers, the kernel's socket) is
not in it: the fan-out benchmark's RSS column has everything, this one says where Python's part goes.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from support.servers import free_port, wait_for_port  # noqa: E402

KINDS = ["asgi_floor", "ours_mount", "ours", "sse_starlette"]
WARM = 100
SITES = 16           # the largest sites listed per server
MOUNT_TARGET = 1500   # bytes per idle `hub.mount` stream over the floor, at most (issue 25)
OWNERS = [("sse_monitor", "sse_monitor"), ("sse_starlette", "sse_starlette"), ("starlette", "starlette"),
          ("uvicorn", "uvicorn"), ("anyio", "anyio")]


def owner(frame: tracemalloc.Frame) -> str | None:
    parts = Path(frame.filename).parts
    for name, label in OWNERS:
        if name in parts:
            return label
    return None


def attribute(trace: tracemalloc.Traceback) -> tuple[str, str]:
    """(owner, site): the innermost frame in a known package, else the innermost frame."""
    for frame in reversed(trace):            # oldest first: reversed is innermost first
        label = owner(frame)
        if label is not None:
            return label, f"{Path(frame.filename).name}:{frame.lineno}"
    frame = trace[-1]
    return "asyncio and other", f"{Path(frame.filename).name}:{frame.lineno}"


def breakdown(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, streams: int) -> dict:
    by_owner: dict[str, float] = {}
    by_site: dict[tuple[str, str], float] = {}
    for stat in after.compare_to(before, "traceback"):
        if stat.size_diff == 0:
            continue
        who = attribute(stat.traceback)
        by_owner[who[0]] = by_owner.get(who[0], 0) + stat.size_diff
        by_site[who] = by_site.get(who, 0) + stat.size_diff
    return {"total": sum(by_owner.values()) / streams,
            "owners": {k: v / streams for k, v in sorted(by_owner.items(), key=lambda kv: -kv[1])},
            "sites": sorted(((k, v / streams) for k, v in by_site.items()), key=lambda kv: -kv[1])[:SITES]}


async def hold(port: int, count: int, connections: list) -> None:
    """Open `count` more streams and read each one's response head."""
    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /events/bench HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        connections.append((reader, writer))
    for start in range(0, count, 200):
        await asyncio.gather(*(one() for _ in range(min(200, count - start))))


def client_main(port: int, streams: int) -> None:
    """The client process: WARM streams, "warm" on stdout; on a line of stdin, `streams` more, "open"."""
    async def run() -> None:
        connections: list = []
        await hold(port, WARM, connections)
        print("warm", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await hold(port, streams, connections)
        print("open", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    asyncio.run(run())


def snapshot(server: subprocess.Popen, directory: Path, n: int) -> tracemalloc.Snapshot:
    server.send_signal(signal.SIGUSR1)
    path = directory / f"snapshot-{n}"
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError(f"the server wrote no {path.name}")
        time.sleep(0.1)
    return tracemalloc.Snapshot.load(str(path))


def measure(kind: str, streams: int) -> dict:
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="sse-monitor-memory-"))
    env = {**os.environ, "BENCH_TRACEMALLOC_DIR": str(directory)}
    server = subprocess.Popen([sys.executable, str(HERE / "servers.py"), "--kind", kind, "--port", str(port)],
                              env=env)
    client = None
    try:
        wait_for_port(port, 30)
        client = subprocess.Popen([sys.executable, __file__, "--client", str(port), "--streams", str(streams)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert client.stdin is not None and client.stdout is not None
        if client.stdout.readline().strip() != "warm":
            raise RuntimeError("the client could not open its first streams")
        time.sleep(1.0)
        before = snapshot(server, directory, 1)
        client.stdin.write("more\n")
        client.stdin.flush()
        if client.stdout.readline().strip() != "open":
            raise RuntimeError("the client could not open its streams")
        time.sleep(1.0)
        after = snapshot(server, directory, 2)
        return {"kind": kind, "streams": streams, **breakdown(before, after, streams)}
    finally:
        if client is not None:
            client.kill()
            client.wait()
        server.kill()
        server.wait()
        shutil.rmtree(directory, ignore_errors=True)


def report(results: list[dict]) -> str:
    owners = [label for _, label in OWNERS if any(label in r["owners"] for r in results)] + ["asyncio and other"]
    floor = next((r["total"] for r in results if r["kind"] == "asgi_floor"), None)
    lines = ["| server | streams | Python bytes per stream | over the floor | " + " | ".join(owners) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(owners)]
    for r in results:
        cells = " | ".join(f"{r['owners'].get(label, 0):,.0f}" for label in owners)
        over = "-" if floor is None else f"{r['total'] - floor:,.0f}"
        lines.append(f"| {r['kind']} | {r['streams']} | {r['total']:,.0f} | {over} | {cells} |")
    if floor is not None and any(r["kind"] == "ours_mount" for r in results):
        mount = next(r["total"] for r in results if r["kind"] == "ours_mount") - floor
        verdict = "meets" if mount <= MOUNT_TARGET else "MISSES"
        lines.append(f"\nhub.mount adds {mount:,.0f} bytes per idle stream over the floor: {verdict} the "
                     f"target of at most {MOUNT_TARGET:,} (issue 25).")
    for r in results:
        lines.append(f"\n{r['kind']}, the largest sites (bytes per stream):")
        lines.extend(f"  {v:8,.0f}  {who}: {site}" for (who, site), v in r["sites"])
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000, help="streams measured on each server (after 100 warm)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"server kinds, comma-separated (of {KINDS})")
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args.client, args.streams)
        return
    kinds = args.kinds.split(",")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise SystemExit(f"--kinds: unknown {unknown}; choose from {KINDS}")
    if args.streams <= 0:
        raise SystemExit("--streams: must be at least 1")
    print(report([measure(kind, args.streams) for kind in kinds]))


if __name__ == "__main__":
    main()
