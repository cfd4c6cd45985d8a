"""What the monitor does on the server's close event, a stalled stream, giving up, going offline,
the tab coming back, and short blips."""
import json
import re
import time

import pytest

from browser.helpers import (
    assert_consecutive,
    page_event_time,
    received_ids,
    record_page_events,
    record_states,
    seconds_to_state,
    set_hidden,
    state,
    states,
    visible_state,
    wait_caught_up,
    wait_state,
    wait_until,
)

# the monitor's logic: each engine runs each scenario on one transport (conftest.py)
pytestmark = pytest.mark.one_variant_per_engine


def stream_requests(scripted) -> int:
    return len(scripted.requests("/events/feed"))


@pytest.mark.timing
def test_server_close_disconnects_for_good(page, scripted):
    """Disconnected within a second of the server's close, by the page's own clock."""
    record_states(page)
    page.goto(scripted.page_url())
    wait_state(page, "active", 2)
    sent = time.time()
    scripted.control("close", data="Server going away")
    assert seconds_to_state(page, sent, "disconnected") < 1.0, "Disconnected at once"
    before = stream_requests(scripted)
    time.sleep(3.0)
    assert stream_requests(scripted) == before, "no request to the stream after close"
    assert state(page) == "disconnected" and visible_state(page) == "disconnected"
    assert page.evaluate("() => SSEMonitor.debug()") == {"monitors": 1, "timers": 0, "sources": 0}


@pytest.mark.timing
def test_server_close_with_reconnect_after_comes_back(page, scripted):
    record_states(page)
    page.goto(scripted.page_url())
    wait_state(page, "active", 2)
    time.sleep(0.5)
    # The unluckiest jitter draw: the server spread its clients' returns itself, so the page must
    # come back when it was asked to (1.5 s), plus at most 150 ms of jitter, not up to 50 % later.
    page.evaluate("() => { Math.random = () => 0.999; }")
    closed = time.time()
    scripted.control("close", data=json.dumps({"reason": "restart", "reconnect_after_ms": 1500}))
    assert seconds_to_state(page, closed, "reconnecting") < 1.0, "Reconnecting at once"
    waited = seconds_to_state(page, closed, "active")   # by the page's clock, as a user sees it
    assert 1.4 <= waited <= 1.5 + 0.15 + 0.45, f"came back after {waited:.2f}s, asked for 1.5 s"
    page.wait_for_timeout(800)
    assert_consecutive(received_ids(page))


@pytest.mark.timing
def test_stalled_stream_is_detected_and_reconnected(page, scripted):
    """A quiet stream with heartbeats stays Live; when the server goes silent, the indicator a person
    sees leaves Live within stall_timeout + 1 s and stays off Live while nothing arrives; once the
    server sends again, it is Live and nothing published meanwhile is missing."""
    record_states(page)
    page.goto(scripted.page_url(stall_timeout=1500))
    wait_state(page, "active", 2)
    time.sleep(2.0)  # heartbeats every 0.5 s keep a quiet-but-healthy stream Live
    seen = [s["state"] for s in states(page)]
    assert seen[seen.index("active"):] == ["active"], f"left Live while heartbeats flowed: {seen}"
    scripted.control("stall", on=1)
    stalled = time.monotonic()
    wait_until(page, "() => [...document.querySelectorAll('#sse-status-feed [data-sse-state]')]"
                     ".some(s => !s.hidden && s.dataset.sseState !== 'active')", 3)
    noticed = time.monotonic() - stalled
    assert noticed <= 2.5, f"Live for {noticed:.2f}s of a stall with stall_timeout=1.5s"
    assert any(s["reason"] == "stalled" for s in states(page))
    time.sleep(1.5)
    assert visible_state(page) != "active" and state(page) != "active", "still stalled: not Live"
    scripted.control("stall", on=0)
    wait_state(page, "active", 5)
    wait_caught_up(page, scripted, 5)


