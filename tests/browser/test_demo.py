"""The demo (`sse-monitor demo`) in real Chromium: every channel goes Live, publishing works, and its
fault buttons drive the monitor through drop, 503 and close without losing a counter value."""
import pytest

from browser.helpers import wait_state
from support.servers import ServerProcess

CHANNELS = ("clock", "counter", "news")


@pytest.fixture(params=["htmx2", "htmx4"])
def demo(request, tmp_path):
    server = ServerProcess("sse_monitor.demo:create_app", args=["--factory"], log_path=tmp_path / "demo.log",
                           env={"SSE_MONITOR_DEMO_HTMX": request.param.removeprefix("htmx")})
    server.htmx = request.param.removeprefix("htmx")
    server.start()
    yield server
    server.kill()


def counter_values(page) -> list[int]:
    return page.evaluate("() => [...document.querySelectorAll('#items-counter li')].map(li => +li.textContent)")


def assert_no_counter_gap(page) -> None:
    values = counter_values(page)  # newest first
    assert values == list(range(values[0], values[0] - len(values), -1)), f"counter skipped: {values}"


def test_demo_survives_every_fault_button(page, demo):
    page.goto(demo.url + "/")
    for channel in CHANNELS:
        wait_state(page, "active", 3, channel)

    page.fill("input[name=text]", "hello from the test")
    page.click("button:has-text('Publish')")
    page.wait_for_function("() => document.querySelector('#items-news li')?.textContent.includes('hello from the test')",
                           timeout=3000)
    page.wait_for_function("() => document.querySelector('input[name=text]').value === ''", timeout=2000)
    assert page.inner_text(".htmx-version") == f"htmx {demo.htmx}"

    page.click("button:has-text('Drop streams')")
    page.wait_for_timeout(300)
    for channel in CHANNELS:
        wait_state(page, "active", 5, channel)

    page.click("button:has-text('503 for 10 s')")
    wait_state(page, "error", 3, "counter")
    for channel in CHANNELS:  # close reaches open streams only: wait until all three are back
        wait_state(page, "active", 16, channel)
    page.wait_for_timeout(1200)
    assert_no_counter_gap(page)

    page.click("button:has-text('Server close (for good)')")
    for channel in CHANNELS:
        wait_state(page, "disconnected", 2, channel)
    page.click("#sse-status-counter")
    wait_state(page, "active", 3, "counter")
    page.wait_for_timeout(1200)
    assert_no_counter_gap(page)
    assert page.page_errors == []
