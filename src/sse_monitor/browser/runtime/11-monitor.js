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

