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

