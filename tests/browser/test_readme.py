"""The README's Quick start, copied verbatim into app.py and run with `uvicorn app:app`, works in
Chromium: the indicator goes Live and an item published through the page's own form arrives.
The CDN URLs the page loads (FastHTML's htmx, the SSE extension with its SRI hash) are served from
the same files in node_modules (tests/browser/cdn.py), since CI has no CDN."""
import re

import pytest

from browser.cdn import CdnFromNodeModules
from browser.helpers import wait_state, wait_until
from support.servers import REPO_DIR, ServerProcess


def readme_block(section: str) -> str:
    """The first ```python block under the README heading `section`."""
    readme = (REPO_DIR / "README.md").read_text()
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", body, re.S).group(1)


@pytest.mark.not_on("webkit", reason="CI has no CDN, and WebDriver cannot answer the page's CDN requests from "
                    "node_modules; Chromium and Firefox prove the CDN page, and the same files run on WebKit, "
                    "served locally, in every other browser test")
def test_quick_start_runs_verbatim_and_publishes_from_its_form(browser, tmp_path):
    (tmp_path / "app.py").write_text(readme_block("Quick start"))
    server = ServerProcess("app:app", env={"PYTHONPATH": str(tmp_path)}, log_path=tmp_path / "server.log")
    server.start()
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        cdn = CdnFromNodeModules(page)
        page.goto(server.url + "/")
        wait_state(page, "active", 5, "feed")
        assert page.inner_text("#sse-status-feed") == "Live"
        assert any("htmx-ext-sse@2.2.4" in url for url in cdn.served), cdn.served
        assert cdn.missing == []

        page.fill("input[name=text]", "hello from the README")
        page.click("button:has-text('Publish')")
        wait_until(page, "() => document.querySelector('#items li')?.textContent === 'hello from the README'", 3)
        wait_until(page, "() => document.querySelector('input[name=text]').value === ''", 2)
        assert errors == []
    finally:
        context.close()
        server.kill()
