"""HTTP/2 over TLS through nginx: ten tabs of one page, three live streams each, all Live in Chromium.

Over HTTP/1.1 a browser opens at most 6 connections per host, so the 7th stream of a page (or of
all its tabs together) waits forever; HTTP/2 carries every stream of every tab on one connection.
Tab sharing is the client-side answer; this is the server-side one, so the demo runs here with
tab sharing off (`share_across_tabs=False`): every tab opens its own three streams.
"""
from __future__ import annotations

import os
import shutil

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

from support.servers import REPO_DIR

CHROMIUM = os.environ.get("SSE_MONITOR_CHROMIUM", "/usr/bin/chromium")
CHANNELS = ("clock", "counter", "news")
TABS = 10


@pytest.fixture
def demo_behind_nginx(start_workers, start_nginx):
    workers = start_workers(2, app="sse_monitor.demo:create_app", args=["--factory"],
                            SSE_MONITOR_DEMO_ASSETS=str(REPO_DIR / "node_modules"),
                            SSE_MONITOR_DEMO_SHARE_TABS="0")
    return start_nginx(workers)


def live_tabs(pages) -> int:
    """Tabs whose every monitor says Live (a tab whose page never loaded has none)."""
    return sum(p.evaluate("ids => ids.every(id => document.getElementById('sse-status-' + id)"
                          "?.dataset.state === 'active')", list(CHANNELS)) for p in pages)


def open_tabs(browser, url: str, n: int, timeout: float = 30_000):
    context = browser.new_context(ignore_https_errors=True)
    pages = []
    for _ in range(n):
        page = context.new_page()
        try:
            page.goto(url, wait_until="domcontentloaded", timeout=timeout)
        except PlaywrightTimeoutError:
            continue                   # still waiting for a free connection (HTTP/1.1): not Live
        pages.append(page)
    return context, pages


def test_ten_tabs_over_http2_are_all_live(demo_behind_nginx):
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--ignore-certificate-errors"])
        try:
            context, pages = open_tabs(browser, demo_behind_nginx.https_url + "/", TABS)
            for page in pages:
                for channel in CHANNELS:
                    page.wait_for_function(
                        "id => document.getElementById('sse-status-' + id)?.dataset.state === 'active'",
                        arg=channel, timeout=20_000)
            protocols = {p.evaluate("() => performance.getEntriesByType('navigation')[0].nextHopProtocol")
                         for p in pages}
            assert protocols == {"h2"}, protocols
            # and they stay Live, receiving (the counter ticks twice a second on every tab)
            counts = [p.locator("#items-counter li").count() for p in pages]
            pages[-1].wait_for_timeout(1500)
            assert live_tabs(pages) == TABS
            assert all(p.locator("#items-counter li").count() > c for p, c in zip(pages, counts, strict=True))
            context.close()

            # The same page over HTTP/1.1: the streams beyond the browser's 6 connections never
            # open (even the third tab's page waits), which is what HTTP/2 (or tab sharing) is for.
            context, pages = open_tabs(browser, demo_behind_nginx.url + "/", 3, timeout=4000)
            pages[0].wait_for_timeout(1000)
            assert live_tabs(pages) < 3
            context.close()
        finally:
            browser.close()
