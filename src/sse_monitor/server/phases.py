"""The lifecycles of a stream and of a hub, as tables: each phase, and the moves allowed from it.

Like the browser runtime's `STATE` + `TRANSITIONS`: a phase changes only through `move`, which
checks the table. A move outside it is a bug in this package; it is logged and refused, never
raised, as the code that makes a move is often a loop that every other stream depends on (the
hub's ticker, a backend callback). A move that can race another way of ending is made with
`move_unless_ended`, which leaves a stream that has already ended another way as it is.

A stream's phase is how *this side* means to end it. Whether its client has gone is another
fact (`Subscriber.client_gone`), not a phase: a client can leave in any phase, and a cut-off
stream's task needs both, to know that its cancellation is the hub's and that its connection
has closed.
"""
from __future__ import annotations

import logging
from enum import Enum
from typing import Protocol, TypeVar

__all__ = ["StreamPhase", "STREAM_MOVES", "HubPhase", "HUB_MOVES", "move", "move_unless_ended"]

log = logging.getLogger("sse_monitor.phases")


class StreamPhase(Enum):
    """Where one open stream (`fanout.Subscriber`) is in its life."""

    STREAMING = "streaming"   # sending what its channel has, as it comes
    FINISHING = "finishing"   # what it sends next holds the channel's `end`: then the response ends
    ENDING = "ending"         # the channel cannot be streamed any more: end after what is buffered
    CUT_OFF = "cut-off"       # the hub gave up on it (stuck in a send, or shutdown): task cancelled


STREAM_MOVES: dict[StreamPhase, frozenset[StreamPhase]] = {
    StreamPhase.STREAMING: frozenset({StreamPhase.FINISHING, StreamPhase.ENDING, StreamPhase.CUT_OFF}),
    # a channel that becomes unusable ends a finishing stream at once, as it ends any other
    StreamPhase.FINISHING: frozenset({StreamPhase.ENDING, StreamPhase.CUT_OFF}),
    StreamPhase.ENDING: frozenset({StreamPhase.CUT_OFF}),
    StreamPhase.CUT_OFF: frozenset(),
}


class HubPhase(Enum):
    """Where a `Hub` is in its life."""

    SERVING = "serving"       # opens streams and keeps them
    DRAINING = "draining"     # a rolling deploy: new streams get 503, open ones are told to go in batches
    CLOSING = "closing"       # shutting down: every stream is told to go, new ones get `close` at once


HUB_MOVES: dict[HubPhase, frozenset[HubPhase]] = {
    HubPhase.SERVING: frozenset({HubPhase.DRAINING, HubPhase.CLOSING}),
    HubPhase.DRAINING: frozenset({HubPhase.CLOSING}),
    HubPhase.CLOSING: frozenset(),
}

P = TypeVar("P", StreamPhase, HubPhase)


class Phased(Protocol[P]):
    phase: P


def move(owner: Phased[P], to: P, moves: dict[P, frozenset[P]]) -> bool:
    """Move `owner` to phase `to` if its table allows it; otherwise log the bug and refuse (False)."""
    if not move_unless_ended(owner, to, moves):
        log.error("sse_monitor: Bug: %s moved from %s to %s, which its table forbids",
                  type(owner).__name__, owner.phase.value, to.value)
        return False
    return True


def move_unless_ended(owner: Phased[P], to: P, moves: dict[P, frozenset[P]]) -> bool:
    """A move that can race another way of ending (a stream's channel becoming unusable, or its
    cut-off, during a resume's awaits): made if the table allows it, else `owner` ends as it already
    does. No bug: the race is expected."""
    if to not in moves[owner.phase]:
        return False
    owner.phase = to
    return True
