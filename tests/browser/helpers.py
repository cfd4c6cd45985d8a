"""Small helpers shared by the browser tests."""
from __future__ import annotations

import time


def state(page, connection_id: str = "feed") -> str:
    return page.get_attribute(f"#sse-status-{connection_id}", "data-state")


def wait_state(page, wanted: str, timeout: float, connection_id: str = "feed") -> float:
    """Wait until the monitor's data-state is `wanted`; return the seconds it took."""
    started = time.monotonic()
    page.wait_for_function(
        "([id, wanted]) => document.getElementById('sse-status-' + id)?.dataset.state === wanted",
        arg=[connection_id, wanted], timeout=timeout * 1000,
        polling=50)  # not requestAnimationFrame: a tab in the background gets about one frame a second
    return time.monotonic() - started


def visible_state(page, connection_id: str = "feed") -> str:
    return page.evaluate(
        "id => [...document.querySelectorAll('#sse-status-' + id + ' [data-sse-state]')]"
        ".filter(s => !s.hidden).map(s => s.dataset.sseState).join(',')", connection_id)


def received_ids(page, connection_id: str = "feed") -> list[int]:
    return page.evaluate("id => [...document.querySelectorAll('#log-' + id + ' li')].map(li => +li.dataset.id)",
                         connection_id)


def record_states(page) -> None:
    """Collect every sse-monitor:state event detail in window.__states (call before page.goto)."""
    page.add_init_script("""window.__states = [];
        document.addEventListener('sse-monitor:state', e => window.__states.push(
            Object.assign({t: performance.now()}, e.detail)));""")


def states(page) -> list[dict]:
    return page.evaluate("() => window.__states")


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
        page.wait_for_function("h => document.hidden === h", arg=hidden, timeout=3000)
    else:
        page.evaluate(EMULATE_VISIBILITY, hidden)
