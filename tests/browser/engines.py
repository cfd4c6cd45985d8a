"""The three browser engines behind one `page` API: Chromium and Firefox through Playwright, WebKit
(WebKitGTK, Safari's engine) through Selenium wrapped in `WebKitPage`, which offers the part of
Playwright's Page API the browser tests use. One scenario definition, several drivers.

Facts these drivers rest on (Debian packages, nothing downloaded):
- Chromium: /usr/bin/chromium, Playwright's CDP driver.
- Firefox: /usr/bin/firefox-esr, Playwright over WebDriver BiDi (`channel="moz-firefox"`); works with
  playwright 1.62-1.64.1, not 1.65. Offline emulation works; an open stream survives offline mode.
- WebKit: /usr/bin/WebKitWebDriver (webkit2gtk-driver) with Selenium, in an X display (Xvfb). Classic
  WebDriver only: no init scripts, no console log, no offline emulation, no response headers. The
  adapter fills those gaps as described on each method.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ENGINES = ("chromium", "firefox", "webkit")
CHROMIUM = os.environ.get("SSE_MONITOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
FIREFOX = os.environ.get("SSE_MONITOR_FIREFOX", "/usr/bin/firefox-esr")
WEBKIT_DRIVER = os.environ.get("SSE_MONITOR_WEBKIT_DRIVER", "/usr/bin/WebKitWebDriver")
XVFB = "Xvfb"

INSTALL_HINT = {
    "chromium": "apt-get install chromium",
    "firefox": "apt-get install firefox-esr",
    "webkit": "apt-get install webkit2gtk-driver xvfb xauth",
}


def selected_engines() -> list[str]:
    """Engines to run: all three, or a comma-separated subset in SSE_MONITOR_ENGINES."""
    wanted = [e.strip() for e in os.environ.get("SSE_MONITOR_ENGINES", ",".join(ENGINES)).split(",") if e.strip()]
    unknown = sorted(set(wanted) - set(ENGINES))
    if unknown:
        raise ValueError(f"SSE_MONITOR_ENGINES: unknown engine(s) {unknown}; choose from {list(ENGINES)}")
    return wanted


def missing_binary(engine: str) -> str | None:
    """A message naming what to install if the engine's binary is absent (the suite fails, never skips)."""
    needed = {"chromium": [CHROMIUM], "firefox": [FIREFOX], "webkit": [WEBKIT_DRIVER, XVFB]}[engine]
    absent = [path for path in needed if not (os.path.exists(path) or shutil.which(path))]
    if absent:
        return f"{engine}: {', '.join(absent)} not found: {INSTALL_HINT[engine]}"
    return None


# ---------------------------------------------------------------- Playwright engines

def launch_playwright(playwright, engine: str):
    if engine == "chromium":
        return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    return playwright.firefox.launch(channel="moz-firefox", executable_path=FIREFOX, headless=True)


def playwright_page(browser):
    """A fresh context and page that record console errors and uncaught page errors."""
    context = browser.new_context()
    page = context.new_page()
    page.engine = browser.browser_type.name
    page.console_errors = []
    page.page_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror",
            lambda e: (page.console_errors if is_network_notice(str(e)) else page.page_errors).append(str(e)))
    return page


def is_network_notice(message: str) -> bool:
    """Firefox reports an EventSource that cannot connect (a 503, a refused port) as an uncaught page
    error; it is the browser's network notice, which Chromium logs as a console error. Filed the same
    way in both, so `page_errors` means script errors on every engine."""
    return message.startswith(("Firefox can’t establish a connection", "Firefox can't establish a connection"))


# ---------------------------------------------------------------- WebKit: X display and driver

