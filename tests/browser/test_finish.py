"""A stream that finishes (a job, a generated answer): the page says how it ended, and stops.

The server ends a hub channel (`hub.end(channel, outcome)`). What the user needs: every tab of the
page shows the outcome in words ("Finished", "Cancelled", "Failed: <why>"), neither Live nor an error
it keeps retrying; no tab makes another request for that stream (it holds none of the browser's
six connections); the page hears `sse-monitor:end`; and a page opened after the end (a reload)
shows the outcome at once. With tab sharing on and off, htmx 2 and htmx 4.
"""
from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest

from browser.helpers import received_ids, wait_state, wait_until

OUTCOME = """() => { const c = document.querySelector('[data-sse-monitor]');
    const shown = c.querySelector('[data-sse-state]:not([hidden])');
    return {state: c.dataset.state, outcome: c.dataset.outcome || null, title: c.getAttribute('title'),
            text: shown ? shown.textContent.trim() : null, ends: window.__ends || []}; }"""
RECORD_ENDS = """window.__ends = [];
    document.addEventListener('sse-monitor:end', e => window.__ends.push(e.detail.outcome + '|' + e.detail.detail));"""


@pytest.fixture(params=["shared", "unshared"])
def sharing(request) -> bool:
    return request.param == "shared"


def job_url(scripted, channel: str, sharing: bool) -> str:
    config = quote(json.dumps({"share_across_tabs": sharing}))
    return f"{scripted.url}/boost/live?channel={channel}&config={config}"


def hub_streams(scripted) -> dict:
    return scripted.control("hub-open")


def test_every_tab_shows_the_outcome_and_stops(page, scripted, sharing):
    channel = f"job-{sharing}"
    page.context.add_init_script(RECORD_ENDS)
    tabs = [page, page.context.new_page()]
    scripted.control("publish", channel=channel, count=2)
    for tab in tabs:
        tab.goto(job_url(scripted, channel, sharing))
        wait_state(tab, "active", 5)
    scripted.control("publish", channel=channel, count=3)
    for tab in tabs:
        wait_until(tab, "() => document.querySelectorAll('#log-feed li').length >= 3", 5, None, "three events")
    scripted.control("end", channel=channel, outcome="error", detail="disk full")
    for tab in tabs:
        wait_state(tab, "finished", 3)
        shown = tab.evaluate(OUTCOME)
        assert shown["outcome"] == "error" and shown["text"] == "Failed: disk full", shown
        assert shown["title"] == "Failed: disk full"
        assert shown["ends"] == ["error|disk full"], shown
        assert received_ids(tab)[-3:] == [3, 4, 5], "every event before the end is shown"
    deadline = time.monotonic() + 5
    while hub_streams(scripted)["open"]:
        assert time.monotonic() < deadline, f"streams still open: {hub_streams(scripted)}"
        time.sleep(0.05)
    opened = hub_streams(scripted)["opened"]
    time.sleep(2.5)   # longer than a first retry would wait
    assert hub_streams(scripted)["opened"] == opened, "no tab asks for the finished stream again"
    assert all(tab.evaluate(OUTCOME)["state"] == "finished" for tab in tabs)


def test_a_page_opened_after_the_end_shows_it_at_once(page, scripted, sharing):
    channel = f"done-{sharing}"
    scripted.control("publish", channel=channel, count=2)
    scripted.control("end", channel=channel, outcome="done")
    started = time.monotonic()
    page.goto(job_url(scripted, channel, sharing))
    wait_state(page, "finished", 3)
    print(f"FINISHED shown {time.monotonic() - started:.2f}s after the page was asked for")
    shown = page.evaluate(OUTCOME)
    assert shown["text"] == "Finished" and shown["outcome"] == "done", shown
    page.goto(job_url(scripted, channel, sharing))   # the page again (a reload)
    wait_state(page, "finished", 3)
    assert page.evaluate(OUTCOME)["text"] == "Finished"
