"""The indicator tells the truth: a stalled stream is not Live, a server without heartbeats is not cut
off, a channel switch resumes the new channel from its own position, swaps never leave extra streams
open, and a broken page setup is named instead of shown as a network problem."""
import json
import time

import pytest

from browser.conftest import start_scripted
from browser.helpers import (
    record_states,
    state,
    states,
    visible_state,
    wait_caught_up,
    wait_state,
    wait_until,
)
from sse_monitor.browser.config import SSEConnectionConfig


def stream_requests(scripted, path: str = "/events/feed") -> int:
    return len(scripted.requests(path))


def assert_never_live(page, seconds: float, connection_id: str = "feed") -> None:
    """What a person sees stays off Live for `seconds` (checked every 100 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shown = visible_state(page, connection_id)
        assert shown != "active", "the indicator shows Live on a stream that delivers nothing"
        time.sleep(0.1)


def wait_not_live(page, timeout: float, connection_id: str = "feed") -> float:
    """Wait until the visible indicator is something other than Live; return the seconds it took."""
    started = time.monotonic()
    wait_until(page, "id => [...document.querySelectorAll('#sse-status-' + id + ' [data-sse-state]')]"
                     ".some(s => !s.hidden && s.dataset.sseState !== 'active')", timeout, connection_id)
    return time.monotonic() - started


# ---------------------------------------------------------------- 1. a stalled stream is not Live

@pytest.mark.one_variant_per_engine
@pytest.mark.timing
def test_a_stalled_stream_leaves_live_and_stays_off_until_data_arrives(page, scripted):
    """The server (or a proxy) accepts every connection and sends nothing: a person sees the indicator
    leave Live within stall_timeout + 1 s and never see Live again until events flow."""
    page.goto(scripted.page_url(stall_timeout=1500))
    wait_state(page, "active", 2)
    time.sleep(0.5)
    scripted.control("stall", on=1)
    requests_before = stream_requests(scripted)
    took = wait_not_live(page, 2.5)
    assert took <= 2.5, f"Live for {took:.1f} s of a stall with stall_timeout=1.5 s"
    assert_never_live(page, 4.0)
    assert stream_requests(scripted) - requests_before >= 2, "it did reconnect (and the reconnects opened)"
    scripted.control("stall", on=0)
    wait_state(page, "active", 6)
    assert visible_state(page) == "active"
    wait_caught_up(page, scripted, 5)


@pytest.mark.one_variant_per_engine
def test_repeated_stalls_back_off_give_up_and_click_retries(page, scripted):
    """Each stall is a failed attempt: the same backoff, give-up and click-to-retry as any failure."""
    record_states(page)
    page.goto(scripted.page_url(stall_timeout=800, reconnect_delay=600, jitter=0, max_reconnect_attempts=3))
    wait_state(page, "active", 2)
    scripted.control("stall", on=1)
    wait_state(page, "disconnected", 10)
    failures = [s for s in states(page) if s["reason"] == "stalled"]
    assert [s["attempt"] for s in failures] == [1, 2, 3]
    assert [s["nextDelayMs"] for s in failures] == [0, 600, 1200], "one immediate retry, then the backoff"
    assert states(page)[-1]["reason"] == "gave-up"
    assert visible_state(page) == "disconnected"
    requests = stream_requests(scripted)
    time.sleep(1.5)
    assert stream_requests(scripted) == requests, "no request after giving up"
    scripted.control("stall", on=0)
    page.click("#sse-status-feed")
    wait_state(page, "active", 3)


# ---------------------------------------------------------------- 2. servers without heartbeats

def default_config_with_short_stall(stall_timeout: int) -> str:
    """The default configuration's JSON (stall detection armed after the first heartbeat) with a
    shorter timeout, so the test need not wait 45 s."""
    data = json.loads(SSEConnectionConfig().to_json())
    assert data["stallAfterHeartbeat"] is True
    data["stallTimeout"] = stall_timeout
    return json.dumps(data)


@pytest.mark.one_variant_per_engine
@pytest.mark.timing
def test_a_server_without_heartbeats_is_not_cut_off_by_default(page, scripted):
    """A quiet server that never sends heartbeats (a FastHTML EventStream generator) keeps one stream,
    Live, for as long as it likes; once a stream has sent a heartbeat, silence is a stall again."""
    scripted.control("quiet", channel="feed", heartbeat=0, events=0)
    record_states(page)
    page.goto(scripted.page_url() + "&rawconfig=" + default_config_with_short_stall(1000))
    wait_state(page, "active", 2)
    time.sleep(3.5)
    assert stream_requests(scripted) == 1, "the quiet stream was never cut off"
    assert [s["state"] for s in states(page)][-1] == "active" and visible_state(page) == "active"

    scripted.control("quiet", channel="feed", heartbeat=1, events=0)   # heartbeats start ...
    time.sleep(1.2)
    scripted.control("stall", on=1)                                     # ... and stop
    took = wait_not_live(page, 2.5)
    assert took <= 2.5
    assert any(s["reason"] == "stalled" for s in states(page))


@pytest.mark.one_variant_per_engine
def test_an_explicit_stall_timeout_arms_without_heartbeats(page, scripted):
    scripted.control("quiet", channel="feed", heartbeat=0, events=0)
    record_states(page)
    page.goto(scripted.page_url(stall_timeout=1000))
    wait_state(page, "active", 2)
    wait_until(page, "() => __states.some(s => s.reason === 'stalled')", 2.5)


# ---------------------------------------------------------------- 3. switching channels

def swap_room(page, room: str, publish_after: int) -> None:
    page.evaluate("""([room, n]) => htmx.ajax('GET', '/fragment/room/feed?room=' + room + '&publish_after=' + n,
                                             {target: '#sse-element-feed', swap: 'outerHTML'})""",
                  [room, publish_after])


def room_ids(page, room: str) -> list[int]:
    return page.evaluate("room => [...document.querySelectorAll('#log-feed li[data-room=\"' + room + '\"]')]"
                         ".map(li => +li.dataset.id)", room)


def wait_room(page, room: str, count: int) -> None:
    wait_until(page, "([room, n]) => document.querySelectorAll('#log-feed li[data-room=\"' + room + '\"]')"
                     ".length >= n", 4, [room, count])


def test_switching_channels_resumes_each_from_its_own_position(page, scripted):
    """A chat keeps its status on the page and swaps in the SSE element for another room (URL from
    hub.sse_url). Each room continues exactly after what its element was rendered with: nothing the
    page already has is repeated, nothing published while switching is lost."""
    scripted.control("publish", channel="a", count=5)
    scripted.control("publish", channel="b", count=20)
    page.goto(scripted.page_url())
    wait_state(page, "active", 2)
    swap_room(page, "a", 2)              # rendered at a-5; a-6, a-7 published before it connects
    wait_room(page, "a", 2)
    swap_room(page, "b", 3)              # rendered at b-20 (the page shows up to 20); b-21..23 follow
    wait_room(page, "b", 3)
    swap_room(page, "a", 2)              # back to a: rendered at a-7; a-8, a-9 follow
    wait_room(page, "a", 4)
    time.sleep(0.5)
    assert room_ids(page, "b") == [21, 22, 23]
    assert room_ids(page, "a") == [6, 7, 8, 9]
    assert state(page) == "active"


# ---------------------------------------------------------------- 4. swaps never open extra streams

@pytest.mark.timing
def test_replacing_the_element_and_its_monitor_keeps_one_stream_open(page, scripted):
    """A fragment holding the status, the monitor and the SSE element is replaced 5 times in quick
    succession (each swap lands while the previous element is still connecting): one stream request per
    element, and never two streams open at once for it."""
    page.goto(scripted.page_url(style="swappable"))
    wait_state(page, "active", 2)
    time.sleep(0.3)
    for _ in range(5):
        page.evaluate("() => htmx.ajax('GET', '/fragment/swappable/feed', {target: '#swap-feed', swap: 'outerHTML'})")
        time.sleep(0.05)
    wait_until(page, "() => document.getElementById('sse-status-feed')?.dataset.state === 'active'"
                     " && document.querySelectorAll('[data-sse-monitor]').length === 1", 5)
    time.sleep(2.5)
    # At most one stream request per element: an element replaced while it was still asking the
    # server what to share (tab sharing's check comes first) may never ask for its stream at all.
    assert 1 <= stream_requests(scripted) <= 6, "at most one stream request per element"
    assert scripted.control("open")["open"] == 1
    # A stream counts as open until the server has noticed the browser closed it, a few ms after; the
    # new element's stream may start in those few ms. Longer than 50 ms is two streams at once.
    crowd = scripted.control("most-open", channel="feed")
    assert crowd["crowded_seconds"] < 0.05, f"up to {crowd['most']} streams open at once for one element, " \
                                            f"for {crowd['crowded_seconds']} s in all"
    assert state(page) == "active"


# ---------------------------------------------------------------- 5. broken page setups

WARNINGS = """window.__warnings = [];
    const warn = console.warn;
    console.warn = function () { window.__warnings.push([...arguments].join(' ')); return warn.apply(console, arguments); };"""  # noqa: E501


@pytest.mark.one_variant_per_engine
@pytest.mark.parametrize("setup", ["missing-ext", "other-version-ext", "htmx1-ext", "no-htmx"])
def test_a_broken_page_setup_is_named_and_not_retried(page, scripted, setup):
    """missing-ext: the README Quick start's `Script(src="/sse.js")` that nobody serves (a 404);
    other-version-ext: htmx 4's hx-sse on an htmx 2 page (FastHTML exts='sse4') or htmx-ext-sse on an
    htmx 4 page; htmx1-ext: htmx.org@2's htmx-1-era dist/ext/sse.js; no-htmx: htmx itself missing.
    Each shows Error (reason `setup`) with no countdown, names problem and fix in one console warning,
    and makes no retries."""
    record_states(page)
    page.add_init_script(WARNINGS)
    page.goto(scripted.page_url() + "&setup=" + setup)
    wait_state(page, "error", 5)
    assert states(page)[-1]["reason"] == "setup"
    requests = stream_requests(scripted)
    assert requests <= 1
    time.sleep(2.5)
    assert stream_requests(scripted) == requests, "no retries"
    assert state(page) == "error" and visible_state(page) == "error"
    assert page.evaluate("() => document.querySelector('#sse-status-feed [data-sse-countdown]')"
                         "?.textContent || ''") == ""
    assert [s["state"] for s in states(page)][-1] == "error" and states(page)[-1]["reason"] == "setup"
    ours = [w for w in page.evaluate("() => window.__warnings") if "[sse-monitor]" in w]
    assert len(ours) == 1, ours
    assert "Fix:" in ours[0] and ("htmx-ext-sse" in ours[0] or "hx-sse" in ours[0]), ours[0]
    assert states(page)[-1]["problem"] and states(page)[-1]["problem"] in ours[0]


# A page script reshapes hx-sse's connection object before the runtime sees it, as an hx-sse release
# the runtime was not built for would (it renames one private field the runtime has to reach into).
RESHAPE_HX_SSE = """field => {
    const reshape = e => {
        const c = e.detail && e.detail.connection;
        if (c && field in c) { c['renamed_' + field] = c[field]; delete c[field]; }
    };
    for (const name of ['htmx:sse:before:connection', 'htmx-sse-before-connection'])
        window.addEventListener(name, reshape, true);
}"""


@pytest.mark.parametrize("field", ["config", "abortController"])
def test_an_hx_sse_of_another_shape_is_named_as_a_setup_problem(page, tmp_path, field):
    """htmx 4: the runtime owns reconnection by reaching into hx-sse's connection object. When that
    object is not the shape it knows, a person sees Error naming the page setup (reason `setup`), not
    Live on a stream nobody owns nor a network error that retries forever; the console says what the
    runtime expected; no stream is left open and nothing retries."""
    scripted = start_scripted(tmp_path, htmx="4")
    try:
        record_states(page)
        page.add_init_script(f"({RESHAPE_HX_SSE})({json.dumps(field)})")
        page.goto(scripted.page_url())
        wait_state(page, "error", 5)
        last = states(page)[-1]
        assert last["reason"] == "setup" and "hx-sse" in last["problem"] and field in last["problem"], last
        assert "active" not in [s["state"] for s in states(page)]
        assert "Page setup problem" in page.get_attribute("#sse-status-feed", "title")
        expected = [e for e in page.console_errors if "hx-sse's connection object" in e]
        assert len(expected) == 1 and "Expected:" in expected[0] and field in expected[0], page.console_errors
        requests = stream_requests(scripted)
        time.sleep(2)
        assert stream_requests(scripted) == requests, "no retries"
        assert scripted.control("open")["open"] == 0, "no stream left open"
        assert state(page) == "error" and visible_state(page) == "error"
    finally:
        scripted.server.kill()


@pytest.mark.one_variant_per_engine
@pytest.mark.parametrize("share", [True, False], ids=["shared", "alone"])
def test_a_stream_url_that_names_a_page_is_named_and_not_retried(page, scripted, share):
    """SSEElement pointed at a page route (`/`) instead of the stream route: it answers text/html. The
    indicator says so within a few seconds (Error, reason `refused`), and nothing retries."""
    record_states(page)
    page.goto(scripted.page_url(share_across_tabs=share) + "&stream=/favicon-page")
    wait_until(page, "() => document.getElementById('sse-status-feed')?.dataset.state === 'error'"
                     " && (document.getElementById('sse-status-feed').title || '').includes('not an event stream')", 5,
               what="Error naming the wrong URL")
    assert states(page)[-1]["reason"] == "refused"
    asked = len(scripted.requests("/favicon-page"))
    time.sleep(3)
    assert len(scripted.requests("/favicon-page")) == asked, "no retries"


@pytest.mark.one_variant_per_engine
@pytest.mark.parametrize("share", [True, False], ids=["shared", "alone"])
def test_a_stream_the_server_refuses_for_good_shows_its_reason_and_is_not_retried(page, scripted, share):
    """A channel name the hub rejects (`/hub/user@example.com`): the hub answers 400 with a reason.
    Within a few seconds the indicator shows Error (reason `refused`), its tooltip and one console
    warning carry the server's reason, and nothing retries: a person sees why, not a countdown."""
    record_states(page)
    page.add_init_script(WARNINGS)
    page.goto(scripted.page_url(share_across_tabs=share) + "&stream=/hub/user@example.com")
    wait_until(page, "() => document.getElementById('sse-status-feed')?.dataset.state === 'error'"
                     " && (document.getElementById('sse-status-feed').title || '').includes('HTTP 400')", 5,
               what="Error with the server's reason")
    title = page.evaluate("() => document.getElementById('sse-status-feed').title")
    assert "channel: must be" in title, title
    assert states(page)[-1]["reason"] == "refused"
    asked = len(scripted.requests("/hub/user@example.com"))
    time.sleep(3)
    assert len(scripted.requests("/hub/user@example.com")) == asked, "no retries"
    assert page.evaluate("() => document.querySelector('#sse-status-feed [data-sse-countdown]')"
                         "?.textContent || ''") == ""
    ours = [w for w in page.evaluate("() => window.__warnings") if "[sse-monitor]" in w]
    assert len(ours) == 1 and "channel: must be" in ours[0], ours


