"""`python -m sse_monitor.demo [options]`: the same as `sse-monitor demo [options]`."""
import sys

from ..cli import main

raise SystemExit(main(["demo", *sys.argv[1:]]))
