// The monitor (one connection's state machine) on a page without a browser (monitor-harness.mjs): the
// real runtime, htmx 2 with htmx-ext-sse's behaviour, a browser-like EventSource and a scripted server,
// on node:test's fake timers. What a user needs: after a drop the page retries at once, then backs off
// (jittered, capped) and gives up with click-to-retry; offline makes no attempts and online reconnects
// at once; a tab shown again reconnects at once; a silent stream is not shown Live; the server's close
// is obeyed; a blip does not flash the indicator; the wait is counted down; and every state change is
// one the state table allows (checked after every test).
import assert from "node:assert/strict";
import {afterEach, beforeEach, describe, mock, test} from "node:test";

import {MonitorPage} from "./monitor-harness.mjs";

let page = null;

beforeEach(() => { mock.timers.enable({apis: ["setTimeout", "setInterval", "Date"], now: 1_000_000}); });
afterEach(() => {
  mock.timers.reset();
  const done = page;
  page = null;
  if (!done) return;
  assert.deepEqual(done.bugs(), [], "every state change is one TRANSITIONS allows");
  assert.deepEqual(done.forbiddenChanges(), [], "every sse-monitor:state event is an allowed change");
  assert.deepEqual(done.uncaught, [], "no listener threw");
});

/** A page whose stream is Live. */
async function livePage(options = {}) {
  page = new MonitorPage(options);
  assert.equal(page.state, "connecting");
  assert.equal(page.visible, "connecting");
  await page.advance(50);
  assert.equal(page.state, "active");
  assert.equal(page.visible, "active");
  assert.equal(page.text, "Live");
  assert.equal(page.server.attempts, 1);
  return page;
}

/** Requests to the stream made after request number `since`. */
const requestsAfter = (since) => page.server.requests.slice(since);
/** The state events from `since` on, as "state reason". */
const changes = (since = 0) => page.states.slice(since).map((s) => (s.reason ? `${s.state} ${s.reason}` : s.state));