class XDisplay:
    """A private Xvfb display (WebKitGTK needs X; headless mode does not exist). `-displayfd` makes
    Xvfb pick a free display number itself, so parallel runs never collide."""

    def __init__(self):
        read, write = os.pipe()
        self.proc = subprocess.Popen([XVFB, "-displayfd", str(write), "-screen", "0", "1280x1024x24",
                                      "-nolisten", "tcp"],
                                     pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        os.close(write)
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.close()
            raise RuntimeError("Xvfb did not start (apt-get install xvfb xauth)")
        self.display = f":{number}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def launch_webkit(display: str):
    from selenium import webdriver
    from selenium.webdriver.webkitgtk.options import Options
    from selenium.webdriver.webkitgtk.service import Service

    env = {**os.environ, "DISPLAY": display}
    service = Service(executable_path=WEBKIT_DRIVER, env=env)   # an explicit path: Selenium downloads nothing
    return webdriver.WebKitGTK(options=Options(), service=service)


# ---------------------------------------------------------------- WebKit: a Playwright-like page

FUNCTION = re.compile(r"^\s*(async\s+)?(function\b|\([^)]*\)\s*=>|[\w$]+\s*=>)")

# Console errors and uncaught errors, collected in the page (WebKitWebDriver has no log endpoint).
ERROR_CAPTURE = """(() => {
  if (window.__sseTestErrors) return;
  const found = window.__sseTestErrors = {console: [], page: []};
  const original = console.error;
  console.error = function (...args) { found.console.push(args.map(String).join(' ')); return original.apply(this, args); };
  window.addEventListener('error', e => found.page.push(String(e.message)));
  window.addEventListener('unhandledrejection', e => found.page.push(String(e.reason)));
})();"""  # noqa: E501  (JavaScript)

OFFLINE = """(offline) => {
  Object.defineProperty(navigator, 'onLine', {get: () => !offline, configurable: true});
  window.dispatchEvent(new Event(offline ? 'offline' : 'online'));
}"""


def as_call(js: str) -> str:
    """Playwright accepts a function (called with the argument) or an expression."""
    return f"return ({js})(arguments[0]);" if FUNCTION.match(js) else f"return ({js});"


class LazyResponse:
    """What `goto` returns. WebDriver exposes no response: status and headers come from a second GET
    of the same URL (the same server answer for the test pages), made only when asked for."""

    def __init__(self, url: str):
        self.url = url
        self._answer = None

    def _get(self):
        if self._answer is None:
            with urlopen(self.url, timeout=5) as answer:
                self._answer = (answer.status, {k.lower(): v for k, v in answer.headers.items()})
        return self._answer

    @property
    def status(self) -> int:
        return self._get()[0]

    @property
    def headers(self) -> dict:
        return self._get()[1]


class WebKitLocator:
    def __init__(self, page: "WebKitPage", selector: str):
        self.page, self.selector = page, selector

    def get_attribute(self, name: str, timeout: float = 30000):
        return self.page.get_attribute(self.selector, name, timeout=timeout)

    def inner_text(self, timeout: float = 30000) -> str:
        return self.page.inner_text(self.selector, timeout=timeout)

    def click(self, timeout: float = 30000) -> None:
        self.page.click(self.selector, timeout=timeout)


class WebKitKeyboard:
    KEYS = {"Enter": "\ue007", " ": " ", "Space": " ", "Tab": "\ue004", "Escape": "\ue00c"}

    def __init__(self, driver):
        self.driver = driver

    def press(self, key: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        ActionChains(self.driver).send_keys(self.KEYS.get(key, key)).perform()


class WebKitContext:
    def __init__(self, page: "WebKitPage"):
        self.page = page

    def set_offline(self, offline: bool) -> None:
        """WebKitWebDriver cannot take the network away. This emulates what the page can observe:
        navigator.onLine and the offline/online events. The network itself stays up, so it proves the
        runtime's offline logic, not the engine's own offline handling (Chromium and Firefox do that)."""
        self.page.evaluate(OFFLINE, bool(offline))


class WebKitPage:
    """The subset of Playwright's sync Page API the browser tests use, on Selenium's WebKitGTK driver.
    Timeouts are in milliseconds, as in Playwright; a timeout raises Playwright's TimeoutError."""

    engine = "webkit"

    def __init__(self, driver):
        self.driver = driver
        self.init_scripts: list[str] = []
        self.context = WebKitContext(self)
        self.keyboard = WebKitKeyboard(driver)
        self.hidden = False

    # navigation and scripts

    def add_init_script(self, script: str) -> None:
        """Run `script` in every page this page loads, before the page's own scripts. Classic WebDriver
        has no such hook: the test server puts the scripts first in the page's <head> (the scripted
        server's `/control/init-script`). A server without that hook gets them after the load event."""
        self.init_scripts.append(script)

    def goto(self, url: str, timeout: float = 30000) -> LazyResponse:
        scripts = [ERROR_CAPTURE, *self.init_scripts]
        early = self._register_init_scripts(url, scripts)
        self.driver.set_page_load_timeout(timeout / 1000)
        self.driver.get(url)
        if not early:
            for script in scripts:
                self.driver.execute_script(script)
        return LazyResponse(url)

    @staticmethod
    def _register_init_scripts(url: str, scripts: list[str]) -> bool:
        parts = urlsplit(url)
        body = json.dumps(scripts).encode()
        request = Request(f"{parts.scheme}://{parts.netloc}/control/init-script", data=body, method="POST",
                          headers={"Content-Type": "application/json"})
        try:
            with urlopen(request, timeout=5) as answer:
                return answer.status == 200
        except OSError:
            return False

    def evaluate(self, js: str, arg=None):
        """Like Playwright: a function is called with `arg`; a returned promise is awaited (WebDriver's
        Execute Script awaits promises)."""
        return self.driver.execute_script(as_call(js), arg)

    def wait_for_function(self, js: str, arg=None, timeout: float = 30000, polling: float = 20) -> object:
        deadline = time.monotonic() + timeout / 1000
        script = as_call(js)
        while True:
            value = self.driver.execute_script(script, arg)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise PlaywrightTimeoutError(f"Timeout {timeout}ms exceeded waiting for function: {js}")
            time.sleep(polling / 1000)

    def wait_for_timeout(self, ms: float) -> None:
        time.sleep(ms / 1000)

    # elements (selectors: CSS, plus Playwright's `:has-text('...')` suffix)

    FIND = """([selector, text]) => [...document.querySelectorAll(selector)]
        .find(el => text === null || el.textContent.includes(text)) || null"""

    def _element(self, selector: str, timeout: float):
        match = re.fullmatch(r"(.*):has-text\((['\"])(.*)\2\)", selector)
        css, text = (match.group(1), match.group(3)) if match else (selector, None)
        return self.wait_for_function(self.FIND, [css, text], timeout=timeout)

    def locator(self, selector: str) -> WebKitLocator:
        return WebKitLocator(self, selector)

    def get_attribute(self, selector: str, name: str, timeout: float = 30000):
        return self._element(selector, timeout).get_attribute(name)

    def inner_text(self, selector: str, timeout: float = 30000) -> str:
        return self.driver.execute_script("return arguments[0].innerText", self._element(selector, timeout))

    def click(self, selector: str, timeout: float = 30000) -> None:
        self._element(selector, timeout).click()

    def focus(self, selector: str, timeout: float = 30000) -> None:
        self.driver.execute_script("arguments[0].focus()", self._element(selector, timeout))

    def fill(self, selector: str, value: str, timeout: float = 30000) -> None:
        element = self._element(selector, timeout)
        element.clear()
        element.send_keys(value)

    # errors, as Playwright's console/pageerror listeners collect them

    def _errors(self, kind: str) -> list[str]:
        return self.driver.execute_script(f"return (window.__sseTestErrors || {{{kind}: []}}).{kind}") or []

    @property
    def console_errors(self) -> list[str]:
        return self._errors("console")

    @property
    def page_errors(self) -> list[str]:
        return self._errors("page")

    # WebKit only: a real hidden page (the window minimized), which Playwright's headless engines lack

    def set_window_hidden(self, hidden: bool) -> None:
        self.hidden = hidden
        if hidden:
            self.driver.minimize_window()
        else:
            self.driver.maximize_window()

    def close(self) -> None:
        """Leave the page on a blank document, so its streams end before the next test's server starts."""
        try:
            if self.hidden:
                self.set_window_hidden(False)
            self.driver.get("about:blank")
        except Exception:  # the driver is gone: the module's teardown reports it
            pass

