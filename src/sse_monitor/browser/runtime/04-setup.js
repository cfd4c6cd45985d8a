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

