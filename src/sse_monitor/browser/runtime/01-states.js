/*
 * fasthtml-sse-monitor runtime.
 *
 * Watches htmx SSE elements and owns their reconnection: exponential backoff with jitter and a cap,
 * a give-up point with click-to-retry, instant retry when the browser comes back online or the tab
 * becomes visible, stall detection from heartbeats, obedience to the server's `close` event, and no
 * lost events (the last event id goes into the new connection's `lastEventId` query parameter).
 *
 * The page describes each monitor in markup: a status container `[data-sse-monitor]` (or a
 * `<template data-sse-monitor>` carrying indicators for a container the page built itself) with
 * `data-sse-element` (the SSE element's id) and `data-sse-config` (JSON). Nothing here evaluates
 * strings or builds HTML: indicators are toggled with `hidden`, the countdown is set as text.
 *
 * One file, made of parts with one concern each (src/sse_monitor/browser/runtime/, joined in order
 * by `make runtime`; edit the parts): 01 the states and their transitions; 02 configuration and
 * URLs; 03 the delay policy; 04 page setup problems; 05 the htmx 2 transport (htmx-ext-sse); 06 the
 * htmx 4 transport (hx-sse, with the one adapter for its private fields); tab sharing: 07 its
 * protocol (roles, messages, the server's vouching), 08 the election, 09 the relay, 10 the stand-ins
 * and the page lifecycle; 11 the monitor; 12 discovery and page events.
 */
(function () {
  "use strict";
  if (window.SSEMonitor) return; // several inline copies on one page define it once

  // ---------------------------------------------------------------- the states and their transitions
  //
  // One state machine per monitor. Its state is the container's `data-state`, the indicator shown
  // (`data-sse-state`) and the `sse-monitor:state` event's `state`: these strings are public.
  //
  //   connecting -> active -> (drop | stall) -> reconnecting/error (wait) -> connecting -> ...
  //   ... after maxReconnectAttempts -> disconnected (click, Enter or Space on the indicator: retry)
  //   server `close` -> disconnected, or with {"reconnect_after_ms": N} -> reconnecting, back after N ms
  //   browser offline -> offline (no attempts) -> online -> connecting at once
  //   after a stall, an open stream stays connecting (the attempt still counts) until data arrives
  //   the SSE element leaves the page -> disconnected; a new one -> connecting (active if htmx opened it)
  //   broken page setup (no htmx, no or the wrong SSE extension, an hx-sse of another shape)
  //     -> error, reason "setup", no retries; it can be found from any state
  //   the server refuses the stream for good (a 4xx but 401/403/408/429, with its reason as text)
  //     -> error, reason "refused", no retries (a click asks again)
  //
  // Every change, as TRANSITIONS lists it (transition() makes no other: anything else is a bug in this
  // file, said in console.error, and the state stays):
  //   connecting   -> active        opened (after a stall: once an event or heartbeat arrives)
  //                -> reconnecting  dropped, stalled or failed to start; server `close` with a delay
  //                -> error         refused (an HTTP error), or a setup problem
  //                -> disconnected  gave up, server `close`, element left
  //                -> offline       the browser went offline
  //                -> connecting    said again: htmx's own connect was under way when the monitor came
  //   active       -> the same, and -> active again (Live confirmed), -> connecting (a follower tab that
  //                   becomes the leader reconnects; the page still loading its scripts)
  //   reconnecting -> connecting (the wait is over, online, tab visible, click), error (a setup problem
  //                   found as the retry starts), disconnected, offline
  //   error        -> the same, and -> error again (the setup checked again on a click)
  //   disconnected -> connecting (click, tab visible, a new element), active (a new element htmx had
  //                   already opened), error (setup), disconnected again (another reason), offline
  //   offline      -> connecting (online, click), error (setup), disconnected (element left)
  //   any but finished -> finished   the server's `end` (Hub.end): the channel is over, with an outcome
  //                                  (done, cancelled, error, interrupted); no retries, a click does nothing
  //   finished     -> connecting, active (a new element: another job), error (setup), disconnected
  //                   (element left), finished again (a follower tab hearing it twice)
  // Each change fires `sse-monitor:state`, a repeated state too. A follower tab (tab sharing) copies
  // its leader's state through the same check; a jump it has no edge for goes through connecting.

  var STATE = Object.freeze({
    CONNECTING: "connecting",     // a connection is being made (or an open one is not proven yet)
    ACTIVE: "active",             // Live: the stream is open and delivering
    RECONNECTING: "reconnecting", // it dropped or stalled: waiting (backoff) before the next attempt
    ERROR: "error",               // refused (an HTTP error) and waiting, or a page setup problem
    DISCONNECTED: "disconnected", // given up, closed by the server, or the element left: click retries
    OFFLINE: "offline",           // the browser is offline: no attempts until it is online again
    FINISHED: "finished"          // the server ended the channel (Hub.end: a job, an answer): no retries
  });

  var TRANSITIONS = (function (C, A, R, E, D, O, F) {
    var table = {};
    table[C] = [A, R, E, D, O, C, F];
    table[A] = [A, R, E, D, O, C, F];
    table[R] = [C, E, D, O, F];
    table[E] = [C, E, D, O, F];
    table[D] = [C, A, E, D, O, F];
    table[O] = [C, E, D, F];
    table[F] = [C, A, E, D, F];
    Object.keys(table).forEach(function (from) { Object.freeze(table[from]); });
    return Object.freeze(table);
  })(STATE.CONNECTING, STATE.ACTIVE, STATE.RECONNECTING, STATE.ERROR, STATE.DISCONNECTED, STATE.OFFLINE,
     STATE.FINISHED);

  /** The one way a monitor's state changes: checked against TRANSITIONS, then shown and announced. */
  function transition(m, to, reason, problem) {
    var from = m.state;
    if ((TRANSITIONS[from] || []).indexOf(to) === -1) {
      console.error("[sse-monitor] Bug: state change " + from + " -> " + to + " (" + (reason || "no reason") +
                    ") is not in TRANSITIONS; it was not made. Monitor: " + m.id);
      return;
    }
    m.enter(to, reason || null, problem || null);
  }

  var TRANSIENT = [STATE.CONNECTING, STATE.RECONNECTING, STATE.ERROR];
  /** What the finished indicator says for each outcome of Hub.end (indicators.py OUTCOME_LABELS). */
  var OUTCOME_WORDS = Object.freeze({done: "Finished", cancelled: "Cancelled", error: "Failed",
                                     interrupted: "Interrupted"});
  var DEFAULTS = {
    maxReconnectAttempts: 30, reconnectDelay: 1000, maxBackoffMultiplier: 4, monitorVisibility: true,
    logToConsole: false, stallTimeout: 45000, stallAfterHeartbeat: true, closeEvent: "close", endEvent: "end",
    heartbeatEvent: "heartbeat",
    resetEvent: "reset", reconnectOnOnline: true, jitter: 0.5, indicatorDelay: 500, showCountdown: true,
    shareAcrossTabs: true, shareUnverifiedStreams: false
  };
  var monitors = new Map(); // connection id -> Monitor

