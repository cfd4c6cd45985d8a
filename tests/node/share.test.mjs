// The tab-sharing protocol as logic, between simulated tabs (harness.mjs): who leads, what a follower
// swaps, and what no other tab or script on the origin can make it do. What a user needs: one stream
// per group of tabs; every event in every tab once and in order, across hand-overs; a tab joins only
// the tabs the server vouched the same for, and only tabs of its own protocol version; no message
// breaks a tab or grows a leader without bound.
import assert from "node:assert/strict";
import {afterEach, beforeEach, describe, mock, test} from "node:test";

import {Channel, flush, Origin} from "./harness.mjs";

let origin;
afterEach(() => origin && origin.close());

/** Open tabs of one page (each a monitor that has joined its group) and let them elect. */
async function openTabs(count, options = {}) {
  const monitors = [];
  for (let i = 0; i < count; i++) {
    monitors.push(origin.tab().share(options));
    await flush();
  }
  return monitors;
}

const leaderOf = (monitors) => monitors.filter((m) => m.role() === "leader");
const plain = (value) => JSON.parse(JSON.stringify(value));   // an object of the tab's realm, compared here

describe("election with Web Locks", () => {
  beforeEach(() => { origin = new Origin({locks: true}); });

  test("one leader for many tabs; the rest follow and show its state", async () => {
    const tabs = await openTabs(5);
    assert.equal(leaderOf(tabs).length, 1);
    const [leader] = leaderOf(tabs);
    assert.equal(tabs.filter((m) => m.role() === "follower").length, 4);
    leader.open();
    await flush();
    for (const m of tabs) assert.equal(m.state, "active");
  });

  test("every relayed event is swapped once in every follower, in order", async () => {
    const tabs = await openTabs(3);
    const [leader] = leaderOf(tabs);
    leader.open();
    for (let k = 1; k <= 5; k++) leader.stream("message", `<li>${k}</li>`, String(k));
    await flush();
    for (const m of tabs.filter((t) => t !== leader)) {
      assert.deepEqual(m.swapped, [1, 2, 3, 4, 5].map((k) => `message ${k} <li>${k}</li>`));
    }
  });

  test("a crashed leader is replaced by the next tab, which resumes from what it applied: nothing twice", async () => {
    const tabs = await openTabs(3);
    const [leader] = leaderOf(tabs);
    leader.open();
    for (let k = 1; k <= 3; k++) leader.stream("message", `e${k}`, String(k));
    await flush();
    leader.tab.crash();
    await flush();
    const [next] = leaderOf(tabs.filter((m) => m !== leader));
    assert.ok(next, "a follower leads");
    assert.equal(next.calls.at(-1), "connect", "and opens the stream itself");
    next.open();
    next.stream("message", "e3", "3");   // the resume overlaps what was relayed: dropped in the others
    next.stream("message", "e4", "4");
    await flush();
    const other = tabs.find((m) => m !== leader && m !== next);
    assert.deepEqual(other.swapped.map((s) => s.split(" ")[1]), ["1", "2", "3", "4"]);
  });

  test("a tab that joins late gets what it missed from the leader's history, then the live events", async () => {
    const [leader] = await openTabs(1);
    leader.open();
    for (let k = 1; k <= 4; k++) leader.stream("message", `e${k}`, String(k));
    const late = origin.tab().share({url: "/events/feed?lastEventId=2"});
    await flush();
    leader.stream("message", "e5", "5");
    await flush();
    assert.deepEqual(late.swapped.map((s) => s.split(" ")[1]), ["3", "4", "5"]);
  });
});

