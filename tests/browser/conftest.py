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
    config.addinivalue_line("markers", "one_variant_per_engine: the scenarios test logic that is the same "
                                       "code on either transport; each engine runs one variant (conftest.py)")
    config.addinivalue_line("markers", "soak: a long real-time run (minutes of outage or churn): make test-soak, "
                                       "not CI, which runs the same promise on a scaled clock or for less time")


# A scenario's variants. Besides the engine, a browser scenario may vary the transport (htmx 2 or
# htmx 4) and a mode: how tabs elect their leader (Web Locks, or the lease without them), or whether
# tab sharing is on. CI spreads the variants over the engines (SSE_MONITOR_FULL_MATRIX=1, which
# `make test-soak` sets, runs every variant on every engine):
# - Every scenario runs on every engine, and across the engines on both transports and both modes.
# - Every engine runs both transports and both modes, across its scenarios.
# - Scenarios whose variants run the same code run ONCE per engine: tab sharing (an election
#   parameter, or a module marked `one_variant_per_engine`) and the monitor's own logic (states,
#   delays, stall, offline and outage rules, setup diagnosis: marked `one_variant_per_engine`), which
#   the Node tier (tests/node/) also proves without a browser.
# - A scenario on a transport's own behaviour (unmarked) runs on both transports on every engine; if
#   it also has a mode (history with sharing on and off), each transport once and each mode once.
# Which variant an engine takes rotates with the scenario's place in its module.
TRANSPORT_FIXTURES = ("scripted", "scripted_past", "private")
ELECTION_PARAMS = ("election", "elect")
TRANSPORTS = ("htmx2", "htmx4")
# Any three consecutive pairs hold both transports and both elections: one scenario on the three engines.
PAIRS = (("htmx2", "web-locks"), ("htmx4", "lease"), ("htmx2", "lease"), ("htmx4", "web-locks"))
ENGINE_OFFSET = {"chromium": 0, "firefox": 1, "webkit": 2}


def transport_of(params: dict) -> str | None:
    """The htmx transport ("htmx2" or "htmx4") a test runs on, from its fixtures' parameters."""
    value = next((params[name] for name in (*TRANSPORT_FIXTURES, "demo", "htmx") if name in params), None)
    return None if value is None else "htmx" + str(value).removeprefix("htmx")


def side(engine: str, place: int) -> int:
    """0 or 1: which half of a two-way choice `engine` takes for the scenario at `place`. Chromium and
    Firefox always take opposite halves; WebKit's alternates every two scenarios, so it takes both."""
    return {"chromium": place, "firefox": place + 1, "webkit": place // 2}[engine] % 2


def in_ci_variants(item, places: dict[str, list[str]]) -> bool:
    """False for a variant of a scenario that this engine leaves to the others (see above). `places`:
    each module's scenarios in collection order."""
    params = item.callspec.params
    engine = params["browser"]
    transport = transport_of(params)
    election = next((params[name] for name in ELECTION_PARAMS if name in params), None)
    once = election is not None or item.get_closest_marker("one_variant_per_engine") is not None
    if transport is None or (not once and "sharing" not in params):
        return True
    scenarios = places.setdefault(item.module.__name__, [])
    if item.originalname not in scenarios:
        scenarios.append(item.originalname)
    place = scenarios.index(item.originalname)
    if election is not None:       # one of four pairs, three consecutive ones over the three engines
        return (transport, election) == PAIRS[(place + ENGINE_OFFSET[engine]) % len(PAIRS)]
    if once:                       # one transport
        return transport == TRANSPORTS[side(engine, place)]
    # each transport once and each mode once: the pairs on one diagonal of transport x mode
    return (TRANSPORTS.index(transport) + (params["sharing"] == "shared")) % 2 == side(engine, place)


def pytest_collection_modifyitems(config, items):
    """A scenario marked not_on(engine) is skipped on that engine with its reason (listed by -ra).
    A scenario's variants (transport, election) are spread over the engines: see `in_ci_variants`."""
    if os.environ.get("SSE_MONITOR_FULL_MATRIX") != "1":
        places: dict[str, list[str]] = {}
        kept = [item for item in items if not getattr(item, "callspec", None) or "browser" not in
                item.callspec.params or in_ci_variants(item, places)]
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
    SHARED.close()           # WebKit's windows are on this display
    display.close()


class SharedBrowsers:
    """The browsers of one test process, one per engine, launched on first use and kept for every
    module of the browser suite that follows: a launch costs up to 6 CPU-s (Firefox), and the suite
    has more than a dozen modules per engine. Closed, with Playwright's driver, as soon as the next
    test is not one of this suite's (`pytest_runtest_teardown`): sync Playwright keeps an event loop
    running in this thread while it is open, which would break the asyncio tests of other tiers."""

    def __init__(self) -> None:
        self.playwright = None
        self.browsers: dict[str, object] = {}

    def get(self, engine: str, request) -> object:
        """The engine's browser; a new one if there is none yet or the last one is gone."""
        if engine in self.browsers and not self.alive(engine):
            self.browsers.pop(engine)
        if engine not in self.browsers:
            if engine == "webkit":
                self.browsers[engine] = launch_webkit(request.getfixturevalue("x_display"))
            else:
                if self.playwright is None:
                    self.playwright = sync_playwright().start()
                self.browsers[engine] = launch_playwright(self.playwright, engine)
        return self.browsers[engine]

    def alive(self, engine: str) -> bool:
        browser = self.browsers[engine]
        if engine != "webkit":
            return browser.is_connected()
        try:
            return bool(browser.window_handles)
        except Exception:       # the driver or its browser died
            return False

    def close(self) -> None:
        for engine, browser in self.browsers.items():
            if engine == "webkit":
                browser.quit()
            else:
                browser.close()
        self.browsers.clear()
        if self.playwright is not None:
            self.playwright.stop()
            self.playwright = None


SHARED = SharedBrowsers()
SUITE = os.path.dirname(os.path.abspath(__file__))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    if SHARED.browsers and (nextitem is None or "browser" not in nextitem.fixturenames
                            or os.path.dirname(str(nextitem.path)) != SUITE):
        SHARED.close()


@pytest.fixture(scope="module", params=selected_engines())
def browser(request):
    """The engine's browser, shared by the suite's modules (`SharedBrowsers`); each test gets a fresh
    context of it (`page`)."""
    engine = request.param
    problem = missing_binary(engine)
    if problem:
        pytest.fail(problem)
    return SHARED.get(engine, request)


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