def test_gives_up_after_max_attempts_then_click_or_enter_retries(page, scripted):
    page.goto(scripted.page_url(max_reconnect_attempts=3, reconnect_delay=200))
    wait_state(page, "active", 2)
    scripted.control("unavailable", seconds=600)
    dropped = stream_requests(scripted)
    scripted.control("drop")
    wait_state(page, "disconnected", 5)
    assert stream_requests(scripted) - dropped == 3, "exactly max_reconnect_attempts attempts"
    time.sleep(2.0)
    assert stream_requests(scripted) - dropped == 3, "no request after giving up"
    assert visible_state(page) == "disconnected"

    scripted.control("unavailable", seconds=0)
    page.click("#sse-status-feed")
    wait_state(page, "active", 2)

    scripted.control("unavailable", seconds=600)
    scripted.control("drop")
    wait_state(page, "disconnected", 5)
    scripted.control("unavailable", seconds=0)
    page.focus("#sse-status-feed")
    page.keyboard.press("Enter")
    wait_state(page, "active", 2)


@pytest.mark.timing
def test_offline_stops_attempts_and_online_reconnects_at_once(page, scripted):
    """Timed from the page's own offline and online events by the page's clock: under CI load one
    WebKitWebDriver command can take most of a second, which a deadline kept from here would count."""
    record_states(page)
    record_page_events(page)
    page.goto(scripted.page_url())
    wait_state(page, "active", 2)
    time.sleep(0.5)
    page.context.set_offline(True)
    gone = page_event_time(page, "offline")
    assert seconds_to_state(page, gone, "offline") < 0.5, "offline shown at once"
    before = stream_requests(scripted)
    time.sleep(3.0)
    assert stream_requests(scripted) == before, "no attempts while offline"
    assert visible_state(page) == "offline"
    page.context.set_offline(False)
    back = page_event_time(page, "online")
    assert seconds_to_state(page, back, "active") < 1.0, "Live within 1 s of online"
    page.wait_for_timeout(800)
    assert_consecutive(received_ids(page))



@pytest.mark.timing
def test_tab_visible_again_reconnects_at_once(page, scripted):
    """Live within a second of the page becoming visible (its own event, by its own clock)."""
    record_states(page)
    record_page_events(page)
    page.goto(scripted.page_url(reconnect_delay=20000, max_backoff_multiplier=1))
    wait_state(page, "active", 2)
    scripted.control("unavailable", seconds=1)
    scripted.control("drop")
    wait_state(page, "error", 3)       # the immediate retry met the 503; the next wait is >= 10 s
    time.sleep(1.5)                    # the server is back, but the monitor is waiting
    assert state(page) == "error"
    set_hidden(page, True)
    set_hidden(page, False)
    assert seconds_to_state(page, page_event_time(page, "visible"), "active") < 1.0, "Live at once"


def test_short_blip_does_not_flash_the_indicator(page, scripted):
    record_states(page)
    page.add_init_script("""window.__shown = [];
        new MutationObserver(() => {
            const v = [...document.querySelectorAll('#sse-status-feed [data-sse-state]')].filter(s => !s.hidden);
            if (v.length) window.__shown.push(v[0].dataset.sseState);
        }).observe(document, {attributes: true, subtree: true, attributeFilter: ['hidden']});""")
    page.goto(scripted.page_url())
    wait_state(page, "active", 2)
    page.wait_for_timeout(300)
    page.evaluate("() => { window.__shown = []; }")
    scripted.control("drop")
    wait_until(page, "() => __states.filter(s => s.state === 'active').length >= 2", 3)
    page.wait_for_timeout(800)
    seen = [s["state"] for s in states(page)]
    after_live = seen[seen.index("active") + 1:]
    assert {"reconnecting", "connecting"} & set(after_live), f"the blip really happened: {seen}"
    assert seen[-1] == "active"
    assert all(shown == "active" for shown in page.evaluate("() => window.__shown")), "indicator flashed"
    assert visible_state(page) == "active"


def test_countdown_shows_seconds_to_next_attempt(page, scripted):
    page.goto(scripted.page_url(reconnect_delay=4000, jitter=0))
    wait_state(page, "active", 2)
    scripted.control("unavailable", seconds=30)
    scripted.control("drop")
    wait_state(page, "error", 3)
    page.wait_for_timeout(700)  # past the indicator delay
    assert visible_state(page) == "error"
    text = page.locator("#sse-status-feed [data-sse-state=error] [data-sse-countdown]").inner_text()
    assert re.fullmatch(r"\(([1-4])s\)", text), text
    page.wait_for_timeout(1100)
    later = page.locator("#sse-status-feed [data-sse-state=error] [data-sse-countdown]").inner_text()
    assert int(later[1:-2]) < int(text[1:-2]), f"countdown did not count down: {text} -> {later}"