describe("a tab's position across hand-overs", () => {
  beforeEach(() => { origin = new Origin({locks: true}); });

  test("a follower that takes over resumes after the last event it showed, whatever its monitor noted", async () => {
    const tabs = await openTabs(2);
    const [leader] = leaderOf(tabs);
    const next = tabs.find((m) => m !== leader);
    leader.open();
    for (let k = 1; k <= 3; k++) leader.stream("message", `e${k}`, String(k));
    await flush();
    assert.notEqual(next.lastEventId, "3", "its monitor has not noted event 3 (as when that notice comes late)");
    leader.tab.crash();
    await flush();
    assert.equal(next.role(), "leader");
    assert.equal(next.lastEventId, "3", "its own stream asks for what comes after event 3, not the page's 0");
    assert.equal(next.share.since(), "3");
  });

  test("events relayed to htmx 4 but not yet read by it are applied again after a take-over, not lost", async () => {
    const tabs = await openTabs(2);
    const [leader] = leaderOf(tabs);
    const next = tabs.find((m) => m !== leader);
    const read = [];
    next.share.source = null;   // htmx 4: a stream hx-sse reads on its own time
    next.share.stream = {enqueue: (bytes) => read.push(new TextDecoder().decode(bytes))};
    leader.open();
    for (let k = 1; k <= 4; k++) leader.stream("message", `e${k}`, String(k));
    await flush();
    assert.equal(read.length, 4);
    next.share.processedUpTo("2");   // hx-sse has read events 1 and 2 when the leader goes
    leader.tab.crash();
    await flush();
    assert.equal(next.role(), "leader");
    assert.equal(next.lastEventId, "2", "its own stream resumes after event 2: 3 and 4 come again");
  });
});

describe("the server vouches: who shares with whom", () => {
  beforeEach(() => { origin = new Origin({locks: true}); });

  test("tabs the server vouched differently for (two users) never meet", async () => {
    const alice = origin.tab().share({digest: "a11ce00000000000"});
    const bob = origin.tab().share({digest: "b0b0000000000000"});
    await flush();
    assert.equal(alice.role(), "leader");
    assert.equal(bob.role(), "leader", "bob's tab leads its own group: its own stream");
    assert.notEqual(alice.share.key, bob.share.key);
    alice.open("a11ce00000000000");
    alice.stream("message", "alice's", "1");
    await flush();
    assert.deepEqual(bob.swapped, []);
  });

  test("a leader relays nothing from a stream opened under another digest, and leaves the group", async () => {
    const tabs = await openTabs(2);
    const [leader] = leaderOf(tabs);
    const follower = tabs.find((m) => m !== leader);
    leader.open("0ther00000000000");   // its cookies changed: the server now streams it another channel
    leader.stream("message", "someone else's", "1");
    await flush();
    assert.deepEqual(follower.swapped, []);
    assert.equal(leader.share, null, "it left the group");
    assert.equal(leader.rekeys, 1);
    assert.equal(leader.shareWanted, true, "and asks the server again");
    assert.equal(follower.role(), "leader", "the follower leads with its own request now");
  });

  test("a stream that does not begin with the digest is not relayed", async () => {
    const tabs = await openTabs(2);
    const [leader] = leaderOf(tabs);
    const follower = tabs.find((m) => m !== leader);
    leader.stream("message", "from a server that does not vouch", "1");
    await flush();
    assert.deepEqual(follower.swapped, []);
    assert.equal(leader.share, null);
  });

  test("the share check: a digest from a hub; a stream, a 4xx or another protocol are not vouched", async () => {
    const answers = {
      "/vouched": new Response('{"protocol":2,"digest":"0123456789abcdef"}', {headers: {"Content-Type": "application/json"}}),
      "/plain": new Response("data: x\n\n", {headers: {"Content-Type": "text/event-stream"}}),
      "/refused": new Response("log in", {status: 403}),
      "/old": new Response('{"protocol":1,"digest":"0123456789abcdef"}', {headers: {"Content-Type": "application/json"}}),
      "/down": new Response("busy", {status: 503}),
      "/bad": new Response("channel: expected 1-128 characters", {status: 400, headers: {"Content-Type": "text/plain"}}),
      "/page": new Response("<h1>a page</h1>", {headers: {"Content-Type": "text/html; charset=utf-8"}}),
      "/huge": new Response("x".repeat(5000), {status: 404, headers: {"Content-Type": "text/plain", "Content-Length": "5000"}}),
    };
    const asked = [];
    const tab = origin.tab({fetch: (url) => {
      const parsed = new URL(url, "http://app.test");
      asked.push(parsed.search);
      return Promise.resolve(answers[parsed.pathname].clone());
    }});
    const ask = async (path) => plain(await tab.runtime.askServer(path + "?lastEventId=7"));
    assert.deepEqual(await ask("/vouched"), {digest: "0123456789abcdef"});
    assert.deepEqual(await ask("/plain"), {unvouched: "http-200", status: 200, type: "text/event-stream"});
    assert.deepEqual(await ask("/refused"), {unvouched: "http-403", status: 403, type: "text/plain", reason: "log in"});
    assert.deepEqual(await ask("/bad"), {unvouched: "http-400", status: 400, type: "text/plain",
                                         reason: "channel: expected 1-128 characters"}, "the server's reason");
    assert.deepEqual(await ask("/huge"), {unvouched: "http-404", status: 404, type: "text/plain"},
                     "a long body is not read");
    assert.deepEqual(await ask("/page"), {unvouched: "http-200", status: 200, type: "text/html"});
    const final = (answer) => tab.runtime.finalRefusal(answer);
    assert.match(final(await tab.runtime.askServer("/bad")), /HTTP 400\): channel: expected/);
    assert.match(final(await tab.runtime.askServer("/page")), /answers with text\/html, not an event stream/);
    assert.equal(final(await tab.runtime.askServer("/plain")), null, "a stream that knows nothing of sharing");
    assert.equal(final(await tab.runtime.askServer("/refused")), null, "a 403 may change with a login");
    assert.equal(final(await tab.runtime.askServer("/down")), null, "a 5xx is worth another attempt");
    assert.deepEqual(await ask("/old"), {unvouched: "another protocol"});
    assert.deepEqual(await ask("/down"), {failed: "http-503"});
    assert.deepEqual(asked[0], "?sseMonitorShare=check", "asked without the position, with the check");
  });
});

