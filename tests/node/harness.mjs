// Tabs without a browser: the runtime (sse-monitor.js) loaded once per simulated tab, in a `vm`
// context of its own, with what tabs of one origin share (localStorage, Web Locks) and Node's own
// BroadcastChannel between them. A FakeMonitor stands in for a monitor's page side: it records what
// the tab would swap and what the share asked of it, so the tab-sharing protocol (election, relay,
// welcome, de-duplication, versions, hostile input) runs as plain logic, deterministically, with
// node:test's fake timers (pass `timers` to use them; messages need `flush()` to be delivered).
import fs from "node:fs";
import vm from "node:vm";

const RUNTIME = fs.readFileSync(new URL("../../src/sse_monitor/browser/static/sse-monitor.js", import.meta.url), "utf8");
export const ORIGIN = "http://app.test";

/** Node's BroadcastChannel, counting the messages posted and not yet delivered (or dropped by a close),
 *  so that `flush()` knows when every message has arrived: Node delivers them through its event loop,
 *  in as many turns as it takes, which a fixed number of turns does not always cover. */
const open = new Map();   // channel name -> the open channels of that name
let inFlight = 0;

export class Channel extends BroadcastChannel {
  constructor(name) {
    super(name);
    this.pending = 0;
    if (!open.has(name)) open.set(name, new Set());
    open.get(name).add(this);
    this.addEventListener("message", () => { this.pending -= 1; inFlight -= 1; });
  }

  postMessage(message) {
    for (const other of open.get(this.name) || []) {
      if (other !== this) { other.pending += 1; inFlight += 1; }
    }
    super.postMessage(message);
  }

  close() {
    const channels = open.get(this.name);
    if (channels && channels.delete(this)) { inFlight -= this.pending; this.pending = 0; }
    super.close();
  }
}

// The real timer, kept before any test mocks the timers: `flush` waits with it.
const realSetTimeout = globalThis.setTimeout;

/** Deliver every message posted so far and what they set off: return once `rounds` turns of the event
 *  loop have passed with no message in flight, then a timer turn (so the runtime's 0 ms timers, such
 *  as a stand-in EventSource's open, have fired), then again. Without the timer turns a flush could
 *  end in under 1 ms with a stand-in's open, and the events it queues, still waiting (CI, ci-oo: a
 *  late tab that had swapped nothing). */
export async function flush(rounds = 20) {
  for (let pass = 0; pass < 3; pass++) {
    if (pass > 0) await new Promise((resolve) => realSetTimeout(resolve, 2));
    for (let quiet = 0, turns = 0; quiet < rounds; turns++) {
      if (turns > 100_000) throw new Error(`flush: ${inFlight} messages never delivered`);
      await new Promise((resolve) => setImmediate(resolve));
      quiet = inFlight > 0 ? 0 : quiet + 1;
    }
  }
}

/** Web Locks as the spec has them, for the tabs of one origin: exclusive, granted in request order,
 *  `ifAvailable`, a `signal` that drops a queued request, and a crashed tab's locks freed at once. */
class Locks {
  constructor() { this.held = new Map(); this.queues = new Map(); }

  request(tab, name, options, callback) {
    if (typeof options === "function") { callback = options; options = {}; }
    return new Promise((resolve, reject) => {
      const entry = {tab, callback, resolve, reject};
      if (!this.held.has(name)) { this.grant(name, entry); return; }
      if (options.ifAvailable) { Promise.resolve().then(() => callback(null)).then(resolve, reject); return; }
      const queue = this.queues.get(name) || [];
      this.queues.set(name, queue);
      queue.push(entry);
      if (options.signal) {
        options.signal.addEventListener("abort", () => {
          const at = queue.indexOf(entry);
          if (at !== -1) { queue.splice(at, 1); reject(new Error("AbortError")); }
        });
      }
    });
  }

  grant(name, entry) {
    this.held.set(name, entry);
    Promise.resolve().then(() => entry.callback({name})).then((value) => {
      this.release(name, entry);
      entry.resolve(value);
    }, (error) => { this.release(name, entry); entry.reject(error); });
  }

  release(name, entry) {
    if (this.held.get(name) !== entry) return;
    this.held.delete(name);
    const next = (this.queues.get(name) || []).shift();
    if (next) this.grant(name, next);
  }

  /** The tab's process is gone: its locks are freed and its queued requests dropped. */
  crash(tab) {
    for (const queue of this.queues.values()) {
      for (let i = queue.length - 1; i >= 0; i--) if (queue[i].tab === tab) queue.splice(i, 1);
    }
    for (const [name, entry] of [...this.held]) if (entry.tab === tab) this.release(name, entry);
  }
}

/** What the tabs of one origin share. `locks: false` is a page without Web Locks (plain http). */
export class Origin {
  constructor({locks = true} = {}) {
    this.storage = new Map();
    this.locks = locks ? new Locks() : null;
    this.tabs = [];
  }

  tab(options) {
    const tab = new Tab(this, options);
    this.tabs.push(tab);
    return tab;
  }

  close() { for (const tab of this.tabs) tab.close(); }
}

function storage(map) {
  return {
    getItem: (key) => (map.has(key) ? map.get(key) : null),
    setItem: (key, value) => { map.set(key, String(value)); },
    removeItem: (key) => { map.delete(key); },
  };
}

const noop = () => {};

