/*
 * fasthtml-sse-monitor runtime.
 *
 * Watches htmx SSE elements and owns their reconnection: exponential backoff with jitter and a cap,
 * a give-up point with click-to-retry, instant retry when the browser comes back online or the tab
 * becomes visible, stall detection from heartbeats, obedience to the server's `close` event, and no
 * lost events (the last event id goes into the new connection's `lastEventId` query parameter).
 *
 * The page describes each monitor in markup: a status container `[data-sse-monitor]` (or a
 * `<template data-sse-monitor>` carrying indicators for a container the page built itself) with
 * `data-sse-element` (the SSE element's id) and `data-sse-config` (JSON). Nothing here evaluates
 * strings or builds HTML: indicators are toggled with `hidden`, the countdown is set as text.
 *
 * One file, made of parts with one concern each (src/sse_monitor/browser/runtime/, joined in order
 * by `make runtime`; edit the parts): 01 the states and their transitions; 02 configuration and
 * URLs; 03 the delay policy; 04 page setup problems; 05 the htmx 2 transport (htmx-ext-sse); 06 the
 * htmx 4 transport (hx-sse, with the one adapter for its private fields); tab sharing: 07 its
 * protocol (roles, messages, the server's vouching), 08 the election, 09 the relay, 10 the stand-ins
 * and the page lifecycle; 11 the monitor; 12 discovery and page events.
 */
