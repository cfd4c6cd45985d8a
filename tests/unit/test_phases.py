"""The stream's and the hub's lifecycles (server/phases.py): a move outside the table is a bug,
logged and refused; the hub's public `closing` / `draining` follow its phase."""
from __future__ import annotations

import asyncio
import logging

import pytest

from sse_monitor.server.fanout import Channel, Subscriber
from sse_monitor.server.hub import Hub
from sse_monitor.server.phases import HUB_MOVES, STREAM_MOVES, HubPhase, StreamPhase, move, move_unless_ended


@pytest.mark.parametrize("table, phases", [(STREAM_MOVES, StreamPhase), (HUB_MOVES, HubPhase)])
def test_every_phase_has_its_moves_and_none_leads_back(table, phases):
    assert set(table) == set(phases)
    order = list(phases)          # declared in the order of a life: no move goes back to an earlier one
    for start, targets in table.items():
        assert all(order.index(target) > order.index(start) for target in targets), start


@pytest.mark.makes_a_phase_bug
def test_a_forbidden_move_is_logged_as_a_bug_and_refused(caplog):
    sub = Subscriber(Channel("c", "", 10, None), 0, 0)
    assert move(sub, StreamPhase.CUT_OFF, STREAM_MOVES)
    with caplog.at_level(logging.ERROR, logger="sse_monitor.phases"):
        assert not move(sub, StreamPhase.FINISHING, STREAM_MOVES)
    assert sub.phase is StreamPhase.CUT_OFF
    assert "Bug: Subscriber moved from cut-off to finishing" in caplog.text


def test_a_move_that_races_another_ending_leaves_the_first_ending_as_it_is(caplog):
    """A resume finds the channel's `end` after the hub had cut the stream off: it stays cut off
    (its task is being cancelled), and that race is no bug."""
    finishing, cut = Subscriber(Channel("c", "", 10, None), 0, 0), Subscriber(Channel("c", "", 10, None), 0, 0)
    move(cut, StreamPhase.CUT_OFF, STREAM_MOVES)
    with caplog.at_level(logging.ERROR, logger="sse_monitor.phases"):
        assert move_unless_ended(finishing, StreamPhase.FINISHING, STREAM_MOVES)
        assert move_unless_ended(finishing, StreamPhase.ENDING, STREAM_MOVES)   # the channel became unusable
        assert not move_unless_ended(cut, StreamPhase.FINISHING, STREAM_MOVES)
    assert (finishing.phase, cut.phase) == (StreamPhase.ENDING, StreamPhase.CUT_OFF)
    assert caplog.text == ""


async def test_drain_then_shutdown_moves_the_hub_forward_only(caplog):
    hub = Hub()
    assert hub.phase is HubPhase.SERVING and not hub.draining and not hub.closing
    hub.begin_drain(window_ms=0)
    assert hub.phase is HubPhase.DRAINING and hub.draining and not hub.closing
    hub.begin_shutdown()
    assert hub.phase is HubPhase.CLOSING and hub.closing and not hub.draining
    hub.begin_drain()               # too late to drain: nothing changes, and it is no bug
    hub.begin_shutdown()            # idempotent
    assert hub.phase is HubPhase.CLOSING
    await asyncio.sleep(0)
    assert "Bug" not in caplog.text
