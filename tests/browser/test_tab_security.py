"""Tab sharing never crosses a login, a version or a dead connection (issue 21).

Same origin is not same user: a logout, a login as someone else in another tab, or a tab loaded long
ago all meet on one origin. What a user needs: a tab never shows an event that its own request would
not get from the server; a tab the server refuses shows Error, not someone else's Live stream; tabs
of two runtime versions never share; a page opened after the server closed the stream for good
connects afresh; and no message another script posts on the origin breaks a page. With Web Locks and
with the lease that stands in for them, on htmx 2 and 4.
"""
from __future__ import annotations

import json
import time
from urllib.request import urlopen

import pytest

from browser.helpers import record_states, state, states, visible_state, wait_state, wait_until
from browser.test_tabs import NO_WEB_LOCKS, crash, open_live_tabs, open_streams, open_tab, wait_open_streams
from support.servers import ServerProcess

# Tab sharing is the same code on either transport: each engine runs each scenario once (conftest.py).
pytestmark = pytest.mark.one_variant_per_engine


@pytest.fixture(params=["web-locks", "lease"])
def election(request, page):
    if request.param == "lease":
        page.context.add_init_script(NO_WEB_LOCKS)
    return request.param


class Private:
    def __init__(self, server: ServerProcess):
        self.server = server
        self.url = server.url

    def get(self, path: str):
        with urlopen(f"{self.url}{path}", timeout=5) as response:
            return json.loads(response.read())

    def publish(self, channel: str, n: int = 1) -> int:
        return self.get(f"/publish/{channel}?n={n}")["published"]

    def open(self) -> dict:
        return self.get("/open")

    def wait_open(self, channel: str, wanted: int, why: str) -> None:
        """Wait (3 s at most: a closed tab's stream ends when the server notices) for `wanted` streams."""
        deadline = time.monotonic() + 3
        while (found := self.open()[channel]) != wanted:
            assert time.monotonic() < deadline, (
                f"{why}: {found} streams of {channel} open; the stream requests, newest last "
                f"(seconds ago, page, session, share step, allowed): {self.requests(channel)}")
            time.sleep(0.05)

    def requests(self, channel: str) -> list[tuple]:
        now = time.time()
        return [(round(now - r["time"], 2), r["page"], r["auth"], r["share"], r["allowed"])
                for r in self.get("/requests") if r["channel"] == channel]


@pytest.fixture(params=["htmx2", "htmx4"])
def private(request, tmp_path):
    server = ServerProcess("browser.private_app:app", env={"SCRIPTED_HTMX": request.param.removeprefix("htmx")},
                           log_path=tmp_path / "server.log")
    server.start()
    yield Private(server)
    server.kill()


SHOWN = "() => [...document.querySelectorAll('#log-feed li')].map(li => li.dataset.channel + ' ' + li.dataset.id)"


def shown(tab) -> list[str]:
    return tab.evaluate(SHOWN)


def wait_shown(tab, item: str, timeout: float = 5) -> None:
    wait_until(tab, "item => [...document.querySelectorAll('#log-feed li')].some(li => li.dataset.channel + ' ' + "
               "li.dataset.id === item)", timeout, item, f"{item} shown")


def visit(tab, url: str) -> None:
    tab.goto(url)


def test_a_tab_logged_in_as_someone_else_or_logged_out_never_follows_another_users_stream(
        page, private, election):
    """One URL for everyone, the user's channel chosen by a cookie: alice's leader tab never feeds bob's
    tab or a logged-out tab, each of which gets what its own request gets (bob's events; a 403)."""
    visit(page, f"{private.url}/login/alice")
    visit(page, f"{private.url}/page/private")
    wait_state(page, "active", 5)
    private.publish("user-alice")
    wait_shown(page, "user-alice 1")

    bob = open_tab(page, f"{private.url}/logout")
    visit(bob, f"{private.url}/login/bob")
    visit(bob, f"{private.url}/page/private")
    wait_state(bob, "active", 5)
    private.publish("user-alice", 2)
    private.publish("user-bob", 2)
    wait_shown(bob, "user-bob 2")
    wait_shown(page, "user-alice 3")

    nobody = open_tab(page, f"{private.url}/logout")
    record_states(nobody)
    visit(nobody, f"{private.url}/page/private")
    wait_state(nobody, "error", 5)
    private.publish("user-alice")
    private.publish("user-bob")
    wait_shown(page, "user-alice 4")
    wait_shown(bob, "user-bob 3")
    time.sleep(0.3)   # what a relay to a wrong tab would take, had one been made
    assert shown(bob) == ["user-bob 1", "user-bob 2", "user-bob 3"], "bob's tab shows only bob's events"
    assert shown(nobody) == [], "a logged-out tab shows nothing"
    assert "active" not in [s["state"] for s in states(nobody)], "a logged-out tab is never Live"
    assert visible_state(nobody) in ("error", "connecting"), "it shows its own 403 (Error, retrying)"
    assert shown(page) == [f"user-alice {k}" for k in range(1, 5)]
    assert private.open() == {"user-alice": 1, "user-bob": 1, "staff": 0}


