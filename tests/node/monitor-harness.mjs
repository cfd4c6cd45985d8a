// One page without a browser, for the monitor (the per-connection state machine): the real runtime
// (sse-monitor.js) in a `vm` context with the least DOM it touches, htmx 2 with a stand-in for
// htmx-ext-sse 2.2.4 (what it does on connect, open, error and message, as in its dist/sse.js), a fake
// EventSource that behaves as a browser's does (a dropped stream is retried by the browser itself
// unless the page closed it; an HTTP error closes it), and a scripted server behind it: up, down
// (network error), answering 503, or stalled (accepts and sends nothing). Tab sharing is off (the
// monitor alone; tab sharing has its own tier). Time is node:test's fake timers: enable them
// (setTimeout, setInterval, Date) before making a page, and move it with `page.advance(ms)`.
//
// What a user sees is read as the browser tests read it: the status container's `data-state`, the
// one indicator not hidden and its text (with the countdown), the `sse-monitor:state` events, and
// the requests the server got.
import fs from "node:fs";
import {mock} from "node:test";
import vm from "node:vm";

import {ORIGIN} from "./harness.mjs";

const RUNTIME_FILE = process.env.SSE_MONITOR_RUNTIME ||   // another build of the runtime (a mutant, to see a test fail)
  new URL("../../src/sse_monitor/browser/static/sse-monitor.js", import.meta.url);
export const RUNTIME = fs.readFileSync(RUNTIME_FILE, "utf8");

export const LABELS = {connecting: "Connecting...", active: "Live", reconnecting: "Reconnecting...", error: "Error",
                       disconnected: "Disconnected", offline: "Offline", finished: "Finished"};   // indicators.py
const COUNTDOWN_STATES = ["reconnecting", "error"];

/** Let every promise callback run (the runtime's and the page's share one microtask queue). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------- the DOM, as little as the runtime needs

/** A DOM event: type, bubbles, detail, target, preventDefault (the page's CustomEvent and KeyboardEvent). */
export class DomEvent {
  constructor(type, init = {}) {
    this.type = type;
    this.bubbles = !!init.bubbles;
    this.cancelable = !!init.cancelable;
    this.detail = init.detail === undefined ? null : init.detail;
    this.key = init.key;
    this.persisted = !!init.persisted;
    this.target = null;
    this.currentTarget = null;
    this.defaultPrevented = false;
    this.stopped = false;
  }
  preventDefault() { if (this.cancelable) this.defaultPrevented = true; }
  stopPropagation() { this.stopped = true; }
  stopImmediatePropagation() { this.stopped = true; }
}

/** Listeners of one node (or the window), with `once`; a listener that throws is recorded, not fatal. */
class Listeners {
  constructor(page) { this.page = page; this.map = new Map(); }
  add(type, listener, options) {
    if (!listener) return;
    const list = this.map.get(type) || [];
    if (list.some((l) => l.listener === listener)) return;
    list.push({listener, once: !!(options && typeof options === "object" && options.once)});
    this.map.set(type, list);
  }
  remove(type, listener) {
    const list = this.map.get(type) || [];
    const at = list.findIndex((l) => l.listener === listener);
    if (at !== -1) list.splice(at, 1);
  }
  invoke(node, event) {
    for (const entry of [...(this.map.get(event.type) || [])]) {
      if (!(this.map.get(event.type) || []).includes(entry)) continue;
      if (entry.once) this.remove(event.type, entry.listener);
      event.currentTarget = node;
      try {
        if (typeof entry.listener === "function") entry.listener.call(node, event);
        else entry.listener.handleEvent(event);
      } catch (error) {
        this.page.uncaught.push(error);
      }
    }
  }
}