NOTICE_SHOWN = """() => { const n = document.querySelector('#sse-status-feed [data-sse-no-runtime]');
    return !!n && n.checkVisibility({visibilityProperty: true}); }"""


@pytest.mark.one_variant_per_engine
def test_a_page_without_the_runtime_shows_an_error_that_names_the_fix(page, scripted):
    """`include_runtime=False` and no `sse_headers()`: the status markup alone, with no script to run
    it, says within a few seconds that the monitor's script is missing, and how to add it."""
    page.goto(scripted.page_url() + "&runtime=none")
    assert not page.evaluate(NOTICE_SHOWN), "not at once: a runtime may still be loading"
    wait_until(page, NOTICE_SHOWN, 6, what="the no-runtime notice")
    shown = page.evaluate("() => document.getElementById('sse-status-feed').innerText.trim()")
    assert shown == "Error: the monitor's script is not on this page", shown
    title = page.evaluate("() => document.querySelector('#sse-status-feed [data-sse-no-runtime]').title")
    assert "fast_app(hdrs=sse_headers())" in title


@pytest.mark.one_variant_per_engine
def test_with_the_runtime_the_no_runtime_notice_never_shows(page, scripted):
    page.goto(scripted.page_url())
    wait_state(page, "active", 5)
    time.sleep(4.5)
    assert not page.evaluate(NOTICE_SHOWN)
    assert page.evaluate("() => document.getElementById('sse-status-feed').innerText.trim()") == "Live"