def test_one_channel_for_staff_shared_only_by_tabs_the_hub_authorizes_now(page, private, election):
    """FastHTML session auth, one channel, the hub's `authorize` deciding: a tab logged in as a user
    without the right gets its own 403; once the user has the right a new tab joins the stream; once
    it is taken away again, the next tab is refused."""
    visit(page, f"{private.url}/login/alice")
    visit(page, f"{private.url}/page/staff?tab=alice")
    wait_state(page, "active", 5)

    bob = open_tab(page, f"{private.url}/logout")
    visit(bob, f"{private.url}/login/bob")
    visit(bob, f"{private.url}/page/staff?tab=bob")
    wait_state(bob, "error", 5)
    private.publish("staff")
    wait_shown(page, "staff 1")
    time.sleep(0.3)
    assert shown(bob) == [], "bob, not staff, shows nothing of the staff channel"

    bob.close(run_before_unload=True)   # (a tab refused and retrying may be allowed before it joins)
    private.get("/rights/bob/1")
    granted = open_tab(page, f"{private.url}/page/staff?tab=granted")
    wait_state(granted, "active", 5)
    private.publish("staff")
    wait_shown(granted, "staff 2")
    private.wait_open("staff", 1, "bob with the right shares alice's stream: one stream for both")

    private.get("/rights/bob/0")
    revoked = open_tab(page, f"{private.url}/page/staff?tab=revoked")
    wait_state(revoked, "error", 5)
    private.publish("staff")
    wait_shown(page, "staff 3")
    time.sleep(0.3)
    assert shown(revoked) == [], "a tab loaded after the right was taken away shows nothing"


def test_a_page_opened_after_a_permanent_close_connects_afresh(page, scripted, election):
    """The server closes the stream for good: the tabs that got the close stay Disconnected, but a tab
    opened afterwards (or one reloaded) connects and shows what comes next."""
    url = scripted.page_url()
    tabs = open_live_tabs(page, url, 2)
    scripted.control("close", channel="feed")
    for tab in tabs:
        wait_state(tab, "disconnected", 5)
    wait_open_streams(scripted, 0, 5)
    fresh = open_tab(page, url)
    wait_state(fresh, "active", 5)
    start = scripted.control("now")["current"]
    wait_until(fresh, "k => [...document.querySelectorAll('#log-feed li')].some(li => +li.dataset.id > k)", 5,
               start, "an event after the close")
    tabs[1].goto(url)   # the page loaded again
    wait_state(tabs[1], "active", 5)
    assert state(tabs[0]) == "disconnected", "the tab that got the close stays closed"
    assert visible_state(tabs[0]) == "disconnected"


def test_tabs_of_two_runtime_versions_never_share(page, scripted, election):
    """During a deploy an old and a new runtime meet on one origin; here the other build speaks the
    next protocol version and relays events under another field name. Its tabs never join ours (nor,
    since this server speaks our version, each other): every tab Live with every event once."""
    url = scripted.page_url()
    tabs = open_live_tabs(page, url, 2)
    other = [open_tab(page, url + "&runtime=next") for _ in range(2)]
    for tab in other:
        wait_state(tab, "active", 5)
    wait_open_streams(scripted, 3, 5)
    assert [tab.evaluate("() => SSEMonitor.monitors.get('feed').share") for tab in other] == [None, None]
    start = scripted.control("now")["current"]
    for tab in tabs + other:
        wait_until(tab, "k => [...document.querySelectorAll('#log-feed li')].some(li => +li.dataset.id >= k)", 5,
                   start + 5, "five more events")
    for tab in tabs + other:
        ids = tab.evaluate("() => [...document.querySelectorAll('#log-feed li')].map(li => +li.dataset.id)")
        assert ids == list(range(ids[0], ids[0] + len(ids))), f"gap or repeat: {ids}"
        assert getattr(tab, "page_errors", []) == [], "no page error"