describe("backoff and giving up", () => {
  test("after a drop: one retry at once, then waits that double from reconnect_delay to the cap, each jittered", async () => {
    const config = {reconnectDelay: 1000, maxBackoffMultiplier: 4, jitter: 0.5, maxReconnectAttempts: 0};
    await livePage({config});
    const draws = [0, 0.999999, 0.5, 0, 0.25, 0.999999, 0.75, 0.1];
    let drawn = 0;
    page.random(() => draws[drawn++ % draws.length]);
    page.server.reachable = false;
    const dropped = page.now, before = page.server.attempts, events = page.states.length;
    page.server.drop();
    assert.equal(page.state, "reconnecting", "data-state changes at once");
    await page.advance(30_000);

    const failures = page.states.slice(events).filter((s) => s.state !== "connecting");
    assert.ok(failures.length >= 9, `${failures.length} failed attempts in 30 s`);
    for (const failure of failures) {
      assert.equal(failure.state, "reconnecting", "a network error waits as reconnecting");
      assert.equal(failure.reason, "connection-error");
    }
    const expected = failures.map((_, n) => {
      if (n === 0) return 0;   // the stream was Live: retried at once
      const base = Math.min(1000 * 2 ** (n - 1), 4000);
      return Math.round(base * (1 - 0.5 * draws[(n - 1) % draws.length]));
    });
    assert.deepEqual(failures.map((s) => s.nextDelayMs), expected);
    failures.slice(1).forEach((s, n) => {
      const base = Math.min(1000 * 2 ** n, 4000);
      assert.ok(s.nextDelayMs >= base / 2 && s.nextDelayMs <= base, `wait ${s.nextDelayMs} outside [${base / 2}, ${base}]`);
    });
    assert.ok(Math.max(...failures.map((s) => s.nextDelayMs)) <= 4000, "capped at reconnect_delay x max_backoff_multiplier");
    assert.deepEqual(failures.map((s) => s.attempt), failures.map((_, n) => n + 1));

    // The requests come when the waits say: each one `wait` after the previous one failed.
    const times = requestsAfter(before).map((r) => r.at - page.t0);
    assert.ok(times[0] - dropped <= 10, `the first retry came ${times[0] - dropped} ms after the drop`);
    for (let k = 1; k < Math.min(times.length, failures.length); k++) {
      const failedAt = times[k - 1] + page.server.latency;
      const late = times[k] - failedAt - failures[k].nextDelayMs;
      assert.ok(late >= 0 && late <= 10, `request ${k + 1} came ${late} ms off its wait`);
    }
    assert.equal(page.visible, "reconnecting");
    assert.ok(requestsAfter(before).every((r) => r.by === "page"), "the browser's own retry never ran");
  });

  test("after max_reconnect_attempts it gives up: Disconnected, no more requests; a click retries at once", async () => {
    await livePage({config: {maxReconnectAttempts: 3, reconnectDelay: 200}});
    page.server.reachable = false;
    const before = page.server.attempts, events = page.states.length;
    page.server.drop();
    await page.advance(5000);
    assert.equal(page.server.attempts - before, 3, "exactly max_reconnect_attempts attempts");
    assert.equal(page.state, "disconnected");
    assert.equal(page.visible, "disconnected");
    assert.equal(page.text, "Disconnected");
    assert.equal(changes(events).at(-1), "disconnected gave-up");
    await page.advance(120_000, 1000);
    assert.equal(page.server.attempts - before, 3, "no request after giving up");
    assert.deepEqual(page.debug(), {monitors: 1, timers: 0, sources: 0});

    page.server.reachable = true;
    page.click();
    assert.equal(page.server.attempts - before, 4, "the click asks at once");
    assert.equal(page.state, "connecting");
    await page.advance(20);
    assert.equal(page.state, "active");
    assert.equal(page.visible, "active");
  });

  test("Enter (or Space) on the indicator retries too; other keys and clicks while Live do nothing", async () => {
    await livePage({config: {maxReconnectAttempts: 1, reconnectDelay: 200}});
    page.click();
    assert.equal(page.server.attempts, 1, "a click while Live makes no request");
    page.server.reachable = false;
    page.server.drop();
    await page.advance(1000);
    assert.equal(page.state, "disconnected");
    const before = page.server.attempts;
    assert.equal(page.press("a").defaultPrevented, false);
    assert.equal(page.server.attempts, before, "another key does nothing");
    page.server.reachable = true;
    const enter = page.press("Enter");
    assert.equal(page.server.attempts, before + 1, "Enter asks at once");
    assert.equal(enter.defaultPrevented, true);
    await page.advance(20);
    assert.equal(page.state, "active");

    page.server.reachable = false;
    page.server.drop();
    await page.advance(1000);
    assert.equal(page.state, "disconnected");
    page.server.reachable = true;
    page.press(" ");
    await page.advance(20);
    assert.equal(page.state, "active");
  });

  test("a retry the user asked for that fails waits the backoff, not a second immediate retry", async () => {
    await livePage({config: {maxReconnectAttempts: 2, reconnectDelay: 1000, jitter: 0}});
    page.server.reachable = false;
    page.server.drop();
    await page.advance(10_000);
    assert.equal(page.state, "disconnected");
    const before = page.server.attempts;
    page.click();
    await page.advance(500);
    assert.equal(page.server.attempts - before, 1, "one request, then a wait of reconnect_delay");
    assert.equal(page.states.at(-1).nextDelayMs, 1000);
  });
});

describe("offline", () => {
  test("offline stops every attempt and shows Offline; online reconnects at once, without the backoff", async () => {
    await livePage();
    page.server.reachable = false;
    page.server.drop();
    await page.advance(3000);
    assert.equal(page.state, "reconnecting", "backing off");
    page.setOnline(false);
    assert.equal(page.state, "offline");
    assert.equal(page.visible, "offline");
    assert.equal(page.text, "Offline");
    const before = page.server.attempts;
    await page.advance(600_000, 1000);
    assert.equal(page.server.attempts, before, "no attempt in ten minutes offline");
    assert.equal(page.state, "offline");
    assert.equal(page.visible, "offline");
    assert.deepEqual(page.debug(), {monitors: 1, timers: 0, sources: 0});

    page.server.reachable = true;
    page.setOnline(true);
    assert.equal(page.server.attempts, before + 1, "online asks at once");
    await page.advance(20);
    assert.equal(page.state, "active");
    assert.equal(page.visible, "active");
  });

  test("a stream that fails because the browser went offline shows Offline, not a retry", async () => {
    await livePage();
    page.navigator.onLine = false;   // the engine drops the stream before it says "offline"
    page.server.drop();
    assert.equal(page.state, "offline");
    page.setOnline(false);
    await page.advance(60_000, 1000);
    assert.equal(page.server.attempts, 1);
    assert.equal(page.visible, "offline");
    page.setOnline(true);
    await page.advance(20);
    assert.equal(page.server.attempts, 2);
    assert.equal(page.state, "active");
  });
});