(function () {
  "use strict";
  if (window.SSEMonitor) return; // several inline copies on one page define it once

  // ---------------------------------------------------------------- the states and their transitions
  //
  // One state machine per monitor. Its state is the container's `data-state`, the indicator shown
  // (`data-sse-state`) and the `sse-monitor:state` event's `state`: these strings are public.
  //
  //   connecting -> active -> (drop | stall) -> reconnecting/error (wait) -> connecting -> ...
  //   ... after maxReconnectAttempts -> disconnected (click, Enter or Space on the indicator: retry)
  //   server `close` -> disconnected, or with {"reconnect_after_ms": N} -> reconnecting, back after N ms
  //   browser offline -> offline (no attempts) -> online -> connecting at once
  //   after a stall, an open stream stays connecting (the attempt still counts) until data arrives
  //   the SSE element leaves the page -> disconnected; a new one -> connecting (active if htmx opened it)
  //   broken page setup (no htmx, no or the wrong SSE extension, an hx-sse of another shape)
  //     -> error, reason "setup", no retries; it can be found from any state
  //   the server refuses the stream for good (a 4xx but 401/403/408/429, with its reason as text)
  //     -> error, reason "refused", no retries (a click asks again)
  //
  // Every change, as TRANSITIONS lists it (transition() makes no other: anything else is a bug in this
  // file, said in console.error, and the state stays):
  //   connecting   -> active        opened (after a stall: once an event or heartbeat arrives)
  //                -> reconnecting  dropped, stalled or failed to start; server `close` with a delay
  //                -> error         refused (an HTTP error), or a setup problem
  //                -> disconnected  gave up, server `close`, element left
  //                -> offline       the browser went offline
  //                -> connecting    said again: htmx's own connect was under way when the monitor came
  //   active       -> the same, and -> active again (Live confirmed), -> connecting (a follower tab that
  //                   becomes the leader reconnects; the page still loading its scripts)
  //   reconnecting -> connecting (the wait is over, online, tab visible, click), error (a setup problem
  //                   found as the retry starts), disconnected, offline
  //   error        -> the same, and -> error again (the setup checked again on a click)
  //   disconnected -> connecting (click, tab visible, a new element), active (a new element htmx had
  //                   already opened), error (setup), disconnected again (another reason), offline
  //   offline      -> connecting (online, click), error (setup), disconnected (element left)
  //   any but finished -> finished   the server's `end` (Hub.end): the channel is over, with an outcome
  //                                  (done, cancelled, error, interrupted); no retries, a click does nothing
  //   finished     -> connecting, active (a new element: another job), error (setup), disconnected
  //                   (element left), finished again (a follower tab hearing it twice)
  // Each change fires `sse-monitor:state`, a repeated state too. A follower tab (tab sharing) copies
  // its leader's state through the same check; a jump it has no edge for goes through connecting.

  var STATE = Object.freeze({
    CONNECTING: "connecting",     // a connection is being made (or an open one is not proven yet)
    ACTIVE: "active",             // Live: the stream is open and delivering
    RECONNECTING: "reconnecting", // it dropped or stalled: waiting (backoff) before the next attempt
    ERROR: "error",               // refused (an HTTP error) and waiting, or a page setup problem
    DISCONNECTED: "disconnected", // given up, closed by the server, or the element left: click retries
    OFFLINE: "offline",           // the browser is offline: no attempts until it is online again
    FINISHED: "finished"          // the server ended the channel (Hub.end: a job, an answer): no retries
  });

  var TRANSITIONS = (function (C, A, R, E, D, O, F) {
    var table = {};
    table[C] = [A, R, E, D, O, C, F];
    table[A] = [A, R, E, D, O, C, F];
    table[R] = [C, E, D, O, F];
    table[E] = [C, E, D, O, F];
    table[D] = [C, A, E, D, O, F];
    table[O] = [C, E, D, F];
    table[F] = [C, A, E, D, F];
    Object.keys(table).forEach(function (from) { Object.freeze(table[from]); });
    return Object.freeze(table);
  })(STATE.CONNECTING, STATE.ACTIVE, STATE.RECONNECTING, STATE.ERROR, STATE.DISCONNECTED, STATE.OFFLINE,
     STATE.FINISHED);

  /** The one way a monitor's state changes: checked against TRANSITIONS, then shown and announced. */
  function transition(m, to, reason, problem) {
    var from = m.state;
    if ((TRANSITIONS[from] || []).indexOf(to) === -1) {
      console.error("[sse-monitor] Bug: state change " + from + " -> " + to + " (" + (reason || "no reason") +
                    ") is not in TRANSITIONS; it was not made. Monitor: " + m.id);
      return;
    }
    m.enter(to, reason || null, problem || null);
  }

  var TRANSIENT = [STATE.CONNECTING, STATE.RECONNECTING, STATE.ERROR];
  /** What the finished indicator says for each outcome of Hub.end (indicators.py OUTCOME_LABELS). */
  var OUTCOME_WORDS = Object.freeze({done: "Finished", cancelled: "Cancelled", error: "Failed",
                                     interrupted: "Interrupted"});
  var DEFAULTS = {
    maxReconnectAttempts: 30, reconnectDelay: 1000, maxBackoffMultiplier: 4, monitorVisibility: true,
    logToConsole: false, stallTimeout: 45000, stallAfterHeartbeat: true, closeEvent: "close", endEvent: "end",
    heartbeatEvent: "heartbeat",
    resetEvent: "reset", reconnectOnOnline: true, jitter: 0.5, indicatorDelay: 500, showCountdown: true,
    shareAcrossTabs: true, shareUnverifiedStreams: false
  };
  var monitors = new Map(); // connection id -> Monitor

  // ---------------------------------------------------------------- helpers

  function readConfig(el) {
    var config = Object.assign({}, DEFAULTS);
    try {
      var given = JSON.parse(el.getAttribute("data-sse-config") || "{}");
      Object.keys(DEFAULTS).forEach(function (key) {
        if (given && typeof given[key] === typeof DEFAULTS[key]) config[key] = given[key];
      });
      // A stallTimeout given without saying when it arms was chosen on purpose: it arms always.
      if (given && typeof given.stallTimeout === "number" && typeof given.stallAfterHeartbeat !== "boolean") {
        config.stallAfterHeartbeat = false;
      }
    } catch (e) { /* keep the defaults: a broken attribute must not break the page */ }
    return config;
  }

  /** `url` with query parameter `name` set to `value` (null: removed), as short as it was given. */
  function withParam(url, name, value) {
    var parsed = new URL(url, document.baseURI);
    if (value === null) parsed.searchParams.delete(name); else parsed.searchParams.set(name, value);
    return parsed.origin === location.origin ? parsed.pathname + parsed.search + parsed.hash : parsed.href;
  }

  function withLastEventId(url, lastEventId) { return withParam(url, "lastEventId", lastEventId); }

  /** The stream a URL names, without the position it resumes from (a last event id belongs to it)
   *  or the tab-sharing parameter. */
  function streamOf(url) {
    var parsed = new URL(url, document.baseURI);
    parsed.searchParams.delete("lastEventId");
    parsed.searchParams.delete(SHARE_PARAM);
    parsed.hash = "";
    return parsed.href;
  }

  // ---------------------------------------------------------------- the delay policy
  //
  // Every wait before a new attempt, in one place: the backoff (reconnectDelay doubling up to
  // reconnectDelay x maxBackoffMultiplier, each wait drawn from [d x (1 - jitter), d] so a crowd
  // spreads out), the one immediate retry of a stream that was Live, and the server's planned return.

  /** Delay before reconnect attempt n (1-based): reconnectDelay * 2^(n-1), capped, minus jitter. */
  function backoff(config, attempt) {
    var cap = config.reconnectDelay * config.maxBackoffMultiplier;
    var delay = Math.min(config.reconnectDelay * Math.pow(2, Math.max(0, attempt - 1)), cap);
    return Math.round(delay * (1 - config.jitter * Math.random()));
  }

  /** Delay after failed attempt n (1-based) since the stream was last Live. A stream that was Live
   *  (droppedLive) gets one immediate retry, so a blip recovers before anyone sees it; the backoff
   *  schedule proper starts after it. */
  function delayAfterFailure(config, attempt, droppedLive) {
    if (!droppedLive) return backoff(config, attempt);
    return attempt === 1 ? 0 : backoff(config, attempt - 1);
  }

  /** Delay before coming back after the server's planned close (`reconnect_after_ms`). The server
   *  already spread its clients' returns (each stream got its own delay): only a little jitter is
   *  added (up to 10 %, at most 250 ms), so the spread stays flat. */
  function delayAfterServerClose(after) {
    return Math.round(after + Math.min(250, after * 0.1) * Math.random());
  }

  /** Is an HTTP status the server's final word on this stream, not worth a retry? A 4xx, but not
   *  408/429 (come back later), and not 401/403: a login (perhaps in another tab) may allow it. */
  function refusedForGood(status) {
    return status >= 400 && status < 500 && [401, 403, 408, 429].indexOf(status) === -1;
  }
  // ---------------------------------------------------------------- page setup problems
  //
  // A page without htmx, without its SSE extension, or with the wrong one looks like a network
  // problem from the inside (nothing connects, or nothing is swapped). Each is recognised, named in
  // one console.warn with its fix, and shown as `error` with reason `setup`: no countdown, no retries.

  var warned = {};
  // (No markup in these strings: the runtime is often inlined in a script element.)
  // Each transport below recognises its own: transport.problem(m), and what its events reveal.

  function setupProblem(problem, fix) { return {problem: problem, fix: fix}; }

  function scriptLoaded(pattern) {
    return [].some.call(document.scripts, function (s) { return pattern.test(s.src || ""); });
  }

  /** The page's SSE extension is missing: named as the other htmx's one if `otherScript` is loaded. */
  function extensionMissing(otherScript, otherLoaded, missing, fix) {
    return setupProblem(scriptLoaded(otherScript) ? otherLoaded : missing, fix);
  }

  var NO_HTMX = setupProblem("htmx is not loaded on the page, so the SSE element never connects",
    "load htmx 2 with htmx-ext-sse (FastHTML's fast_app() loads htmx 2; hdrs=sse_headers() adds the " +
    "extension), or htmx 4 with hx-sse (sse_headers(htmx=4))");

  /** How long after the page has loaded a monitor may wait for its SSE element before that is
   *  named as a setup problem (a swap may still bring it: then it connects as usual). */
  var NO_ELEMENT_GRACE = 3000;

  /** The SSE element is written for the other htmx (its connect attribute is htmx 4's on an htmx 2
   *  page), or null. */
  function otherHtmxMarkup(element, htmxVersion) {
    var names = [].map.call(element.attributes, function (a) { return a.name; });
    var htmx4Markup = names.some(function (name) { return /^(data-)?hx-sse[:\-]connect$/.test(name); });
    if (!htmx4Markup || htmxVersion === 4) return null;
    return setupProblem("the SSE element #" + element.id + " is written for htmx 4 (hx-sse:connect), but the " +
                        "page runs htmx 2, which ignores it", "write it for htmx 2: SSEElement(..., htmx=2) " +
                        "(the default), or run htmx 4 on the page with sse_headers(htmx=4)");
  }

  /** No element #sse-element-<id> for a monitor: its id is not the element's (or the element is not
   *  on the page). Names the SSE elements the page does have. */
  function noElement(monitorId, elementId) {
    var others = [].map.call(document.querySelectorAll("[id^='sse-element-']"), function (el) {
      return el.id.slice("sse-element-".length);
    });
    return setupProblem("the monitor '" + monitorId + "' has no SSE element #" + elementId + " on the page" +
                        (others.length ? " (the page has SSE elements for: " + others.join(", ") + ")" : ""),
                        "the monitor's id must be the element's: SSEConnectionMonitor('" + monitorId +
                        "') goes with SSEElement('" + monitorId + "', url)");
  }

  // ================================================================ the transports
  //
  // One per htmx: htmx 2 with htmx-ext-sse (`sse-connect`), htmx 4 with hx-sse (`hx-sse:connect`),
  // picked by pageTransport() from htmx.version. The monitor uses only this interface:
  //   install()             hook into htmx (idempotent; called before htmx connects, and on every scan)
  //   problem(m)            a page setup problem seen before connecting ({problem, fix}), or null
  //   attributeOf(el)       the element's connect attribute name, or null
  //   existing(m)           adopt the connection htmx opened before the monitor came: {open}, or null
  //   connect(m, url)       open a connection to url for m (m.source is the transport's connection)
  //   lost(m)               the browser closed the connection without telling (a hidden page)
  //   close(m)              close m's connection and anything under way; m.source is null after
  // and reports back through m.opened(), .fail(reason, refused), .activity(event), .serverClose(event),
  // .reset(event) and .setupError(problem).

  // ---------------------------------------------------------------- transport: htmx 2 + htmx-ext-sse
  //
  // htmx-ext-sse retries on its own (forever, without jitter) and the browser's EventSource retries
  // every few seconds. To own reconnection, the runtime wraps htmx.createEventSource (which the
  // extension looks up on every connect): a connect the runtime asked for gets a real EventSource,
  // any other connect for a monitored URL gets an inert stand-in that never makes a request.

  var FIX_HTMX2_EXT = "use fast_app(hdrs=sse_headers()), which loads htmx-ext-sse 2.2.4 for htmx 2 " +
    "(and leave out exts='sse4', which is for htmx 4); without FastHTML, load " +
    "https://cdn.jsdelivr.net/npm/htmx-ext-sse@2.2.4/dist/sse.js after htmx";

  /** htmx 2's internal API, reached through a throwaway extension (the public way extensions get it). */
  var htmx2Api = null;
  function htmx2Extensions(el) {
    var htmx = window.htmx, found = [];
    if (htmx2Api === null && typeof htmx.defineExtension === "function" && typeof htmx.removeExtension === "function") {
      htmx2Api = false;
      htmx.defineExtension("sse-monitor-probe", {init: function (api) { htmx2Api = api; }});
      htmx.removeExtension("sse-monitor-probe");
    }
    if (!htmx2Api || typeof htmx2Api.withExtensions !== "function") return null;   // cannot tell
    htmx2Api.withExtensions(el, function (extension) { found.push(extension); });
    return found;
  }

  /** What is wrong with an htmx 2 page's SSE setup for this element, or null. */
  function htmx2SetupProblem(element) {
    var probe = document.createElement("div");
    probe.setAttribute("hx-ext", "sse");
    var registered = htmx2Extensions(probe);
    if (registered === null) return null;
    if (!registered.length) {
      return extensionMissing(/hx-sse/,
        "htmx 4's hx-sse extension is loaded on an htmx 2 page (FastHTML's exts='sse4' is for htmx 4), " +
        "so no SSE extension is registered",
        "htmx 2 is on the page but its SSE extension (htmx-ext-sse) is not (missing, or its script failed to load)",
        FIX_HTMX2_EXT);
    }
    if (typeof registered[0].getSelectors === "function" && registered[0].getSelectors() === null) {
      return setupProblem("the SSE extension on this htmx 2 page is the htmx 1 one (htmx.org@2's " +
                          "dist/ext/sse.js, or htmx-ext-sse before 2.2): it connects but swaps nothing",
                          FIX_HTMX2_EXT.replace("load", "load instead"));
    }
    var active = htmx2Extensions(element) || [];
    if (active.indexOf(registered[0]) === -1) {
      return setupProblem("the SSE element has no hx-ext=\"sse\" (on itself or a parent), so htmx-ext-sse " +
                          "ignores it", "add hx-ext=\"sse\" to the SSE element (SSEElement writes it)");
    }
    return null;
  }

  var armed = null;          // the monitor whose connect is under way right now
  var createdByUrl = new Map(); // sources created before a monitor attached, so none is left behind

  function inertSource(url) {
    return {
      url: url, readyState: 2, withCredentials: true, onopen: null, onerror: null, onmessage: null,
      addEventListener: function () {}, removeEventListener: function () {}, close: function () {},
      dispatchEvent: function () { return true; }
    };
  }

  function ownedBy(url) {
    return findMonitor(function (m) { return m.element && m.url === url; });
  }

  /** Is `url` the stream of an element whose monitor, not attached yet, shares its stream across tabs? That
   *  monitor connects (or follows another tab) itself, so htmx's own page-load connect is not made. */
  function sharedLater(url) {
    return [].some.call(document.querySelectorAll("[data-sse-monitor][data-sse-element]"), function (c) {
      var el = document.getElementById(c.getAttribute("data-sse-element") || ""), name = el && htmx2.attributeOf(el);
      return !!name && el.getAttribute(name) === url && readConfig(c).shareAcrossTabs;
    });
  }

  var htmx2 = {
    name: "htmx2",
    listening: false,
    install: function () {
      var htmx = window.htmx;
      if (!htmx2.listening) { htmx2.listening = true; htmx2.listen(); }
      if (!htmx || typeof htmx.createEventSource !== "function" || htmx.createEventSource.sseMonitor) return;
      var original = htmx.createEventSource;
      var wrapped = function (url) {
        if (armed) {
          // A follower tab (tab sharing, below) gets a stand-in fed by the leader tab's stream.
          var adopted = following(armed) ? armed.share.standIn(url) : original(url);
          htmx2.adopt(armed, adopted);
          return adopted;
        }
        if (ownedBy(url) || sharedLater(url)) return inertSource(url);
        var source = original(url);
        createdByUrl.set(url, source);
        return source;
      };
      wrapped.sseMonitor = true;
      htmx.createEventSource = wrapped;
    },
    problem: function (m) {
      return window.htmx ? htmx2SetupProblem(m.element) : NO_HTMX;
    },
    attributeOf: function (el) {
      return el.hasAttribute("sse-connect") ? "sse-connect" : el.hasAttribute("data-sse-connect") ? "data-sse-connect" : null;
    },
    /** The source htmx already opened for this element before the monitor attached, if any. */
    existing: function (m) {
      var source = createdByUrl.get(m.url);
      createdByUrl.delete(m.url);
      if (!source || source.readyState === 2) return null;
      htmx2.adopt(m, source);
      return {open: source.readyState === 1};
    },
    adopt: function (m, source) {
      m.source = source;
      if (m.share) m.share.tap(source);   // the leader relays what it receives to the other tabs
      source.addEventListener("message", m.onActivity);
      source.addEventListener(m.config.heartbeatEvent, m.onActivity);
      source.addEventListener(m.config.closeEvent, m.onClose);
      source.addEventListener(m.config.endEvent, m.onEnd);
      source.addEventListener(m.config.resetEvent, m.onReset);
    },
    connect: function (m, url) {
      var el = m.element, attribute = htmx2.attributeOf(el);
      m.url = url;
      el.setAttribute(attribute, url);
      // htmx re-initialises an element only when its attributes change: bump a counter on the SSE
      // element and on the children that listen to it, so they subscribe to the new source.
      var stamp = String(++m.connects);
      el.setAttribute("data-sse-attempt", stamp);
      el.querySelectorAll("[sse-swap],[data-sse-swap],[hx-trigger*='sse:'],[data-hx-trigger*='sse:']")
        .forEach(function (child) { child.setAttribute("data-sse-attempt", stamp); });
      armed = m;
      var before = m.source;
      try { window.htmx.process(el); } finally { armed = null; }
      if (m.source === before) m.fail("connect-not-started", false);
    },
    /** The browser closed the stream without an error event (a background page's stream killed). */
    lost: function (m) { return !!m.source && m.source.readyState === 2; },
    close: function (m) {
      var source = m.source;
      m.source = null;
      if (source) {
        source.removeEventListener("message", m.onActivity);
        source.removeEventListener(m.config.heartbeatEvent, m.onActivity);
        source.removeEventListener(m.config.closeEvent, m.onClose);
        source.removeEventListener(m.config.endEvent, m.onEnd);
        source.removeEventListener(m.config.resetEvent, m.onReset);
        source.close();
        // Closed for good, whatever the engine does: WebKit re-opens an EventSource of a page restored
        // from the back/forward cache, and htmx's listeners on it would swap its replay a second time.
        // Closed when it opens, its events are never dispatched.
        if (typeof EventSource === "function" && source instanceof EventSource) {   // not a stand-in
          EventTarget.prototype.addEventListener.call(source, "open", function () { source.close(); });
        }
      }
    },
    listen: function () {
      document.addEventListener("htmx:sseOpen", function (/** @type {CustomEvent} */ event) {
        var m = monitorOf(event.target), source = event.detail && event.detail.source;
        if (!m || !source) return;
        if (!m.source) htmx2.adopt(m, source);
        if (source === m.source) m.opened();
      });
      document.addEventListener("htmx:sseError", function (/** @type {CustomEvent} */ event) {
        var m = monitorOf(event.target), source = event.detail && event.detail.source;
        if (m && source && source === m.source) m.fail("connection-error", source.readyState === 2);
      });
      document.addEventListener("htmx:sseBeforeMessage", function (/** @type {CustomEvent} */ event) {
        // Bubbles from the element (or child) that swaps the message: every named event it handles.
        var node = /** @type {Node | null} */ (event.target);
        while (node && node !== document) {
          var m = monitorOf(node);
          if (m) { m.activity(event.detail); return; }
          node = node.parentNode;
        }
      });
    }
  };
  // ---------------------------------------------------------------- (end of transport: htmx 2)

  // ---------------------------------------------------------------- transport: htmx 4 + hx-sse
  //
  // hx-sse streams over fetch and has its own reconnect loop. The runtime asks it for each
  // connection itself (htmx.ajax from the SSE element, so hx-target/hx-swap still apply) and
  // configures every connection it owns with `reconnect: false`, so exactly one retry schedule,
  // the monitor's, runs; it also drops hx-sse's pause-on-hidden-tab, which cancels the stream
  // without telling anyone. A connect for a monitored element that the runtime did not ask for
  // (hx-sse's own `load` trigger) is cancelled before it is sent.
  //
  // Event names follow htmx.config.metaCharacter (FastHTML sets "-": htmx-sse-close), so the
  // listeners are registered under both spellings.

  var FIX_HTMX4_EXT = "use fast_app(htmx4=True, hdrs=sse_headers(htmx=4)), which loads htmx 4's hx-sse; " +
    "without FastHTML, load htmx.org@4's dist/ext/hx-sse.js after htmx";

  /** htmx 4 answered the stream request itself: no hx-sse took the event stream over. */
  function htmx4ExtensionMissing() {
    return extensionMissing(/htmx-ext-sse|\/ext\/sse(\.min)?\.js/,
      "an htmx 2 SSE extension (htmx-ext-sse, or htmx.org@2's dist/ext/sse.js) is loaded on an htmx 4 page, " +
      "where it does nothing",
      "htmx 4 is on the page but its hx-sse extension is not (the event stream reached htmx itself)",
      FIX_HTMX4_EXT);
  }

  var tokens = new WeakMap();   // request signal -> the runtime's connect token
  // Every connection a monitor owned. Once let go (closed by the runtime, or ended), hx-sse can still
  // hand it events it had already read: the monitor no longer counts them, so the next connection
  // resumes before them and they would show twice. Those are dropped (before:message, cancelled).
  var owned = new WeakSet();
  var connectSeq = 0;

  function htmx4On(name, handler) {
    var names = [name, name.replace(/:/g, "-")];
    var meta = window.htmx && window.htmx.config && window.htmx.config.metaCharacter;
    if (meta) names.push(name.replace(/:/g, meta));
    names.filter(function (n, i) { return names.indexOf(n) === i; })
         .forEach(function (n) { document.addEventListener(n, handler); });
  }

  /** The monitor whose hx-sse connection this is, if it is the one the monitor asked for. */
  function ownerOfConnection(connection) {
    return connection ? findMonitor(function (m) { return m.source === connection; }) : null;
  }

  function ownerOfToken(token) {
    return token ? findMonitor(function (m) { return m.pending === token; }) : null;
  }

  /** Is this element one a monitor watches (or will, once the page's containers are scanned)? */
  function isMonitored(el) {
    return !!(el && el.id && (monitorOf(el) ||
      document.querySelector("[data-sse-element=\"" + CSS.escape(el.id) + "\"]")));
  }

  // hx-sse's private fields: one adapter. hx-sse documents its events, not the connection object they
  // carry (`detail.connection`, kept at `element._htmx.sse`). The runtime needs six of its fields:
  // `config` (to switch off hx-sse's own reconnect and pause-on-hidden-tab), `visibilityHandler` (to
  // remove that pause), `reader` and `abortController` (to end a stream; the signal also says which
  // request it came from), `attempt` (0 on a first connect) and `status` (set once open). Every read
  // and write of them is in hxSse, nowhere else. A connection is checked before it is used: another
  // shape (an hx-sse release this was not built for) is a page setup problem, said in console.error
  // with what was expected, never a silent misbehaviour shown as a network problem.

  var HX_SSE_VERIFIED = "4.0.0 and 4.0.1";   // the htmx releases whose hx-sse this adapter reads
  /** @type {Array<[string, function(any): boolean]>} each field hx-sse's connection must have, and its check */
  var HX_SSE_FIELDS = [
    ["config {reconnect, pauseOnBackground}", function (c) {
      return !!c.config && typeof c.config === "object" && "reconnect" in c.config && "pauseOnBackground" in c.config;
    }],
    ["visibilityHandler (null or a function)", function (c) {
      return "visibilityHandler" in c && (c.visibilityHandler === null || typeof c.visibilityHandler === "function");
    }],
    ["reader (null or a stream reader)", function (c) {
      return "reader" in c && (c.reader === null || typeof c.reader.cancel === "function");
    }],
    ["abortController {abort(), signal}", function (c) {
      return !!c.abortController && typeof c.abortController.abort === "function" && !!c.abortController.signal;
    }],
    ["attempt (a number)", function (c) { return typeof c.attempt === "number"; }],
    ["status", function (c) { return "status" in c; }]
  ];

  var hxSse = {
    version: function () { return String(window.htmx && window.htmx.version || "unknown"); },

    /** An htmx 4 pre-release: its hx-sse names its events differently (htmx:before:sse:connection). */
    versionProblem: function () {
      var version = hxSse.version();
      if (!/^4\.0\.0-/.test(version)) return null;   // 4.0.0-alpha/beta
      return setupProblem("htmx " + version + " is a pre-release of htmx 4 whose hx-sse names its events " +
                          "differently, so the monitor cannot see its connections",
                          "use htmx.org " + HX_SSE_VERIFIED + " with its dist/ext/hx-sse.js");
    },

    /** What is wrong with this connection object's shape ({problem, fix}), or null. */
    shapeProblem: function (connection) {
      var missing = HX_SSE_FIELDS.filter(function (field) { return !field[1](connection); })
                                 .map(function (field) { return field[0]; });
      if (!missing.length) return null;
      var version = hxSse.version(), expected = HX_SSE_FIELDS.map(function (field) { return field[0]; });
      var text = "[sse-monitor] hx-sse's connection object (htmx " + version + ") is not the shape this " +
        "runtime reads. Expected: " + expected.join(", ") + " (hx-sse of htmx " + HX_SSE_VERIFIED + "). " +
        "Missing or different: " + missing.join(", ") + ". Found fields: " + Object.keys(connection).join(", ") + ".";
      if (!warned[text]) { warned[text] = true; console.error(text); }
      return setupProblem("the hx-sse on this page (htmx " + version + ") keeps its connection in another " +
                          "shape than the one this runtime was built for (htmx " + HX_SSE_VERIFIED + "): no " +
                          missing.join(", ") + ", so the monitor cannot own reconnection",
                          "use htmx.org " + HX_SSE_VERIFIED + " with its dist/ext/hx-sse.js, or a " +
                          "fasthtml-sse-monitor release made for htmx " + version);
    },

    /** The connection hx-sse keeps for an element, if any. */
    connectionOf: function (element) { return element && element._htmx && element._htmx.sse || null; },

    firstAttempt: function (connection) { return !(connection.attempt > 0); },

    /** The signal of the request the connection came from (the runtime's own connects are keyed by it). */
    signalOf: function (connection) { return connection.abortController.signal; },

    isOpen: function (connection) { return connection.status !== null; },

    /** The monitor's retry schedule is the only one: no hx-sse reconnect, no pause on a hidden tab. */
    disarm: function (connection) {
      connection.config.reconnect = false;
      connection.config.pauseOnBackground = false;
      if (connection.visibilityHandler) {
        document.removeEventListener("visibilitychange", connection.visibilityHandler);
        connection.visibilityHandler = null;
      }
    },

    end: function (connection) {
      hxSse.disarm(connection);
      try { if (connection.reader) connection.reader.cancel(); } catch (e) { /* already released */ }
      try { connection.abortController.abort(); } catch (e) { /* done */ }
    }
  };

  var htmx4 = {
    name: "htmx4",
    installed: false,
    install: function () {
      if (htmx4.installed) return;
      htmx4.installed = true;
      htmx4On("htmx:config:request", function (event) {
        // hx-sse's own connect (its `load` trigger) for a monitored element: the monitor connects.
        var ctx = event.detail && event.detail.ctx, el = ctx && ctx.sourceElement;
        if (ctx && ctx.sseMonitor) {
          // The runtime's own connect: keep its request, to abort it even once the element is gone
          // (events of a removed element never reach the document).
          var owner = ownerOfToken(ctx.sseMonitor);
          if (owner) owner.request = ctx; else event.preventDefault();
          return;
        }
        var attribute = el && htmx4.attributeOf(el);
        if (attribute && ctx.request.method === "GET" && ctx.request.action === el.getAttribute(attribute) &&
            isMonitored(el)) {
          event.preventDefault();
          queueScan();
        }
      });
      htmx4On("htmx:before:request", function (event) {
        var ctx = event.detail && event.detail.ctx;
        if (!ctx || !ctx.sseMonitor) return;
        var m = ownerOfToken(ctx.sseMonitor);
        if (!m) { event.preventDefault(); return; }   // superseded before it was sent
        tokens.set(ctx.request.signal, ctx.sseMonitor);
        // An event stream is never a cached answer. Firefox also holds a second request for the same
        // URL (two users' tabs rendered at the same position) until the first, a stream, has ended.
        ctx.request.cache = "no-store";
        m.inflight = ctx;
        if (following(m)) ctx.fetch = m.share.fetch;   // a follower tab reads the relayed stream
      });
      htmx4On("htmx:finally:request", function (event) {
        // htmx runs one request per element at a time: a connect that had to wait goes now.
        var ctx = event.detail && event.detail.ctx;
        monitors.forEach(function (m) {
          if (ctx && m.request === ctx) m.request = null;
          if (!ctx || m.inflight !== ctx) return;
          m.inflight = null;
          if (m.deferred !== null && m.pending) { var url = m.deferred; m.deferred = null; htmx4.schedule(m, url); }
        });
      });
      htmx4On("htmx:before:response", function (event) {
        // hx-sse takes event streams over before this event is dispatched: this is any other answer.
        var ctx = event.detail && event.detail.ctx, m = ctx && ownerOfToken(ctx.sseMonitor);
        if (!m) return;
        event.preventDefault();     // an error page is not swapped into the SSE element
        try { if (ctx.response.raw.body) ctx.response.raw.body.cancel(); } catch (e) { /* nothing to read */ }
        m.pending = null;
        var type = ctx.response.raw.headers && ctx.response.raw.headers.get("Content-Type") || "";
        if (type.indexOf("text/event-stream") !== -1) m.setupError(htmx4ExtensionMissing());
        else m.fail("http-" + ctx.response.status, true);
      });
      htmx4On("htmx:error", function (event) {
        var ctx = event.detail && event.detail.ctx, m = ctx && ownerOfToken(ctx.sseMonitor);
        if (!m) return;
        m.pending = null;
        m.fail("connection-error", false);
      });
      htmx4On("htmx:sse:before:connection", function (event) {
        var connection = event.detail && event.detail.connection;
        if (!connection || !isMonitored(event.target)) return;
        var wrong = hxSse.shapeProblem(connection);
        if (wrong) {
          event.preventDefault();   // hx-sse cleans it up; the monitor names the problem
          var owner = monitorOf(event.target);
          if (owner) owner.setupError(wrong);
          return;
        }
        if (!hxSse.firstAttempt(connection)) return;
        var m = ownerOfToken(tokens.get(hxSse.signalOf(connection)));
        if (m) {
          m.pending = null;
          htmx4.adopt(m, connection);
        } else {
          hxSse.disarm(connection);
          event.preventDefault();   // a superseded connection: hx-sse cleans it up
        }
      });
      htmx4On("htmx:sse:after:connection", function (event) {
        var m = ownerOfConnection(event.detail && event.detail.connection);
        if (m) m.opened();
      });
      htmx4On("htmx:sse:before:message", function (event) {
        var detail = event.detail || {}, m = ownerOfConnection(detail.connection), message = detail.message;
        if (!m && detail.connection && owned.has(detail.connection)) {
          detail.cancelled = true;   // read before its monitor let it go: the next connection has it
          return;
        }
        if (!m || !message) return;
        var shaped = {type: message.event || "message", data: message.data, lastEventId: message.id || ""};
        if (m.share) m.share.relay(shaped);
        if (shaped.type === SHARE_EVENT) return;   // what the stream is, not a sign of life (after a stall)
        if (shaped.type === m.config.closeEvent) m.serverClose(shaped);
        else if (shaped.type === m.config.endEvent) m.serverEnd(shaped);
        else if (shaped.type === m.config.resetEvent) m.reset(shaped);
        else m.activity(shaped);
      });
      htmx4On("htmx:sse:close", function (event) {
        var m = ownerOfConnection(event.detail && event.detail.connection);
        if (!m) return;
        m.source = null;
        if (event.detail.reason === "removed" || !m.element || !m.element.isConnected) queueScan();
        else m.fail("connection-lost", false);
      });
    },
    problem: function (m) {
      // A missing hx-sse shows in the first answer (before:response); another hx-sse in its connection.
      if (!window.htmx) return NO_HTMX;
      var connection = hxSse.connectionOf(m.element);
      return hxSse.versionProblem() || (connection && connection !== m.source ? hxSse.shapeProblem(connection) : null);
    },
    attributeOf: function (el) {
      var meta = (window.htmx && window.htmx.config && window.htmx.config.metaCharacter) || ":";
      var names = ["hx-sse" + meta + "connect", "data-hx-sse" + meta + "connect", "sse-connect"];
      for (var i = 0; i < names.length; i++) if (el.hasAttribute(names[i])) return names[i];
      return null;
    },
    /** The connection hx-sse already streams for this element (the runtime was loaded late). */
    existing: function (m) {
      var connection = hxSse.connectionOf(m.element);
      if (!connection || hxSse.shapeProblem(connection)) return null;   // problem(m) names it
      htmx4.adopt(m, connection);
      return {open: hxSse.isOpen(connection)};
    },
    adopt: function (m, connection) {
      hxSse.disarm(connection);
      owned.add(connection);
      m.source = connection;
    },
    connect: function (m, url) {
      m.pending = ++connectSeq;
      htmx4.schedule(m, url);
    },
    /** Send the connect in a task of its own. A fetch started in the same task that aborted a streaming
     *  one (a swap replacing the SSE element does exactly that) makes Chromium send the new request
     *  twice and leave one copy open for seconds (measured: 9 requests and 3 open for 6 fetches). */
    schedule: function (m, url) {
      var token = m.pending;
      setTimeout(function () {
        if (!token || m.pending !== token || !m.element) return;   // superseded or closed meanwhile
        if (m.inflight) m.deferred = url;   // sent when the aborted request has ended
        else htmx4.send(m, url);
      }, 0);
    },
    send: function (m, url) {
      try {
        var request = window.htmx.ajax("GET", url, {source: m.element, sseMonitor: m.pending});
        if (request && request.catch) request.catch(function () { /* reported as htmx:error */ });
      } catch (e) {
        m.pending = null;
        m.fail("connect-not-started", false);
      }
    },
    lost: function () { return false; },   // a fetch stream that dies rejects its read: htmx:sse:close
    close: function (m) {
      var connection = m.source;
      m.source = null;
      m.pending = null;
      m.deferred = null;
      var request = m.request;
      m.request = null;
      if (request) { try { request.request.abort(); } catch (e) { /* already over */ } }  // still under way
      if (connection) hxSse.end(connection);
    }
  };
  // ---------------------------------------------------------------- (end of transport: htmx 4)

  /** The transport for the htmx on the page: htmx.version "4.x" is hx-sse, anything else htmx-ext-sse. */
  function pageTransport() {
    var htmx = window.htmx;
    return htmx && String(htmx.version || "").charAt(0) === "4" ? htmx4 : htmx2;
  }
  // ================================================================ (end of the transports)

  // ---------------------------------------------------------------- tab sharing
  //
  // Over HTTP/1.1 a browser opens at most 6 connections per host: a 7th tab of a monitored page never
  // connects, and every tab costs the server a stream. With shareAcrossTabs (the default) the tabs of
  // one origin elect a leader per stream URL (compared without `lastEventId`). Only the leader holds
  // the real connection; over a BroadcastChannel it relays every event (type, data, id) and every
  // state change. A follower's htmx reads a stand-in connection fed with those events (htmx 2: a
  // stand-in EventSource dispatching MessageEvents; htmx 4: a synthetic text/event-stream Response
  // handed to hx-sse), so its swaps run as if the events came over its own connection. Its indicator
  // mirrors the leader's state; its retries (click, back online, tab visible) are asked of the leader.
  //
  // Election: a Web Lock where locks exist (secure contexts); the next queued tab gets the lock the
  // moment the leader closes or crashes. Elsewhere a localStorage lease renewed every LEASE_BEAT ms
  // and taken over when LEASE_STALE ms old (a leader that closes says "bye" naming its successor,
  // the follower with the lowest id, which leads at once; if it does not, the others claim, and of
  // tabs claiming at once the lowest id leads; a leader alive answers a claim, which then yields,
  // so a background leader renewing late keeps leading). A lease leader also holds an IndexedDB database open
  // for each follower; the follower's request to upgrade it waits until the browser closes it, the
  // moment the leader's tab closes or crashes, so a crashed leader's successor (named in the lease)
  // leads at once too, with no timer to wait for; and while it waits, the leader is alive, so its
  // followers do not claim a stale lease at all. A joining tab gets the events after its own last id
  // from the leader's recent ones; if its id is not among them (it is older than the leader's
  // history), it resumes once from the server until that stream reaches the relayed events (or the
  // server's `reset` says it cannot). A new leader resumes from the last id its tab applied; an
  // event that a tab has already applied from another leader, or from a replay, is dropped there, so
  // a handover or two leaders at once never swap an event twice.
  //
  // Who shares (the security model): same origin is not same user. A logout, a login as someone else
  // or a page loaded long ago all meet on one origin, and cookies may be HttpOnly, so only the server
  // can say whether two tabs would be sent the same events. Before it shares, a tab asks the stream
  // URL with `?sseMonitorShare=check` (its own cookies): the hub answers with a digest of what that
  // request would be streamed (after the same authorization and channel choice as a real stream).
  // Tabs elect and relay only within one digest (it is part of every shared name), and a leader's own
  // stream, asked with `?sseMonitorShare=stream`, starts with the digest it was opened under: it
  // relays nothing from a stream whose digest is not its group's (its cookies changed: it leaves the
  // group and asks again). A tab the hub refuses (403) or that no hub vouches for (a plain stream)
  // streams on its own, unless the page opts in with shareUnverifiedStreams. Every shared name and
  // message carries SHARE_PROTOCOL, so tabs of two runtime versions never share, and every message
  // is checked (MESSAGES) before it is handled: a hostile or broken one is dropped.
  //
  // A share that is not Live never holds a new tab back: a leader that gave up or was refused
  // retries when a tab joins, and a permanent server `close` ends the group (its tabs leave it,
  // Disconnected), so a page opened afterwards connects afresh.

  var SHARE_PROTOCOL = 2, SHARE_PARAM = "sseMonitorShare", SHARE_EVENT = "sse-monitor-share";
  var MAX_PEERS = 64, MAX_WANTS = 64, MAX_NAME = 200, MAX_EVENT_DATA = 16 << 20, MAX_REKEYS = 3,
      WELCOME_WAIT = 1000, WELCOMES_PER_SECOND = 20, ROLL_CALL = 2000, DROP_GRACE = 1000, END_GRACE = 300;
  var LEASE_BEAT = 500, LEASE_STALE = 2000, CLAIM_SETTLE = 60, ANSWER_WAIT = 500, SUCCESSOR_WAIT = 250, RECENT = 500, JOURNAL = 60,
      CATCH_UP_GRACE = 200, WATCH_RETRY = 250, WATCH_TRIES = 4, AWAY_KEEP = 600000;
  var tabId = Math.random().toString(36).slice(2) + Date.now().toString(36);
  var encoder = typeof TextEncoder === "function" ? new TextEncoder() : null;

  function following(m) { return !!(m && m.share && m.share.role === ROLE.FOLLOWER); }

  function webLocks() { return !!(navigator.locks && typeof navigator.locks.request === "function"); }

  function indexedDb() {
    try { return window.indexedDB || null; } catch (e) { return null; }   // a sandboxed frame throws
  }

  /** The database a lease leader holds open for one follower for as long as it leads (Share.vouch). */
  function aliveName(leader, follower) { return "sse-monitor:v" + SHARE_PROTOCOL + ":alive:" + leader + ":" + follower; }

  function storageWorks() {
    try { localStorage.setItem("sse-monitor:probe", "1"); localStorage.removeItem("sse-monitor:probe"); return true; }
    catch (e) { return false; }
  }

  /** Is tab sharing wanted for this monitor, and can the browser do it? A stream on another origin is
   *  not shared: the check would need CORS, and the tabs' names are this origin's. */
  function sharingPossible(m) {
    if (!m.config.shareAcrossTabs || typeof BroadcastChannel !== "function" || !encoder) return false;
    if (new URL(m.url, document.baseURI).origin !== location.origin) return false;
    return webLocks() || storageWorks();
  }

  /** @typedef {{digest?: string, unvouched?: string, failed?: string, status?: number, reason?: string,
   *              type?: string}} ShareAnswer */

  /** Ask the server what this tab's own request to stream `url` would get: {digest} (the hub vouches),
   *  {unvouched} (answered, but not by a hub: a stream, a 403, a 404; with the HTTP `status`, and
   *  a short plain-text body as the server's `reason`), or {failed} (no answer: the network or a
   *  5xx; asked again on the next attempt).
   *  @param {string} url
   *  @returns {Promise<ShareAnswer>} */
  function askServer(url) {
    var abort = typeof AbortController === "function" ? new AbortController() : null;
    /** @type {RequestInit} */
    var options = {headers: {Accept: "application/json"}, cache: "no-store", credentials: "same-origin"};
    if (abort) options.signal = abort.signal;
    return fetch(withParam(streamOf(url), SHARE_PARAM, "check"), options).then(/** @returns {ShareAnswer | Promise<ShareAnswer>} */ function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.status >= 500) { if (abort) abort.abort(); return {failed: "http-" + response.status}; }
      if (!response.ok || type.indexOf("application/json") === -1) {
        var refused = {unvouched: "http-" + response.status, status: response.status, type: type.split(";")[0]};
        if (!response.ok && type.indexOf("text/plain") !== -1 &&
            Number(response.headers.get("Content-Length") || 0) <= 4096) {
          return response.text().then(function (text) {   // the server's reason, in its own words
            return {unvouched: refused.unvouched, status: refused.status, type: refused.type, reason: text.slice(0, 300)};
          }, function () { return refused; });
        }
        if (abort) abort.abort();   // a stream that knows nothing of sharing: not read
        return refused;
      }
      return response.json().then(function (said) {
        var ok = said && said.protocol === SHARE_PROTOCOL && typeof said.digest === "string" &&
                 /^[0-9a-f]{16,64}$/.test(said.digest);
        return ok ? {digest: said.digest} : {unvouched: "another protocol"};
      });
    }).catch(function (e) { return {failed: String(e && e.message || e)}; });
  }

  /** What makes an answer to the share check the server's final word on the stream, in words, or
   *  null: a 4xx it will not change its mind about (`refusedForGood`), or a 200 that is not an event
   *  stream (the URL names a page, not the stream route). */
  function finalRefusal(answer) {
    if (answer.status && refusedForGood(answer.status)) {
      return "the server refused the stream (HTTP " + answer.status + ")" + (answer.reason ? ": " + answer.reason : "");
    }
    if (answer.status === 200 && answer.type && answer.type !== "text/event-stream") {
      return "the stream's URL answers with " + answer.type + ", not an event stream: it is not the SSE route " +
             "(a route returning hub.stream(request, channel))";
    }
    return null;
  }

  /** The name the tabs sharing `url` under `digest` meet on: channel, lock and lease. */
  function shareKey(url, digest) {
    return "sse-monitor:v" + SHARE_PROTOCOL + ":" + (digest || "unverified") + ":" + streamOf(url);
  }

  function eventKey(e) { return e.type + "\n" + e.id + "\n" + e.data; }

  /** The SSE text of one relayed event, for hx-sse to parse in a follower tab. */
  function sseText(e) {
    var text = e.type !== "message" ? "event: " + e.type + "\n" : "";
    e.data.split(/\r\n|\r|\n/).forEach(function (line) { text += "data: " + line + "\n"; });
    return text + (e.id ? "id: " + e.id + "\n" : "") + "\n";
  }

  // ---- a tab's role in its group, as a table like the monitor's states
  //
  //   pending  -> leader    it holds the lock or lease (Share.lead)
  //            -> follower  another tab does (Share.follow)
  //   leader   -> follower  a lower id leads too, or it hands over (lease)
  //   follower -> leader    the leader left or crashed, and this tab got the lock or lease
  //   any      -> left      the monitor detached, the page left or froze, the group ended
  // Share.become makes only these moves; any other is a bug in this file, said in console.error.

  var ROLE = Object.freeze({PENDING: "pending", LEADER: "leader", FOLLOWER: "follower", LEFT: "left"});
  var ROLE_MOVES = (function (P, L, F, X) {
    var table = {};
    table[P] = [L, F, X];
    table[L] = [F, X];
    table[F] = [L, X];
    table[X] = [];
    Object.keys(table).forEach(function (from) { Object.freeze(table[from]); });
    return Object.freeze(table);
  })(ROLE.PENDING, ROLE.LEADER, ROLE.FOLLOWER, ROLE.LEFT);

  // ---- the messages tabs send each other: each one checked before it is handled
  //
  // Any script of the origin can post on the channel (a buggy extension, a tab of another version, a
  // hostile page), so a message is handled only if it has this protocol's version, a known kind and
  // fields of the right types and sizes; anything else is dropped without a word.

  function isText(value, max) { return typeof value === "string" && value.length <= (max || MAX_NAME); }
  function isOptionalText(value) { return value === undefined || value === null || isText(value); }
  function isNames(list) {
    return Array.isArray(list) && list.length <= MAX_WANTS && list.every(function (name) { return isText(name); });
  }
  function isEvent(e) {
    return !!e && typeof e === "object" && isText(e.type) && isText(e.id, 4096) && isText(e.data, MAX_EVENT_DATA);
  }
  function isSnapshot(s) {
    return !!s && typeof s === "object" && TRANSITIONS.hasOwnProperty(s.state) &&
      typeof s.attempt === "number" && s.attempt >= 0 && typeof s.serverClosed === "boolean" &&
      (s.nextDelay === null || (typeof s.nextDelay === "number" && s.nextDelay >= 0)) && isOptionalText(s.reason);
  }
  function anything() { return true; }

  /** Each kind of message: the check of its fields, and the Share method that handles it (each
   *  handler says which role it applies to). */
  var MESSAGES = Object.freeze({
    hello: {valid: function (msg) { return isText(msg.since, 4096) && isNames(msg.wants); }, handle: "onHello"},
    wants: {valid: function (msg) { return isNames(msg.wants); }, handle: "onWants"},
    welcome: {valid: function (msg) {
      return isText(msg.to) && Array.isArray(msg.events) && msg.events.length <= RECENT && msg.events.every(isEvent) &&
        typeof msg.behind === "boolean" && isText(msg.head, 4096) && isSnapshot(msg.state);
    }, handle: "onWelcome"},
    event: {valid: function (msg) { return isEvent(msg.e); }, handle: "onEvent"},
    state: {valid: function (msg) { return isSnapshot(msg.state); }, handle: "onState"},
    retry: {valid: function (msg) { return isOptionalText(msg.reason); }, handle: "onRetry"},
    gone: {valid: function (msg) { return msg.cached === undefined || typeof msg.cached === "boolean"; }, handle: "onGone"},
    leader: {valid: anything, handle: "onLeader"},
    bye: {valid: function (msg) { return isOptionalText(msg.next); }, handle: "onBye"},
    claim: {valid: anything, handle: "onClaim"},
    held: {valid: anything, handle: "onHeld"},
    roll: {valid: anything, handle: "onRoll"},
    here: {valid: anything, handle: "onHere"},
    dropped: {valid: anything, handle: "onDropped"}
  });

  /** The message if it is one this version handles, else null. */
  function checkedMessage(msg) {
    if (!msg || typeof msg !== "object" || msg.v !== SHARE_PROTOCOL || !isText(msg.from) || !isOptionalText(msg.to) ||
        !MESSAGES.hasOwnProperty(msg.t)) return null;
    return MESSAGES[msg.t].valid(msg) ? msg : null;
  }

  function Share(m, key, digest) {
    var self = this;
    m.share = this;   // before the election, which may start following at once
    this.m = m;
    this.key = key;
    this.digest = digest;           // what the server vouched this tab's request gets (null: unverified)
    this.streamVouched = false;     // the leader: its stream began with that digest (relays only then)
    this.welcomes = [];             // the leader: when it last welcomed (WELCOMES_PER_SECOND)
    this.ended = false;             // the leader: the server closed the stream for good (Share.end)
    this.helloTimer = null;         // a follower: says hello again if no welcome came
    this.id = tabId + ":" + m.id;   // one participant per monitor (two monitors may share a URL)
    /** @type {string} */
    this.role = ROLE.PENDING;       // then as ROLE_MOVES allows (Share.become)
    this.locks = webLocks();
    this.channel = new BroadcastChannel(key);
    this.recent = [];               // recent events, replayed to tabs that join
    this.base = this.since();       // the id `recent` continues from
    this.catching = null;           // a follower: the one-off resume from the server under way
    this.last = "";                 // the id of the newest event this tab applied
    this.applied = new Map();       // event key -> who delivered it (a leader's id or "replay")
    this.shown = new WeakSet();     // the events of `recent` this tab's htmx has processed (rewind)
    this.welcomed = false;          // a follower: the leader has answered its hello
    this.early = [];                // a follower: live events held while catching up
    this.wants = {};                // htmx 2: event names some tab's htmx listens for
    this.heard = {};                // htmx 2 leader: names relayed from the tapped source
    this.tapped = null;             // htmx 2 leader: the real EventSource
    this.source = null;             // htmx 2 follower: the stand-in EventSource
    this.stream = null;             // htmx 4 follower: the synthetic stream's controller
    this.queued = [];               // a follower: events relayed before htmx asked for its stream
    this.release = null;            // resolves the held Web Lock
    this.abort = typeof AbortController === "function" ? new AbortController() : null;
    this.timer = null;              // lease: beat (leader), watch (follower) or claim check
    this.rival = false;             // lease: a lower id claimed while this tab's claim settles
    this.peers = new Set();         // lease leader: its followers, the first of them its successor
    this.answered = new Map();      // lease leader: follower id -> when it last said hello or here
    this.rolls = [0, 0];            // lease leader: when it called the roll, the two last times
    this.orphaned = false;          // lease follower: the leader said bye, no successor has led yet
    this.leader = null;             // lease follower: the id of the leader it follows
    this.alive = new Map();         // lease leader: follower id -> its database open (or opening)
    this.away = new Map();          // lease leader: follower id -> when it left into the cache
    this.cached = false;            // it left with the page going into the cache (or frozen)
    this.watching = null;           // lease follower: the leader whose database it waits to upgrade
    this.leaderHolds = false;       // lease follower: that leader holds it open, so its tab is alive
    this.heardLeader = 0;           // lease follower: when the leader it follows last posted anything
    this.note("joins " + (digest ? "vouched" : "unverified") + " sharing, at " + this.base);
    this.channel.onmessage = function (event) { self.receive(event.data); };
    this.fetch = function () { return Promise.resolve(self.response()); };
    if (this.locks) {
      navigator.locks.request(key, {ifAvailable: true}, function (lock) {
        if (lock) return self.hold();
        self.follow();
        var options = self.abort ? {signal: self.abort.signal} : {};
        return navigator.locks.request(key, options, function () { return self.hold(); });
      }).catch(function () { /* left before the lock came */ });
    } else {
      this.claim();
    }
  }

  /** The one way a tab's role changes: checked against ROLE_MOVES. */
  Share.prototype.become = function (to) {
    if (ROLE_MOVES[this.role].indexOf(to) === -1) {
      console.error("[sse-monitor] Bug: tab role " + this.role + " -> " + to + " is not in ROLE_MOVES; it was not made. " +
                    "Monitor: " + this.m.id);
      return false;
    }
    this.note("role " + this.role + " -> " + to);
    this.role = to;
    return true;
  };

  /** Keep a line of what this tab's sharing did (the monitor's journal, JOURNAL lines at most), so a
   *  failing test or a puzzled developer can read where a tab stood and why. */
  Share.prototype.note = function (what) {
    var journal = this.m.journal;
    if (!journal) return;
    journal.push(Date.now() % 100000 + " " + what);
    if (journal.length > JOURNAL) journal.shift();
  };

  Share.prototype.post = function (message) {
    message.v = SHARE_PROTOCOL;
    message.from = this.id;
    try { this.channel.postMessage(message); } catch (e) { /* closed */ }
  };

  /** Web Locks: called with the lock held; this tab leads until it leaves. */
  Share.prototype.hold = function () {
    var self = this;
    if (this.role === ROLE.LEFT) return null;
    return new Promise(function (resolve) { self.release = resolve; self.lead(); });
  };

  Share.prototype.lease = function () {
    try { return JSON.parse(localStorage.getItem(this.key) || "null"); } catch (e) { return null; }
  };

  /** The lease names its holder's successor too, for the followers of a leader that crashed. */
  Share.prototype.writeLease = function (until) {
    var lease = {owner: this.id, until: until, next: this.role === ROLE.LEADER ? this.successor() : null};
    try { localStorage.setItem(this.key, JSON.stringify(lease)); } catch (e) { /* full */ }
  };

  Share.prototype.schedule = function (fn, delay) {
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.timer = null; fn.call(self); }, delay);
  };

  /** Lease: take it if nobody holds a fresh one (or `force`: its holder said bye); of tabs claiming
   *  at once the lowest id leads. */
  Share.prototype.claim = function (force) {
    var lease = this.lease();
    var held = lease && lease.owner !== this.id &&
      (lease.until > Date.now() || this.leaderAlive(lease.owner) || this.leaderHeard(lease.owner));
    if (!force && held) {
      this.follow();
      this.schedule(this.claim, LEASE_BEAT);
      return;
    }
    this.orphaned = false;
    this.note("claim" + (force ? " (free)" : lease ? " (stale lease of " + lease.owner + ")" : ""));
    // Tabs claiming at once (all followers hear a bye) would each read their own write back: a lease
    // write reaches the other tabs late. So each says it claims, and the lowest id heard wins. A
    // follower claiming the stale lease of a leader that never said bye gives it ANSWER_WAIT to say it
    // is alive (its `held` can take longer than CLAIM_SETTLE on a loaded machine).
    var answer = !force && this.role === ROLE.FOLLOWER && lease && lease.owner !== this.id;
    this.rival = false;
    this.post({t: "claim"});
    this.writeLease(Date.now() + LEASE_STALE);
    this.schedule(function () {
      if (!this.rival) {
        this.leadByLease();
      } else {
        this.follow();
        this.schedule(this.claim, LEASE_BEAT);
      }
    }, answer ? ANSWER_WAIT : CLAIM_SETTLE);
  };

  /** Lease: this tab holds it; lead and renew it every LEASE_BEAT ms. */
  Share.prototype.leadByLease = function () {
    this.lead();
    this.writeLease(Date.now() + LEASE_STALE);
    this.schedule(this.beat, LEASE_BEAT);
  };

  /** Lease leader: hold a database open for follower `peer` (one each: a follower held in the
   *  back/forward cache stalls only its own), ignoring requests to upgrade it. The follower's request
   *  waits until the browser closes it, as it does at once when this tab closes or crashes. */
  Share.prototype.vouch = function (peer) {
    var idb = indexedDb(), self = this, request;
    if (!idb || this.locks || this.alive.has(peer)) return;
    try { request = idb.open(aliveName(this.id, peer), 1); } catch (e) { return; }
    this.alive.set(peer, request);
    request.onsuccess = function () {
      var db = request.result;
      if (self.alive.get(peer) !== request) return db.close();   // unvouched meanwhile
      db.onversionchange = function () { /* the follower's watch: kept waiting on purpose */ };
      self.alive.set(peer, db);
    };
    request.onerror = function () { if (self.alive.get(peer) === request) self.alive.delete(peer); };
  };

  /** Lease leader: close the database held for `peer` (or for every follower, no longer leading),
   *  which wakes its watch, and delete it if `drop` (the watch deletes it too, if it runs). */
  Share.prototype.unvouch = function (peer, drop) {
    var idb = indexedDb(), self = this;
    (peer ? [peer] : Array.from(this.alive.keys())).forEach(function (id) {
      var held = self.alive.get(id);
      if (!held) return;
      self.alive.delete(id);
      self.away.delete(id);
      if (held.close) held.close();
      if (drop) try { idb.deleteDatabase(aliveName(self.id, id)); } catch (e) { /* the page is going */ }
    });
  };

  /** Lease leader: a follower left. One that may come back as it is (back/forward cache, frozen) has
   *  its watch still waiting, and an IndexedDB event there would evict it from the cache: keep its
   *  database until it is back (it says hello) or AWAY_KEEP has passed. */
  Share.prototype.peerLeft = function (peer, cached) {
    this.peers.delete(peer);
    this.answered.delete(peer);
    if (cached && this.alive.has(peer)) this.away.set(peer, Date.now());
    else this.unvouch(peer, true);
  };

  /** Lease follower: ask to upgrade the database its leader holds for it. The request waits while the
   *  leader holds it open and goes through when the browser closes it: the leader is gone, crash or
   *  not. A database not there yet (the leader opens it on this tab's hello) is looked for again. */
  Share.prototype.watch = function (leader, tries) {
    var idb = indexedDb(), self = this, blocked = false, name = aliveName(leader, this.id), request;
    if (!idb || this.locks || this.watching === leader) return;
    try { request = idb.open(name, 2); } catch (e) { return; }
    this.watching = leader;
    this.leaderHolds = false;
    request.onblocked = function () { blocked = true; if (self.watching === leader) self.leaderHolds = true; };
    request.onupgradeneeded = function (event) {
      var existed = blocked || event.oldVersion > 0;
      request.transaction.abort();   // leave it as it was: an aborted new database is not kept
      if (existed) idb.deleteDatabase(name);   // its leader is gone: nobody else will
      if (self.watching !== leader) return;
      self.watching = null;
      if (existed) self.leaderGone(leader);
      else if (tries < WATCH_TRIES) setTimeout(function () { self.rewatch(leader, tries + 1); }, WATCH_RETRY);
    };
    request.onsuccess = function () { request.result.close(); };
    request.onerror = function (event) { if (event.preventDefault) event.preventDefault(); };   // the abort
  };

  /** Lease follower: is `leader` alive though its lease is stale? Its timers may be throttled (a tab
   *  in the background renews late), but while it holds open the database this tab waits to upgrade,
   *  its tab is there: the browser closes it the moment the tab goes. No claim then, so no second
   *  stream, even where the leader's answer to a claim would come too late on a loaded machine. */
  Share.prototype.leaderAlive = function (leader) {
    return this.watching === leader && this.leaderHolds;
  };

  /** Lease follower: has `leader`, the tab it follows, posted anything (a relayed event or heartbeat,
   *  a state) within LEASE_STALE? A tab in the background renews its lease on throttled timers, but
   *  relays its stream's events as they come: it is alive, whether or not IndexedDB can say so and
   *  however late its answer to a claim would come on a loaded machine. */
  Share.prototype.leaderHeard = function (leader) {
    return this.leader === leader && Date.now() - this.heardLeader < LEASE_STALE;
  };

  Share.prototype.rewatch = function (leader, tries) {
    if (this.role === ROLE.FOLLOWER && this.leader === leader) this.watch(leader, tries);
  };

  /** Lease follower: the leader it follows is gone without a bye (its tab crashed or was killed). */
  Share.prototype.leaderGone = function (leader) {
    if (this.role !== ROLE.FOLLOWER || this.leader !== leader) return;
    var lease = this.lease();
    this.m.log("the tab leading the shared stream is gone");
    this.orphan(leader, lease && lease.owner === leader ? lease.next : null);
  };

  /** Lease follower: leader `leaver` left, naming successor `next` (or none): lead, wait, or claim. */
  Share.prototype.orphan = function (leaver, next) {
    this.leader = null;
    if (next === this.id) this.succeed();
    else if (next) this.awaitSuccessor(leaver);
    else this.claim(this.leaseLeftBy(leaver));
  };

  /** Lease: the leader that left named this tab its successor; it leads at once, with no settle (a
   *  timer that a background tab may stretch to a second). */
  Share.prototype.succeed = function () {
    this.orphaned = false;
    this.post({t: "claim"});
    this.leadByLease();
  };

  /** Lease: the leader that left named another successor; claim as after any bye if it has not led
   *  within SUCCESSOR_WAIT (it may have closed unseen, as a crashed tab does). */
  Share.prototype.awaitSuccessor = function (leaver) {
    this.orphaned = true;
    this.schedule(function () {
      if (!this.orphaned) return this.schedule(this.claim, LEASE_BEAT);
      this.claim(this.leaseLeftBy(leaver));
    }, SUCCESSOR_WAIT);
  };

  /** Is the lease free, or still naming `leaver`, a tab that said bye (Firefox fails a closing tab's
   *  last localStorage write)? Then it is taken at once, not when it goes stale. */
  Share.prototype.leaseLeftBy = function (leaver) {
    var lease = this.lease();
    return !lease || lease.owner === leaver;
  };

  /** Lease, leader: renew it; if another tab holds it (two leaders), the lower id keeps leading. */
  Share.prototype.beat = function () {
    var lease = this.lease();
    if (lease && lease.owner !== this.id && lease.until > Date.now() && lease.owner < this.id) {
      this.yieldTo(lease.owner);
      return;
    }
    this.writeLease(Date.now() + LEASE_STALE);
    this.schedule(this.beat, LEASE_BEAT);
    this.rollCall();
    var now = Date.now();
    this.away.forEach(function (since, id) { if (now - since > AWAY_KEEP) this.unvouch(id, true); }, this);
  };

  /** Lease leader: `leader` leads too and has the lower id. Hand this tab's followers over to it (a
   *  bye naming it: it says it leads, and they follow it from its welcome) and follow it. */
  Share.prototype.yieldTo = function (leader) {
    this.note("yields to " + leader);
    this.post({t: "bye", next: leader});
    this.follow();
    this.schedule(this.claim, LEASE_BEAT);
  };

  /** This tab holds the real connection from now on. */
  Share.prototype.lead = function () {
    var m = this.m, was = this.role;
    if (was === ROLE.LEFT || was === ROLE.LEADER) return;
    this.become(ROLE.LEADER);
    this.source = this.stream = null;
    this.queued = [];
    m.log("leading the stream shared by this origin's tabs");
    this.post({t: "leader"});
    this.leader = null;
    if (was === ROLE.PENDING) { m.begin(); return; }
    m.transport.close(m);   // the stand-in; the real connection resumes from the last event shown here
    this.rewind();
    m.attempt = 0;
    if (m.serverClosed) this.stateChanged(null);
    else if (!navigator.onLine) m.goOffline();
    else m.connect();
  };

  /** This tab reads the leader's relayed stream from now on. */
  Share.prototype.follow = function () {
    var m = this.m, was = this.role;
    if (was === ROLE.LEFT || was === ROLE.FOLLOWER) return;
    this.become(ROLE.FOLLOWER);
    this.unvouch(null, !this.cached);
    this.peers.clear();
    this.answered.clear();
    this.rolls = [0, 0];
    this.welcomed = false;
    this.early = [];
    this.catching = null;
    ["retry", "stall", "countdown"].forEach(m.clear, m);
    if (was === ROLE.PENDING && m.transport.existing(m)) m.log("closing the stream htmx opened: another tab leads");
    m.transport.close(m);
    this.rewind();
    this.tapped = null;
    m.transport.connect(m, m.url);
    this.hello();
  };

  /** A stream was just closed under htmx (htmx 4 reads its stand-in asynchronously): forget the
   *  events it had not processed yet, so they are applied when they come again, not dropped. This
   *  tab's position is the newest event its htmx did process (Share.processed), whoever delivered it:
   *  a new leader's stream resumes from there, a follower's hello asks from there. */
  Share.prototype.rewind = function () {
    var i = this.recent.length, id = "";
    while (i > 0 && !this.shown.has(this.recent[i - 1])) i--;
    this.recent.splice(i).forEach(function (e) { this.applied.delete(eventKey(e)); }, this);
    for (var j = i - 1; j >= 0 && !id; j--) id = this.recent[j].id;
    this.last = id || this.base;
    if (id) this.m.lastEventId = id;
    this.note("rewound to " + this.last);
  };

  /** This tab's htmx processed event `e` of `recent` (a relayed one, or the leader's own). */
  Share.prototype.processed = function (e) { this.shown.add(e); };

  /** htmx 4, a follower: hx-sse processed the relayed event with id `id` (it reads the stand-in
   *  stream on its own time), and with it every event before it. */
  Share.prototype.processedUpTo = function (id) {
    for (var i = this.recent.length - 1; i >= 0; i--) {
      if (this.recent[i].id !== id) continue;
      for (; i >= 0 && !this.shown.has(this.recent[i]); i--) this.shown.add(this.recent[i]);
      return;
    }
  };

  Share.prototype.since = function () {
    return this.last || this.m.lastEventId || new URL(this.m.url, document.baseURI).searchParams.get("lastEventId") || "";
  };

  /** The group ends (the server closed the stream for good). A follower leaves at once. The leader
   *  welcomes nobody more and leaves END_GRACE later, so its followers have heard the close (and left)
   *  before its lock or lease frees: none of them takes the stream up again, while a tab opened
   *  afterwards gets it. */
  Share.prototype.end = function () {
    var self = this;
    if (this.role !== ROLE.LEADER) { this.leave(); return; }
    this.ended = true;
    setTimeout(function () { self.leave(); }, END_GRACE);
  };

  Share.prototype.leave = function () {
    if (this.role === ROLE.LEFT) return;
    var leading = this.role === ROLE.LEADER;
    this.become(ROLE.LEFT);
    clearTimeout(this.timer);
    clearTimeout(this.helloTimer);
    if (this.abort) this.abort.abort();
    if (this.release) { this.release(); this.release = null; }
    // "bye" first: Firefox fails localStorage writes in a closing tab's pagehide (NS_ERROR_FAILURE),
    // so the lease may go on naming this tab; the followers believe the bye, not the lease.
    if (leading) this.post({t: "bye", next: this.successor()});
    else this.post({t: "gone", cached: this.cached});
    // After the bye, which names the successor surely (the lease may be a beat old). A page going into
    // the cache deletes nothing: an IndexedDB event there would evict it (the watches delete them).
    this.unvouch(null, !this.cached);
    if (leading && !this.locks) {
      var lease = this.lease();
      if (lease && lease.owner === this.id) this.writeLease(0);
    }
    this.channel.close();
    this.source = this.stream = this.tapped = null;
  };

  /** Lease leader: the follower to take over when this tab leaves (the lowest id, as in a claim). */
  Share.prototype.successor = function () {
    var next = null;
    this.peers.forEach(function (id) { if (next === null || id < next) next = id; });
    return next;
  };

  /** Lease leader, the page about to unload: hand over now, while its scripts surely run. Firefox
   *  interrupts the script running when a tab closes, often the pagehide handler, so a bye said there
   *  is lost about 1 close in 4 (then the successor waits for the lease to go stale). Had the page
   *  stayed (a download link), it follows the successor, with no event lost or doubled. */
  Share.prototype.stepDown = function () {
    if (this.locks || this.role !== ROLE.LEADER || !this.peers.size) return;
    this.post({t: "bye", next: this.successor()});
    this.follow();
    this.schedule(this.claim, LEASE_BEAT);
  };

  Share.prototype.receive = function (data) {
    var msg = checkedMessage(data);
    if (!msg || this.role === ROLE.LEFT || msg.from === this.id || (msg.to && msg.to !== this.id)) return;
    if (msg.from === this.leader) this.heardLeader = Date.now();
    this[MESSAGES[msg.t].handle](msg);
  };

  Share.prototype.onHello = function (msg) {
    msg.wants.forEach(this.want, this);
    if (this.role !== ROLE.LEADER || this.ended || !this.mayWelcome()) return;
    if (!this.locks && (this.peers.has(msg.from) || this.peers.size < MAX_PEERS)) {
      this.peers.add(msg.from);
      this.answered.set(msg.from, Date.now());
      this.away.delete(msg.from);   // back from the cache: its database is still held
      this.vouch(msg.from);   // before the welcome, which starts the follower's watch
    }
    var missed = this.after(msg.since);
    this.post({t: "welcome", to: msg.from, events: missed || [], behind: !missed, head: this.last,
               state: this.snapshot(null)});
    // A share that is not Live does not hold a new tab back: it makes its own attempt.
    var m = this.m;
    if (!m.setupFailed && (m.state === STATE.ERROR || (m.state === STATE.DISCONNECTED && !m.serverClosed))) {
      m.retryNow("tab-opened");
    }
  };

  /** The leader welcomes at most WELCOMES_PER_SECOND tabs a second (a flood of hellos costs little; a
   *  real tab not welcomed says hello again). */
  Share.prototype.mayWelcome = function () {
    var now = Date.now();
    this.welcomes = this.welcomes.filter(function (at) { return now - at < 1000; });
    if (this.welcomes.length >= WELCOMES_PER_SECOND) return false;
    this.welcomes.push(now);
    return true;
  };

  Share.prototype.onWants = function (msg) { msg.wants.forEach(this.want, this); };

  Share.prototype.onWelcome = function (msg) {
    var self = this;
    if (this.role !== ROLE.FOLLOWER) return;
    clearTimeout(this.helloTimer);
    this.note("welcome: " + msg.events.length + " events " + (msg.events.length ? msg.events[0].id + ".." +
              msg.events[msg.events.length - 1].id : "") + (msg.behind ? ", behind to " + msg.head : ""));
    this.follows(msg.from);
    this.early = [];   // relays held while catching up: the resume under way delivers them too
    if (msg.behind && !this.catching) this.catchUp(msg.head);
    if (!this.catching) {
      msg.events.forEach(function (e) { self.apply(e, "replay"); });
      this.welcomed = true;
    }
    this.mirror(msg.state);
  };

  Share.prototype.onEvent = function (msg) {
    // Only the leader this tab follows is heard: two leaders for a moment (a claim settled while the
    // leader was too busy to answer) stream from different positions, and both applied interleave.
    if (this.role !== ROLE.FOLLOWER || msg.from !== this.leader) return;
    // Before the welcome a relay is dropped: the welcome's events cover it, or it is not newer than
    // this tab's position (a page rendered before a lagging leader relayed it), or it is newer and
    // the welcoming leader relays it again. Applied after the welcome's events, it would be swapped
    // out of order.
    if (this.welcomed) this.apply(msg.e, msg.from);
    else if (this.catching) { this.early.push({e: msg.e, from: msg.from}); this.meet(msg.e); }
  };

  Share.prototype.onState = function (msg) { if (this.role === ROLE.FOLLOWER) this.mirror(msg.state); };

  Share.prototype.onRetry = function (msg) {
    if (this.role !== ROLE.LEADER) return;
    if (this.m.state !== STATE.ACTIVE && this.m.state !== STATE.CONNECTING) this.m.retryNow(msg.reason || "tab-asked");
  };

  Share.prototype.onGone = function (msg) { this.peerLeft(msg.from, !!msg.cached); };

  /** A tab leads now. A follower follows it from its welcome on (its relays before the welcome are in
   *  the welcome, or older than this tab's position). Another lease leader (two for a moment): the
   *  lower id keeps leading and says so again; the other hands its followers over to it. */
  Share.prototype.onLeader = function (msg) {
    if (this.role === ROLE.LEADER && !this.locks) {
      if (msg.from < this.id) this.yieldTo(msg.from);
      else this.post({t: "leader"});
      return;
    }
    if (this.role !== ROLE.FOLLOWER) return;
    this.orphaned = false;
    this.leader = msg.from;
    this.welcomed = false;
    this.hello();
  };

  /** A lease leader's bye. Its followers wait for the successor it names; another leader (two for a
   *  moment) says it leads, for the followers of the one that left. */
  Share.prototype.onBye = function (msg) {
    if (this.locks) return;
    if (this.role === ROLE.LEADER) this.post({t: "leader"});
    else if (this.role === ROLE.FOLLOWER && (this.leader === null || msg.from === this.leader)) {
      this.orphan(msg.from, msg.next || null);
    }
  };

  Share.prototype.onClaim = function (msg) {
    if (this.role === ROLE.LEADER && !this.locks) {
      // A leader in a background tab has its timers throttled (once a second, or once a minute after
      // 5 minutes hidden), so it renews its lease late and it looks stale; it runs for messages,
      // though: it renews now and says it holds the stream, and the claim yields.
      this.writeLease(Date.now() + LEASE_STALE);
      this.post({t: "held"});
    } else if (msg.from < this.id) {
      this.rival = true;   // a claim of ours under way loses to it
    }
  };

  Share.prototype.onHeld = function () { this.rival = true; };   // the leader is alive: a claim yields

  /** Lease follower: its leader calls the roll; answer at once (messages reach a background tab at
   *  once, its timers do not). */
  Share.prototype.onRoll = function (msg) {
    if (this.role === ROLE.FOLLOWER && msg.from === this.leader) this.post({t: "here", to: msg.from});
  };

  Share.prototype.onHere = function (msg) {
    if (this.role === ROLE.LEADER && this.peers.has(msg.from)) this.answered.set(msg.from, Date.now());
  };

  /** Lease follower: the leader stopped counting on this tab (it answered no roll call: hung, or a tab
   *  somebody else named). The database it held for this tab is about to close; that is no sign the
   *  leader is gone. Join again. */
  Share.prototype.onDropped = function () {
    if (this.role !== ROLE.FOLLOWER) return;
    this.note("dropped by the leader");
    this.watching = null;
    this.leaderHolds = false;
    this.welcomed = false;
    this.hello();
  };

  /** Lease leader, every ROLL_CALL ms at most: drop the followers that answered neither of the last
   *  two roll calls (a crashed tab says no goodbye, and a name posted by a script is no tab), with
   *  their databases, then call the roll again. */
  Share.prototype.rollCall = function () {
    var now = Date.now(), oldest = this.rolls[0];
    if (now - this.rolls[1] < ROLL_CALL) return;
    this.peers.forEach(function (peer) {
      if (oldest && (this.answered.get(peer) || 0) < oldest) this.drop(peer);
    }, this);
    this.rolls = [this.rolls[1], now];
    this.post({t: "roll"});
  };

  Share.prototype.drop = function (peer) {
    var self = this;
    this.m.log("a tab following this one answers no roll call: dropped");
    this.peers.delete(peer);
    this.answered.delete(peer);
    this.post({t: "dropped", to: peer});
    // Later, so a live follower hears "dropped" before its watch of this database wakes.
    setTimeout(function () { if (!self.peers.has(peer)) self.unvouch(peer, true); }, DROP_GRACE);
  };

  /** A follower: ask the leader for what this tab missed and its state; again if no welcome comes. */
  Share.prototype.hello = function () {
    var self = this;
    this.note("hello since " + this.since());
    this.post({t: "hello", since: this.since(), wants: Object.keys(this.wants)});
    clearTimeout(this.helloTimer);
    this.helloTimer = setTimeout(function () {
      if (self.role === ROLE.FOLLOWER && !self.welcomed && !self.catching) self.hello();
    }, WELCOME_WAIT);
  };

  /** Lease follower: `leader` leads the stream it follows; watch for it to go. */
  Share.prototype.follows = function (leader) {
    this.leader = leader;
    this.watch(leader, 0);
  };

  /** The recent events after id `since`; null if this tab's history does not reach back to it (ids
   *  are opaque: an id not among them may also be newer, which the server's resume sorts out). */
  Share.prototype.after = function (since) {
    if (!since) return [];
    for (var i = this.recent.length - 1; i >= 0; i--) {
      if (this.recent[i].id === since) return this.recent.slice(i + 1);
    }
    return since === this.base ? this.recent.slice() : null;
  };

  /** A follower whose last id is not in the leader's history. Relayed events wait in `early`. If it is
   *  newer (this tab was rendered after an event the leader is about to relay, or during a handover),
   *  the relay reaches it soon after the shared connection is Live. If it has not once that has been
   *  Live for CATCH_UP_GRACE ms, resume once from the server from this tab's last id (the server
   *  replays, or sends `reset`) until the two meet: the resume reaches the leader's newest id `head`
   *  or a waiting relayed event, or a relayed event comes that this tab has applied. A resume that
   *  fails or ends first becomes a `reset`: never a silent gap. */
  Share.prototype.catchUp = function (head) {
    var self = this, catching = this.catching = {since: this.since(), reader: null}, live = 0;
    this.welcomed = false;
    (function wait() {
      if (self.catching !== catching || self.role !== ROLE.FOLLOWER) return;
      live = self.m.state === "active" ? live + 1 : 0;
      if (live > 1) self.resume(head);
      else setTimeout(wait, CATCH_UP_GRACE);
    })();
  };

  /** While catching up: does relayed event `e` join this tab's events? */
  Share.prototype.meet = function (e) {
    if (e.id && e.id === this.catching.since) { this.early = []; this.caughtUp(); }   // this tab had it
    else if (this.applied.has(eventKey(e))) this.caughtUp();   // the resume delivered it already
  };

  Share.prototype.resume = function (head) {
    var self = this, config = this.m.config, catching = this.catching;
    /** @type {RequestInit} */
    var options = {headers: {Accept: "text/event-stream"}, cache: "no-store", credentials: "same-origin"};
    if (this.abort) options.signal = this.abort.signal;   // leave() ends it
    this.note("resume from the server since " + catching.since);
    this.m.log("resuming once from the server: this tab's position is older than the shared history");
    var type = "", data = [], id = "", buffer = "", decoder = new TextDecoder();
    function dispatch() {
      var e = {type: type || "message", data: data.join("\n"), id: id};
      type = ""; data = [];
      if (e.type === config.closeEvent) throw new Error("closed");
      var met = e.id && (e.id === head || self.early.some(function (item) { return item.e.id === e.id; }));
      self.apply(e, "replay");
      if (met) self.caughtUp();
    }
    function read(reader) {
      return reader.read().then(function (chunk) {
        if (self.catching !== catching || self.role !== ROLE.FOLLOWER) return reader.cancel();
        if (chunk.done) throw new Error("ended");
        var lines = (buffer + decoder.decode(chunk.value, {stream: true})).split(/\r\n|\r|\n/);
        buffer = lines.pop();
        for (var i = 0; i < lines.length && self.catching === catching; i++) {
          var line = lines[i], colon = line.indexOf(":"), field = colon < 0 ? line : line.slice(0, colon);
          var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (line === "") { if (data.length) dispatch(); else type = ""; }
          else if (field === "event") type = value;
          else if (field === "data") data.push(value);
          else if (field === "id") id = value;
        }
        return self.catching === catching ? read(reader) : reader.cancel();
      });
    }
    fetch(withParam(withLastEventId(this.m.url, catching.since), SHARE_PARAM, null), options).then(function (response) {
      if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
      return read(catching.reader = response.body.getReader());
    }).catch(function () {
      if (self.catching !== catching || self.role !== ROLE.FOLLOWER) return;
      self.apply({type: config.resetEvent, data: JSON.stringify({reason: "too-old", last_id: self.last}), id: ""},
                 "replay");
      self.caughtUp();
    });
  };

  /** The resume met the relayed stream: stop it and apply the relayed events it did not deliver. */
  Share.prototype.caughtUp = function () {
    var self = this, catching = this.catching;
    if (!catching) return;
    this.note("caught up");
    this.catching = null;
    if (catching.reader) catching.reader.cancel().catch(function () { /* gone */ });
    this.welcomed = true;
    this.early.splice(0).forEach(function (item) { self.apply(item.e, item.from); });
  };

  Share.prototype.remember = function (e, from) {
    var key = eventKey(e), seen = this.applied.get(key);
    // A replay, or an event another leader delivered already: applied here before, drop it. (The
    // same leader may send the same id-less event twice on purpose.)
    if (seen !== undefined && (from === "replay" || seen !== from)) return false;
    this.applied.delete(key);
    this.applied.set(key, from);
    if (this.applied.size > RECENT * 4) this.applied.delete(this.applied.keys().next().value);
    this.recent.push(e);
    if (e.id) this.last = e.id;
    if (this.recent.length > RECENT && (e = this.recent.shift()).id) this.base = e.id;
    return true;
  };

  /** A follower: hand one relayed event to this tab's htmx, unless it was applied already. */
  Share.prototype.apply = function (e, from) {
    if (!this.remember(e, from)) return;
    if (this.source) this.source.deliver(e);
    else if (this.stream) this.stream.enqueue(encoder.encode(sseText(e)));
    else this.queued.push(e);
  };

  Share.prototype.flush = function () {
    var self = this;
    this.queued.splice(0).forEach(function (e) {
      if (self.source) self.source.deliver(e); else self.stream.enqueue(encoder.encode(sseText(e)));
    });
  };

  /** The leader: pass on an event its connection received (`close` ends only the leader's own). */
  Share.prototype.relay = function (event) {
    var type = event.type || "message";
    if (this.role !== ROLE.LEADER || type === this.m.config.closeEvent) return;
    if (type === SHARE_EVENT) { this.checkStream(event.data); return; }
    if (this.digest && !this.streamVouched) {
      this.notVouched("its stream did not begin with the server's digest (not a hub, or another version)");
      return;
    }
    var e = {type: type, data: event.data == null ? "" : String(event.data), id: event.lastEventId || ""};
    if (this.remember(e, this.id)) this.processed(e);   // its own connection shows it
    this.post({t: "event", e: e});
  };

  /** The leader: the digest its stream was opened under. Not its group's: the tab's cookies changed
   *  since it joined (a logout, a login as someone else), so its stream is not its followers'. */
  Share.prototype.checkStream = function (data) {
    var said = null;
    try { said = JSON.parse(data); } catch (e) { said = null; }
    var digest = said && said.protocol === SHARE_PROTOCOL ? said.digest : null;
    if (!this.digest || digest === this.digest) this.streamVouched = true;
    else this.notVouched("the server now streams this tab something else than its tabs share (new cookies?)");
  };

  /** The leader's stream is not the one its group shares: relay nothing from it, leave the group, and
   *  ask the server again which tabs this one shares with (a few times at most: then it streams alone). */
  Share.prototype.notVouched = function (why) {
    var m = this.m;
    m.log("leaving the tabs sharing this stream: " + why);
    m.leaveShare();
    m.rekeys += 1;
    m.shareWanted = m.rekeys <= MAX_REKEYS;
    m.connect();
  };

  Share.prototype.snapshot = function (detail) {
    var m = this.m;
    return {state: m.state, attempt: m.attempt, nextDelay: m.nextDelay, serverClosed: m.serverClosed,
            reason: detail && detail.reason || null};
  };

  Share.prototype.stateChanged = function (detail) {
    if (this.role === ROLE.LEADER) this.post({t: "state", state: this.snapshot(detail)});
  };

  /** A follower shows its leader's state, through the same TRANSITIONS check as its own changes (a
   *  jump the table has no edge for, as when it joins, goes through connecting). */
  Share.prototype.mirror = function (s) {
    var m = this.m;
    m.attempt = s.attempt;
    m.nextDelay = s.nextDelay;
    m.serverClosed = s.serverClosed;
    if (s.state === STATE.FINISHED) {   // the channel is over: shown with its outcome, the group ends
      m.finish(OUTCOME_WORDS.hasOwnProperty(s.reason || "") ? /** @type {string} */ (s.reason) : "done", null);
      return;
    }
    if (m.state !== s.state) {
      if (TRANSITIONS[m.state].indexOf(s.state) === -1) transition(m, STATE.CONNECTING, "following");
      transition(m, s.state, s.reason);
    }
    m.countdown(s.state === STATE.RECONNECTING || s.state === STATE.ERROR ? s.nextDelay || 0 : 0);
    // The server closed the stream for good: this group ends with it (a tab opened later connects).
    if (s.state === STATE.DISCONNECTED && s.serverClosed) m.endShare();
  };

  Share.prototype.ask = function (reason) { this.post({t: "retry", reason: reason}); };

  /** htmx 2: an event name some tab listens for; the leader relays it from now on. */
  Share.prototype.want = function (name) {
    if (!isText(name) || this.wants[name] || Object.keys(this.wants).length >= MAX_WANTS) return;
    this.wants[name] = true;
    if (this.role === ROLE.LEADER) this.hear(name);
    else if (this.role === ROLE.FOLLOWER) this.post({t: "wants", wants: [name]});
  };

  /** htmx 2, the leader: relay every event name anyone listens for on the real EventSource. */
  Share.prototype.tap = function (source) {
    var self = this, config = this.m.config;
    if (this.role !== ROLE.LEADER || source.sseMonitorStandIn || this.tapped === source) return;
    this.tapped = source;
    this.heard = {};
    source.addEventListener = function (name) {
      self.want(name);
      return EventTarget.prototype.addEventListener.apply(source, arguments);
    };
    [SHARE_EVENT, "message", config.heartbeatEvent, config.resetEvent].concat(Object.keys(this.wants)).forEach(this.hear, this);
  };

  Share.prototype.hear = function (name) {
    var self = this, source = this.tapped;
    if (!source || this.heard[name]) return;
    this.heard[name] = true;
    EventTarget.prototype.addEventListener.call(source, name, function (event) {
      if (self.tapped === source) self.relay(event);
    });
  };

  /** htmx 2, a follower: an EventSource stand-in that dispatches the relayed events. */
  Share.prototype.standIn = function (url) {
    var self = this, target = new EventTarget(), queued = [];
    var source = {
      url: url, readyState: 0, withCredentials: false, onopen: null, onerror: null, onmessage: null,
      sseMonitorStandIn: true,
      addEventListener: function (name) { self.want(name); target.addEventListener.apply(target, arguments); },
      removeEventListener: function () { target.removeEventListener.apply(target, arguments); },
      dispatchEvent: function (event) { return target.dispatchEvent(event); },
      close: function () { source.readyState = 2; if (self.source === source) self.source = null; },
      deliver: function (e) {
        if (source.readyState === 0) { queued.push(e); return; }
        if (source.readyState !== 1) return;
        var event = new MessageEvent(e.type, {data: e.data, lastEventId: e.id, origin: location.origin});
        if (e.type === "message" && typeof source.onmessage === "function") source.onmessage(event);
        target.dispatchEvent(event);
        self.processed(e);   // htmx-ext-sse handles an event as it is dispatched
      }
    };
    this.source = source;
    setTimeout(function () {   // after htmx-ext-sse has set onopen, as a real open would come
      if (source.readyState !== 0) return;
      source.readyState = 1;
      var open = new Event("open");
      if (typeof source.onopen === "function") source.onopen(open);
      target.dispatchEvent(open);
      queued.splice(0).forEach(source.deliver);
    }, 0);
    this.flush();
    return source;
  };

  /** htmx 4, a follower: the Response hx-sse reads, a text/event-stream of the relayed events. */
  Share.prototype.response = function () {
    var self = this, mine = null;
    var body = new ReadableStream({
      start: function (controller) { mine = controller; self.stream = controller; self.flush(); },
      cancel: function () { if (self.stream === mine) self.stream = null; }
    });
    return new Response(body, {status: 200, headers: {"Content-Type": "text/event-stream"}});
  };

  function handOverShared() {
    monitors.forEach(function (m) { if (m.share) m.share.stepDown(); });
  }

  /** Back/forward cache: a page holding a lock cannot enter it; leave on pagehide, rejoin on pageshow.
   *  A page the browser freezes (Page Lifecycle `freeze`, Chromium) leaves too, so a frozen leader
   *  does not keep the stream from the other tabs, and rejoins on `resume`. */
  function parkShared(event) {
    var cached = event.type === "freeze" || !!event.persisted;   // the page may come back as it is
    monitors.forEach(function (m) {
      if (!m.share || !m.element) return;
      m.share.cached = cached;
      m.parked = m.element;
      m.detach();
    });
  }

  function unparkShared(event) {
    if (event.type === "pageshow" && !event.persisted) return;
    monitors.forEach(function (m) {
      var element = m.parked;
      if (element && element.isConnected && !m.element) m.attach(element);   // resumes where it left off
      m.parked = null;
    });
  }

  // ---------------------------------------------------------------- the monitor (one state machine)

  function Monitor(id, container, config) {
    this.id = id;
    this.container = container;
    this.elementId = container.getAttribute("data-sse-element");
    this.config = config;
    this.transport = pageTransport();
    var initial = container.getAttribute("data-state");   // the server renders "connecting"
    this.state = TRANSITIONS.hasOwnProperty(initial) ? initial : STATE.CONNECTING;
    this.shown = null;
    this.attempt = 0;        // failed attempts since the last time the stream was Live
    this.droppedLive = false; // this run of failures began with a Live stream dropping
    this.connects = 0;
    this.nextDelay = null;
    this.stallArmedAt = Date.now(); // when the stall timer was last armed (a frozen page misses it)
    this.lastEventId = null;
    this.lastEventStream = null; // the stream (URL without lastEventId) lastEventId came from
    this.snapshots = [];     // connect URLs stamped into htmx history snapshots (stampSnapshot)
    this.heartbeats = false;  // this stream has sent a heartbeat: a default stallTimeout arms from now on
    this.unproven = false;    // a stall happened and nothing has arrived since: an open stream is not Live
    this.setupFailed = false; // the page's setup is broken (reason "setup"): only a click retries
    this.serverClosed = false;
    this.element = null;
    this.source = null;      // the transport's connection (EventSource, hx-sse connection)
    this.pending = null;     // htmx 4: token of the connect under way
    this.inflight = null;    // htmx 4: that request, until htmx has finished with it
    this.request = null;     // htmx 4: the request context of the connect under way (to abort it)
    this.deferred = null;    // htmx 4: a connect waiting for the previous request to end
    this.url = null;
    this.journal = [];       // tab sharing's last moves, newest last (Share.note): for diagnosis
    this.share = null;       // tab sharing: this monitor's part in its stream's group of tabs
    this.shareWanted = false; // tab sharing is on and this tab has not joined a group yet (Monitor.joinShare)
    this.shareCheck = null;  // the server's answer to "what would this tab be streamed?", under way
    this.rekeys = 0;         // times this tab left its group because its stream was no longer the group's
    this.parked = null;      // the element, while the page sits in the back/forward cache
    this.timers = {retry: null, stall: null, display: null, countdown: null, noElement: null};
    this.everAttached = false; // an SSE element was found once (later absences are the element leaving)
    container.setAttribute("data-sse-runtime", "");   // the status markup's no-runtime notice stays hidden
    var self = this;
    this.onActivity = function (event) { self.activity(event); };
    this.onClose = function (event) { self.serverClose(event); };
    this.onEnd = function (event) { self.serverEnd(event); };
    this.onReset = function (event) { self.reset(event); };
    this.onUserRetry = function (event) {
      if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") return;
      if (self.state === STATE.ACTIVE || self.state === STATE.CONNECTING || self.state === STATE.FINISHED) return;
      if (event.type === "keydown") event.preventDefault();
      self.log("retry requested by the user");
      self.retryNow("user");
    };
    container.addEventListener("click", this.onUserRetry);
    container.addEventListener("keydown", this.onUserRetry);
  }

  Monitor.prototype.log = function () {
    if (this.config.logToConsole) console.info.apply(console, ["[sse-monitor " + this.id + "]"].concat([].slice.call(arguments)));
  };

  Monitor.prototype.clear = function (name) {
    var timer = this.timers[name];
    if (timer !== null) { clearTimeout(timer); clearInterval(timer); this.timers[name] = null; }
  };

  /** Enter a state (only transition() calls this): show it, announce it, tell the other tabs. */
  Monitor.prototype.enter = function (state, reason, problem) {
    var previous = this.state;
    this.state = state;
    this.container.setAttribute("data-state", state);
    this.render();
    this.log(previous + " -> " + state, reason ? "(" + reason + ")" : "");
    this.container.dispatchEvent(new CustomEvent("sse-monitor:state", {
      bubbles: true,
      detail: {id: this.id, state: state, previous: previous, attempt: this.attempt,
               nextDelayMs: this.nextDelay, reason: reason, problem: problem}
    }));
    if (this.share) this.share.stateChanged({reason: reason});
  };

  /** Show the current state's indicator. A transient state (connecting, reconnecting, error) replacing
   *  Live waits indicatorDelay, so a blip that recovers quickly never flashes; final ones show at once. */
  Monitor.prototype.render = function () {
    var self = this, transient = TRANSIENT.indexOf(this.state) !== -1;
    if (this.shown === STATE.ACTIVE && transient && this.config.indicatorDelay > 0) {
      if (this.timers.display === null) {
        this.timers.display = setTimeout(function () { self.timers.display = null; self.show(self.state); },
                                         this.config.indicatorDelay);
      }
      return;
    }
    this.clear("display");
    this.show(this.state);
  };

  Monitor.prototype.show = function (state) {
    this.shown = state;
    var spans = this.container.querySelectorAll("[data-sse-state]");
    for (var i = 0; i < spans.length; i++) spans[i].hidden = spans[i].getAttribute("data-sse-state") !== state;
  };

  Monitor.prototype.setCountdown = function (text) {
    var slots = this.container.querySelectorAll("[data-sse-countdown]");
    for (var i = 0; i < slots.length; i++) slots[i].textContent = text;
  };

  /** Attach to the SSE element (present in the page now) and make sure it is connected. */
  Monitor.prototype.attach = function (element) {
    this.element = element;
    this.everAttached = true;
    this.clear("noElement");
    this.transport = pageTransport();
    this.unproven = false;
    if (!window.htmx) { this.setupError(NO_HTMX); return; }
    var attribute = this.transport.attributeOf(element);
    if (!attribute) {
      // Written for the other htmx: a setup mistake. No connect attribute at all: the original
      // pattern's way to stop a stream (an OOB swap leaves an empty element with the id): nothing to do.
      var problem = otherHtmxMarkup(element, this.transport === htmx4 ? 4 : 2);
      if (problem) this.setupError(problem); else this.log("element has no sse-connect attribute");
      return;
    }
    this.url = element.getAttribute(attribute);
    // A last event id belongs to the stream it came from: a new element for another stream (a chat
    // changing rooms) starts from its URL. One for the same stream (re-inserted by an out-of-band swap,
    // swapped out and back in) resumes after the last event this page applied, which it still shows,
    // whatever position its URL was rendered with, except a snapshot this runtime stamped (htmx history
    // restoring the part of the page holding it): that shows what it held then, the position in its URL.
    var stream = streamOf(this.url);
    if (stream !== this.lastEventStream || this.snapshots.indexOf(this.url) !== -1) this.lastEventId = null;
    if (stream !== this.lastEventStream) this.heartbeats = false;
    this.lastEventStream = stream;
    this.serverClosed = false;
    this.attempt = 0;
    this.shareWanted = sharingPossible(this);   // the first connect asks the server whom to share with
    this.rekeys = 0;
    this.begin();
  };

  /** Start the connection: adopt the one htmx already opened, or connect (unless offline). */
  Monitor.prototype.begin = function () {
    var existing = this.transport.existing(this);
    if (this.checkSetup()) return;
    // Shared or to be: the leader opens the stream itself, asking for the server's digest. Or htmx
    // opened it from the position in the element's URL: not where this page resumes.
    if (existing && (this.shareWanted || this.share || this.lastEventId !== null)) {
      this.transport.close(this);
      existing = null;
    }
    if (existing) {
      transition(this, existing.open ? STATE.ACTIVE : STATE.CONNECTING);
      this.armStall();
    } else if (!navigator.onLine) {
      transition(this, STATE.OFFLINE);
    } else {
      this.connect();
    }
  };

  /** Stop watching the element (it left the page): no source, timers or listeners remain. */
  Monitor.prototype.detach = function () {
    this.leaveShare();
    this.transport.close(this);
    ["retry", "stall", "display", "countdown"].forEach(this.clear, this);
    this.element = null;
  };

  /** Still no SSE element, NO_ELEMENT_GRACE after the page loaded: name it (once). */
  Monitor.prototype.awaitElement = function () {
    var self = this;
    if (this.everAttached || this.timers.noElement !== null || this.setupFailed) return;
    this.timers.noElement = setTimeout(function () {
      self.timers.noElement = null;
      if (!self.everAttached && self.container.isConnected) self.setupError(noElement(self.id, self.elementId));
    }, NO_ELEMENT_GRACE);
  };

  Monitor.prototype.destroy = function () {
    this.clear("noElement");
    this.detach();
    this.container.removeEventListener("click", this.onUserRetry);
    this.container.removeEventListener("keydown", this.onUserRetry);
  };

  /** A broken page setup, named once in the console and shown as `error` with reason `setup`. True if
   *  there is one. While the page is still loading scripts the verdict waits for the load event. */
  Monitor.prototype.checkSetup = function () {
    var problem = this.transport.problem(this), self = this;
    if (!problem) { this.setupFailed = false; return false; }
    if (document.readyState !== "complete") {
      this.transport.close(this);
      if (this.state !== STATE.CONNECTING) transition(this, STATE.CONNECTING);
      window.addEventListener("load", function () { if (self.element) self.connect(); }, {once: true});
      return true;
    }
    this.setupError(problem);
    return true;
  };

  Monitor.prototype.setupError = function (problem) {
    var text = problem.problem + ". Fix: " + problem.fix + ".";
    this.halt();
    this.setupFailed = true;
    if (!warned[text]) { warned[text] = true; console.warn("[sse-monitor] Page setup problem: " + text); }
    this.container.setAttribute("title", "Page setup problem: " + text);
    transition(this, STATE.ERROR, "setup", text);
  };

  /** The server refused the stream for good (`finalRefusal`: a 4xx such as 400 or 404, or a page
   *  instead of a stream): shown as `error` with reason `refused` and `text` (the server's words),
   *  named once in the console, no retries (a click on the indicator asks again). */
  Monitor.prototype.refused = function (text) {
    this.halt();
    this.setupFailed = true;
    if (!warned[this.url + text]) { warned[this.url + text] = true; console.warn("[sse-monitor] " + this.url + ": " + text); }
    this.container.setAttribute("title", text);
    transition(this, STATE.ERROR, "refused", text);
  };

  /** After an attempt the server answered with an HTTP error: ask it why (the share check answers
   *  with the same status and reason a stream would get). A final refusal stops the retries. */
  Monitor.prototype.askWhyRefused = function () {
    var self = this, url = this.url;
    askServer(url).then(function (answer) {
      if (self.url !== url || !self.element || self.state !== STATE.ERROR || self.setupFailed) return;
      var final = finalRefusal(answer);
      if (final) self.refused(final);
    });
  };

  /** Stop trying: no connection, no retry or stall timer, no countdown. */
  Monitor.prototype.halt = function () {
    this.transport.close(this);
    ["retry", "stall", "countdown"].forEach(this.clear, this);
    this.setCountdown("");
    this.nextDelay = null;
  };

  /** Give up until the user retries (or the element comes back): gave-up, server-close, element-removed. */
  Monitor.prototype.disconnect = function (reason) {
    this.halt();
    transition(this, STATE.DISCONNECTED, reason);
  };

  Monitor.prototype.connect = function () {
    if (!this.element) return;
    this.clear("retry");
    this.clear("countdown");
    this.setCountdown("");
    this.transport.close(this);
    this.nextDelay = null;
    if (this.checkSetup()) return;
    if (this.state !== STATE.CONNECTING) transition(this, STATE.CONNECTING);
    this.armStall();
    if (this.share && this.share.role === ROLE.PENDING) return;   // the election starts it
    if (this.shareWanted && !this.share) this.joinShare();
    else this.open();
  };

  /** Open the stream (the transport's connect), from the last event id this tab applied. */
  Monitor.prototype.open = function () {
    var url = this.lastEventId !== null ? withLastEventId(this.url, this.lastEventId) : this.url;
    if (this.share) this.share.note("own stream from " + this.lastEventId);
    if (this.share && this.share.digest) {   // a leader: its stream begins with the digest it serves
      url = withParam(url, SHARE_PARAM, "stream");
      this.share.streamVouched = false;
    }
    this.transport.connect(this, url);
  };

  /** Tab sharing: ask the server what this tab's own request would be streamed, then join the tabs
   *  that would get the same events, or stream alone. No answer (offline server, 5xx) is a failed
   *  attempt: the backoff asks again. Refused (a 403: logged out, no right) it opens its own stream,
   *  which shows the refusal, and asks again at the next attempt, when it may be allowed. */
  Monitor.prototype.joinShare = function () {
    var self = this, check = this.shareCheck = {};
    askServer(this.url).then(function (answer) {
      if (self.shareCheck !== check || !self.element) return;   // superseded, or the element left
      self.shareCheck = null;
      if (answer.failed) {
        self.log("no answer to the share check:", answer.failed);
        self.fail("connection-error", /^http-/.test(answer.failed));
        return;
      }
      if (answer.digest || self.config.shareUnverifiedStreams) {
        self.shareWanted = false;
        new Share(self, shareKey(self.url, answer.digest || null), answer.digest || null);
        return;
      }
      var final = finalRefusal(answer);
      if (final) { self.refused(final); return; }
      self.log("streaming alone: the server does not vouch for sharing this stream (" + answer.unvouched + ")");
      self.shareWanted = /^http-4/.test(answer.unvouched);
      self.open();
    });
  };

  /** Leave this stream's group of tabs (if in one). */
  Monitor.prototype.leaveShare = function () {
    this.shareCheck = null;
    if (this.share) { this.share.leave(); this.share = null; }
  };

  /** The server closed the shared stream for good: the group ends (every tab in it leaves, staying
   *  Disconnected), so a page opened later connects afresh; a click here joins again. */
  Monitor.prototype.endShare = function () {
    var share = this.share;
    if (!share) return;
    this.share = null;
    this.shareCheck = null;
    share.end();
    this.halt();
    this.shareWanted = sharingPossible(this);
  };

  /** The stream is open. After a stall that proves nothing (a stalling proxy accepts and stays
   *  silent): it stays `connecting`, the attempt still counts, until an event or heartbeat arrives. */
  Monitor.prototype.opened = function () {
    if (following(this)) return;   // a follower shows the leader's state
    if (this.unproven) {
      this.log("open after a stall: not Live until an event or heartbeat arrives");
      this.armStall();
      return;
    }
    this.live();
  };

  Monitor.prototype.live = function () {
    this.unproven = false;
    this.attempt = 0;
    this.droppedLive = false;
    this.nextDelay = null;
    transition(this, STATE.ACTIVE);
    this.armStall();
  };

  Monitor.prototype.activity = function (event) {
    if (event && event.lastEventId) this.lastEventId = event.lastEventId;
    if (event && event.lastEventId && following(this) && this.share.stream) this.share.processedUpTo(event.lastEventId);
    if (event && event.type === this.config.heartbeatEvent) this.heartbeats = true;
    if (this.unproven && this.source && this.state === STATE.CONNECTING) this.live();
    else if (this.state === STATE.ACTIVE) this.armStall();
  };

  Monitor.prototype.checkAfterHidden = function () {
    var quiet = Date.now() - this.stallArmedAt;
    if (this.transport.lost(this)) this.fail("lost-while-hidden", false);
    else if (this.timers.stall !== null && quiet >= this.config.stallTimeout) this.fail("stalled", false);
  };

  /** A silent stream counts as dead after stallTimeout. The default one arms only once the stream has
   *  sent a heartbeat (a server without heartbeats is never cut off); one set explicitly arms always. */
  Monitor.prototype.armStall = function () {
    var self = this;
    this.clear("stall");
    this.stallArmedAt = Date.now();
    if (this.config.stallTimeout > 0 && !following(this) &&
        (this.heartbeats || !this.config.stallAfterHeartbeat)) {
      this.timers.stall = setTimeout(function () {
        self.timers.stall = null;
        self.fail("stalled", false);
      }, this.config.stallTimeout);
    }
  };

  /** The connection failed or dropped: wait (backoff) and try again, or give up. */
  Monitor.prototype.fail = function (reason, refused) {
    if (!this.element || this.state === STATE.OFFLINE || this.serverClosed || this.setupFailed ||
        following(this)) return;
    var wasActive = this.state === STATE.ACTIVE;
    if (reason === "stalled") this.unproven = true;
    this.transport.close(this);
    this.clear("stall");
    if (!navigator.onLine) { this.goOffline(); return; }
    this.attempt += 1;
    var limit = this.config.maxReconnectAttempts;
    if (limit > 0 && this.attempt > limit) { this.disconnect("gave-up"); return; }
    if (wasActive) this.droppedLive = true;
    var delay = delayAfterFailure(this.config, this.attempt, this.droppedLive);
    this.wait(delay, refused ? STATE.ERROR : STATE.RECONNECTING, reason);
    if (refused) this.askWhyRefused();
  };

  Monitor.prototype.wait = function (delay, state, reason) {
    var self = this;
    this.clear("retry");
    this.nextDelay = delay;
    transition(this, state, reason);
    this.timers.retry = setTimeout(function () { self.timers.retry = null; self.connect(); }, delay);
    this.countdown(delay);
  };

  /** Show the seconds left until the next attempt, `delay` ms from now. */
  Monitor.prototype.countdown = function (delay) {
    var self = this, due = Date.now() + delay;
    this.clear("countdown");
    if (this.config.showCountdown && delay >= 1000) {
      var tick = function () {
        var left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
        self.setCountdown(left > 0 ? "(" + left + "s)" : "");
      };
      tick();
      this.timers.countdown = setInterval(tick, 250);
    } else {
      this.setCountdown("");
    }
  };

  Monitor.prototype.retryNow = function (reason) {
    if (!this.element) return;
    if (following(this)) { this.share.ask(reason); return; }   // the leader tab owns the connection
    this.serverClosed = false;
    this.attempt = 0;
    this.droppedLive = false;   // a new run of attempts: its first failure waits like any other
    if (!navigator.onLine) { this.goOffline(); return; }
    this.log("retrying now:", reason);
    this.connect();
  };

  Monitor.prototype.goOffline = function () {
    if (following(this)) return;   // the leader tab goes offline too and says so
    this.halt();
    if (this.state !== STATE.OFFLINE) transition(this, STATE.OFFLINE, "browser-offline");
  };

  Monitor.prototype.serverClose = function (event) {
    this.activity(event);
    var plan = null;
    try { plan = JSON.parse(event.data); } catch (e) { plan = null; }
    var after = plan && typeof plan.reconnect_after_ms === "number" && plan.reconnect_after_ms >= 0
      ? plan.reconnect_after_ms : null;
    var reason = plan && typeof plan.reason === "string" ? plan.reason : "server-close";
    if (after === null) {
      this.serverClosed = true;
      this.disconnect(reason);
      this.endShare();
      return;
    }
    this.transport.close(this);
    this.clear("stall");
    this.attempt = 0;
    this.wait(delayAfterServerClose(after), STATE.RECONNECTING, reason);
  };

  /** The server's `end` (Hub.end): the channel is over. JSON {"outcome", "detail"}. */
  Monitor.prototype.serverEnd = function (event) {
    this.activity(event);
    var said = null;
    try { said = JSON.parse(event.data); } catch (e) { said = null; }
    var outcome = said && OUTCOME_WORDS.hasOwnProperty(said.outcome) ? said.outcome : "done";
    this.finish(outcome, said && typeof said.detail === "string" ? said.detail : null);
  };

  /** Show the channel finished with `outcome` (and `detail`, words for the user): stop the stream and
   *  every retry, tell the page (`sse-monitor:end`), and end the tabs' group, as a permanent close does. */
  Monitor.prototype.finish = function (outcome, detail) {
    if (this.state === STATE.FINISHED) return;
    var words = OUTCOME_WORDS[outcome] + (detail ? ": " + detail : "");
    this.serverClosed = true;
    this.halt();
    this.container.setAttribute("data-outcome", outcome);
    this.container.setAttribute("title", words);
    var slots = this.container.querySelectorAll("[data-sse-outcome]");
    for (var i = 0; i < slots.length; i++) slots[i].textContent = words;
    transition(this, STATE.FINISHED, outcome);
    (this.element || this.container).dispatchEvent(new CustomEvent("sse-monitor:end", {
      bubbles: true, detail: {id: this.id, outcome: outcome, detail: detail}
    }));
    this.endShare();
  };

  Monitor.prototype.reset = function (event) {
    this.activity(event);
    var detail = {id: this.id, data: event.data};
    try { detail.reason = JSON.parse(event.data).reason; } catch (e) { detail.reason = null; }
    (this.element || this.container).dispatchEvent(new CustomEvent("sse-monitor:reset", {bubbles: true, detail: detail}));
  };

  // ---------------------------------------------------------------- discovery and page events

  /** The (last) monitor that passes `test`, or null. */
  function findMonitor(test) {
    var found = null;
    monitors.forEach(function (m) { if (test(m)) found = m; });
    return found;
  }

  /** The monitor watching this SSE element, or null. */
  function monitorOf(element) {
    if (!element || !element.id) return null;
    return findMonitor(function (m) { return m.element === element; });
  }

  /** Fill a container the page built itself from a `<template data-sse-monitor>` carrier. */
  function containerFromTemplate(template) {
    var container = document.getElementById(template.getAttribute("data-sse-status") || "");
    if (!container) return null;
    if (!container.querySelector("[data-sse-state]")) {
      while (container.firstChild) container.removeChild(container.firstChild);
      container.appendChild(template.content.cloneNode(true));
    }
    ["data-sse-monitor", "data-sse-element", "data-sse-config"].forEach(function (name) {
      container.setAttribute(name, template.getAttribute(name));
    });
    if (!container.hasAttribute("role")) container.setAttribute("role", "status");
    if (!container.hasAttribute("aria-live")) container.setAttribute("aria-live", "polite");
    if (!container.hasAttribute("tabindex")) container.setAttribute("tabindex", "0");
    container.classList.add("sse-monitor");
    return container;
  }

  /** Start monitors for new containers, follow SSE elements that came or went, drop stale ones. */
  function scan() {
    pageTransport().install();
    document.querySelectorAll("template[data-sse-monitor]").forEach(containerFromTemplate);
    document.querySelectorAll("[data-sse-monitor]:not(template)").forEach(function (container) {
      var id = container.getAttribute("data-sse-monitor");
      var m = monitors.get(id);
      if (m && m.container !== container) { m.destroy(); monitors.delete(id); m = null; }
      if (!m) {
        m = new Monitor(id, container, readConfig(container));
        monitors.set(id, m);
        m.show(m.state);
      }
    });
    monitors.forEach(function (m, id) {
      if (!m.container.isConnected) { m.destroy(); monitors.delete(id); return; }
      var element = document.getElementById(m.elementId);
      if (m.element && m.element !== element) {
        m.log("SSE element left the page");
        m.detach();
        m.disconnect("element-removed");
      }
      if (element && !m.element && !m.parked) {
        if (window.htmx || document.readyState === "complete") m.attach(element);   // no htmx: a setup error
        else window.addEventListener("load", queueScan, {once: true});
      } else if (!element && !m.everAttached) {
        if (document.readyState === "complete") m.awaitElement();
        else window.addEventListener("load", queueScan, {once: true});
      }
    });
  }

  /** htmx is about to copy `root` into a history snapshot (htmx 2: `htmx:beforeHistorySave`; htmx 4's
   *  hx-history-cache: `htmx:history:cache:before:save`). Each SSE element in it gets, in its URL, the
   *  last event the page applied, which the copy shows: restored, it resumes right after it, not from
   *  the position it was rendered with. The element itself gets its URL back once the copy is taken. */
  function stampSnapshot(event) {
    var detail = event.detail || {}, root = detail.historyElt || detail.target || document.body;
    monitors.forEach(function (m) {
      var el = m.element, attribute = el && m.transport.attributeOf(el);
      if (!attribute || m.lastEventId === null || !root.contains(el)) return;
      var url = el.getAttribute(attribute), stamped = withLastEventId(url, m.lastEventId);
      if (streamOf(url) !== m.lastEventStream || stamped === url) return;
      m.snapshots = m.snapshots.filter(function (u) { return u !== stamped; }).concat([stamped]).slice(-20);
      el.setAttribute(attribute, stamped);
      Promise.resolve().then(function () { if (el.getAttribute(attribute) === stamped) el.setAttribute(attribute, url); });
    });
  }

  var scanQueued = false;
  function queueScan() {
    if (scanQueued) return;
    scanQueued = true;
    Promise.resolve().then(function () { scanQueued = false; scan(); });
  }

  function start() {
    document.addEventListener("htmx:load", queueScan);
    document.addEventListener("htmx:beforeHistorySave", stampSnapshot);
    htmx4On("htmx:history:cache:before:save", stampSnapshot);
    new MutationObserver(queueScan).observe(document.documentElement, {childList: true, subtree: true});
    window.addEventListener("offline", function () {
      monitors.forEach(function (m) { if (m.element && !m.serverClosed && !m.setupFailed) m.goOffline(); });
    });
    window.addEventListener("online", function () {
      monitors.forEach(function (m) {
        if (m.state === STATE.OFFLINE && m.config.reconnectOnOnline) m.retryNow("browser-online");
      });
    });
    // Only where the lease elects (a Web Lock is freed by the browser), and Firefox does not keep a
    // page with a beforeunload listener in its back/forward cache.
    if (!webLocks()) window.addEventListener("beforeunload", handOverShared);
    window.addEventListener("pagehide", parkShared);
    window.addEventListener("pageshow", unparkShared);
    document.addEventListener("freeze", parkShared);
    document.addEventListener("resume", unparkShared);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState !== "visible") return;
      monitors.forEach(function (m) {
        var waiting = m.state === STATE.RECONNECTING || m.state === STATE.ERROR || m.state === STATE.DISCONNECTED;
        if (m.config.monitorVisibility && waiting && !m.serverClosed && !m.setupFailed) m.retryNow("tab-visible");
        else if (m.config.monitorVisibility && m.state === STATE.ACTIVE && m.element) m.checkAfterHidden();
      });
    });
    scan();
  }

  window.SSEMonitor = {
    version: "0.1.0",
    monitors: monitors,
    scan: scan,
    backoff: backoff,
    /** Timers, sources and monitors alive now: for tests and debugging. */
    debug: function () {
      var timers = 0, sources = 0;
      monitors.forEach(function (m) {
        Object.keys(m.timers).forEach(function (k) { if (m.timers[k] !== null) timers += 1; });
        if (m.source) sources += 1;
      });
      return {monitors: monitors.size, timers: timers, sources: sources};
    },
    /** The parts the Node tier tests without a browser (tests/node): not an API, may change. */
    internals: {STATE: STATE, TRANSITIONS: TRANSITIONS, transition: transition, Share: Share, MESSAGES: MESSAGES,
                delayAfterFailure: delayAfterFailure, delayAfterServerClose: delayAfterServerClose, ROLE: ROLE,
                refusedForGood: refusedForGood, finalRefusal: finalRefusal,
                checkedMessage: checkedMessage, shareKey: shareKey, askServer: askServer, sseText: sseText,
                SHARE_PROTOCOL: SHARE_PROTOCOL, SHARE_EVENT: SHARE_EVENT, limits: {MAX_PEERS: MAX_PEERS,
                MAX_WANTS: MAX_WANTS, WELCOMES_PER_SECOND: WELCOMES_PER_SECOND, ROLL_CALL: ROLL_CALL,
                LEASE_BEAT: LEASE_BEAT, LEASE_STALE: LEASE_STALE, RECENT: RECENT}}
  };

  // Before htmx's own DOMContentLoaded pass opens any connection.
  if (window.htmx) pageTransport().install();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
