"""SSE elements swapped out (plain and OOB swaps) stop their monitor cleanly; swapped in, they start."""
import time

from browser.helpers import state, wait_state, wait_until

RUNTIME_MARK = "sse-monitor"


def debug(page) -> dict:
    return page.evaluate("() => SSEMonitor.debug()")


def runtime_errors(page) -> list[str]:
    return [e for e in page.page_errors + page.console_errors if RUNTIME_MARK in e or "SSEMonitor" in e]


def swap(page, url: str, target: str, how: str = "outerHTML") -> None:
    page.evaluate("([url, target, how]) => htmx.ajax('GET', url, {target: target, swap: how})", [url, target, how])


def test_element_swapped_out_and_in(page, scripted):
    page.goto(scripted.page_url())
    wait_state(page, "active", 2)
    swap(page, "/fragment/placeholder/feed", "#sse-element-feed")
    wait_state(page, "disconnected", 2)
    assert debug(page) == {"monitors": 1, "timers": 0, "sources": 0}
    before = len(scripted.requests("/events/feed"))
    time.sleep(1.5)
    assert len(scripted.requests("/events/feed")) == before, "the removed element's stream is closed"

    swap(page, "/fragment/element/feed", "#placeholder-feed")
    wait_state(page, "active", 2)
    assert debug(page)["sources"] == 1
    assert runtime_errors(page) == [] and page.page_errors == []


def test_oob_swap_removing_the_element_stops_the_monitor(page, scripted):
    page.goto(scripted.page_url(ids="alpha,beta"))
    wait_state(page, "active", 2, "alpha")
    wait_state(page, "active", 2, "beta")
    page.evaluate("() => document.body.insertAdjacentHTML('beforeend', '<div id=\"oob-target\"></div>')")
    swap(page, "/fragment/oob-remove/alpha", "#oob-target", "innerHTML")
    wait_state(page, "disconnected", 2, "alpha")
    time.sleep(0.5)
    assert state(page, "beta") == "active", "the other monitor is untouched"
    info = debug(page)
    assert info["sources"] == 1 and info["timers"] <= 1, info  # beta: its source and its stall timer
    assert runtime_errors(page) == [] and page.page_errors == []


def test_status_container_removed_destroys_the_monitor(page, scripted):
    page.goto(scripted.page_url())
    wait_state(page, "active", 2)
    page.evaluate("() => document.getElementById('sse-status-feed').remove()")
    wait_until(page, "() => SSEMonitor.debug().monitors === 0", 2)
    assert debug(page) == {"monitors": 0, "timers": 0, "sources": 0}
    assert page.page_errors == []
