"""The `sse-monitor` command: `sse-monitor demo` runs the demo dashboard."""
from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sse-monitor", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the demo dashboard (in-memory hub, no other services)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=5001)
    demo.add_argument("--assets", default="node_modules",
                      help="node_modules folder with htmx.org and htmx-ext-sse (npm install)")
    demo.add_argument("--htmx", type=int, choices=[2, 4], default=2,
                      help="htmx major version for the page: 2 (htmx-ext-sse) or 4 (hx-sse)")
    args = parser.parse_args(argv)

    import uvicorn

    from .demo import create_app

    try:
        app = create_app(args.assets, htmx=args.htmx)
    except ValueError as error:
        parser.error(str(error))
    print(f"fasthtml-sse-monitor demo on http://{args.host}:{args.port}/")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
