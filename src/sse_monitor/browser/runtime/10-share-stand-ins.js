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

