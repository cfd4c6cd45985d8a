"""The Grafana dashboard in examples/deploy loads as a dashboard and queries only metrics a running
hub serves: a worker on Redis (so the reader's metrics are there too), scraped after a stream, an
event and a browser report, and compared name by name with every query of the dashboard."""
from __future__ import annotations

import json
import re
from pathlib import Path

from server.clients import open_stream
from server.test_metrics import scrape
from support.http_clients import AsyncClient

DASHBOARD = Path(__file__).parents[2] / "examples/deploy/grafana-dashboard.json"


def queries(dashboard: dict) -> list[str]:
    found = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    found += [var["query"]["query"] for var in dashboard["templating"]["list"]]
    return found


def test_the_dashboard_is_a_grafana_dashboard_with_a_prometheus_input():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}" and panel["targets"], panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


async def test_every_metric_the_dashboard_queries_is_served(start_worker, redis_server):
    worker = start_worker()
    stream = await open_stream(worker.port, "/events/ticks")
    async with AsyncClient(base_url=worker.url, timeout=10) as http:
        await http.post("/publish/ticks", params={"n": 2})
        await stream.read_events(2, timeout=5)
        assert (await http.post("/sse-monitor/reports", content='{"state": "active"}')).status_code == 204
        served = {name for name, _ in await scrape(http)}
    stream.close()
    asked = {name for query in queries(json.loads(DASHBOARD.read_text()))
             for name in re.findall(r"\bsse_monitor_[a-z_]+", query)}
    assert asked, "the dashboard queries sse_monitor metrics"
    assert sorted(asked - served) == [], "queried but not served"
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in served}
    unused = {f for f in families if not any(f in name for name in asked)} - {
        "sse_monitor_channel_streams", "sse_monitor_channel_buffered_events"}   # opt-in, per listed channel
    assert sorted(unused) == [], "served but not on the dashboard"