describe("versions", () => {
  beforeEach(() => { origin = new Origin({locks: true}); });

  test("every shared name carries the protocol version and the digest", () => {
    const {shareKey, SHARE_PROTOCOL} = origin.tab().runtime;
    assert.equal(shareKey("/events/feed?lastEventId=3#x", "abc"),
                 `sse-monitor:v${SHARE_PROTOCOL}:abc:http://app.test/events/feed`);
  });

  test("a message of another protocol version is not handled", async () => {
    const [leader, follower] = await openTabs(2);
    const {checkedMessage, SHARE_PROTOCOL} = leader.tab.runtime;
    const event = {t: "event", from: "x", e: {type: "message", data: "d", id: "9"}};
    assert.ok(checkedMessage({...event, v: SHARE_PROTOCOL}));
    assert.equal(checkedMessage({...event, v: SHARE_PROTOCOL + 1}), null);
    assert.equal(checkedMessage(event), null);
    assert.ok(follower);
  });
});

describe("hostile or broken messages", () => {
  beforeEach(() => { origin = new Origin({locks: false}); });

  function intruder(key) {
    const channel = new Channel(key);
    origin.tabs.push({close: () => channel.close()});
    return channel;
  }

  /** Open `count` tabs without Web Locks, each given the time the lease takes to settle. */
  async function openLeaseTabs(count) {
    const tabs = [];
    for (let i = 0; i < count; i++) {
      tabs.push(origin.tab().share());
      await flush();
      mock.timers.tick(100);
      await flush();
    }
    return tabs;
  }

  beforeEach(() => { mock.timers.enable({apis: ["setTimeout", "setInterval", "Date"], now: 1_000_000}); });
  afterEach(() => { mock.timers.reset(); });

  test("malformed messages are dropped: no error, no wrong state", async () => {
    const tabs = await openLeaseTabs(2);
    const [leader] = leaderOf(tabs);
    const follower = tabs.find((m) => m !== leader);
    leader.open();
    await flush();
    const bad = intruder(leader.share.key);
    for (const msg of [
      {v: 2, t: "state", from: "x", state: {state: "bogus", attempt: 0, nextDelay: null, serverClosed: false}},
      {v: 2, t: "state", from: "x", state: "active"}, {v: 2, t: "event", from: "x", e: {type: 7}},
      {v: 2, t: "welcome", from: "x", to: follower.share.id}, {v: 2, t: "nonsense", from: "x"}, null, "text", 42,
      {v: 2, t: "claim", from: {}}, {v: 2, t: "event", from: "x", e: {type: "message", data: "x".repeat(17 << 20), id: "1"}},
    ]) bad.postMessage(msg);
    await flush();
    assert.equal(follower.state, "active");
    assert.deepEqual(follower.swapped, []);
    assert.deepEqual([...tabs[0].tab.errors, ...tabs[1].tab.errors], []);
  });

  test("a flood of hellos and event names is bounded", async () => {
    {
      const [leader] = await openLeaseTabs(1);
      assert.equal(leader.role(), "leader");
      const {MAX_PEERS, MAX_WANTS, WELCOMES_PER_SECOND} = leader.tab.runtime.limits;
      const bad = intruder(leader.share.key);
      const welcomes = [];
      bad.onmessage = (event) => { if (event.data.t === "welcome") welcomes.push(event.data); };
      for (let second = 0; second < 10; second++) {
        for (let i = 0; i < 200; i++) {
          bad.postMessage({v: 2, t: "hello", from: `fake${second}-${i}`, since: "", wants: [`w${second}-${i}`]});
        }
        await flush(40);
        mock.timers.tick(1000);
      }
      await flush();
      assert.ok(leader.share.peers.size <= MAX_PEERS, `${leader.share.peers.size} peers`);
      assert.ok(Object.keys(leader.share.wants).length <= MAX_WANTS);
      assert.ok(welcomes.length <= WELCOMES_PER_SECOND * 10, `${welcomes.length} welcomes`);
    }
  });

  test("followers that answer no roll call (crashed, or names posted by a script) expire within seconds", async () => {
    {
      const tabs = await openLeaseTabs(3);
      const [leader] = leaderOf(tabs);
      const followers = tabs.filter((m) => m !== leader);
      assert.equal(leader.share.peers.size, 2);
      const bad = intruder(leader.share.key);
      for (let i = 0; i < 30; i++) bad.postMessage({v: 2, t: "hello", from: `fake${i}`, since: "", wants: []});
      await flush();
      assert.ok(leader.share.peers.size > 2);
      followers[1].tab.crash();
      for (let t = 0; t < 14; t++) {   // 7 s of beats, each message delivered
        mock.timers.tick(500);
        await flush();
      }
      assert.deepEqual([...leader.share.peers], [followers[0].share.id], "only the live follower is counted");
      assert.equal(followers[0].role(), "follower");
      assert.equal(leaderOf(tabs.filter((m) => m !== followers[1])).length, 1);
    }
  });
});

