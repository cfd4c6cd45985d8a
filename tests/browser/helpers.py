"""Small helpers shared by the browser tests."""
from __future__ import annotations

import time

from playwright.sync_api import Error as PlaywrightError


def state(page, connection_id: str = "feed") -> str:
    return page.get_attribute(f"#sse-status-{connection_id}", "data-state")


def wait_until(page, js: str, timeout: float, arg=None, what: str = "") -> float:
    """Wait until `js(arg)` is truthy in the page; return the seconds it took (see `poll_page`)."""
    started = time.monotonic()
    poll_page(page, js, timeout, arg, what)
    return time.monotonic() - started


def poll_page(page, js: str, timeout: float, arg=None, what: str = "", ready=bool):
    """Evaluate `js(arg)` in the page until `ready(value)`, and return that value. Polled from here,
    not with Playwright's wait_for_function, which polls on the page's own timers or frames: a
    background tab's are throttled, and under load Firefox let a wait time out on a page that had long
    been in the state waited for. Between documents the value is None."""
    started = time.monotonic()
    while not ready(value := _evaluate_across_navigation(page, js, arg)):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what or js}: not within {timeout:.1f} s")
        time.sleep(0.05)
    return value


def _evaluate_across_navigation(page, js: str, arg):
    """page.evaluate, falsy while the page is between documents (as wait_for_function outlasts them)."""
    try:
        return page.evaluate(js, arg)
    except PlaywrightError as error:
        if "destroyed" in str(error) or "navigat" in str(error):
            return None
        raise


MONITOR = """id => (m => m ? {state: m.state, attempt: m.attempt, nextDelay: m.nextDelay,
    role: m.share ? m.share.role : null} : null)(window.SSEMonitor && SSEMonitor.monitors.get(id))"""

# Where a page without a monitor is: no runtime, not loaded yet, no container, or another page.
NO_MONITOR = """id => ({runtime: typeof window.SSEMonitor, readyState: document.readyState,
    container: !!document.getElementById('sse-status-' + id), url: location.href,
    visibility: document.visibilityState, htmx: typeof window.htmx})"""


def wait_state(page, wanted: str, timeout: float, connection_id: str = "feed") -> float:
    """Wait until the monitor's data-state is `wanted`; return the seconds it took."""
    try:
        return wait_until(page, "([id, wanted]) => document.getElementById('sse-status-' + id)?.dataset.state"
                          " === wanted", timeout, [connection_id, wanted], f"state {wanted!r}")
    except AssertionError as missed:
        monitor = page.evaluate(MONITOR, connection_id) or page.evaluate(NO_MONITOR, connection_id)
        errors = getattr(page, "page_errors", []) + getattr(page, "console_errors", [])
        raise AssertionError(f"{missed}; the monitor: {monitor}"
                             + (f"; page and console errors: {errors[-5:]}" if errors else "")) from None


def visible_state(page, connection_id: str = "feed") -> str:
    return page.evaluate(
        "id => [...document.querySelectorAll('#sse-status-' + id + ' [data-sse-state]')]"
        ".filter(s => !s.hidden).map(s => s.dataset.sseState).join(',')", connection_id)


def wait_caught_up(page, scripted, timeout: float) -> None:
    """Wait until the page shows the last event the server had sent when this is called, then check
    every id it shows arrived once and in order: nothing sent meanwhile is lost."""
    target = scripted.control("now")["current"]
    wait_until(page, "n => [...document.querySelectorAll('#log-feed li')].some(li => +li.dataset.id >= n)",
               timeout, target, f"event {target} shown")
    assert_consecutive(received_ids(page))


def received_ids(page, connection_id: str = "feed") -> list[int]:
    return page.evaluate("id => [...document.querySelectorAll('#log-' + id + ' li')].map(li => +li.dataset.id)",
                         connection_id)


def record_states(page) -> None:
    """Collect every sse-monitor:state event detail in window.__states (call before page.goto)."""
    page.add_init_script("""window.__states = [];
        document.addEventListener('sse-monitor:state', e => window.__states.push(
            Object.assign({t: performance.now(), wall: Date.now()}, e.detail)));""")


def first_state_after(page, since: float, wanted, timeout: float, connection_id: str = "feed") -> float:
    """The time (time.time()) of the first recorded state change at or after `since` for which
    `wanted(state)` holds, by the page's own clock (`record_states`; the page and this process read
    the same system clock): what the user saw and when, free of this process's polling latency
    (under CI load one poll of a page can take most of a second). Waits up to `timeout` for it."""
    found: list[float] = []

    def seen() -> bool:
        found[:] = [e["wall"] / 1000 for e in states(page)
                    if e.get("id", connection_id) == connection_id
                    and e["wall"] / 1000 >= since and wanted(e["state"])][:1]
        return bool(found)

    deadline = time.monotonic() + timeout
    while not seen():
        if time.monotonic() > deadline:
            raise AssertionError(f"no such state change within {timeout:.1f} s; the states: {states(page)}")
        time.sleep(0.05)
    return found[0]


def states(page) -> list[dict]:
    return page.evaluate("() => window.__states")


def record_page_events(page) -> None:
    """Collect when the page saw `offline`, `online` and each visibility change (as "hidden" or
    "visible"), by its own clock, in window.__pageEvents (call before page.goto)."""
    page.add_init_script("""window.__pageEvents = [];
        for (const name of ['offline', 'online'])
            window.addEventListener(name, () => window.__pageEvents.push([name, Date.now()]));
        document.addEventListener('visibilitychange',
            () => window.__pageEvents.push([document.visibilityState, Date.now()]));""")


def page_event_time(page, name: str, timeout: float = 5) -> float:
    """When the page last saw `name` (`record_page_events`), as time.time(): a deadline timed from
    there leaves out how long this process took to make the page see it (one WebKitWebDriver command
    can take most of a second under CI load)."""
    js = "name => window.__pageEvents.filter(e => e[0] === name).map(e => e[1]).pop()"
    return float(poll_page(page, js, timeout, name, f"the page's {name} event")) / 1000


def seconds_to_state(page, since: float, wanted: str, timeout: float = 5, connection_id: str = "feed") -> float:
    """Seconds from `since` (time.time()) to the first recorded change to `wanted` at or after it, by
    the page's clock (`record_states`)."""
    return first_state_after(page, since, lambda s: s == wanted, timeout, connection_id) - since


def assert_consecutive(ids: list[int]) -> None:
    assert ids, "no events received"
    assert ids == list(range(ids[0], ids[0] + len(ids))), f"gap or duplicate in {ids}"


EMULATE_VISIBILITY = """hidden => {
    Object.defineProperty(document, 'visibilityState', {value: hidden ? 'hidden' : 'visible', configurable: true});
    Object.defineProperty(document, 'hidden', {value: hidden, configurable: true});
    document.dispatchEvent(new Event('visibilitychange')); }"""


def set_hidden(page, hidden: bool) -> None:
    """Hide or show the page. WebKit: for real (the window minimized or restored; the engine fires
    visibilitychange itself). Headless Chromium and Firefox have no hidden state to reach, so there
    the page's visibilityState is overridden and visibilitychange dispatched."""
    if page.engine == "webkit":
        page.set_window_hidden(hidden)
        wait_until(page, "h => document.hidden === h", 3, hidden)
    else:
        page.evaluate(EMULATE_VISIBILITY, hidden)
