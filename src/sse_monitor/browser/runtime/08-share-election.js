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