describe("a share that is not Live", () => {
  beforeEach(() => { origin = new Origin({locks: true}); });

  test("a leader that gave up retries when a tab opens", async () => {
    const [leader] = await openTabs(1);
    leader.open();
    leader.tab.runtime.transition(leader, "disconnected", "gave-up");
    origin.tab().share();
    await flush();
    assert.ok(leader.calls.includes("retry tab-opened"));
  });

  test("a permanent close ends the group: its tabs leave it, and a tab opened later leads afresh", async () => {
    const tabs = await openTabs(2);
    const [leader] = leaderOf(tabs);
    const follower = tabs.find((m) => m !== leader);
    leader.open();
    leader.serverClosed = true;
    leader.tab.runtime.transition(leader, "disconnected", "server-close");
    await flush();   // Node drops what a BroadcastChannel closed at once had not sent; browsers send it
    leader.endShare();
    await flush();
    assert.equal(follower.state, "disconnected");
    assert.equal(follower.share, null, "the follower left the ended group");
    const fresh = origin.tab().share();
    await flush();
    assert.notEqual(fresh.role(), "leader", "not while the old leader lets its tabs hear the close");
    await new Promise((resolve) => setTimeout(resolve, 400));   // END_GRACE
    await flush();
    assert.equal(fresh.role(), "leader");
    assert.ok(!fresh.swapped.length && fresh.state !== "disconnected", "it inherited nothing of the dead share");
    assert.ok(fresh.calls.includes("connect"));
  });
});