HOSTILE = """async ([n]) => {
    const m = SSEMonitor.monitors.get('feed'), channel = new BroadcastChannel(m.share.key), v = 2;
    const bad = [
      {v, t: 'state', from: 'x', state: {state: 'bogus', attempt: 0, nextDelay: null, serverClosed: false}},
      {v, t: 'state', from: 'x', state: 'active'},
      {t: 'state', from: 'x', state: {state: 'disconnected', attempt: 0, nextDelay: null, serverClosed: true}},
      {v: 1, t: 'bye', from: '0'}, {v, t: 'event', from: 'x', e: {type: 7}}, {v, t: 'welcome', from: 'x'},
      {v, t: 'nonsense', from: 'x'}, null, 'text', 42, {v, t: 'claim', from: {}},
      {v, t: 'wants', from: 'x', wants: Array.from({length: 1000}, (_, i) => 'w' + i)},
    ];
    bad.forEach(msg => channel.postMessage(msg));
    for (let i = 0; i < n; i++) channel.postMessage({v, t: 'hello', from: 'fake' + i, since: '', wants: []});
    await new Promise(r => setTimeout(r, 300));
    channel.close();
}"""

LEADER_SIZE = """() => { const s = SSEMonitor.monitors.get('feed').share;
    return s && s.role === 'leader' ? {peers: s.peers.size, alive: s.alive.size, wants: Object.keys(s.wants).length}
                                    : null; }"""


def test_hostile_messages_on_the_share_channel_break_nothing(page, scripted, election):
    """Any script of the origin can post on the tabs' channel. Malformed, unknown, old-version and
    flooding messages are dropped or bounded: every tab keeps showing Live, events keep coming once
    each, and the leader keeps a bounded list of tabs."""
    url = scripted.page_url()
    tabs = open_live_tabs(page, url, 3)
    tabs[2].evaluate(HOSTILE, [2000])
    for tab in tabs:
        assert visible_state(tab) == "active" and state(tab) == "active"
    start = scripted.control("now")["current"]
    for tab in tabs:
        wait_until(tab, "k => [...document.querySelectorAll('#log-feed li')].some(li => +li.dataset.id >= k)", 5,
                   start + 3, "three more events")
        ids = tab.evaluate("() => [...document.querySelectorAll('#log-feed li')].map(li => +li.dataset.id)")
        journals = [other.evaluate("() => SSEMonitor.monitors.get('feed').journal") for other in tabs]
        assert ids == list(range(ids[0], ids[0] + len(ids))), f"tab {tabs.index(tab)}: gap or repeat: {ids}; {journals}"
    sizes = [s for s in (tab.evaluate(LEADER_SIZE) for tab in tabs) if s]
    assert len(sizes) == 1, "one leader"
    assert sizes[0]["peers"] <= 64 and sizes[0]["alive"] <= 64 and sizes[0]["wants"] <= 64, sizes
    assert open_streams(scripted) == 1


LEADER_COUNT = """() => { const s = [...SSEMonitor.monitors.values()][0].share;
    return s && s.role === 'leader' ? s.peers.size + '/' + s.alive.size : null; }"""


def lease_leader(tabs):
    found = [tab for tab in tabs if tab.evaluate(LEADER_COUNT) is not None]
    assert len(found) == 1, "one leader"
    return found[0]


def test_flooded_and_crashed_followers_expire_within_seconds_without_web_locks(page, scripted):
    """Without Web Locks the leader keeps a list of its followers (its successors) and a database for
    each (how they notice it crash). A follower that crashed and 500 names posted by a script expire
    within seconds, while the live followers stay and no second stream opens."""
    page.context.add_init_script(NO_WEB_LOCKS)
    url = scripted.page_url()
    tabs = open_live_tabs(page, url, 3)
    leader = lease_leader(tabs)
    followers = [tab for tab in tabs if tab is not leader]
    wait_until(leader, f"() => ({LEADER_COUNT})() === '2/2'", 5, None, "two followers counted")
    followers[0].evaluate(HOSTILE, [500])
    peers, databases = map(int, leader.evaluate(LEADER_COUNT).split("/"))
    assert 2 < peers <= 64 and databases <= 64, f"bounded: {peers} followers, {databases} databases"
    if page.engine == "chromium":
        crash(followers[1])
    else:   # only Chromium can crash one tab: elsewhere the follower falls silent, as a crashed one is
        followers[1].evaluate("() => { BroadcastChannel.prototype.postMessage = function () {}; }")
    wait_until(leader, f"() => ({LEADER_COUNT})() === '1/1'", 10, None, "only the live follower counted")
    start = scripted.control("now")["current"]
    wait_until(followers[0], "k => [...document.querySelectorAll('#log-feed li')].some(li => +li.dataset.id >= k)", 5,
               start + 3, "three more events")
    assert state(followers[0]) == "active" and open_streams(scripted) == 1
