"""Browser suite fixtures: every browser test runs on Chromium, Firefox and WebKit (engines.py), each
with htmx 2 and htmx 4 (the `scripted` server), against the scripted SSE server in a real uvicorn
subprocess. A missing browser fails the suite; it is never skipped.

A scenario a driver cannot express is marked `@pytest.mark.not_on("webkit", reason=...)`: the reason
names what covers it instead, and pytest's summary (-ra) lists it. SSE_MONITOR_ENGINES=firefox,webkit
runs a subset (`make test` runs one process per engine: tests/lanes.py).
"""
from __future__ import annotations

import json
import os
import time
from urllib.parse import quote
from urllib.request import urlopen

import pytest
from playwright.sync_api import sync_playwright

from browser.engines import (
    WebKitContext,
    XDisplay,
    launch_playwright,
    launch_webkit,
    missing_binary,
    playwright_page,
    selected_engines,
)
from support.servers import ServerProcess


def pytest_configure(config):
    config.addinivalue_line("markers", "not_on(engine, reason): this scenario cannot run on that engine; "
                                       "the reason says why and what covers it instead")
    config.addinivalue_line("markers", "one_transport_off_chromium: the module tests the monitor's logic; "
                                       "Firefox and WebKit run each scenario on one transport (conftest.py)")
    config.addinivalue_line("markers", "soak: a long real-time run (minutes of outage or churn): make test-soak, "
                                       "not CI, which runs the same promise on a scaled clock or for less time")


# Tab-sharing scenarios vary two things besides the engine: the transport (htmx 2 or 4) and how tabs
# elect their leader (Web Locks, or the lease without them). The election never touches the
# transport (the leader's stream is the monitor's own, tested on both everywhere), so each engine
# runs every such scenario twice, not four times: each transport once and each election once, and
# across the engines every pair of the two occurs. SSE_MONITOR_FULL_MATRIX=1 (make test-soak) runs
# all four on every engine.
TRANSPORT_FIXTURES = ("scripted", "scripted_past", "private")
ELECTION_PARAMS = ("election", "elect")
PAIRS_BY_ENGINE = {
    "chromium": {("htmx2", "web-locks"), ("htmx4", "lease")},
    "firefox": {("htmx2", "lease"), ("htmx4", "web-locks")},
    "webkit": {("htmx2", "web-locks"), ("htmx4", "lease")},
}


# The monitor's own logic (its states, delays, stall and offline rules, setup diagnosis) is the same
# code under either transport, and the Node tier (tests/node/) proves it without a browser. A module
# marked `pytestmark = pytest.mark.one_transport_off_chromium` tests that logic through a browser:
# Chromium runs each of its scenarios on both transports; Firefox and WebKit each run every scenario
# once, on complementary transports (chosen by the scenario's name), so every scenario still runs on
# both transports outside Chromium and each engine runs both. The transports themselves, with every
# engine's own EventSource and fetch, are proven by the unmarked modules on all six pairs.
# SSE_MONITOR_FULL_MATRIX=1 (make test-soak) runs every pair.
PAIRED_ENGINES = ("firefox", "webkit")


def transport_of(params: dict) -> str | None:
    """The htmx transport ("htmx2" or "htmx4") a test runs on, from its fixtures' parameters."""
    value = next((params[name] for name in (*TRANSPORT_FIXTURES, "demo", "htmx") if name in params), None)
    return None if value is None else "htmx" + str(value).removeprefix("htmx")


def in_the_tab_matrix(item) -> bool:
    """False for a (transport, election) pair this engine leaves to the others (see PAIRS_BY_ENGINE)."""
    params = item.callspec.params
    transport = next((params[name] for name in TRANSPORT_FIXTURES if name in params), None)
    election = next((params[name] for name in ELECTION_PARAMS if name in params), None)
    if transport is None or election is None:
        return True
    return (transport, election) in PAIRS_BY_ENGINE[params["browser"]]


def in_the_transport_pairs(item, scenarios: list[str]) -> bool:
    """False for the transport a Firefox or WebKit run of a `one_transport_off_chromium` scenario
    leaves to the other engine (see PAIRED_ENGINES). `scenarios`: the test functions in collection
    order; they alternate which engine takes htmx 2, so each engine runs both transports."""
    engine = item.callspec.params["browser"]
    transport = transport_of(item.callspec.params)
    if engine not in PAIRED_ENGINES or transport is None or not item.get_closest_marker("one_transport_off_chromium"):
        return True
    key = f"{item.module.__name__}::{item.originalname}"
    if key not in scenarios:
        scenarios.append(key)
    first = ("htmx2", "htmx4")[scenarios.index(key) % 2]
    return (transport == first) == (engine == PAIRED_ENGINES[0])


