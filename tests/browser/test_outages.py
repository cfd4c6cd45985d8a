"""Outages: the server killed and restarted, or answering 503 behind a proxy. The monitor leaves Live
at once, backs off with jitter under a cap, is Live again within 5 s of the server being back, and no
event is lost or duplicated across the reconnect (the last id travels in `lastEventId`)."""
import time

import pytest

from browser.helpers import (assert_consecutive, received_ids, record_states, states, wait_state, wait_until)

# With the default config the waits are 0 (one immediate retry after a drop), then
# reconnect_delay * 2^(n-1) capped at 4 s, each reduced by up to 50 % jitter.
EXPECTED_RANGES = [(0, 0), (500, 1000), (1000, 2000), (2000, 4000)]


def wait_not_live(page, timeout: float) -> float:
    started = time.monotonic()
    wait_until(page, "() => document.getElementById('sse-status-feed').dataset.state !== 'active'", timeout)
    return time.monotonic() - started


def assert_resumed_without_loss(page, scripted) -> None:
    """Every event from the first one received up to now arrives exactly once, in order."""
    target = scripted.control("now")["current"]
    wait_until(page, "n => [...document.querySelectorAll('#log-feed li')].some(li => +li.dataset.id >= n)", 5, target)
    assert_consecutive(received_ids(page))
    resumes = [r for r in scripted.requests("/events/feed") if "lastEventId" in r["query"]]
    assert resumes, "the reconnect carried the last event id"


def assert_backoff_schedule(events: list[dict]) -> None:
    delays = [e["nextDelayMs"] for e in events if e["state"] in ("reconnecting", "error")]
    assert len(delays) >= 4, delays
    for delay, (low, high) in zip(delays, EXPECTED_RANGES + [(2000, 4000)] * len(delays)):
        assert low <= delay <= high, f"delay {delay} outside [{low}, {high}] in {delays}"
    assert len(set(delays[1:])) > 1, f"no jitter: {delays}"


def kill_and_restart(page, scripted, outage: float) -> None:
    """Live; kill -9 the server; leave Live at once; restart after `outage` s; Live within 5 s; no loss."""
    wait_state(page, "active", 2)
    time.sleep(0.6)
    scripted.server.kill()
    assert wait_not_live(page, 1.0) < 1.0
    time.sleep(outage)
    assert page.get_attribute("#sse-status-feed", "data-state") in ("reconnecting", "connecting")
    scripted.server.start()
    back = time.monotonic()
    wait_state(page, "active", 5.5)
    assert time.monotonic() - back < 5.0
    assert_resumed_without_loss(page, scripted)


@pytest.mark.parametrize("outage", [1, 20])
def test_server_killed_and_restarted(page, scripted, outage):
    record_states(page)
    page.goto(scripted.page_url())
    kill_and_restart(page, scripted, outage)
    if outage >= 20:
        assert_backoff_schedule(states(page))


@pytest.mark.timeout(200)
def test_two_minute_outage_with_unlimited_attempts(page, scripted):
    page.goto(scripted.page_url(max_reconnect_attempts=0))
    kill_and_restart(page, scripted, 120)


@pytest.mark.parametrize("outage", [1, 20])
def test_proxy_answers_503(page, scripted, outage):
    record_states(page)
    page.goto(scripted.page_url())
    wait_state(page, "active", 2)
    time.sleep(0.6)
    scripted.control("unavailable", seconds=outage)
    ends = time.monotonic() + outage
    scripted.control("drop")
    assert wait_not_live(page, 1.0) < 1.0
    wait_until(page, "() => document.getElementById('sse-status-feed').dataset.state === 'error'", 3)
    time.sleep(max(0.0, ends - time.monotonic()))
    wait_state(page, "active", 5.5)
    assert time.monotonic() - ends < 5.0
    assert_resumed_without_loss(page, scripted)
    if outage >= 20:
        assert_backoff_schedule(states(page))
        attempts = [r for r in scripted.requests("/events/feed") if r["time"] > ends - outage]
        assert len(attempts) <= 12, f"{len(attempts)} requests in a {outage}s outage: backoff not applied"
