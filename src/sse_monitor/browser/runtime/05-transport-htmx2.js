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

