"""The demo (`sse-monitor demo`) in real Chromium: every channel goes Live, publishing works, and its
fault buttons drive the monitor through drop, 503 and close without losing a counter value."""
import os
import signal
import subprocess
import sys
import time

import pytest

from browser.cdn import CdnFromNodeModules
from browser.helpers import wait_state, wait_until
from support.redis_server import RedisServer
from support.servers import REPO_DIR, ServerProcess, free_port, wait_for_port

# the demo is the monitor's logic at work: each engine runs each scenario on one transport (conftest.py)
pytestmark = pytest.mark.one_variant_per_engine

CHANNELS = ("clock", "counter", "news")


def npm_install_of_htmx4(folder):
    """A folder laid out as `npm install --prefix <folder> htmx.org@4.0.1` leaves it (from the repo's alias)."""
    (folder / "node_modules").mkdir(parents=True)
    (folder / "node_modules" / "htmx.org").symlink_to(REPO_DIR / "node_modules" / "htmx4")
    return folder


@pytest.fixture(params=["htmx2", "htmx4"])
def demo(request, tmp_path):
    """The demo with `--assets DIR` (offline): htmx and its extension served by the demo itself."""
    htmx = request.param.removeprefix("htmx")
    assets = REPO_DIR / "node_modules" if htmx == "2" else npm_install_of_htmx4(tmp_path / "assets")
    server = ServerProcess("sse_monitor.demo:create_app", args=["--factory"], log_path=tmp_path / "demo.log",
                           env={"SSE_MONITOR_DEMO_HTMX": htmx, "SSE_MONITOR_DEMO_ASSETS": str(assets)})
    server.htmx = htmx
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
    wait_until(page, "() => document.querySelector('#items-news li')"
                     "?.textContent.includes('hello from the test')", 3)
    wait_until(page, "() => document.querySelector('input[name=text]').value === ''", 2)
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


def test_demo_keeps_the_next_message_typed_while_one_is_sent(page, demo):
    """A message can reach the page on its stream before its POST's answer. Text typed after pressing
    Publish (here: as the request leaves) must survive that answer; an untouched box is emptied."""
    page.goto(demo.url + "/")
    wait_state(page, "active", 3, "news")
    page.evaluate("""() => {
        const form = document.querySelector('form[hx-post="/publish"]');
        window.answered = 0;
        const typeNext = () => {     // the first send only
            if (!window.answered) setTimeout(() => { form.elements.text.value = 'the next one'; });
        };
        const answer = () => { window.answered += 1; };
        // htmx 2 names the events htmx:beforeRequest and htmx:afterRequest; htmx 4 under FastHTML's
        // metaCharacter "-" htmx-before-request and htmx-after-request. Typing comes a moment after.
        form.addEventListener('htmx:beforeRequest', typeNext);
        form.addEventListener('htmx-before-request', typeNext);
        form.addEventListener('htmx:afterRequest', answer);
        form.addEventListener('htmx-after-request', answer);
    }""")
    page.fill("input[name=text]", "the first one")
    page.click("button:has-text('Publish')")
    wait_until(page, "() => document.querySelector('#items-news li')?.textContent.includes('the first one')", 3)
    wait_until(page, "() => window.answered === 1", 3, what="the POST's answer")
    assert page.evaluate("() => document.querySelector('input[name=text]').value") == "the next one"

    page.click("button:has-text('Publish')")        # sent as typed; nothing typed meanwhile: emptied
    wait_until(page, "() => document.querySelector('#items-news li')?.textContent.includes('the next one')", 3)
    wait_until(page, "() => window.answered === 2", 3, what="the POST's answer")
    assert page.evaluate("() => document.querySelector('input[name=text]').value") == ""
    assert page.page_errors == []


def shown(page, channel: str) -> str:
    return page.evaluate("id => [...document.querySelectorAll('#sse-status-' + id + ' [data-sse-state]')]"
                         ".filter(s => !s.hidden).map(s => s.dataset.sseState).join(',')", channel)


@pytest.mark.timing
def test_demo_stall_button_shows_the_stall_on_every_card(page, demo):
    """"Stall 15 s": streams are accepted and stay silent. Every card leaves Live within the demo's
    stall_timeout (6 s) + 1 s, stays off Live while the stall lasts, and is Live again after it."""
    page.goto(demo.url + "/")
    for channel in CHANNELS:
        wait_state(page, "active", 3, channel)
    time.sleep(0.5)
    page.evaluate("() => [...document.querySelectorAll('button')].find(b => b.textContent === 'Stall 15 s').click()")
    started = time.monotonic()
    wait_until(page, "ids => ids.every(id => [...document.querySelectorAll('#sse-status-' + id + "
                     "' [data-sse-state]')].some(s => !s.hidden && s.dataset.sseState !== 'active'))",
               8, list(CHANNELS))
    assert time.monotonic() - started <= 7.5, "every card shows the stall within stall_timeout + 1 s"
    while time.monotonic() - started < 14.0:
        for channel in CHANNELS:
            assert shown(page, channel) != "active", f"{channel} shows Live during the stall"
        time.sleep(0.25)
    for channel in CHANNELS:
        wait_state(page, "active", 12, channel)
    time.sleep(1.2)
    assert_no_counter_gap(page)
    assert page.page_errors == []