describe("a tab shown again", () => {
  test("a tab waiting a long backoff reconnects at once when it becomes visible again", async () => {
    await livePage({config: {reconnectDelay: 20_000, maxBackoffMultiplier: 1}});
    page.server.status = 503;
    page.server.drop();
    await page.advance(1500);
    assert.equal(page.state, "error", "the immediate retry met the 503");
    assert.ok(page.monitor.nextDelay >= 10_000, `waiting ${page.monitor.nextDelay} ms`);
    page.server.status = 200;
    page.setVisible(false);
    await page.advance(1000);
    const before = page.server.attempts;
    assert.equal(page.state, "error", "still waiting while hidden");
    page.setVisible(true);
    assert.equal(page.server.attempts, before + 1, "shown again: it asks at once");
    await page.advance(20);
    assert.equal(page.state, "active");
    assert.equal(page.visible, "active");
  });

  test("a stream the browser killed silently while hidden is Live again as soon as the tab is visible", async () => {
    await livePage();
    page.setVisible(false);
    await page.advance(500);
    page.server.open[0].readyState = 2;   // Safari ends a background page's stream without an event
    await page.advance(1000);
    assert.equal(page.state, "active", "nothing told the page");
    page.setVisible(true);
    assert.equal(page.state, "reconnecting", "shown again: the loss is seen");
    await page.advance(10);
    assert.equal(page.server.attempts, 2, "one new connection at once");
    await page.advance(20);
    assert.equal(page.state, "active");
    assert.equal(page.server.attempts, 2);
  });
});

describe("stalls", () => {
  test("with heartbeats expected, a silent stream leaves Live after the stall timeout and reconnects; data makes it Live", async () => {
    await livePage({config: {stallTimeout: 1500, stallAfterHeartbeat: true, jitter: 0}, server: {heartbeatEvery: 500}});
    await page.advance(5000);
    assert.equal(page.server.attempts, 1, "heartbeats keep a quiet stream Live");
    assert.deepEqual(page.stateNames, ["active"]);

    page.server.stalled = true;
    const stalled = page.now, events = page.states.length;
    await page.advance(1000);
    assert.equal(page.visible, "active", "not before the stall timeout");
    await page.advance(600);
    const left = page.states.slice(events).find((s) => s.reason === "stalled");
    assert.ok(left, "the stall was noticed");
    assert.ok(left.at - stalled <= 1500, `Live for ${left.at - stalled} ms of silence`);
    assert.notEqual(page.state, "active");

    await page.advance(200);   // the retry opened a stream, which is silent too
    assert.equal(page.server.open.length, 1);
    assert.equal(page.state, "connecting", "an open stream after a stall is not Live yet");
    await page.advance(8000);
    assert.ok(page.states.slice(events).every((s) => s.state !== "active"), "never Live while nothing arrives");
    assert.notEqual(page.visible, "active");
    const stalls = page.states.slice(events).filter((s) => s.reason === "stalled");
    assert.ok(stalls.length >= 3, `${stalls.length} stalls`);
    assert.deepEqual(stalls.slice(0, 3).map((s) => s.nextDelayMs), [0, 1000, 2000], "one retry at once, then the backoff");
    assert.ok(page.server.attempts >= 4, "it did reconnect");

    page.server.stalled = false;
    await page.advance(4000);   // at most the current wait, then the next open stream's first heartbeat
    assert.equal(page.state, "active");
    assert.equal(page.visible, "active");
  });

  test("after a stall, the first event on the open stream makes it Live at once", async () => {
    await livePage({config: {stallTimeout: 1000}});   // explicit: armed without heartbeats
    page.server.stalled = true;
    await page.advance(1100);
    assert.ok(page.states.some((s) => s.reason === "stalled"));
    assert.equal(page.server.open.length, 1, "the retry's stream is open");
    assert.equal(page.state, "connecting");
    page.server.stalled = false;
    page.server.send("<li>1</li>", "1");
    assert.equal(page.state, "active");
    await page.advance(600);
    assert.equal(page.visible, "active");
    assert.deepEqual(page.swapped, ["<li>1</li>"]);
  });

  test("a server without heartbeats is not cut off by the default stall timeout; after a heartbeat, silence is a stall", async () => {
    await livePage({config: {stallTimeout: 1000, stallAfterHeartbeat: true}});
    await page.advance(10_000, 100);
    assert.equal(page.server.attempts, 1, "the quiet stream was never cut off");
    assert.deepEqual(page.stateNames, ["active"]);
    page.server.heartbeats(300);
    await page.advance(1000);
    assert.deepEqual(page.stateNames, ["active"]);
    page.server.stalled = true;
    await page.advance(1100);
    assert.ok(page.states.some((s) => s.reason === "stalled"), "silence after heartbeats is a stall");
  });

  test("an explicit stall timeout arms without heartbeats", async () => {
    await livePage({config: {stallTimeout: 1000}});
    await page.advance(900);
    assert.deepEqual(page.stateNames, ["active"]);
    await page.advance(200);
    assert.equal(page.states[1].reason, "stalled");
    assert.equal(page.server.attempts, 2);
  });
});