def pytest_collection_modifyitems(config, items):
    """A scenario marked not_on(engine) is skipped on that engine with its reason (listed by -ra).
    Tab-sharing scenarios run each transport and each election once per engine (PAIRS_BY_ENGINE);
    the monitor's logic runs each scenario on one transport on Firefox and WebKit (PAIRED_ENGINES)."""
    if os.environ.get("SSE_MONITOR_FULL_MATRIX") != "1":
        scenarios: list[str] = []
        kept = [item for item in items if not getattr(item, "callspec", None) or "browser" not in
                item.callspec.params or (in_the_tab_matrix(item) and in_the_transport_pairs(item, scenarios))]
        if len(kept) < len(items):
            config.hook.pytest_deselected(items=[item for item in items if item not in kept])
            items[:] = kept
    for item in items:
        engine = getattr(item, "callspec", None) and item.callspec.params.get("browser")
        if not engine:
            continue
        for mark in item.iter_markers("not_on"):
            if engine in mark.args:
                reason = mark.kwargs.get("reason")
                assert reason, f"{item.nodeid}: not_on needs a reason naming what covers it instead"
                item.add_marker(pytest.mark.skip(reason=f"not expressible on {engine}: {reason}"))


@pytest.fixture(scope="session")
def x_display():
    """One private Xvfb for the session's WebKit windows (started only if WebKit runs)."""
    display = XDisplay()
    yield display.display
    display.close()


@pytest.fixture(scope="module", params=selected_engines())
def browser(request):
    """One browser per engine per test module. Not per session: sync Playwright keeps an event loop
    running in this thread while it is open, which would break the asyncio tests that run later."""
    engine = request.param
    problem = missing_binary(engine)
    if problem:
        pytest.fail(problem)
    if engine == "webkit":
        driver = launch_webkit(request.getfixturevalue("x_display"))
        yield driver
        driver.quit()
        return
    with sync_playwright() as playwright:
        browser = launch_playwright(playwright, engine)
        yield browser
        browser.close()


class Scripted:
    """The scripted server plus helpers to drive it."""

    def __init__(self, server: ServerProcess, htmx: str = "2"):
        self.server = server
        self.htmx = htmx

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


def start_scripted(log_dir, htmx: str = "2", meta: str = "-", history: float = 0, replay: int = 1000) -> Scripted:
    """`history`: seconds of events already due when the server starts (event 0 is that long ago).
    `replay`: the events each hub channel keeps for resumes."""
    env = {"SCRIPTED_T0": str(time.time() - history), "SCRIPTED_HTMX": htmx, "SCRIPTED_HTMX_META": meta,
           "SCRIPTED_REPLAY": str(replay)}
    server = ServerProcess("browser.scripted_app:app", env=env, log_path=log_dir / "server.log")
    server.start()
    return Scripted(server, htmx)


@pytest.fixture(params=["htmx2", "htmx4"])
def scripted(request, tmp_path):
    """The scripted server, once with htmx 2 + htmx-ext-sse and once with htmx 4 + hx-sse (as FastHTML
    loads it, metaCharacter "-"): every browser test runs on both."""
    server = start_scripted(tmp_path, request.param.removeprefix("htmx"))
    yield server
    server.server.kill()


@pytest.fixture
def page(browser):
    """A fresh page with Playwright's sync Page API (on WebKit: engines.WebKitPage, the subset the tests
    use). `page.engine` names the engine; `page.console_errors`/`page.page_errors` collect errors."""
    if not hasattr(browser, "new_context"):   # Selenium's WebKitGTK driver
        context = WebKitContext(browser)
        yield context.page
        bugs = [bug for tab in context.open_pages() for bug in runtime_bugs(tab.console_errors)]
        context.close()
        assert bugs == [], "the runtime made a state change its own TRANSITIONS table forbids"
        return
    page = playwright_page(browser)
    bugs = []   # every tab of the context (tab sharing opens more)
    page.context.on("console", lambda m: m.type == "error" and bugs.extend(runtime_bugs([m.text])))
    yield page
    page.context.close()
    assert bugs == [], "the runtime made a state change its own TRANSITIONS table forbids"


def runtime_bugs(console_errors: list[str]) -> list[str]:
    """The runtime's own bug reports (a state change outside its TRANSITIONS table)."""
    return [e for e in console_errors if e.startswith("[sse-monitor] Bug:")]
