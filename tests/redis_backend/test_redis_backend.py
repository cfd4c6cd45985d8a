"""RedisBackend against a real redis-server: configuration, errors, history and resets."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from sse_monitor import BackendUnavailable, Hub, RedisBackend, backend_from_url
from sse_monitor.scaleout import redis_pubsub
from support.redis_server import RedisServer
from support.servers import REPO_DIR, TESTS_DIR, free_port
from support.waiting import wait_for


async def assert_round_trip(backend: RedisBackend, channel: str, event: str | None, data: str) -> None:
    """Follow `channel`, publish one event, and see the reader deliver exactly it."""
    got = collecting(backend)
    await backend.connect()
    backend.open_channel(channel)
    await backend.ready(channel)
    event_id = await backend.publish(channel, event, data)
    await wait_for(lambda: got)
    assert got == [(channel, event_id, event, data)]


def collecting(backend: RedisBackend) -> list[tuple]:
    got: list[tuple] = []
    backend.bind(lambda *event: got.append(event))
    return got


@pytest.mark.parametrize("kwargs, field", [
    ({"url": "http://localhost"}, "url"),
    ({"prefix": "has space"}, "prefix"),
    ({"prefix": ""}, "prefix"),            # would read any key of the database as a channel
    ({"prefix": "a:x:"}, "prefix"),        # a:x: + y == a: + x:y: two hubs sharing keys
    ({"prefix": "sse-monitor"}, "prefix"),
    ({"maxlen": 0}, "maxlen"),
    ({"reader": "poll"}, "reader"),
    ({"block_ms": -1}, "block_ms"),
    ({"retry_delay": 0}, "retry_delay"),
    ({"url": "redis://127.0.0.1:6379/0?protocol=3"}, "url"),     # replies the reader does not parse
])
def test_bad_configuration_is_a_value_error_naming_the_argument(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        RedisBackend(**kwargs)


@pytest.mark.parametrize("kwargs, field", [
    ({"url": 42}, "url"), ({"maxlen": True}, "maxlen"), ({"start_timeout": "5"}, "start_timeout"),
    ({"prefix": None}, "prefix"), ({"block_ms": 1.5}, "block_ms"),
])
def test_wrong_types_are_a_type_error_naming_the_argument(kwargs, field):
    """As in Starlette: a wrong type is a TypeError (not a ValueError); bool is not an int."""
    with pytest.raises(TypeError, match=f"^{field}:"):
        RedisBackend(**kwargs)


def test_backend_chosen_by_url():
    assert type(backend_from_url("memory://")).__name__ == "MemoryBackend"
    backend = backend_from_url("redis://:secret@127.0.0.1:6390/2")
    assert isinstance(backend, RedisBackend)
    assert "secret" not in repr(backend) and "***" in repr(backend)
    assert isinstance(Hub(backend="redis://127.0.0.1:6390/0").backend, RedisBackend)
    with pytest.raises(ValueError, match="^backend:"):
        backend_from_url("kafka://x")
    with pytest.raises(ValueError, match="^backend:"):
        Hub(backend="not a url")


async def test_unavailable_at_start_is_a_clear_error():
    backend = RedisBackend(f"redis://:hunter2@127.0.0.1:{free_port()}/0", connect_timeout=1)
    with pytest.raises(BackendUnavailable) as error:
        await backend.connect()
    message = str(error.value)
    assert "is unavailable: connecting failed" in message and "hunter2" not in message
    with pytest.raises(BackendUnavailable, match="publishing to 'news'"):
        await backend.publish("news", None, "x")
    await backend.aclose()


def test_app_with_unreachable_redis_does_not_start(tmp_path):
    """uvicorn's lifespan startup fails at once with our message instead of serving dead streams."""
    port, dead = free_port(), free_port()
    env = {"HUB_REDIS_URL": f"redis://127.0.0.1:{dead}/0", "PYTHONPATH": f"{TESTS_DIR}:{REPO_DIR / 'src'}"}
    import os
    proc = subprocess.run([sys.executable, "-m", "uvicorn", "server.sse_app:app", "--port", str(port)],
                          env={**os.environ, **env}, cwd=REPO_DIR, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert f"Redis at redis://127.0.0.1:{dead}/0 is unavailable" in proc.stderr


async def test_password_protected_redis():
    with RedisServer(password="s3cret pass") as server:
        wrong = RedisBackend(server.url.replace("s3cret pass", "nope"))
        with pytest.raises(BackendUnavailable) as error:
            await wrong.connect()
        assert "nope" not in str(error.value)
        await wrong.aclose()

        backend = RedisBackend(server.url)
        await assert_round_trip(backend, "c", "update", "hello")
        await backend.aclose()


async def test_tls_redis_with_a_verified_certificate():
    with RedisServer(password="pw", tls=True) as server:
        plain = RedisBackend(server.url.replace("rediss://", "redis://").split("?")[0], connect_timeout=2)
        with pytest.raises(BackendUnavailable):
            await plain.connect()                # a TLS port does not speak plain Redis
        await plain.aclose()
        backend = RedisBackend(server.url)
        await assert_round_trip(backend, "t", None, "over TLS")
        await backend.aclose()


@pytest.mark.parametrize("reader", ["xread", "pubsub", "pubsub-one-reply-per-read"])
async def test_one_reader_follows_channels_as_they_come_and_go(redis_server, reader, monkeypatch):
    if reader == "pubsub-one-reply-per-read":   # a redis-py whose connection hides its socket's stream
        monkeypatch.setattr(redis_pubsub, "_socket_stream", lambda connection: None)
        reader = "pubsub"
    backend = RedisBackend(redis_server.url, block_ms=60_000, reader=reader)   # no timeout involved
    got = collecting(backend)
    before = await backend.publish("a", None, "before anyone listened")
    backend.open_channel("a")
    await backend.ready("a")
    a1 = await backend.publish("a", None, "a1")
    backend.open_channel("b")
    await backend.ready("b")
    b1 = await backend.publish("b", "x", "b1")
    a2 = await backend.publish("a", None, "a2")
    await wait_for(lambda: len(got) == 3)
    # in order per channel
    assert [e for e in got if e[0] == "a"] == [("a", a1, None, "a1"), ("a", a2, None, "a2")]
    assert [e for e in got if e[0] == "b"] == [("b", b1, "x", "b1")]
    assert before not in [event[1] for event in got]
    assert backend.position("a") == a2 and backend.last_id("b") == b1
    backend.close_channel("a")
    await backend.publish("a", None, "nobody here follows a")
    b2 = await backend.publish("b", None, "b2")
    await wait_for(lambda: len(got) == 4)
    assert got[3] == ("b", b2, None, "b2")
    # one connection reads for the worker: a blocked XREAD, or one Pub/Sub connection on b only
    readers = [c for c in (await backend._commands().client_list())
               if "xread" in c.get("cmd", "") or int(c.get("sub", 0)) > 0]
    assert len(readers) == 1 and readers[0].get("sub", "0") == ("1" if reader == "pubsub" else "0"), readers
    await backend.aclose()


async def test_history_replays_or_says_why_not(redis_server):
    backend = RedisBackend(redis_server.url, maxlen=50)
    collecting(backend)
    backend.open_channel("h")
    await backend.ready("h")
    ids = [await backend.publish("h", None, f"e{i}") for i in range(5)]
    replay = await backend.history("h", ids[1], limit=100)
    assert [(e.id, e.data) for e in replay.events] == [(i, f"e{n}") for n, i in enumerate(ids) if n > 1]
    assert replay.reset is None
    assert (await backend.history("h", ids[-1], 100)).events == []
    assert (await backend.history("h", ids[0], limit=2)).reset == "too-old"    # more than the hub keeps
    assert (await backend.history("h", "garbage", 100)).reset == "malformed"
    assert (await backend.history("h", "99999999999999-0", 100)).reset == "unknown-id"
    assert (await backend.history("never-used", ids[0], 100)).reset == "unknown-id"
    # beyond the stream's cap (MAXLEN ~ trims whole nodes of 100 entries): the gap is detected
    for _ in range(3):
        await asyncio.gather(*(backend.publish("h", None, "filler") for _ in range(100)))
    assert (await backend.history("h", ids[0], 10_000)).reset == "too-old"
    await backend.aclose()


async def test_ids_from_a_lost_redis_are_reset_not_replayed(redis_server):
    backend = RedisBackend(redis_server.url)
    collecting(backend)
    old = await backend.publish("r", None, "lost with the server")
    redis_server.kill()
    redis_server.start()
    await backend.publish("r", None, "after the restart")
    assert (await backend.history("r", old, 100)).reset == "unknown-id"
    await backend.aclose()


async def test_reader_resumes_after_redis_restart_without_loss(redis_server):
    backend = RedisBackend(redis_server.url, retry_delay=0.05, max_retry_delay=0.2)
    got = collecting(backend)
    backend.open_channel("k")
    await backend.ready("k")
    first = await backend.publish("k", None, "1")
    await wait_for(lambda: len(got) == 1)
    redis_server.kill()
    with pytest.raises(BackendUnavailable):
        await backend.publish("k", None, "refused while down")
    await wait_for(lambda: not backend.connected)
    redis_server.start()
    later = [await backend.publish("k", None, str(n)) for n in (2, 3)]
    await wait_for(lambda: len(got) == 3)
    assert [event[1] for event in got] == [first, *later]
    assert backend.connected
    await backend.aclose()


def test_publish_without_a_running_loop(redis_server):
    hub = Hub(backend=RedisBackend(redis_server.url), handle_signals=False)
    event_id = hub.publish_nowait("sync", "from a plain function")
    assert hub.last_event_id("sync") == event_id
    assert asyncio.run(hub.backend.history("sync", "0-0", 10)).events[0].data == "from a plain function"


async def test_a_channel_opened_while_the_reader_sweeps_starts_at_once(redis_server):
    """Every `block_ms` the Pub/Sub reader sweeps its channels, a round trip to Redis. A page that
    subscribes to a new channel meanwhile must have it followed then, not a sweep later (it was:
    its wake-up was lost, and `ready` waited up to `block_ms`, 5 s by default: the page got a 503
    on a loaded machine, where the sweep's round trip is long)."""
    backend = RedisBackend(redis_server.url, block_ms=2000)
    collecting(backend)
    backend.open_channel("steady")
    await backend.ready("steady")
    pubsub, sweeps, opened = backend._pubsub, 0, asyncio.Event()
    sweep = pubsub._sweep

    async def sweep_as_a_page_subscribes(client):
        nonlocal sweeps
        sweeps += 1
        if sweeps == 1:
            backend.open_channel("late")
            opened.set()
            await asyncio.sleep(0.05)         # the round trip, as on a loaded machine
        await sweep(client)

    pubsub._sweep = sweep_as_a_page_subscribes
    await asyncio.wait_for(opened.wait(), 5)
    await backend.ready("late")
    assert sweeps == 1, "the channel opened during a sweep waited for the next one"
    await backend.aclose()


async def test_a_channel_opened_while_the_xread_reader_checks_its_streams_starts_at_once(redis_server):
    """The same with `reader="xread"`: a channel opened while the reader checks its streams for
    lost data (after an idle XREAD) must start before the next XREAD, which would leave it out and
    block for up to `block_ms`."""
    backend = RedisBackend(redis_server.url, reader="xread", block_ms=300)
    collecting(backend)
    backend.open_channel("steady")
    await backend.ready("steady")
    opened, premature = asyncio.Event(), []
    check, xread = backend._check_streams, backend._xread

    async def check_as_a_page_subscribes(client, *args, **kwargs):
        if not opened.is_set():
            backend.open_channel("late")
            opened.set()
            await asyncio.sleep(0.05)         # the round trip, as on a loaded machine
        return await check(client, *args, **kwargs)

    async def xread_noting_the_late_channel(client, streams):
        if opened.is_set() and not backend._started["late"].is_set():
            premature.append(streams)
        return await xread(client, streams)

    backend._check_streams, backend._xread = check_as_a_page_subscribes, xread_noting_the_late_channel
    await asyncio.wait_for(opened.wait(), 5)
    await backend.ready("late")
    assert premature == [], "an XREAD left out the channel opened during the check"
    await backend.aclose()


async def test_a_channel_closed_and_reopened_at_once_starts_afresh(redis_server):
    """The last subscriber leaves and a new one arrives while the reader's XREAD is in flight."""
    backend = RedisBackend(redis_server.url)   # the default start_timeout: this is about order, not speed
    got = collecting(backend)
    for round_ in range(100):     # a reopen racing the XREAD's cancel once stalled ~1 round in 100
        backend.open_channel("flap")
        await backend.ready("flap")
        event_id = await backend.publish("flap", None, f"r{round_}")
        await wait_for(lambda event_id=event_id: got and got[-1][1] == event_id)
        await backend.publish("flap", None, "published as the channel closes")
        backend.close_channel("flap")
    assert [e[3] for e in got if e[3].startswith("r")] == [f"r{n}" for n in range(100)]
    assert len({e[1] for e in got}) == len(got)           # nothing delivered twice
    await backend.aclose()