@pytest.fixture
def demo_on_redis(tmp_path):
    """`sse-monitor demo --redis URL --workers 2`, as the README runs it: two uvicorn workers, one port."""
    with RedisServer() as redis_server:
        port = free_port()
        log = open(tmp_path / "demo-redis.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "sse_monitor.cli", "demo", "--port", str(port), "--redis", redis_server.url,
             "--workers", "2", "--assets", str(REPO_DIR / "node_modules")],
            cwd=REPO_DIR, stdout=log, stderr=log, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO_DIR / "src")})
        try:
            wait_for_port(port, 20)
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_demo_on_redis_with_two_workers(page, demo_on_redis):
    page.goto(demo_on_redis + "/")
    for channel in CHANNELS:
        wait_state(page, "active", 5, channel)
    for n in range(3):    # each POST may land on either worker; every page stream sees every message
        page.fill("input[name=text]", f"message {n}")
        page.click("button:has-text('Publish')")
        wait_until(page, f"() => document.querySelector('#items-news li')?.textContent.includes('message {n}')", 3)
    page.click("button:has-text('Drop streams')")      # drops the streams of whichever worker answered
    page.wait_for_timeout(300)
    for channel in CHANNELS:
        wait_state(page, "active", 5, channel)
    page.wait_for_timeout(2500)
    assert_no_counter_gap(page)    # one counter for both workers (leader lease), resumed with no gap
    assert len(counter_values(page)) >= 5
    assert page.page_errors == []


def test_demo_counter_never_goes_back_after_a_restart(page, demo):
    """The counter's description promises no number skipped after a drop and no going back after a
    restart: a new server process counts on from a larger number, so the list, newest first, only
    ever falls from top to bottom, with the restart's jump in it."""
    page.goto(demo.url + "/")
    wait_state(page, "active", 3, "counter")
    wait_until(page, "() => document.querySelectorAll('#items-counter li').length >= 3", 5)
    before = counter_values(page)
    demo.restart()
    wait_until(page, "n => +document.querySelector('#items-counter li')?.textContent > n + 3", 15, before[0],
               "the new process's numbers")
    values = counter_values(page)
    assert values == sorted(set(values), reverse=True), f"the counter went back: {values}"
    assert page.page_errors == []


# Every visible button: its text colour against the first opaque background behind it (WCAG contrast).
BUTTON_CONTRAST = """() => {
  const probe = document.createElement('canvas').getContext('2d');
  const rgba = (css) => {                       // any CSS colour, as the canvas resolves it
    probe.clearRect(0, 0, 1, 1); probe.fillStyle = '#000'; probe.fillStyle = css; probe.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = probe.getImageData(0, 0, 1, 1).data; return {r, g, b, a: a / 255};
  };
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const behind = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.a > 0.5) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  return [...document.querySelectorAll('button')].filter((b) => b.checkVisibility()).map((b) => {
    const [hi, lo] = [luminance(rgba(getComputedStyle(b).color)), luminance(behind(b))].sort((x, y) => y - x);
    return [b.textContent.trim(), (hi + 0.05) / (lo + 0.05)];
  });
}"""


@pytest.mark.not_on("webkit", reason="CI has no CDN, and WebDriver cannot answer the page's CDN requests from "
                    "node_modules; Chromium and Firefox prove the CDN page, and the same files run on WebKit, "
                    "served locally, in every other browser test")
@pytest.mark.parametrize("htmx", ["2", "4"])
def test_demo_after_pip_install_loads_from_the_cdn(browser, tmp_path, htmx):
    """`sse-monitor demo [--htmx 4]` with no npm install: htmx and the extension come from the CDN
    (served here from the identical npm files), and every channel goes Live. Under FastHTML's default
    Pico CSS every visible button's text is readable (WCAG AA: a contrast of at least 4.5:1)."""
    port = free_port()
    log = open(tmp_path / "demo.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "sse_monitor.cli", "demo", "--port", str(port), "--htmx", htmx],
                            cwd=tmp_path, stdout=log, stderr=log, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_DIR / "src")})
    context = browser.new_context()
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        wait_for_port(port, 20)
        cdn = CdnFromNodeModules(page)
        page.goto(f"http://127.0.0.1:{port}/")
        for channel in CHANNELS:
            wait_state(page, "active", 5, channel)
        assert page.inner_text(".htmx-version") == f"htmx {htmx}"
        assert not any("/_sse_monitor/vendor/" in url for url in cdn.served) and cdn.missing == []
        assert any(("hx-sse" if htmx == "4" else "htmx-ext-sse") in url for url in cdn.served), cdn.served
        assert any("/pico" in url for url in cdn.served), "the page is seen under FastHTML's real Pico CSS"
        unreadable = [(text, round(ratio, 2)) for text, ratio in page.evaluate(BUTTON_CONTRAST) if ratio < 4.5]
        assert unreadable == [], f"buttons whose text is hard to read (contrast below 4.5:1): {unreadable}"
        assert errors == []
    finally:
        context.close()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.mark.parametrize("htmx, command", [
    ("2", "npm install --prefix {dir} htmx.org@2.0.11 htmx-ext-sse@2.2.4"),
    ("4", "npm install --prefix {dir} htmx.org@4.0.1")])
def test_demo_with_missing_assets_prints_the_npm_install_that_provides_them(tmp_path, htmx, command):
    result = subprocess.run([sys.executable, "-m", "sse_monitor.cli", "demo", "--htmx", htmx,
                             "--assets", str(tmp_path)],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO_DIR / "src")})
    assert result.returncode == 2
    assert command.format(dir=tmp_path) in result.stderr
