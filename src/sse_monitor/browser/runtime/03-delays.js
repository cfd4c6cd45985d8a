  // ---------------------------------------------------------------- the delay policy
  //
  // Every wait before a new attempt, in one place: the backoff (reconnectDelay doubling up to
  // reconnectDelay x maxBackoffMultiplier, each wait drawn from [d x (1 - jitter), d] so a crowd
  // spreads out), the one immediate retry of a stream that was Live, and the server's planned return.

  /** Delay before reconnect attempt n (1-based): reconnectDelay * 2^(n-1), capped, minus jitter. */
  function backoff(config, attempt) {
    var cap = config.reconnectDelay * config.maxBackoffMultiplier;
    var delay = Math.min(config.reconnectDelay * Math.pow(2, Math.max(0, attempt - 1)), cap);
    return Math.round(delay * (1 - config.jitter * Math.random()));
  }

  /** Delay after failed attempt n (1-based) since the stream was last Live. A stream that was Live
   *  (droppedLive) gets one immediate retry, so a blip recovers before anyone sees it; the backoff
   *  schedule proper starts after it. */
  function delayAfterFailure(config, attempt, droppedLive) {
    if (!droppedLive) return backoff(config, attempt);
    return attempt === 1 ? 0 : backoff(config, attempt - 1);
  }

  /** Delay before coming back after the server's planned close (`reconnect_after_ms`). The server
   *  already spread its clients' returns (each stream got its own delay): only a little jitter is
   *  added (up to 10 %, at most 250 ms), so the spread stays flat. */
  function delayAfterServerClose(after) {
    return Math.round(after + Math.min(250, after * 0.1) * Math.random());
  }

  /** Is an HTTP status the server's final word on this stream, not worth a retry? A 4xx, but not
   *  408/429 (come back later), and not 401/403: a login (perhaps in another tab) may allow it. */
  function refusedForGood(status) {
    return status >= 400 && status < 500 && [401, 403, 408, 429].indexOf(status) === -1;
  }
