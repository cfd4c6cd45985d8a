"""The `sse-monitor` command: `sse-monitor demo` runs the demo dashboard; `sse-monitor example NAME`
runs one of the examples (which ship in the package)."""
from __future__ import annotations

import argparse
import os
import runpy
import secrets
from pathlib import Path


def examples_folder() -> Path:
    """Where the examples are: in the installed package, or at the top of a source checkout."""
    installed = Path(__file__).resolve().parent / "examples"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "examples"


def example_names() -> list[str]:
    folder = examples_folder()
    return sorted(p.stem for p in folder.glob("*.py")) if folder.is_dir() else []


def example_summary(name: str) -> str:
    """The first line of an example's docstring."""
    text = (examples_folder() / f"{name}.py").read_text(encoding="utf-8")
    return text.split('"""', 2)[1].strip().splitlines()[0] if text.startswith('"""') else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sse-monitor", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the demo dashboard (in-memory hub, no other services)")
    demo.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for all)")
    demo.add_argument("--port", type=int, default=5001, help="port to listen on (default 5001)")
    demo.add_argument("--assets", metavar="DIR", default=None,
                      help="serve htmx and its SSE extension from DIR (an npm install: `npm install --prefix DIR "
                           "htmx.org@2.0.11 htmx-ext-sse@2.2.4`, or htmx.org@4.0.1 for --htmx 4) instead of "
                           "the CDN, e.g. offline")
    demo.add_argument("--htmx", type=int, choices=[2, 4], default=2,
                      help="htmx major version for the page: 2 (htmx-ext-sse) or 4 (hx-sse)")
    demo.add_argument("--redis", metavar="URL", default=os.environ.get("SSE_MONITOR_REDIS_URL"),
                      help="run the hub on Redis Streams, e.g. redis://127.0.0.1:6379/0")
    demo.add_argument("--workers", type=int, default=1,
                      help="uvicorn worker processes (more than 1 needs --redis)")
    demo.add_argument("--no-tab-sharing", action="store_true",
                      help="give every tab its own streams (by default the tabs of a browser share them)")
    names = example_names()
    example = commands.add_parser(
        "example", help="run one of the examples: " + ", ".join(names),
        description="Run an example app from the package (its source: "
                    f"{examples_folder()}). Without NAME, list them.")
    example.add_argument("name", nargs="?", choices=names, metavar="NAME", help="one of: " + ", ".join(names))
    example.add_argument("--port", type=int, default=5001, help="port to listen on (default 5001)")
    args = parser.parse_args(argv)
    if args.command == "example":
        return run_example(args.name, args.port)
    if args.workers < 1:
        parser.error("--workers: expected a positive number")
    if args.workers > 1 and not args.redis:
        parser.error("--workers: several workers share channels only through Redis; add --redis URL")

    import uvicorn

    from .demo import create_app

    try:
        create_app(args.assets, htmx=args.htmx, redis_url=args.redis,    # fail here on bad options
                   share_tabs=not args.no_tab_sharing)
    except ValueError as error:
        parser.error(str(error))
    # Workers build the app themselves (a factory import string), from these variables.
    os.environ["SSE_MONITOR_DEMO_HTMX"] = str(args.htmx)
    if args.assets:
        os.environ["SSE_MONITOR_DEMO_ASSETS"] = str(args.assets)
    else:
        os.environ.pop("SSE_MONITOR_DEMO_ASSETS", None)
    if args.redis:
        os.environ["SSE_MONITOR_REDIS_URL"] = args.redis
    os.environ["SSE_MONITOR_DEMO_SHARE_TABS"] = "0" if args.no_tab_sharing else "1"
    os.environ.setdefault("SSE_MONITOR_DEMO_SECRET", secrets.token_hex(32))   # one for all workers; no file
    print(f"fasthtml-sse-monitor demo on http://{args.host}:{args.port}/ (htmx {args.htmx}, "
          + (f"assets from {args.assets}" if args.assets else "htmx and its SSE extension from the CDN; "
             "--assets DIR for offline") + ")"
          + (f" ({args.workers} workers on Redis)" if args.redis else ""), flush=True)
    uvicorn.run("sse_monitor.demo:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning")
    return 0


def run_example(name: str | None, port: int) -> int:
    if name is None:
        for known in example_names():
            print(f"{known:12} {example_summary(known)}")
        print("\nRun one with: sse-monitor example NAME [--port N]")
        return 0
    os.environ["PORT"] = str(port)
    print(f"fasthtml-sse-monitor example {name!r} on http://127.0.0.1:{port}/", flush=True)
    runpy.run_path(str(examples_folder() / f"{name}.py"), run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