/** One tab: its own copy of the runtime, its own globals, the origin's storage, locks and channels. */
export class Tab {
  constructor(origin, {fetch = null} = {}) {
    const tab = this;
    this.origin = origin;
    this.channels = [];
    this.errors = [];
    this.logs = [];
    this.fetch = fetch;
    class TabChannel extends Channel {
      constructor(name) { super(name); tab.channels.push(this); }
    }
    const document = {
      readyState: "complete", baseURI: ORIGIN + "/page", visibilityState: "visible", documentElement: {},
      addEventListener: noop, removeEventListener: noop, querySelectorAll: () => [], querySelector: () => null,
      getElementById: () => null,
    };
    const navigator = {onLine: true};
    if (origin.locks) navigator.locks = {request: (...args) => origin.locks.request(tab, ...args)};
    const sandbox = {
      document, navigator, location: {origin: ORIGIN, href: ORIGIN + "/page"}, localStorage: storage(origin.storage),
      BroadcastChannel: TabChannel, MutationObserver: class { observe() {} },
      setTimeout: (...a) => globalThis.setTimeout(...a), clearTimeout: (t) => globalThis.clearTimeout(t),
      setInterval: (...a) => globalThis.setInterval(...a), clearInterval: (t) => globalThis.clearInterval(t),
      Date: globalThis.Date, TextEncoder, TextDecoder, URL, AbortController, Event, EventTarget, MessageEvent,
      CustomEvent: globalThis.CustomEvent || Event, Response, ReadableStream,
      fetch: (...args) => (tab.fetch ? tab.fetch(...args) : Promise.reject(new Error("no server"))),
      console: {
        info: (...args) => tab.logs.push(args.join(" ")), log: noop, warn: (...args) => tab.logs.push(args.join(" ")),
        error: (...args) => tab.errors.push(args.join(" ")),
      },
      addEventListener: noop, removeEventListener: noop,
    };
    sandbox.window = sandbox;
    this.context = vm.createContext(sandbox);
    vm.runInContext(RUNTIME, this.context, {filename: "sse-monitor.js"});
    this.runtime = sandbox.SSEMonitor.internals;
  }

  /** Join the tabs sharing `url` under `digest`, as a monitor does once the server vouched. */
  share(options = {}) {
    const m = new FakeMonitor(this, options);
    const digest = options.digest === undefined ? "d1gest0000000000" : options.digest;
    m.share = new this.runtime.Share(m, this.runtime.shareKey(m.url, digest), digest);
    return m;
  }

  /** The tab's process dies: no goodbye, its locks freed, its channels silent. */
  crash() {
    for (const channel of this.channels) { channel.onmessage = null; channel.close(); }
    if (this.origin.locks) this.origin.locks.crash(this);
  }

  close() { for (const channel of this.channels) channel.close(); }
}

/** A monitor's page side, recorded: the events its htmx would swap, the states it shows, and what the
 *  share asked of it (connects, retries). A leader's real stream is `m.stream(...)`. */
export class FakeMonitor {
  constructor(tab, {url = "/events/feed?lastEventId=0", config = {}} = {}) {
    this.tab = tab;
    this.id = "feed";
    this.url = url;
    this.config = {closeEvent: "close", heartbeatEvent: "heartbeat", resetEvent: "reset", shareAcrossTabs: true,
                   shareUnverifiedStreams: false, ...config};
    this.state = "connecting";
    this.states = [];
    this.attempt = 0;
    this.nextDelay = null;
    this.serverClosed = false;
    this.setupFailed = false;
    this.lastEventId = null;
    this.element = {};
    this.rekeys = 0;
    this.shareWanted = false;
    this.swapped = [];    // what this tab's htmx swapped: "type id data"
    this.calls = [];
    this.share = null;
    const m = this;
    this.transport = {
      existing: () => null,
      close: () => { m.calls.push("close"); },
      connect: (monitor, url) => {
        if (m.share && m.share.role === "follower") {   // htmx 2 asks for its EventSource: the stand-in
          const source = m.share.standIn(url);
          for (const name of ["message", "notice"]) {
            source.addEventListener(name, (event) => m.swapped.push(`${event.type} ${event.lastEventId} ${event.data}`));
          }
        }
      },
    };
  }

  enter(state, reason) {
    this.state = state;
    this.states.push(state);
    if (this.share) this.share.stateChanged({reason});
  }

  log(...args) { this.tab.logs.push(args.join(" ")); }
  begin() { this.connect(); }
  connect() { this.calls.push("connect"); if (this.share) this.share.streamVouched = false; }
  retryNow(reason) {
    this.calls.push(`retry ${reason}`);
    if (this.share && this.share.role === "follower") this.share.ask(reason);
  }
  goOffline() { this.calls.push("offline"); }
  countdown() {}
  clear() {}
  halt() { this.calls.push("halt"); }
  finish(outcome) {   // the channel is over (Monitor.finish): shown, and the group ends
    if (this.state === "finished") return;
    this.calls.push(`finish ${outcome}`);
    this.tab.runtime.transition(this, "finished", outcome);
    this.endShare();
  }
  leaveShare() { if (this.share) { this.share.leave(); this.share = null; } }
  endShare() {
    this.calls.push("end-share");
    const share = this.share;
    this.share = null;
    if (share) share.end();
  }

  /** The leader's real stream delivers an event (what htmx 2's listeners on the EventSource see). */
  stream(type, data = "", id = "") {
    if (this.share) this.share.relay({type, data, lastEventId: id});
    if (id) this.lastEventId = id;
    if (type === "message") this.swapped.push(`${type} ${id} ${data}`);
  }

  /** The leader's stream opened: it begins with the server's digest, then its events. */
  open(digest = "d1gest0000000000") {
    this.stream(this.tab.runtime.SHARE_EVENT, JSON.stringify({protocol: this.tab.runtime.SHARE_PROTOCOL, digest}));
    this.tab.runtime.transition(this, "active");
  }

  role() { return this.share ? this.share.role : null; }
}
