"""One answer at 500 tokens/s in one Chromium tab: how late is each token on the page?

    python benchmarks/page_tokens.py              # 5 runs of 1,500 tokens (3 s each)
    python benchmarks/page_tokens.py --runs 10

Starts examples/answers.py (its fake model at TOKEN_SECONDS=0.002) and asks it a question in
Chromium (the CDN served from node_modules, as in the tests). A MutationObserver records when the
page first shows each token. Token n is due (n - 1) x 2 ms after token 1; the lag of a token is how
much later than the most punctual token it was shown. Tokens made before the page's stream opened
(the first 0.5 s: the first 250) are left out: they come in one catch-up. Reports the p50, p99 and
worst lag of each run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from playwright.sync_api import sync_playwright  # noqa: E402
from run import save_results  # noqa: E402

from browser.cdn import CdnFromNodeModules  # noqa: E402
from browser.engines import launch_playwright  # noqa: E402
from browser.helpers import wait_state  # noqa: E402
from examples.conftest import Example  # noqa: E402
from examples.test_answer_rate import RECORD_SHOWN  # noqa: E402
from examples.test_answers import ask  # noqa: E402


def one_run(browser, log: Path) -> dict:
    app = Example("answers", log, TOKEN_SECONDS="0.002", ANSWER_TOKENS="1500")
    context = browser.new_context()
    try:
        page = context.new_page()
        CdnFromNodeModules(page)
        page.goto(app.url + "/")
        page.evaluate(RECORD_SHOWN)
        answer = ask(page)
        wait_state(page, "finished", 20, answer)
        live = [(n, t) for n, t in page.evaluate("() => window.__shown") if n > 250]
    finally:
        context.close()
        app.stop()
    offsets = [t - (n - 1) * 2.0 for n, t in live]
    lags = sorted(offset - min(offsets) for offset in offsets)
    return {"updates": len(live), "p50_ms": statistics.median(lags), "p99_ms": lags[int(len(lags) * 0.99)],
            "worst_ms": lags[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = []
    with sync_playwright() as playwright:
        browser = launch_playwright(playwright, "chromium")
        for i in range(args.runs):
            results.append(one_run(browser, Path(f"/tmp/page_tokens_{i}.log")))
            r = results[-1]
            print(f"run {i + 1}: {r['updates']} updates, lag p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                  f"worst {r['worst_ms']:.1f} ms", flush=True)
        browser.close()
    save_results("page_tokens", {"results": results})


if __name__ == "__main__":
    main()