describe("a channel that finishes", () => {
  beforeEach(() => { origin = new Origin({locks: true}); });

  test("every tab shows the outcome; none reconnects or takes the stream up; a tab opened later leads afresh", async () => {
    const tabs = await openTabs(3);
    const [leader] = leaderOf(tabs);
    leader.open();
    await flush();
    leader.finish("cancelled");
    await flush();
    for (const m of tabs) {
      assert.equal(m.state, "finished");
      assert.ok(m.calls.includes("finish cancelled"), `${m.calls}`);
      assert.equal(m.share, null, "it left the group");
    }
    const connects = tabs.map((m) => m.calls.filter((c) => c === "connect").length);
    await new Promise((resolve) => setTimeout(resolve, 400));   // the leader's lock frees 300 ms later
    await flush();
    assert.deepEqual(tabs.map((m) => m.calls.filter((c) => c === "connect").length), connects, "nobody reconnects");
    const later = origin.tab().share();
    await flush();
    assert.equal(later.role(), "leader");
  });
});

describe("roles as a table", () => {
  beforeEach(() => { origin = new Origin({locks: true}); });

  test("a tab's role changes only as ROLE_MOVES allows; any other move is a bug, said and not made", async () => {
    const [m] = await openTabs(1);
    assert.equal(m.role(), "leader");
    const share = m.share;
    assert.equal(share.become("pending"), false, "a leader never goes back to pending");
    assert.equal(share.role, "leader");
    assert.match(m.tab.errors.join("\n"), /Bug: tab role leader -> pending is not in ROLE_MOVES/);
    share.leave();
    assert.equal(share.role, "left");
    share.lead();   // a lock granted after the tab left: nothing happens
    share.follow();
    assert.equal(share.role, "left");
  });
});

describe("catch-up", () => {
  beforeEach(() => { origin = new Origin({locks: true}); });

  test("a tab older than the leader's history resumes once from the server, then meets the relay", async () => {
    const [leader] = await openTabs(1);
    leader.open();
    for (let k = 1; k <= 600; k++) leader.stream("message", `e${k}`, String(k));   // keeps the last 500
    const asked = [];
    const tab = origin.tab({fetch: (url) => {
      asked.push(String(url));
      const since = Number(new URL(url, "http://app.test").searchParams.get("lastEventId"));
      let body = "retry: 1000\n\nevent: heartbeat\ndata: \n\n";
      for (let k = since + 1; k <= 600; k++) body += `id: ${k}\ndata: e${k}\n\n`;
      return Promise.resolve(new Response(body, {headers: {"Content-Type": "text/event-stream"}}));
    }});
    const late = tab.share({url: "/events/feed?lastEventId=50"});
    await flush();
    leader.stream("message", "e601", "601");   // relayed while it catches up: held, then applied
    // It resumes once the shared stream has been Live for two checks (CATCH_UP_GRACE apart): wait for
    // it to have caught up, 5 s at most (real timers: a loaded machine only makes this slower).
    for (let i = 0; i < 100 && !(late.share.welcomed && !late.share.catching); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await flush();
    }
    leader.stream("message", "e602", "602");
    await flush();
    assert.equal(asked.length, 1, "one resume from the server");
    assert.match(asked[0], /lastEventId=50/);
    assert.doesNotMatch(asked[0], /sseMonitorShare/);
    const ids = late.swapped.map((s) => Number(s.split(" ")[1]));
    assert.deepEqual(ids, Array.from({length: 552}, (_, i) => i + 51), "51..602, each once, in order");
  });
});

