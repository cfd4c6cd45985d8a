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
