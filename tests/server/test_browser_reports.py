"""An operator sees reconnects as the browsers see them: each page posts its monitor's state changes
(the README's sendBeacon recipe) to `hub.reports_route`, and /metrics counts them by state and
reason. Anyone can post there, so nothing posted may grow the series or the server's memory.

Real uvicorn on loopback (tests/server/sse_app.py), posting as `navigator.sendBeacon` does: a
text/plain body.
"""
from __future__ import annotations

from server.test_metrics import scrape, value
from support.http_clients import AsyncClient

BEACON = {"Content-Type": "text/plain;charset=UTF-8"}


def browser_series(samples) -> dict[tuple[str, str], float]:
    return {(dict(labels)["state"], dict(labels)["reason"]): n for (name, labels), n in samples.items()
            if name == "sse_monitor_browser_states_total"}


async def test_reported_state_changes_are_counted_by_state_and_reason(start_server):
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        assert browser_series(await scrape(http)) == {}
        for report in ('{"state": "active", "reason": null}',
                       '[{"state": "reconnecting", "reason": "stalled"},'
                       ' {"state": "reconnecting", "reason": "stalled"}]',
                       '{"state": "error", "reason": "http-503"}',
                       '{"state": "disconnected", "reason": "my-app-said-bye-to-user-42"}'):
            answer = await http.post("/sse-monitor/reports", content=report, headers=BEACON)
            assert answer.status_code == 204, answer.text
        samples = await scrape(http)
        assert browser_series(samples) == {("active", "none"): 1, ("reconnecting", "stalled"): 2,
                                           ("error", "http-5xx"): 1, ("disconnected", "other"): 1}
        assert value(samples, "sse_monitor_browser_states_total", state="reconnecting", reason="stalled") == 2
        stats = (await http.get("/stats")).json()
        assert stats["browser_states"]["reconnecting/stalled"] == 2


async def test_what_a_post_may_say_is_bounded_and_bad_ones_are_refused_with_a_reason(start_server):
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        post = lambda body: http.post("/sse-monitor/reports", content=body, headers=BEACON)  # noqa: E731
        for i in range(300):   # a script posting made-up reasons: they all count as "other"
            assert (await post(f'{{"state": "error", "reason": "made-up-{i}"}}')).status_code == 204
        refused = {
            "not json": 400,
            '{"state": "hacked"}': 400,
            '{"reason": "stalled"}': 400,
            "[]": 400,
            "[" + ",".join(['{"state": "active"}'] * 21) + "]": 400,
            '"active"': 400,
            '{"state": "active", "reason": "' + "x" * 5000 + '"}': 413,
        }
        for body, status in refused.items():
            answer = await post(body)
            assert answer.status_code == status, (body[:40], answer.status_code)
            assert answer.text.startswith(("bad report:", "report too large:")), answer.text
        assert (await http.get("/sse-monitor/reports")).status_code == 405
        series = browser_series(await scrape(http))
        assert series == {("error", "other"): 300}, "refused posts counted nothing; made-up reasons share one series"
