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

