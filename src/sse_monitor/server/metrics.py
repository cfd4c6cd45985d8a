"""Prometheus metrics for a Hub: what operators watch (the optional `metrics` extra).

A custom collector (`HubCollector`) reads `Hub.stats()` and, on Redis, the reader's own counts,
when Prometheus scrapes: nothing is added to the streaming hot path, and every number is the
hub's own (server/activity.py says how each is counted). Labels are fixed words (a phase, a
reason); channel names appear only for the channels an operator lists (`channels=`), because a
label per channel explodes with per-user or per-job channels.

Three ways to serve them:

- `metrics_endpoint(hub)`: a Starlette endpoint, `hub.metrics_route(app)` adds it as `GET /metrics`;
- `start_metrics_server(hub, port, tries=N)`: a port of its own per worker (`--workers N` share
  the app's port, so a scrape there would reach a random worker);
- `HubCollector(hub)`: register it in a registry of your own (`prometheus_client.REGISTRY`).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, start_http_server
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError:
    raise ImportError("sse_monitor's metrics need the prometheus_client package: "
                      "pip install 'fasthtml-sse-monitor[metrics]'") from None
from starlette.requests import Request
from starlette.responses import Response

from ..validate import check_int, check_number, check_str, validate_channel

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["HubCollector", "metrics_endpoint", "start_metrics_server"]

PREFIX = "sse_monitor_"


def _channels(channels: Iterable[str]) -> tuple[str, ...]:
    if isinstance(channels, str) or not isinstance(channels, Iterable):
        raise TypeError(f"channels: expected an iterable of channel names, got {type(channels).__name__}")
    names = []
    for name in channels:
        try:
            names.append(validate_channel(name))
        except ValueError as exc:
            raise ValueError(f"channels: {exc}") from None
    return tuple(dict.fromkeys(names))


class HubCollector(Collector):
    """Collects a Hub's metrics at scrape time (`prometheus_client` custom collector).

    `channels`: channel names that get per-channel series (open streams, buffered events);
    the default, none, keeps the series count fixed however many channels there are.
    Safe to scrape from another thread (`start_metrics_server`): the numbers are taken on the
    hub's event loop, waiting at most `timeout` seconds for it.
    """

    def __init__(self, hub: Hub, *, channels: Iterable[str] = (), timeout: float = 5.0) -> None:
        if not all(hasattr(hub, name) for name in ("stats", "backend", "loop")):
            raise TypeError(f"hub: expected a Hub, got {type(hub).__name__}")
        check_number("timeout", timeout)
        self.hub = hub
        self.channels = _channels(channels)
        self.timeout = float(timeout)

    def _read(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """`hub.stats()` and the backend's `reader_stats()`, taken on the hub's loop."""
        hub = self.hub
        reader = getattr(hub.backend, "reader_stats", None)

        def take() -> tuple[dict[str, Any], dict[str, Any] | None]:
            return hub.stats(), (reader() if reader is not None else None)

        loop = hub.loop
        if loop is None or not loop.is_running() or _running_loop() is loop:
            return take()
        future: concurrent.futures.Future[tuple[dict[str, Any], dict[str, Any] | None]] = \
            concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(take())
            except BaseException as exc:   # handed to the scraping thread
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(self.timeout)

    def collect(self) -> Iterator[Metric]:
        stats, reader = self._read()

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(PREFIX + name, doc, value=value)

        def by(metric: GaugeMetricFamily | CounterMetricFamily, counts: dict[str, int]) -> Metric:
            for label, value in counts.items():
                metric.add_metric([label], value)
            return metric

        yield by(GaugeMetricFamily(PREFIX + "streams", "Open streams by phase: starting (resuming), live, "
                                   "sending (a send paused by flow control), closing (told to go)",
                                   labels=["phase"]), stats["phases"])
        yield counter("streams_opened", "Streams opened (attached to a channel)", stats["opened"])
        yield by(CounterMetricFamily(PREFIX + "streams_closed", "Streams ended, by reason", labels=["reason"]),
                 stats["closed"])
        yield by(CounterMetricFamily(PREFIX + "streams_refused", "Streams refused before they started "
                                     "(403, 503 at a limit or while draining, close during shutdown)",
                                     labels=["reason"]), stats["refused"])
        yield counter("events_published", "Events published by this process", stats["published"])
        yield counter("events_received", "Events entering this process's channel buffers "
                      "(from every publisher, on Redis)", stats["received"])
        yield counter("events_sent", "Events written to streams (one event to N streams counts N), "
                      "replays included", stats["events_sent"])
        yield counter("sent_bytes", "Bytes written to streams (events, heartbeats, replays, "
                      "resets, close frames; before HTTP framing)", stats["bytes_sent"])
        yield by(CounterMetricFamily(PREFIX + "resumes", "Resuming clients, by what answered them: the "
                                     "buffer, the backend's history, or a reset", labels=["outcome"]),
                 stats["resumes"])
        yield counter("replayed_events", "Events sent again to resuming clients", stats["replayed_events"])
        yield by(CounterMetricFamily(PREFIX + "resets", "`event: reset` sent to streams, by reason",
                                     labels=["reason"]), stats["reset_reasons"])
        yield counter("slow_client_cutoffs", "Streams cut off for being slow (stuck in a send longer than "
                      "send_timeout, or behind the replay buffer)", stats["slow_disconnects"])
        yield counter("streams_told_to_close", "Streams told `event: close` by a drain or a shutdown",
                      stats["told"])
        yield GaugeMetricFamily(PREFIX + "draining", "1 while the hub drains (new streams get 503)",
                                value=int(stats["draining"]))
        yield GaugeMetricFamily(PREFIX + "shutting_down", "1 once the hub shuts down",
                                value=int(stats["closing"]))
        yield GaugeMetricFamily(PREFIX + "channels", "Channels with a buffer in this process",
                                value=len(stats["channels"]))
        fanout = stats["fanout_seconds"]
        buckets, running = [], 0
        for bound, count in zip([*fanout["bounds"], float("inf")], fanout["counts"], strict=True):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
        yield HistogramMetricFamily(PREFIX + "fanout_seconds", "From an event entering a channel's buffer "
                                    "until every parked stream of the channel was written to (a send "
                                    "paused by flow control finishes later)",
                                    buckets=buckets, sum_value=fanout["sum"])
        browser = CounterMetricFamily(PREFIX + "browser_states", "State changes browsers reported "
                                      "(hub.reports_route), by state and reason", labels=["state", "reason"])
        for key, n in stats.get("browser_states", {}).items():
            browser.add_metric(key.split("/", 1), n)
        yield browser
        if self.channels:
            streams = GaugeMetricFamily(PREFIX + "channel_streams", "Open streams of a listed channel",
                                        labels=["channel"])
            buffered = GaugeMetricFamily(PREFIX + "channel_buffered_events", "Events in a listed "
                                         "channel's replay buffer in this process", labels=["channel"])
            for name in self.channels:
                channel = stats["channels"].get(name, {})
                streams.add_metric([name], channel.get("subscribers", 0))
                buffered.add_metric([name], channel.get("buffered", 0))
            yield streams
            yield buffered
        if reader is not None:
            yield GaugeMetricFamily(PREFIX + "redis_reader_connected", "1 while this worker's Redis reader "
                                    "reaches Redis", value=int(reader["connected"]))
            yield counter("redis_reader_errors", "Failed rounds of the Redis reader (errors, a new "
                          "Redis instance)", reader["errors"])
            yield counter("redis_reader_restarts", "Redis reader tasks restarted by their supervisor",
                          reader["restarts"])
            yield GaugeMetricFamily(PREFIX + "redis_reader_lag_seconds", "Delivery time here minus the "
                                    "XADD time of the newest entry read (Redis's clock)",
                                    value=reader["lag_seconds"])
            yield GaugeMetricFamily(PREFIX + "redis_channels_followed", "Channels the Redis reader follows",
                                    value=reader["channels"])


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _registry(hub: Hub, channels: Iterable[str], registry: CollectorRegistry | None) -> CollectorRegistry:
    if registry is not None and not isinstance(registry, CollectorRegistry):
        raise TypeError(f"registry: expected a prometheus_client CollectorRegistry, got {type(registry).__name__}")
    collector = HubCollector(hub, channels=channels)
    registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
    registry.register(collector)
    return registry


def metrics_endpoint(hub: Hub, *, channels: Iterable[str] = (),
                     registry: CollectorRegistry | None = None) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint answering the Prometheus text format with `hub`'s metrics.

    `registry`: None serves a registry of its own holding only the hub's metrics; give one
    (e.g. `prometheus_client.REGISTRY`, with the process and your app's own metrics) and the
    hub's collector is registered in it and the endpoint serves all of it.
    """
    served = _registry(hub, channels, registry)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(served), media_type=CONTENT_TYPE_LATEST)

    return metrics


def start_metrics_server(hub: Hub, port: int, *, addr: str = "127.0.0.1", tries: int = 1,
                         channels: Iterable[str] = (), registry: CollectorRegistry | None = None) -> int:
    """Serve `hub`'s metrics on a port of their own, in a thread; returns the port it took.

    For several workers (`uvicorn --workers N`, which share the app's port): call it in each
    worker with `tries=N`, and each takes the first free port of `port` ... `port + N - 1`;
    Prometheus scrapes all N (its `instance` label tells the workers apart).
    """
    check_int("port", port, minimum=0)
    check_int("tries", tries, minimum=1)
    if port + tries - 1 > 65535:
        raise ValueError(f"port: {port} to {port + tries - 1} goes beyond 65535")
    if not check_str("addr", addr):
        raise ValueError("addr: expected a host address to listen on, such as '127.0.0.1'")
    served = _registry(hub, channels, registry)
    error: OSError | None = None
    for candidate in range(port, port + tries):
        try:
            server, _ = start_http_server(candidate, addr=addr, registry=served)
        except OSError as exc:          # taken (by another worker): the next one
            error = exc
            continue
        return int(server.server_address[1])
    raise OSError(f"port: no free port in {port}-{port + tries - 1} on {addr} ({error})")
