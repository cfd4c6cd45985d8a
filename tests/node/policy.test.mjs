// The monitor's rules that need no browser: the delay before each attempt and the state table.
// What a user needs: after a drop a blip is retried at once; then waits double up to the cap, each
// drawn from [d x (1 - jitter), d] so a crowd spreads out; a planned server restart is honoured with
// little jitter; and the indicator only ever moves along the documented table.
import assert from "node:assert/strict";
import {test} from "node:test";

import vm from "node:vm";

import {Origin} from "./harness.mjs";

const tab = new Origin().tab();
const runtime = tab.runtime;
const tabMath = vm.runInContext("Math", tab.context);   // the tab's own Math (its realm's)
const config = {reconnectDelay: 1000, maxBackoffMultiplier: 4, jitter: 0.5};

function withRandom(value, fn) {
  const real = tabMath.random;
  tabMath.random = () => value;
  try { return fn(); } finally { tabMath.random = real; }
}

test("waits double from reconnectDelay up to the cap, and jitter takes at most its share off", () => {
  const longest = [1, 2, 3, 4, 5, 6].map((n) => withRandom(0, () => runtime.delayAfterFailure(config, n, false)));
  assert.deepEqual(longest, [1000, 2000, 4000, 4000, 4000, 4000]);
  const shortest = [1, 2, 3, 4].map((n) => withRandom(0.999999, () => runtime.delayAfterFailure(config, n, false)));
  assert.deepEqual(shortest, [500, 1000, 2000, 2000]);
});

test("a stream that was Live is retried at once, then backs off from the start of the schedule", () => {
  const waits = [1, 2, 3, 4].map((n) => withRandom(0, () => runtime.delayAfterFailure(config, n, true)));
  assert.deepEqual(waits, [0, 1000, 2000, 4000]);
});

test("a planned server close is honoured, with at most 10 % and 250 ms of jitter", () => {
  assert.equal(withRandom(0, () => runtime.delayAfterServerClose(2000)), 2000);
  assert.equal(withRandom(0.999999, () => runtime.delayAfterServerClose(2000)), 2200);
  assert.equal(withRandom(0.999999, () => runtime.delayAfterServerClose(60000)), 60250);
});

test("the state table: every state can be left, Live is reached only through connecting or a new element", () => {
  const {STATE, TRANSITIONS} = runtime;
  const states = Object.values(STATE);
  for (const from of states) assert.ok(TRANSITIONS[from].length > 0, `${from} is a dead end`);
  for (const from of states) {
    for (const to of TRANSITIONS[from]) assert.ok(states.includes(to), `${from} -> ${to}: not a state`);
  }
  assert.deepEqual(states.filter((from) => TRANSITIONS[from].includes(STATE.ACTIVE)).sort(),
                   [STATE.ACTIVE, STATE.CONNECTING, STATE.DISCONNECTED, STATE.FINISHED].sort());
  assert.ok(!TRANSITIONS[STATE.OFFLINE].includes(STATE.RECONNECTING), "offline makes no attempts");
  assert.ok(!TRANSITIONS[STATE.FINISHED].includes(STATE.RECONNECTING), "a finished channel makes no attempts");
  for (const from of states) assert.ok(TRANSITIONS[from].includes(STATE.FINISHED), `${from} cannot finish`);
});

test("a move outside the table is refused and said, never made", () => {
  const m = {state: "offline", id: "t", enter(to) { this.state = to; }};
  runtime.transition(m, "active", "test");
  assert.equal(m.state, "offline");
  assert.match(tab.errors.join("\n"), /Bug: state change offline -> active/);
});

test("a 4xx is the server's final word, but a login may change 401/403 and 408/429 mean later", () => {
  for (const status of [400, 404, 405, 409, 410, 414, 422]) assert.equal(runtime.refusedForGood(status), true, status);
  for (const status of [200, 401, 403, 408, 429, 500, 502, 503]) assert.equal(runtime.refusedForGood(status), false, status);
});