describe("the server's close event", () => {
  test("close ends the connection for good: Disconnected at once, no request after, even when shown again or online", async () => {
    await livePage();
    page.server.close("Server going away");
    assert.equal(page.state, "disconnected");
    assert.equal(page.visible, "disconnected");
    assert.equal(changes().at(-1), "disconnected server-close");
    await page.advance(60_000, 1000);
    page.setVisible(false);
    page.setVisible(true);
    page.setOnline(false);
    page.setOnline(true);
    await page.advance(60_000, 1000);
    assert.equal(page.server.attempts, 1, "no request after close");
    assert.equal(page.state, "disconnected");
    assert.equal(page.visible, "disconnected");
    assert.deepEqual(page.debug(), {monitors: 1, timers: 0, sources: 0});
    page.click();
    await page.advance(20);
    assert.equal(page.server.attempts, 2, "a click asks again");
    assert.equal(page.state, "active");
  });

  test("close with reconnect_after_ms comes back after that delay, plus at most 10 % jitter", async () => {
    await livePage();
    page.random(0.999);   // the unluckiest draw: 1500 + 150 x 0.999
    const closed = page.now;
    page.server.close(JSON.stringify({reason: "restart", reconnect_after_ms: 1500}));
    assert.equal(page.state, "reconnecting");
    assert.equal(changes().at(-1), "reconnecting restart");
    assert.equal(page.states.at(-1).nextDelayMs, 1650);
    await page.advance(1640);
    assert.equal(page.server.attempts, 1, "not before the delay the server asked for");
    await page.advance(20);
    assert.equal(page.server.attempts, 2);
    const back = page.server.requests[1].at - page.t0 - closed;
    assert.ok(back >= 1650 && back <= 1660, `came back after ${back} ms`);
    await page.advance(20);
    assert.equal(page.state, "active");
    await page.advance(30_000, 1000);
    assert.equal(page.server.attempts, 2, "once");
  });
});

describe("what the indicator shows", () => {
  test("a short blip does not flash the indicator, and the stream resumes after the last event", async () => {
    await livePage();
    page.server.send("<li>7</li>", "7");
    await page.advance(300);
    const events = page.states.length, shown = page.shown.length;
    page.server.drop();   // the server is still up: the immediate retry succeeds
    await page.advance(1000);
    assert.deepEqual(changes(events), ["reconnecting connection-error", "connecting", "active"], "the blip happened");
    assert.deepEqual(page.shown.slice(shown), [], "the indicator never left Live");
    assert.equal(page.visible, "active");
    assert.equal(page.server.attempts, 2);
    assert.match(page.server.requests[1].url, /[?&]lastEventId=7(&|$)/, "resumes after event 7");
    page.server.send("<li>8</li>", "8");
    assert.deepEqual(page.swapped, ["<li>7</li>", "<li>8</li>"], "what comes next is shown");
  });

  test("a drop that lasts longer than indicator_delay is shown after that delay", async () => {
    await livePage({config: {indicatorDelay: 500}});
    page.server.reachable = false;
    const dropped = page.now, shown = page.shown.length;
    page.server.drop();
    await page.advance(480);
    assert.equal(page.visible, "active", "not within indicator_delay");
    await page.advance(30);
    assert.equal(page.visible, "reconnecting");
    assert.deepEqual(page.shown.slice(shown), ["reconnecting"]);
    assert.ok(page.now - dropped <= 510);
  });

  test("the indicator counts down the seconds to the next attempt", async () => {
    await livePage({config: {reconnectDelay: 4000, jitter: 0}});
    page.server.status = 503;
    const dropped = page.now;
    page.server.drop();   // the immediate retry meets the 503: Error, next attempt in 4 s
    const at = async (ms) => { await page.advance(dropped + ms - page.now); return page.text; };
    assert.equal(await at(700), "Error(4s)");
    assert.equal(page.visible, "error");
    assert.equal(await at(1700), "Error(3s)");
    assert.equal(await at(2700), "Error(2s)");
    assert.equal(await at(3700), "Error(1s)");
    assert.equal(page.server.attempts, 2);
    assert.equal(await at(4200), "Error(8s)", "the next attempt met the 503 too: twice the wait");
    assert.equal(page.server.attempts, 3);
    page.server.status = 200;
    page.click();
    assert.equal(page.text, "Connecting...", "no countdown once an attempt is under way");
    await page.advance(20);
    assert.equal(page.text, "Live");
  });
});