// A selector engine for what the runtime and the tests ask: tag, #id, .class, [attr], [attr=v],
// [attr^=v], [attr*=v], :not(...), descendant combinators and selector lists.
function parseCompound(text) {
  const parts = [];
  let rest = text.trim();
  const take = (re) => { const m = rest.match(re); if (m) rest = rest.slice(m[0].length); return m; };
  let m;
  if ((m = take(/^[a-zA-Z][a-zA-Z0-9-]*/))) parts.push({tag: m[0].toUpperCase()});
  while (rest) {
    if ((m = take(/^#([\w-]+)/))) parts.push({attr: "id", op: "=", value: m[1]});
    else if ((m = take(/^\.([\w-]+)/))) parts.push({cls: m[1]});
    else if ((m = take(/^\[\s*([\w:-]+)\s*(?:([\^*]?=)\s*(?:"([^"]*)"|'([^']*)'|([^\]\s]*)))?\s*\]/))) {
      parts.push({attr: m[1], op: m[2] || null, value: m[3] ?? m[4] ?? m[5] ?? null});
    } else if ((m = take(/^:not\(([^)]*)\)/))) parts.push({not: parseCompound(m[1])});
    else throw new Error(`fake DOM: selector not supported: ${text}`);
  }
  return parts;
}

function parseSelector(selector) {
  return selector.split(",").map((group) => group.trim().split(/\s+/).map(parseCompound));
}

function matchesCompound(el, parts) {
  return parts.every((p) => {
    if (p.tag) return el.tagName === p.tag;
    if (p.cls) return el.classList.contains(p.cls);
    if (p.not) return !matchesCompound(el, p.not);
    if (!el.hasAttribute(p.attr)) return false;
    const value = el.getAttribute(p.attr);
    if (p.op === "=") return value === p.value;
    if (p.op === "^=") return value.startsWith(p.value);
    if (p.op === "*=") return value.includes(p.value);
    return true;
  });
}

function matchesChain(el, chain, root) {
  if (!matchesCompound(el, chain[chain.length - 1])) return false;
  let at = chain.length - 2;
  for (let node = el.parentNode; at >= 0 && node && node !== root.parentNode; node = node.parentNode) {
    if (node instanceof FakeElement && matchesCompound(node, chain[at])) at -= 1;
  }
  return at < 0;
}

class FakeNode {
  constructor(page) {
    this.page = page;
    this.childNodes = [];
    this.parentNode = null;
    this.listeners = new Listeners(page);
  }
  get children() { return this.childNodes.filter((n) => n instanceof FakeElement); }
  get firstChild() { return this.childNodes[0] || null; }
  get isConnected() {
    let node = this;
    while (node.parentNode) node = node.parentNode;
    return node === this.page.document;
  }
  appendChild(child) {
    if (child.parentNode) child.parentNode.removeChild(child);
    child.parentNode = this;
    this.childNodes.push(child);
    return child;
  }
  removeChild(child) {
    const at = this.childNodes.indexOf(child);
    if (at === -1) throw new Error("fake DOM: not a child");
    this.childNodes.splice(at, 1);
    child.parentNode = null;
    return child;
  }
  contains(node) {
    for (let n = node; n; n = n.parentNode) if (n === this) return true;
    return false;
  }
  get textContent() { return this.childNodes.map((n) => n.textContent).join(""); }
  set textContent(text) {
    for (const child of this.childNodes) child.parentNode = null;
    this.childNodes = [];
    if (text !== "") this.appendChild(new FakeText(this.page, String(text)));
  }
  descendants() {
    const out = [];
    const walk = (node) => { for (const child of node.children) { out.push(child); walk(child); } };
    walk(this);
    return out;
  }
  querySelectorAll(selector) {
    const chains = parseSelector(selector);
    return this.descendants().filter((el) => chains.some((chain) => matchesChain(el, chain, this)));
  }
  querySelector(selector) { return this.querySelectorAll(selector)[0] || null; }
  addEventListener(type, listener, options) { this.listeners.add(type, listener, options); }
  removeEventListener(type, listener) { this.listeners.remove(type, listener); }
  /** Dispatch to this node, then (if it bubbles) up to the document. */
  dispatchEvent(event) {
    Object.defineProperty(event, "target", {value: this, configurable: true, writable: true});
    for (let node = this; node; node = event.bubbles ? node.parentNode : null) {
      node.listeners.invoke(node, event);
      if (event.stopped) break;
    }
    return !event.defaultPrevented;
  }
}

class FakeText extends FakeNode {
  constructor(page, text) { super(page); this.text = text; }
  get textContent() { return this.text; }
  set textContent(text) { this.text = String(text); }
  get children() { return []; }
}

export class FakeElement extends FakeNode {
  constructor(page, tagName, attributes = {}) {
    super(page);
    this.tagName = tagName.toUpperCase();
    this.attrs = new Map();
    for (const [name, value] of Object.entries(attributes)) this.setAttribute(name, value);
    this.htmxData = {};   // htmx's internal data (api.getInternalData)
  }
  get attributes() { return [...this.attrs].map(([name, value]) => ({name, value})); }
  getAttribute(name) { return this.attrs.has(name) ? this.attrs.get(name) : null; }
  hasAttribute(name) { return this.attrs.has(name); }
  setAttribute(name, value) {
    const before = this.attrs.get(name);
    this.attrs.set(name, String(value));
    if (name === "hidden" && before === undefined) this.page.indicatorChanged();
  }
  removeAttribute(name) {
    const had = this.attrs.delete(name);
    if (name === "hidden" && had) this.page.indicatorChanged();
  }
  get id() { return this.getAttribute("id") || ""; }
  set id(value) { this.setAttribute("id", value); }
  get hidden() { return this.hasAttribute("hidden"); }
  set hidden(value) { if (value) this.setAttribute("hidden", ""); else this.removeAttribute("hidden"); }
  get dataset() {
    const out = {};
    for (const [name, value] of this.attrs) {
      if (name.startsWith("data-")) out[name.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = value;
    }
    return out;
  }
  get classList() {
    const el = this;
    const list = () => (el.getAttribute("class") || "").split(/\s+/).filter(Boolean);
    return {
      contains: (name) => list().includes(name),
      add: (...names) => el.setAttribute("class", [...new Set([...list(), ...names])].join(" ")),
      remove: (...names) => el.setAttribute("class", list().filter((n) => !names.includes(n)).join(" ")),
      toggle: (name) => {
        const on = !list().includes(name);
        if (on) this.classList.add(name); else this.classList.remove(name);
        return on;
      },
    };
  }
  remove() { if (this.parentNode) this.parentNode.removeChild(this); }
}

class FakeDocument extends FakeNode {
  constructor(page) {
    super(page);
    this.readyState = "complete";
    this.visibilityState = "visible";
    this.baseURI = ORIGIN + "/page";
    this.scripts = [];
    this.documentElement = this.appendChild(new FakeElement(page, "html"));
    this.body = this.documentElement.appendChild(new FakeElement(page, "body"));
  }
  get hidden() { return this.visibilityState !== "visible"; }
  createElement(tag) { return new FakeElement(this.page, tag); }
  getElementById(id) { return this.descendants().find((el) => el.id === id) || null; }
}

/** Build an element (tag, attributes, children: elements or text). */
function h(page, tag, attributes = {}, ...children) {
  const el = new FakeElement(page, tag, attributes);
  for (const child of children) el.appendChild(typeof child === "string" ? new FakeText(page, child) : child);
  return el;
}

/** The status container as SSEConnectionMonitor renders it: one indicator per state, the reconnecting
 *  and error ones with a countdown slot, only the server-rendered state shown. */
function statusContainer(page, id, config) {
  const indicators = Object.entries(LABELS).map(([state, label]) => {
    const text = state === "finished" ? [h(page, "span", {"data-sse-outcome": ""}, label)]
      : [label, ...(COUNTDOWN_STATES.includes(state) ? [h(page, "span", {"data-sse-countdown": ""})] : [])];
    const attrs = {"data-sse-state": state};
    if (state !== "connecting") attrs.hidden = "";
    return h(page, "span", attrs, h(page, "span", {class: `sse-monitor-indicator sse-monitor-${state}`},
                                     h(page, "span", {class: "sse-monitor-text"}, ...text)));
  });
  return h(page, "div", {role: "status", "aria-live": "polite", tabindex: "0", "data-state": "connecting",
                         "data-sse-monitor": id, "data-sse-element": `sse-element-${id}`,
                         "data-sse-config": JSON.stringify(config), id: `sse-status-${id}`, class: "sse-monitor"},
           ...indicators);
}

// ---------------------------------------------------------------- the network: EventSource and a server

const CONNECTING = 0, OPEN = 1, CLOSED = 2;

/** The browser's EventSource, driven by the FakeServer: `onopen`/`onerror`/`onmessage` and listeners;
 *  a network error leaves it CONNECTING and the browser retries after `retry` ms (unless the page closed
 *  it), an HTTP error closes it. */
class FakeEventSource extends EventTarget {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSED = CLOSED;

  constructor(server, url) {
    super();
    this.server = server;
    this.url = url;
    this.withCredentials = true;
    this.readyState = CONNECTING;
    this.onopen = null;
    this.onerror = null;
    this.onmessage = null;
    this.closedByPage = false;
    server.request(this, "page");
  }
  close() { this.readyState = CLOSED; this.closedByPage = true; }
  fire(event) {
    const handler = this["on" + event.type];
    if (typeof handler === "function") {
      try { handler.call(this, event); } catch (error) { this.server.page.uncaught.push(error); }
    }
    this.dispatchEvent(event);
  }
}

/** The stream's server, scripted. Each request is answered `latency` ms later: a network error while
 *  `reachable` is false (or the browser is offline), `status` if it is not 200, else the stream opens.
 *  While `stalled`, open streams stay open and send nothing. `heartbeatEvery` ms a heartbeat. */
export class FakeServer {
  constructor(page, {latency = 10, heartbeatEvery = 0, retry = 1000} = {}) {
    this.page = page;
    this.latency = latency;
    this.retry = retry;         // the stream's `retry:` (the browser's own reconnect delay)
    this.reachable = true;
    this.status = 200;
    this.stalled = false;
    this.requests = [];         // {url, at, by: "page" | "browser"} for each request to the stream
    this.sources = [];
    this.beat = null;
    this.heartbeats(heartbeatEvery);
  }

  /** Requests to the stream so far (every one a connection attempt, whoever made it). */
  get attempts() { return this.requests.length; }
  get open() { return this.sources.filter((s) => s.readyState === OPEN); }

  heartbeats(every) {
    if (this.beat) clearInterval(this.beat);
    this.beat = every > 0 ? setInterval(() => this.emit("heartbeat", ""), every) : null;
  }

  request(source, by) {
    this.requests.push({url: source.url, at: Date.now(), by});
    if (!this.sources.includes(source)) this.sources.push(source);
    setTimeout(() => this.answer(source), this.latency);
  }

  answer(source) {
    if (source.readyState === CLOSED) return;   // the page gave up on it before the answer
    if (!this.reachable || !this.page.navigator.onLine) { this.networkError(source); return; }
    if (this.status !== 200) {
      source.readyState = CLOSED;
      source.fire(new Event("error"));
      return;
    }
    source.readyState = OPEN;
    source.fire(new Event("open"));
  }

  /** The connection is lost: the browser says error, stays CONNECTING and retries after `retry` ms. */
  networkError(source) {
    source.readyState = CONNECTING;
    source.fire(new Event("error"));
    setTimeout(() => { if (source.readyState === CONNECTING) this.request(source, "browser"); }, this.retry);
  }

  /** An event on every open stream (none while stalled). */
  emit(type, data, id = "") {
    if (this.stalled) return;
    for (const source of this.open) {
      const event = new MessageEvent(type, {data, lastEventId: id});
      if (type === "message" && typeof source.onmessage === "function") source.onmessage(event);
      source.dispatchEvent(event);
    }
  }

  send(data, id = "") { this.emit("message", data, id); }

  /** Every open stream ends (a proxy or server restart): what the browser sees as a network error. */
  drop() { for (const source of this.open) this.networkError(source); }

  /** The server's `close` event, then it ends the stream. */
  close(data) {
    for (const source of this.open) {
      source.dispatchEvent(new MessageEvent("close", {data}));
      if (source.readyState === OPEN) this.networkError(source);
    }
  }
}

// ---------------------------------------------------------------- htmx 2 and htmx-ext-sse

/** htmx 2 as far as the runtime and htmx-ext-sse use it: defineExtension (with the internal API),
 *  process (re-initialising an element only when its attributes changed), createEventSource. */
function fakeHtmx(page) {
  const extensions = new Map();
  const hashes = new WeakMap();
  const triggerEvent = (el, name, detail) =>
    el.dispatchEvent(new DomEvent(name, {bubbles: true, cancelable: true, detail}));
  const api = {
    getInternalData: (el) => el.htmxData,
    getAttributeValue: (el, name) => el.getAttribute(name) ?? el.getAttribute("data-" + name),
    bodyContains: (el) => page.document.body.contains(el),
    triggerEvent,
    triggerErrorEvent: (el, name, detail) => triggerEvent(el, name, detail),
    getClosestMatch: (el, test) => { for (let n = el; n instanceof FakeElement; n = n.parentNode) if (test(n)) return n; return null; },
    withExtensions: (el, fn) => {
      for (let n = el; n instanceof FakeElement; n = n.parentNode) {
        const names = (n.getAttribute("hx-ext") || "").split(",").map((s) => s.trim()).filter(Boolean);
        for (const name of names) if (extensions.has(name)) fn(extensions.get(name));
        if (names.length) return;
      }
    },
  };
  const htmx = {
    version: "2.0.4",
    config: {},
    defineExtension(name, extension) {
      extensions.set(name, extension);
      if (extension.init) extension.init(api);
    },
    removeExtension(name) { extensions.delete(name); },
    process(root) {
      for (const el of [root, ...root.descendants()]) {
        const hash = el.attributes.filter((a) => a.value).map((a) => a.name + "=" + a.value).join("\n");
        if (hashes.get(el) === hash) continue;   // htmx 2 initialises a node again only if its attributes changed
        hashes.set(el, hash);
        el.htmxData = {};
        triggerEvent(el, "htmx:afterProcessNode", {elt: el});
        api.withExtensions(el, (ext) => ext.onEvent && ext.onEvent("htmx:afterProcessNode", {target: el}));
      }
    },
  };
  page.htmxApi = api;
  htmx.defineExtension("sse", htmxExtSse(page, htmx, api));
  return htmx;
}

/** htmx-ext-sse 2.2.4, its connect, open, error (with its own retry) and message paths. */
function htmxExtSse(page, htmx, api) {
  const retryAfter = (el, retryCount) => {
    const count = Math.max(Math.min((retryCount || 0) * 2, 128), 1);
    setTimeout(() => ensureEventSourceOnElement(el, count), count * 500);
  };
  function ensureEventSourceOnElement(el, retryCount) {
    const url = api.getAttributeValue(el, "sse-connect");
    if (url) {
      const source = htmx.createEventSource(url);
      source.onerror = (error) => {
        api.triggerErrorEvent(el, "htmx:sseError", {error, source});
        if (!api.bodyContains(el)) { source.close(); return; }
        if (source.readyState === CLOSED) retryAfter(el, retryCount);
      };
      source.onopen = () => { api.triggerEvent(el, "htmx:sseOpen", {source}); };
      el.htmxData.sseEventSource = source;
    }
    registerSse(el);
  }
  function registerSse(el) {
    const names = api.getAttributeValue(el, "sse-swap");
    if (!names) return;
    const owner = api.getClosestMatch(el, (n) => n.htmxData.sseEventSource != null);
    if (!owner) return;
    const source = owner.htmxData.sseEventSource;
    for (const name of names.split(",").map((s) => s.trim())) {
      source.addEventListener(name, (event) => {
        if (!api.triggerEvent(el, "htmx:sseBeforeMessage", event)) return;
        page.swapped.push(event.data);
        api.triggerEvent(el, "htmx:sseMessage", event);
      });
    }
  }
  return {
    init() { if (htmx.createEventSource == undefined) htmx.createEventSource = (url) => new FakeEventSource(page.server, url); },
    getSelectors: () => ["[sse-connect]", "[data-sse-connect]", "[sse-swap]", "[data-sse-swap]"],
    onEvent(name, event) { if (name === "htmx:afterProcessNode") ensureEventSourceOnElement(event.target); },
  };
}

// ---------------------------------------------------------------- the page

/** Defaults of a page in these tests: the runtime's own (DEFAULTS), without tab sharing. */
const PAGE_CONFIG = {shareAcrossTabs: false};

/** One page: a status container and its SSE element, htmx 2, the runtime, a server. */
export class MonitorPage {
  constructor({id = "feed", config = {}, url = `/events/${id}?lastEventId=0`, server = {}, runtime = RUNTIME} = {}) {
    this.id = id;
    this.uncaught = [];
    this.errors = [];
    this.warnings = [];
    this.logs = [];
    this.states = [];     // every sse-monitor:state event's detail, with `at` (ms since the page loaded)
    this.shown = [];      // the indicator a person sees, each time it changes
    this.swapped = [];    // what htmx swapped into the page
    this.fetches = [];
    this.ready = false;
    this.document = new FakeDocument(this);
    this.navigator = {onLine: true};
    this.server = new FakeServer(this, server);
    this.container = statusContainer(this, id, {...PAGE_CONFIG, ...config});
    this.element = h(this, "div", {"hx-ext": "sse", "sse-connect": url, "sse-swap": "message", "hx-swap": "beforeend",
                                   id: `sse-element-${id}`});
    this.document.body.appendChild(this.container);
    this.document.body.appendChild(this.element);
    this.windowListeners = new Listeners(this);
    this.t0 = Date.now();
    const page = this;
    const sandbox = {
      document: this.document, navigator: this.navigator, location: {origin: ORIGIN, href: ORIGIN + "/page"},
      htmx: null, EventSource: FakeEventSource, CustomEvent: DomEvent, Event, EventTarget, MessageEvent,
      MutationObserver: class { observe() {} disconnect() {} },
      setTimeout: (...a) => globalThis.setTimeout(...a), clearTimeout: (t) => globalThis.clearTimeout(t),
      setInterval: (...a) => globalThis.setInterval(...a), clearInterval: (t) => globalThis.clearInterval(t),
      TextEncoder, TextDecoder, URL, AbortController,
      fetch: (url, options) => page.fetch(url, options),
      console: {
        info: (...a) => page.logs.push(a.join(" ")), log: (...a) => page.logs.push(a.join(" ")),
        warn: (...a) => page.warnings.push(a.join(" ")), error: (...a) => page.errors.push(a.join(" ")),
      },
      addEventListener: (type, listener, options) => page.windowListeners.add(type, listener, options),
      removeEventListener: (type, listener) => page.windowListeners.remove(type, listener),
    };
    Object.defineProperty(sandbox, "Date", {get: () => globalThis.Date, enumerable: true});   // fake timers' Date
    sandbox.window = sandbox;
    this.window = sandbox;
    this.context = vm.createContext(sandbox);
    this.math = vm.runInContext("Math", this.context);   // the page's own Math (its realm's)
    sandbox.htmx = fakeHtmx(this);
    this.document.addEventListener("sse-monitor:state", (event) => {
      this.states.push({...event.detail, at: Date.now() - this.t0});
    });
    this.ready = true;
    this.indicatorChanged();
    vm.runInContext(runtime, this.context, {filename: "sse-monitor.js"});
    this.runtime = sandbox.SSEMonitor;
  }

  /** The share check (askServer) and nothing else goes through fetch: answered as the server would. */
  fetch(url, options) {
    this.fetches.push(String(url));
    if (!this.server.reachable || !this.navigator.onLine) return Promise.reject(new TypeError("Failed to fetch"));
    const status = this.server.status;
    const body = status === 200 ? JSON.stringify({protocol: this.runtime.internals.SHARE_PROTOCOL, digest: "0123456789abcdef"})
      : "Service Unavailable";
    const type = status === 200 ? "application/json" : "text/plain";
    return Promise.resolve({
      status, ok: status >= 200 && status < 300,
      headers: {get: (name) => (name.toLowerCase() === "content-type" ? type : name.toLowerCase() === "content-length" ? String(body.length) : null)},
      text: () => Promise.resolve(body), json: () => Promise.resolve(JSON.parse(body)),
    });
  }

  get monitor() { return this.runtime.monitors.get(this.id); }
  /** The container's `data-state`. */
  get state() { return this.container.getAttribute("data-state"); }
  get indicators() { return this.container.querySelectorAll("[data-sse-state]"); }
  /** The indicator a person sees (the one not hidden); an error if not exactly one is. */
  get visible() {
    const shown = this.indicators.filter((el) => !el.hidden);
    if (shown.length !== 1) throw new Error(`${shown.length} indicators visible: ${shown.map((el) => el.getAttribute("data-sse-state"))}`);
    return shown[0].getAttribute("data-sse-state");
  }
  /** The visible indicator's text, countdown included ("Error(3s)"). */
  get text() { return this.indicators.find((el) => !el.hidden).textContent; }
  /** The states of the sse-monitor:state events so far. */
  get stateNames() { return this.states.map((s) => s.state); }
  /** Milliseconds since the page loaded (fake time). */
  get now() { return Date.now() - this.t0; }

  /** An indicator's `hidden` changed: note the one shown now. The runtime shows one by hiding the others
   *  one by one, in the same task: a moment with none or two shown is never painted, and not noted. */
  indicatorChanged() {
    if (!this.ready || !this.container) return;
    const shown = this.indicators.filter((el) => !el.hidden);
    if (shown.length !== 1) return;
    const state = shown[0].getAttribute("data-sse-state");
    if (this.shown[this.shown.length - 1] !== state) this.shown.push(state);
  }

  /** Let `ms` of fake time pass, `step` ms at a time: the timers due run, and Date.now() in them is
   *  at most `step` late (fake timers show a tick's end time to every callback in it). */
  async advance(ms, step = 10) {
    await settle();
    for (let left = ms; left > 0; left -= step) {
      mock.timers.tick(Math.min(step, left));
      await null;   // a promise callback or two between steps (the rest settle at the end)
    }
    await settle();
  }

  /** Math.random in the page: a number, or a function giving the next one. */
  random(value) { this.math.random = typeof value === "function" ? value : () => value; }

  click() { this.container.dispatchEvent(new DomEvent("click", {bubbles: true, cancelable: true})); }
  press(key) {
    const event = new DomEvent("keydown", {bubbles: true, cancelable: true, key});
    this.container.dispatchEvent(event);
    return event;
  }

  /** The browser goes offline (or online): navigator.onLine, then the window's event. */
  setOnline(online) {
    this.navigator.onLine = online;
    this.windowListeners.invoke(this.window, new DomEvent(online ? "online" : "offline"));
  }

  setVisible(visible) {
    this.document.visibilityState = visible ? "visible" : "hidden";
    this.document.dispatchEvent(new DomEvent("visibilitychange", {bubbles: true}));
  }

  /** SSEMonitor.debug(): timers, sources and monitors alive now (as a plain object of this realm). */
  debug() { return {...this.runtime.debug()}; }

  /** Lines the runtime logged as a bug (a state change TRANSITIONS does not allow). */
  bugs() { return this.errors.filter((line) => line.includes("[sse-monitor] Bug:")); }

  /** State changes announced that TRANSITIONS does not list (none if the runtime keeps its table). */
  forbiddenChanges() {
    const table = this.runtime.internals.TRANSITIONS;
    return this.states.filter((s) => !(table[s.previous] || []).includes(s.state)).map((s) => `${s.previous} -> ${s.state}`);
  }
}
