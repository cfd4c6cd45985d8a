"""Browser suite fixtures: real headless Chromium (Debian's) driven by Playwright, and the scripted
SSE server in a real uvicorn subprocess. A missing browser fails the suite; it is never skipped."""
from __future__ import annotations

import json
import os
import shutil
import time
from urllib.parse import quote
from urllib.request import urlopen

import pytest
from playwright.sync_api import sync_playwright

from support.servers import ServerProcess

CHROMIUM = os.environ.get("SSE_MONITOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module. Not per session: sync Playwright keeps an event loop running in
    this thread while it is open, which would break the asyncio tests that run after this folder."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Scripted:
    """The scripted server plus helpers to drive it."""

    def __init__(self, server: ServerProcess):
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url

    def control(self, action: str, **params) -> object:
        query = "&".join(f"{key}={quote(str(value))}" for key, value in params.items())
        with urlopen(f"{self.url}/control/{action}?{query}", timeout=5) as response:
            return json.loads(response.read())

    def requests(self, path: str | None = None) -> list[dict]:
        try:
            found = self.control("requests")
        except OSError:
            return []
        return [r for r in found if path is None or r["path"] == path]

    def page_url(self, ids: str = "feed", style: str = "monitor", **config) -> str:
        return f"{self.url}/?ids={ids}&style={style}&config={quote(json.dumps(config))}"


def start_scripted(log_dir, htmx: str = "2", meta: str = "-") -> Scripted:
    env = {"SCRIPTED_T0": str(time.time()), "SCRIPTED_HTMX": htmx, "SCRIPTED_HTMX_META": meta}
    server = ServerProcess("browser.scripted_app:app", env=env, log_path=log_dir / "server.log")
    server.start()
    return Scripted(server)


@pytest.fixture(params=["htmx2", "htmx4"])
def scripted(request, tmp_path):
    """The scripted server, once with htmx 2 + htmx-ext-sse and once with htmx 4 + hx-sse (as FastHTML
    loads it, metaCharacter "-"): every browser test runs on both."""
    server = start_scripted(tmp_path, request.param.removeprefix("htmx"))
    yield server
    server.server.kill()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.console_errors = []
    page.page_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.page_errors.append(str(e)))
    yield page
    context.close()