@pytest.mark.one_variant_per_engine
@pytest.mark.parametrize("mistake", ["other-id", "other-htmx-markup"])
def test_a_monitor_that_cannot_find_its_element_names_the_mistake(page, scripted, mistake):
    """other-id: SSEConnectionMonitor('feed') with SSEElement('feeds', ...): the items may arrive, but
    no monitor watches them. other-htmx-markup: SSEElement(..., htmx=4) on an htmx 2 page (htmx 4:
    no mistake, its hx-sse reads htmx 2's sse-connect too: it goes Live). Each is Error (reason
    `setup`) within a few seconds of the page loading, with the fix in the user's terms in the
    tooltip and one console warning."""
    record_states(page)
    page.add_init_script(WARNINGS)
    query = "&element_for=feeds" if mistake == "other-id" else f"&markup={6 - int(scripted.htmx)}"
    page.goto(scripted.page_url() + query)
    if mistake == "other-htmx-markup" and str(scripted.htmx) == "4":
        wait_state(page, "active", 5)
        return
    wait_state(page, "error", 6)
    assert states(page)[-1]["reason"] == "setup"
    title = page.evaluate("() => document.getElementById('sse-status-feed').title")
    fix = "the monitor's id must be the element's" if mistake == "other-id" else "SSEElement(..., htmx=2)"
    assert fix in title, title
    ours = [w for w in page.evaluate("() => window.__warnings") if "[sse-monitor]" in w]
    assert len(ours) == 1 and fix in ours[0], ours
