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
    "load htmx before the page's SSE element: htmx 2 with htmx-ext-sse, or htmx 4 with hx-sse");

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

