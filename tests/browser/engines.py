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
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from playwright.sync_api import Error as PlaywrightError
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


def launch_chromium_with_bfcache(browser):
    """Another Chromium, keeping pages in the back/forward cache as users' browsers do: Playwright
    launches Chromium with --disable-back-forward-cache (so `go_back` always loads)."""
    return browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                       ignore_default_args=["--disable-back-forward-cache"])


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
    def __init__(self, page: WebKitPage, selector: str):
        self.page, self.selector = page, selector

    def get_attribute(self, name: str, timeout: float = 30000):
        return self.page.get_attribute(self.selector, name, timeout=timeout)

    def inner_text(self, timeout: float = 30000) -> str:
        return self.page.inner_text(self.selector, timeout=timeout)

    def click(self, timeout: float = 30000) -> None:
        self.page.click(self.selector, timeout=timeout)


class WebKitKeyboard:
    KEYS = {"Enter": "\ue007", " ": " ", "Space": " ", "Tab": "\ue004", "Escape": "\ue00c"}

    def __init__(self, page: WebKitPage):
        self.page = page

    def press(self, key: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        ActionChains(self.page.window()).send_keys(self.KEYS.get(key, key)).perform()


class WebKitContext:
    """The pages of one WebDriver session, each in its own window. They are pages of one browser (one
    web context: shared localStorage and its storage events, BroadcastChannel, Web Locks), like the
    pages of a Playwright context. Windows, not tabs: WebKitGTK shows only the selected tab of a
    window, and every page is visible in Playwright's headless engines too. A page operation first
    makes its window WebDriver's current one (a round trip only when another page was current)."""

    def __init__(self, driver):
        self.driver = driver
        self.current = driver.window_handles[0]
        driver.switch_to.window(self.current)
        self.pages: list[WebKitPage] = [WebKitPage(self, self.current)]
        self.init_scripts: list[str] = []

    @property
    def page(self) -> WebKitPage:
        """The page the fixture hands out (the session's first window)."""
        return self.pages[0]

    def switch(self, handle: str) -> None:
        if handle != self.current:
            self.driver.switch_to.window(handle)
            self.current = handle

    def new_page(self) -> WebKitPage:
        self.switch(self.open_pages()[0].handle)   # New Window needs a current window that is open
        self.driver.switch_to.new_window("window")
        self.current = self.driver.current_window_handle
        page = WebKitPage(self, self.current)
        self.pages.append(page)
        return page

    def open_pages(self) -> list[WebKitPage]:
        return [page for page in self.pages if not page.closed]

    def add_init_script(self, script: str) -> None:
        """Run `script` first in every page of this context (see WebKitPage.add_init_script)."""
        self.init_scripts.append(script)

    def set_offline(self, offline: bool) -> None:
        """WebKitWebDriver cannot take the network away. This emulates what the pages can observe:
        navigator.onLine and the offline/online events, in every page. The network itself stays up, so
        it proves the runtime's offline logic, not the engine's own offline handling (Chromium and
        Firefox do that)."""
        for page in self.open_pages():
            page.evaluate(OFFLINE, bool(offline))

    def close(self) -> None:
        """Close every window but one and leave that one on a blank document (a WebDriver session
        ends with its last window), so no stream outlives the test."""
        for page in reversed(self.open_pages()):
            page.close()


class WebKitPage:
    """The subset of Playwright's sync Page API the browser tests use, on Selenium's WebKitGTK driver:
    one window of a WebKitContext. Timeouts are in milliseconds, as in Playwright; a timeout raises
    Playwright's TimeoutError."""

    engine = "webkit"

    def __init__(self, context: WebKitContext, handle: str):
        self.context = context
        self.handle = handle
        self.init_scripts: list[str] = []
        self.keyboard = WebKitKeyboard(self)
        self.hidden = False
        self.closed = False

    def window(self):
        """The driver, with this page's window current."""
        if self.closed:
            raise PlaywrightError("Target page has been closed")
        self.context.switch(self.handle)
        return self.context.driver

    @property
    def driver(self):
        return self.window()

    def on(self, event: str, handler) -> None:
        """Playwright's listeners: only "pageerror" is used, and WebDriver has no events. The page
        collects its own errors (ERROR_CAPTURE); `page_errors` reads them."""
        if event != "pageerror":
            raise NotImplementedError(f"WebKitPage.on({event!r})")

    # navigation and scripts

    def add_init_script(self, script: str) -> None:
        """Run `script` in every page this page loads, before the page's own scripts. Classic WebDriver
        has no such hook: the test server puts the scripts first in the page's <head> (the scripted
        server's `/control/init-script`). A server without that hook gets them after the load event."""
        self.init_scripts.append(script)

    def goto(self, url: str, timeout: float = 30000) -> LazyResponse:
        scripts = [ERROR_CAPTURE, *self.context.init_scripts, *self.init_scripts]
        early = self._register_init_scripts(url, scripts)
        driver = self.driver
        driver.set_page_load_timeout(timeout / 1000)
        driver.get(url)
        if not early:
            for script in scripts:
                driver.execute_script(script)
        return LazyResponse(url)

    def go_back(self, wait_until: str = "load", timeout: float = 30000) -> None:
        """WebDriver's Back returns once the previous page is shown (loaded, or restored from the
        back/forward cache, which WebKitGTK does for the pages here)."""
        driver = self.driver
        driver.set_page_load_timeout(timeout / 1000)
        driver.back()

    @staticmethod
    def _register_init_scripts(url: str, scripts: list[str]) -> bool:
        parts = urlsplit(url)
        body = json.dumps(scripts).encode()
        request = Request(f"{parts.scheme}://{parts.netloc}/control/init-script", data=body, method="POST",
                          headers={"Content-Type": "application/json"})
        try:
            with urlopen(request, timeout=5) as answer:
                return answer.status == 200
        except HTTPError as error:
            if error.code in (404, 405):   # a server without the hook: the scripts run after the load
                return False
            answer = error.read()[:200]
            raise RuntimeError(f"the test server refused the init scripts: {error.code} {answer!r}") from None
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
            value = self.driver.execute_script(script, arg)   # switches to this page's window each time
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

    @page_errors.setter
    def page_errors(self, value: list[str]) -> None:
        """`page.page_errors = []` before `page.on("pageerror", ...)`, as for Playwright pages: each
        document starts with no errors here anyway."""
        if value:
            raise ValueError("page_errors can only be reset to []")

    # WebKit only: a real hidden page (the window minimized), which Playwright's headless engines lack

    def set_window_hidden(self, hidden: bool) -> None:
        self.hidden = hidden
        if hidden:
            self.driver.minimize_window()
        else:
            self.driver.maximize_window()

    def close(self, run_before_unload: bool = False) -> None:
        """Close this page's window; the session's last window is left on a blank document instead
        (a WebDriver session ends with its last window), so its streams end before the next test.
        Closing a window runs the page's `pagehide`, as a user closing a tab does; `run_before_unload`
        is taken for Playwright's call shape (no test here uses a `beforeunload` prompt)."""
        if self.closed:
            return
        try:
            if self.hidden:
                self.set_window_hidden(False)
            if len(self.context.open_pages()) > 1:
                self.driver.close()
                self.closed = True
                self.context.current = None
            else:
                self.driver.get("about:blank")
        except Exception:  # the driver is gone: the module's teardown reports it
            self.closed = True
