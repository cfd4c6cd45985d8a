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

