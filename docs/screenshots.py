"""Screenshots of the six monitor states, taken from the demo in headless Chromium (`make docs`).

Starts `sse-monitor demo` on a free port, as a user who installed the package sees it (FastHTML's
default headers with Pico CSS, htmx and its SSE extension from the CDN, each CDN file served from its
pinned npm copy in node_modules: tests/browser/cdn.py), drives one channel through each state with
the demo's own buttons, Playwright's offline mode and a blocked stream URL, then saves
docs/states/<state>.png (the "counter" panel: its indicator and its list).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from browser.cdn import CdnFromNodeModules  # noqa: E402

OUT = REPO / "docs" / "states"
CHROMIUM = os.environ.get("SSE_MONITOR_CHROMIUM", "/usr/bin/chromium")
CHANNEL = "counter"
PANEL = f"section:has(#sse-status-{CHANNEL})"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_state(page, state: str, timeout: float = 20) -> None:
    page.wait_for_function("([id, s]) => document.getElementById('sse-status-' + id)?.dataset.state === s",
                           arg=[CHANNEL, state], timeout=timeout * 1000)
    page.wait_for_timeout(700)         # past the indicator's 500 ms flash guard


def shoot(page, state: str) -> None:
    page.locator(PANEL).screenshot(path=str(OUT / f"{state}.png"))
    print(f"docs/states/{state}.png")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    demo = subprocess.Popen([sys.executable, "-m", "sse_monitor.cli", "demo", "--port", str(port)],
                            cwd=REPO, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": 1000, "height": 700})
            page = context.new_page()
            cdn = CdnFromNodeModules(page)

            # connecting: the stream request never gets an answer
            page.route(f"**/events/{CHANNEL}*", lambda route: None)
            page.goto(url)
            wait_state(page, "connecting")
            shoot(page, "connecting")
            page.unroute(f"**/events/{CHANNEL}*")
            page.reload()
            wait_state(page, "active")
            page.wait_for_timeout(2500)           # a few counter values in the list
            shoot(page, "active")

            # reconnecting: the stream drops and the server cannot be reached
            page.route(f"**/events/{CHANNEL}*", lambda route: route.abort())
            page.click("button:has-text('Drop streams')")
            wait_state(page, "reconnecting")
            shoot(page, "reconnecting")
            page.unroute(f"**/events/{CHANNEL}*")
            wait_state(page, "active")

            # error: a proxy answers 503
            page.click("button:has-text('503 for 10 s')")
            wait_state(page, "error")
            shoot(page, "error")
            wait_state(page, "active", 30)

            # offline: the browser has no network
            context.set_offline(True)
            wait_state(page, "offline")
            shoot(page, "offline")
            context.set_offline(False)
            wait_state(page, "active")

            # disconnected: the server closed the stream for good
            page.click("button:has-text('Server close (for good)')")
            wait_state(page, "disconnected")
            shoot(page, "disconnected")
            page.unroute_all(behavior="ignoreErrors")     # the CDN handler may be mid-request
            browser.close()
            if cdn.missing:
                raise SystemExit(f"CDN files missing from node_modules: {cdn.missing}")
    finally:
        os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
