"""Promises the hub keeps whoever calls it: publishing from many threads before the hub is bound,
refusing already-framed SSE text, and names that do not clash with FastHTML's."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from fasthtml.common import Li, sse_message

from sse_monitor import Hub


def test_publish_nowait_from_eight_threads_before_the_hub_is_bound():
    """A sync app publishing from worker threads before any stream opened (no lifespan) gets
    unique ids, a buffer within replay_size, and a channel that keeps working."""
    hub = Hub(replay_size=100)
    ids: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        try:
            for i in range(2000):
                ids.append(hub.publish_nowait("jobs", f"step {i}"))
        except BaseException as exc:      # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(ids) == 16000 and len(set(ids)) == 16000          # no duplicate ids
    channel = hub.stats()["channels"]["jobs"]
    assert channel["buffered"] == 100                            # never past replay_size
    assert channel["last_id"].endswith("-16000")
    last = hub.publish_nowait("jobs", "after")                    # still works afterwards
    assert last.endswith("-16001")


@pytest.mark.parametrize("framed", [sse_message(Li("hi")), sse_message("x", event="update"),
                                    "event: update\ndata: a\ndata: b\n\n"])
async def test_already_framed_sse_text_is_refused(framed):
    """`sse_message(...)` output would go out as `data: data: ...`: a ValueError says what to do."""
    hub = Hub()
    with pytest.raises(ValueError, match=r"already an SSE message.*publish\(channel, data, event="):
        await hub.publish("news", framed)
    with pytest.raises(ValueError, match="already an SSE message"):
        hub.publish_nowait("news", framed)
    assert await hub.publish("news", "data: is just text here")  # not a framed message: fine


def test_star_import_keeps_fasthtml_event_stream():
    """`from fasthtml.common import *` then `from sse_monitor import *` leaves FastHTML's
    `EventStream` in place; ours is `HubStream` (the old name still imports explicitly)."""
    code = ("from fasthtml.common import *\nimport fasthtml.common as fc\nfrom sse_monitor import *\n"
            "assert EventStream is fc.EventStream, EventStream\nassert HubStream\n"
            "from sse_monitor import EventStream as Old\nassert Old is HubStream\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
