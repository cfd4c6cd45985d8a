"""What a Hub has done: the counts behind `Hub.stats()` and the Prometheus metrics.

Counting must not slow the streaming hot path, so nothing here is touched per event per stream:

- per stream, once: refused, ended (by reason), how its resume was answered;
- per event, once: published, received into a channel buffer, resets by reason;
- per channel wake-up, once: the fan-out latency histogram (`LatencyHistogram`);
- events and bytes sent to streams are read from the streams' cursors when someone asks
  (`Hub.stats()`): a stream that has sent up to position p of its channel's buffer has sent the
  bytes of the events before p, which the buffer keeps as running totals anyway.
"""
from __future__ import annotations

from bisect import bisect_left

from ..wire import RESET_REASONS
from .reports import BrowserStates

__all__ = ["Activity", "LatencyHistogram", "CLOSE_REASONS", "REFUSE_REASONS"]

# Why a stream ended. Fixed names, so a metric labelled with them stays small.
CLOSE_REASONS = (
    "client-gone",      # the client went away (or the connection failed)
    "send-timeout",     # cut off: stuck in one send longer than send_timeout
    "lagging",          # ended: fell behind the replay buffer or more than max_lag_events behind
    "shutdown",         # told `event: close` (or cut off) while the hub shut down
    "drain",            # told `event: close` by a drain
    "unusable",         # the channel cannot be streamed any more (a Redis key of another type)
    "unavailable",      # the event store could not answer the resume (503)
    "finished",         # sent its channel's `end` (Hub.end): the job or answer is over
    "error",            # anything else (the server cancelled the response, a bug)
)

# Why a stream was refused before it started.
REFUSE_REASONS = ("forbidden", "limit", "draining", "shutdown")


class LatencyHistogram:
    """Fixed-bucket histogram of seconds, cheap enough for once-per-wake-up observations.

    `counts[i]` holds the observations <= `BOUNDS[i]` and above the bound before it; the last
    slot holds those above every bound (Prometheus' `+Inf` bucket, made cumulative on export).
    """

    BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(self.BOUNDS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.BOUNDS, seconds)] += 1
        self.sum += seconds


class Activity:
    """A Hub's counters. Plain ints and small dicts keyed by the fixed names above."""

    __slots__ = ("closed", "refused", "resets", "resumes", "replayed_events",
                 "published", "received", "told", "ended_events", "ended_bytes", "fanout", "browser")

    def __init__(self) -> None:
        self.closed = dict.fromkeys(CLOSE_REASONS, 0)     # streams ended, by reason
        self.refused = dict.fromkeys(REFUSE_REASONS, 0)   # streams refused before they started
        self.resets = dict.fromkeys(RESET_REASONS, 0)   # `event: reset` sent to streams, by reason
        self.resumes = {"buffer": 0, "history": 0, "reset": 0}   # resumes, by what answered them
        self.replayed_events = 0                          # events sent again to resuming clients
        self.published = 0                                # events published by this process
        self.received = 0                                 # events entering this process's buffers
        self.told = 0                                     # streams told `event: close` (drain, shutdown)
        self.ended_events = 0                             # events sent by streams that have ended
        self.ended_bytes = 0                              # bytes sent by streams that have ended (and preludes)
        self.fanout = LatencyHistogram()                  # buffer append -> parked streams written
        self.browser = BrowserStates()                    # state changes browsers reported (reports.py)

    def reset_sent(self, reason: str, streams: int = 1) -> None:
        self.resets[reason] = self.resets.get(reason, 0) + streams