describe("two lease leaders for a moment", () => {
  beforeEach(() => {
    origin = new Origin({locks: false});
    mock.timers.enable({apis: ["setTimeout", "setInterval", "Date"], now: 1_000_000});
  });
  afterEach(() => { mock.timers.reset(); });

  /** The server's stream of one channel: events 1..`published()`, resumed after `lastEventId`. */
  function server(published) {
    return (url) => {
      const since = Number(new URL(url, "http://app.test").searchParams.get("lastEventId"));
      let body = "retry: 1000\n\n";
      for (let k = since + 1; k <= published(); k++) body += `id: ${k}\ndata: e${k}\n\n`;
      return Promise.resolve(new Response(body, {headers: {"Content-Type": "text/event-stream"}}));
    };
  }

  async function run(ms) {
    for (let t = 0; t < ms; t += 50) { mock.timers.tick(50); await flush(); }
  }

  test("every tab swaps each event once and in order, and one leader remains", async () => {
    let published = 0;
    const fetch = server(() => published);
    const tabs = [];
    for (let i = 0; i < 3; i++) { tabs.push(origin.tab({fetch}).share()); await run(100); }
    const [first] = leaderOf(tabs);
    first.open();
    for (let k = 1; k <= 3; k++) first.stream("message", `e${k}`, String(k));
    published = 3;
    await flush();
    // A tab opened later (its page rendered at event 6) leads too: its claim settled before the busy
    // leader's answer came. Both streams go on, each from its own position, before they hear each other.
    const late = origin.tab({fetch}).share({url: "/events/feed?lastEventId=6"});
    tabs.push(late);
    late.share.leadByLease();
    late.open();
    published = 9;
    for (const k of [7, 8]) late.stream("message", `e${k}`, String(k));
    for (const k of [4, 5, 6, 7, 8, 9]) first.stream("message", `e${k}`, String(k));
    late.stream("message", "e9", "9");
    await run(3000);
    const leaders = leaderOf(tabs);
    assert.equal(leaders.length, 1, "the two leaders settle on one");
    published = 11;
    for (const k of [10, 11]) leaders[0].stream("message", `e${k}`, String(k));
    await run(500);
    for (const m of tabs) {
      const ids = m.swapped.map((s) => Number(s.split(" ")[1]));
      const from = m === late ? 7 : 1;
      assert.deepEqual(ids, Array.from({length: 12 - from}, (_, i) => i + from), `${m.share.id}: each once, in order`);
      assert.deepEqual(m.tab.errors, []);
    }
  });
});

describe("a lease leader in the background", () => {
  beforeEach(() => {
    origin = new Origin({locks: false});
    mock.timers.enable({apis: ["setTimeout", "setInterval", "Date"], now: 1_000_000});
  });
  afterEach(() => { mock.timers.reset(); });

  async function run(ms, each) {
    for (let t = 0; t < ms; t += 50) { mock.timers.tick(50); if (each) each(t); await flush(); }
  }

  /** Three tabs (no IndexedDB here); the leader then renews its lease on throttled timers (never,
   *  in these seconds) and its answer to a claim comes too late to count (a loaded machine). */
  async function throttledLeader() {
    const tabs = [];
    for (let i = 0; i < 3; i++) { tabs.push(origin.tab().share()); await run(200); }
    const [leader] = leaderOf(tabs);
    leader.open();
    await run(600);
    clearTimeout(leader.share.timer);
    leader.share.schedule = () => {};
    leader.share.onClaim = () => {};
    return {tabs, leader};
  }

  test("a leader that still relays its stream keeps it, though its lease is stale and its answer late", async () => {
    const {tabs, leader} = await throttledLeader();
    let k = 0;
    await run(6000, (t) => { if (t % 250 === 0) { k += 1; leader.stream("message", `e${k}`, String(k)); } });
    assert.deepEqual(leaderOf(tabs), [leader], "no follower takes over a leader it hears");
    for (const m of tabs.filter((t) => t !== leader)) {
      assert.ok(!m.calls.includes("connect"), "nor opens a second stream, even for a moment");
    }
    for (const m of tabs) {
      assert.deepEqual(m.swapped.map((s) => Number(s.split(" ")[1])), Array.from({length: k}, (_, i) => i + 1));
      assert.deepEqual(m.tab.errors, []);
    }
  });

  test("a leader heard from no more (its tab hangs) is replaced once its lease is stale", async () => {
    const {tabs, leader} = await throttledLeader();
    for (const channel of leader.tab.channels) channel.onmessage = null;   // it handles nothing now
    await run(6000);
    const leaders = leaderOf(tabs.filter((m) => m !== leader));
    assert.equal(leaders.length, 1, "one follower leads");
    assert.equal(leaders[0].calls.at(-1), "connect", "and opens the stream itself");
  });
});

