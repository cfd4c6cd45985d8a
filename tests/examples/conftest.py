"""Each example started with its one command (`python examples/<name>.py`) on a free port, and a
Chromium page whose CDN requests are served from node_modules (CI has no CDN)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from playwright.sync_api import sync_playwright

from browser.cdn import CdnFromNodeModules
from browser.engines import launch_playwright, missing_binary
from support.servers import REPO_DIR, free_port, wait_for_port


class Example:
    def __init__(self, name: str, log_path, **env: str) -> None:
        self.name = name
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "wb")
        self._start()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO_DIR / "examples" / f"{self.name}.py")], cwd=REPO_DIR,
            stdout=self.log, stderr=self.log, start_new_session=True,
            env={**os.environ, "PORT": str(self.port), "PYTHONPATH": str(REPO_DIR / "src"), **self.env})
        try:
            wait_for_port(self.port, 20)
        except TimeoutError:
            self.stop()
            raise

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self) -> None:
        """Kill the process (as a crash or a deploy would) and start it again on the same port."""
        self.kill()
        self._start()

    def stop(self) -> None:
        self.kill()
        self.log.close()


@pytest.fixture
def start_example(tmp_path):
    started: list[Example] = []

    def start(name: str, **env: str) -> Example:
        started.append(Example(name, tmp_path / f"{name}.log", **env))
        return started[-1]

    yield start
    for example in started:
        example.stop()


@pytest.fixture(scope="module")
def browser():
    """One Chromium per module: the examples are a user's apps, checked in the browser most visitors
    use; every engine is covered by the browser suite (tests/browser) on the same runtime."""
    problem = missing_binary("chromium")
    if problem:
        pytest.fail(problem)
    with sync_playwright() as playwright:
        chromium = launch_playwright(playwright, "chromium")
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.page_errors = []
    page.on("pageerror", lambda e: page.page_errors.append(str(e)))
    page.cdn = CdnFromNodeModules(page)
    yield page
    context.close()
