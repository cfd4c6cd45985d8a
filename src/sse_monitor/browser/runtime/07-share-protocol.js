  // ---------------------------------------------------------------- tab sharing
  //
  // Over HTTP/1.1 a browser opens at most 6 connections per host: a 7th tab of a monitored page never
  // connects, and every tab costs the server a stream. With shareAcrossTabs (the default) the tabs of
  // one origin elect a leader per stream URL (compared without `lastEventId`). Only the leader holds
  // the real connection; over a BroadcastChannel it relays every event (type, data, id) and every
  // state change. A follower's htmx reads a stand-in connection fed with those events (htmx 2: a
  // stand-in EventSource dispatching MessageEvents; htmx 4: a synthetic text/event-stream Response
  // handed to hx-sse), so its swaps run as if the events came over its own connection. Its indicator
  // mirrors the leader's state; its retries (click, back online, tab visible) are asked of the leader.
  //
  // Election: a Web Lock where locks exist (secure contexts); the next queued tab gets the lock the
  // moment the leader closes or crashes. Elsewhere a localStorage lease renewed every LEASE_BEAT ms
  // and taken over when LEASE_STALE ms old (a leader that closes says "bye" naming its successor,
  // the follower with the lowest id, which leads at once; if it does not, the others claim, and of
  // tabs claiming at once the lowest id leads; a leader alive answers a claim, which then yields,
  // so a background leader renewing late keeps leading). A lease leader also holds an IndexedDB database open
  // for each follower; the follower's request to upgrade it waits until the browser closes it, the
  // moment the leader's tab closes or crashes, so a crashed leader's successor (named in the lease)
  // leads at once too, with no timer to wait for; and while it waits, the leader is alive, so its
  // followers do not claim a stale lease at all. A joining tab gets the events after its own last id
  // from the leader's recent ones; if its id is not among them (it is older than the leader's
  // history), it resumes once from the server until that stream reaches the relayed events (or the
  // server's `reset` says it cannot). A new leader resumes from the last id its tab applied; an
  // event that a tab has already applied from another leader, or from a replay, is dropped there, so
  // a handover or two leaders at once never swap an event twice.
  //
  // Who shares (the security model): same origin is not same user. A logout, a login as someone else
  // or a page loaded long ago all meet on one origin, and cookies may be HttpOnly, so only the server
  // can say whether two tabs would be sent the same events. Before it shares, a tab asks the stream
  // URL with `?sseMonitorShare=check` (its own cookies): the hub answers with a digest of what that
  // request would be streamed (after the same authorization and channel choice as a real stream).
  // Tabs elect and relay only within one digest (it is part of every shared name), and a leader's own
  // stream, asked with `?sseMonitorShare=stream`, starts with the digest it was opened under: it
  // relays nothing from a stream whose digest is not its group's (its cookies changed: it leaves the
  // group and asks again). A tab the hub refuses (403) or that no hub vouches for (a plain stream)
  // streams on its own, unless the page opts in with shareUnverifiedStreams. Every shared name and
  // message carries SHARE_PROTOCOL, so tabs of two runtime versions never share, and every message
  // is checked (MESSAGES) before it is handled: a hostile or broken one is dropped.
  //
  // A share that is not Live never holds a new tab back: a leader that gave up or was refused
  // retries when a tab joins, and a permanent server `close` ends the group (its tabs leave it,
  // Disconnected), so a page opened afterwards connects afresh.

  var SHARE_PROTOCOL = 2, SHARE_PARAM = "sseMonitorShare", SHARE_EVENT = "sse-monitor-share";
  var MAX_PEERS = 64, MAX_WANTS = 64, MAX_NAME = 200, MAX_EVENT_DATA = 16 << 20, MAX_REKEYS = 3,
      WELCOME_WAIT = 1000, WELCOMES_PER_SECOND = 20, ROLL_CALL = 2000, DROP_GRACE = 1000, END_GRACE = 300;
  var LEASE_BEAT = 500, LEASE_STALE = 2000, CLAIM_SETTLE = 60, ANSWER_WAIT = 500, SUCCESSOR_WAIT = 250, RECENT = 500, JOURNAL = 60,
      CATCH_UP_GRACE = 200, WATCH_RETRY = 250, WATCH_TRIES = 4, AWAY_KEEP = 600000;
  var tabId = Math.random().toString(36).slice(2) + Date.now().toString(36);
  var encoder = typeof TextEncoder === "function" ? new TextEncoder() : null;

  function following(m) { return !!(m && m.share && m.share.role === ROLE.FOLLOWER); }

  function webLocks() { return !!(navigator.locks && typeof navigator.locks.request === "function"); }

  function indexedDb() {
    try { return window.indexedDB || null; } catch (e) { return null; }   // a sandboxed frame throws
  }

  /** The database a lease leader holds open for one follower for as long as it leads (Share.vouch). */
  function aliveName(leader, follower) { return "sse-monitor:v" + SHARE_PROTOCOL + ":alive:" + leader + ":" + follower; }

  function storageWorks() {
    try { localStorage.setItem("sse-monitor:probe", "1"); localStorage.removeItem("sse-monitor:probe"); return true; }
    catch (e) { return false; }
  }

  /** Is tab sharing wanted for this monitor, and can the browser do it? A stream on another origin is
   *  not shared: the check would need CORS, and the tabs' names are this origin's. */
  function sharingPossible(m) {
    if (!m.config.shareAcrossTabs || typeof BroadcastChannel !== "function" || !encoder) return false;
    if (new URL(m.url, document.baseURI).origin !== location.origin) return false;
    return webLocks() || storageWorks();
  }

  /** @typedef {{digest?: string, unvouched?: string, failed?: string, status?: number, reason?: string,
   *              type?: string}} ShareAnswer */

  /** Ask the server what this tab's own request to stream `url` would get: {digest} (the hub vouches),
   *  {unvouched} (answered, but not by a hub: a stream, a 403, a 404; with the HTTP `status`, and
   *  a short plain-text body as the server's `reason`), or {failed} (no answer: the network or a
   *  5xx; asked again on the next attempt).
   *  @param {string} url
   *  @returns {Promise<ShareAnswer>} */
  function askServer(url) {
    var abort = typeof AbortController === "function" ? new AbortController() : null;
    /** @type {RequestInit} */
    var options = {headers: {Accept: "application/json"}, cache: "no-store", credentials: "same-origin"};
    if (abort) options.signal = abort.signal;
    return fetch(withParam(streamOf(url), SHARE_PARAM, "check"), options).then(/** @returns {ShareAnswer | Promise<ShareAnswer>} */ function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.status >= 500) { if (abort) abort.abort(); return {failed: "http-" + response.status}; }
      if (!response.ok || type.indexOf("application/json") === -1) {
        var refused = {unvouched: "http-" + response.status, status: response.status, type: type.split(";")[0]};
        if (!response.ok && type.indexOf("text/plain") !== -1 &&
            Number(response.headers.get("Content-Length") || 0) <= 4096) {
          return response.text().then(function (text) {   // the server's reason, in its own words
            return {unvouched: refused.unvouched, status: refused.status, type: refused.type, reason: text.slice(0, 300)};
          }, function () { return refused; });
        }
        if (abort) abort.abort();   // a stream that knows nothing of sharing: not read
        return refused;
      }
      return response.json().then(function (said) {
        var ok = said && said.protocol === SHARE_PROTOCOL && typeof said.digest === "string" &&
                 /^[0-9a-f]{16,64}$/.test(said.digest);
        return ok ? {digest: said.digest} : {unvouched: "another protocol"};
      });
    }).catch(function (e) { return {failed: String(e && e.message || e)}; });
  }

  /** What makes an answer to the share check the server's final word on the stream, in words, or
   *  null: a 4xx it will not change its mind about (`refusedForGood`), or a 200 that is not an event
   *  stream (the URL names a page, not the stream route). */
  function finalRefusal(answer) {
    if (answer.status && refusedForGood(answer.status)) {
      return "the server refused the stream (HTTP " + answer.status + ")" + (answer.reason ? ": " + answer.reason : "");
    }
    if (answer.status === 200 && answer.type && answer.type !== "text/event-stream") {
      return "the stream's URL answers with " + answer.type + ", not an event stream: it is not the SSE route " +
             "(a route returning hub.stream(request, channel))";
    }
    return null;
  }

  /** The name the tabs sharing `url` under `digest` meet on: channel, lock and lease. */
  function shareKey(url, digest) {
    return "sse-monitor:v" + SHARE_PROTOCOL + ":" + (digest || "unverified") + ":" + streamOf(url);
  }

  function eventKey(e) { return e.type + "\n" + e.id + "\n" + e.data; }

  /** The SSE text of one relayed event, for hx-sse to parse in a follower tab. */
  function sseText(e) {
    var text = e.type !== "message" ? "event: " + e.type + "\n" : "";
    e.data.split(/\r\n|\r|\n/).forEach(function (line) { text += "data: " + line + "\n"; });
    return text + (e.id ? "id: " + e.id + "\n" : "") + "\n";
  }

  // ---- a tab's role in its group, as a table like the monitor's states
  //
  //   pending  -> leader    it holds the lock or lease (Share.lead)
  //            -> follower  another tab does (Share.follow)
  //   leader   -> follower  a lower id leads too, or it hands over (lease)
  //   follower -> leader    the leader left or crashed, and this tab got the lock or lease
  //   any      -> left      the monitor detached, the page left or froze, the group ended
  // Share.become makes only these moves; any other is a bug in this file, said in console.error.

  var ROLE = Object.freeze({PENDING: "pending", LEADER: "leader", FOLLOWER: "follower", LEFT: "left"});
  var ROLE_MOVES = (function (P, L, F, X) {
    var table = {};
    table[P] = [L, F, X];
    table[L] = [F, X];
    table[F] = [L, X];
    table[X] = [];
    Object.keys(table).forEach(function (from) { Object.freeze(table[from]); });
    return Object.freeze(table);
  })(ROLE.PENDING, ROLE.LEADER, ROLE.FOLLOWER, ROLE.LEFT);

  // ---- the messages tabs send each other: each one checked before it is handled
  //
  // Any script of the origin can post on the channel (a buggy extension, a tab of another version, a
  // hostile page), so a message is handled only if it has this protocol's version, a known kind and
  // fields of the right types and sizes; anything else is dropped without a word.

  function isText(value, max) { return typeof value === "string" && value.length <= (max || MAX_NAME); }
  function isOptionalText(value) { return value === undefined || value === null || isText(value); }
  function isNames(list) {
    return Array.isArray(list) && list.length <= MAX_WANTS && list.every(function (name) { return isText(name); });
  }
  function isEvent(e) {
    return !!e && typeof e === "object" && isText(e.type) && isText(e.id, 4096) && isText(e.data, MAX_EVENT_DATA);
  }
  function isSnapshot(s) {
    return !!s && typeof s === "object" && TRANSITIONS.hasOwnProperty(s.state) &&
      typeof s.attempt === "number" && s.attempt >= 0 && typeof s.serverClosed === "boolean" &&
      (s.nextDelay === null || (typeof s.nextDelay === "number" && s.nextDelay >= 0)) && isOptionalText(s.reason);
  }
  function anything() { return true; }

  /** Each kind of message: the check of its fields, and the Share method that handles it (each
   *  handler says which role it applies to). */
  var MESSAGES = Object.freeze({
    hello: {valid: function (msg) { return isText(msg.since, 4096) && isNames(msg.wants); }, handle: "onHello"},
    wants: {valid: function (msg) { return isNames(msg.wants); }, handle: "onWants"},
    welcome: {valid: function (msg) {
      return isText(msg.to) && Array.isArray(msg.events) && msg.events.length <= RECENT && msg.events.every(isEvent) &&
        typeof msg.behind === "boolean" && isText(msg.head, 4096) && isSnapshot(msg.state);
    }, handle: "onWelcome"},
    event: {valid: function (msg) { return isEvent(msg.e); }, handle: "onEvent"},
    state: {valid: function (msg) { return isSnapshot(msg.state); }, handle: "onState"},
    retry: {valid: function (msg) { return isOptionalText(msg.reason); }, handle: "onRetry"},
    gone: {valid: function (msg) { return msg.cached === undefined || typeof msg.cached === "boolean"; }, handle: "onGone"},
    leader: {valid: anything, handle: "onLeader"},
    bye: {valid: function (msg) { return isOptionalText(msg.next); }, handle: "onBye"},
    claim: {valid: anything, handle: "onClaim"},
    held: {valid: anything, handle: "onHeld"},
    roll: {valid: anything, handle: "onRoll"},
    here: {valid: anything, handle: "onHere"},
    dropped: {valid: anything, handle: "onDropped"}
  });

  /** The message if it is one this version handles, else null. */
  function checkedMessage(msg) {
    if (!msg || typeof msg !== "object" || msg.v !== SHARE_PROTOCOL || !isText(msg.from) || !isOptionalText(msg.to) ||
        !MESSAGES.hasOwnProperty(msg.t)) return null;
    return MESSAGES[msg.t].valid(msg) ? msg : null;
  }

