"""examples/answers.py: a streamed answer that survives a reload, a second tab, Stop and a restart.

Run in Chromium and Firefox: an answer streams in token by token; a reload mid-answer shows it from
its first token and goes on, each token once; a second tab shows the same answer live; Stop cancels
it; a server restarted mid-answer leaves the page saying "Interrupted" with a Retry that works.
"""
import pytest
from playwright.sync_api import sync_playwright

from browser.cdn import CdnFromNodeModules
from browser.engines import launch_playwright, missing_binary
from browser.helpers import wait_state, wait_until

PROMPT = "why is the sky blue"


def full_answer(prompt: str = PROMPT, tokens: int = 60) -> str:
    """What the example's fake model answers: the same text for the same question."""
    words = prompt.split()
    return "".join(("" if n == 1 else " ") + f"{words[n % len(words)]}-{n}" for n in range(1, tokens + 1))


@pytest.fixture(scope="module", params=["chromium", "firefox"])
def browser(request):
    problem = missing_binary(request.param)
    if problem:
        pytest.fail(problem)
    with sync_playwright() as playwright:
        engine = launch_playwright(playwright, request.param)
        yield engine
        engine.close()


@pytest.fixture
def context(browser):
    context = browser.new_context()
    yield context
    context.close()


def open_page(context, url: str):
    page = context.new_page()
    page.page_errors = []
    page.on("pageerror", lambda e: page.page_errors.append(str(e)))
    page.cdn = CdnFromNodeModules(page)
    page.goto(url)
    return page


def ask(page, prompt: str = PROMPT) -> str:
    page.fill("input[name=prompt]", prompt)
    page.click("button:has-text('Ask')")
    wait_until(page, "() => document.querySelector('#answers .answer')", 5, what="an answer card")
    wait_until(page, "() => document.querySelector('input[name=prompt]').value === ''", 3, what="the box emptied")
    return page.evaluate("() => document.querySelector('#answers .answer').id.replace('card-', '')")


def text(page, answer_id: str) -> str:
    return page.evaluate("id => document.getElementById('sse-element-' + id)?.textContent ?? ''", answer_id)


def shown(page, selector: str) -> bool:
    return page.evaluate("s => { const b = document.querySelector(s); return !!b && b.checkVisibility(); }", selector)


def wait_tokens(page, answer_id: str, count: int, timeout: float = 10) -> None:
    wait_until(page, "([id, n]) => (document.getElementById('sse-element-' + id)?.textContent.match(/-\\d+/g)"
               " || []).length >= n", timeout, [answer_id, count], f"{count} tokens")


def test_an_answer_streams_in_and_finishes(context, start_example):
    app = start_example("answers", TOKEN_SECONDS="0.02")
    page = open_page(context, app.url + "/")
    answer = ask(page)
    wait_tokens(page, answer, 5)
    assert full_answer().startswith(text(page, answer)), "tokens in order, appended"
    wait_state(page, "finished", 10, answer)
    assert text(page, answer) == full_answer()
    assert page.evaluate("id => document.getElementById('sse-status-' + id).innerText.trim()", answer) == "Finished"
    assert not shown(page, f"#card-{answer} .stop") and not shown(page, f"#card-{answer} .retry")
    assert page.page_errors == [] and page.cdn.missing == []


def test_a_reload_mid_answer_shows_it_from_the_start_and_each_token_once(context, start_example):
    app = start_example("answers", TOKEN_SECONDS="0.05")
    page = open_page(context, app.url + "/")
    answer = ask(page)
    wait_tokens(page, answer, 10)
    page.goto(app.url + "/")
    wait_tokens(page, answer, 12)
    assert full_answer().startswith(text(page, answer)), "from its first token, each once"
    wait_state(page, "finished", 10, answer)
    assert text(page, answer) == full_answer()
    assert page.page_errors == []


def test_a_second_tab_shows_the_same_answer_live(context, start_example):
    app = start_example("answers", TOKEN_SECONDS="0.05")
    first = open_page(context, app.url + "/")
    answer = ask(first)
    wait_tokens(first, answer, 10)
    second = open_page(context, app.url + "/")
    wait_tokens(second, answer, 12)
    assert full_answer().startswith(text(second, answer))
    for page in (first, second):
        wait_state(page, "finished", 10, answer)
        assert text(page, answer) == full_answer()
        assert page.page_errors == []


def test_stop_cancels_the_answer(context, start_example):
    app = start_example("answers", TOKEN_SECONDS="0.05")
    page = open_page(context, app.url + "/")
    answer = ask(page)
    wait_tokens(page, answer, 5)
    page.click(f"#card-{answer} .stop")
    wait_state(page, "finished", 3, answer)
    assert page.evaluate("id => document.getElementById('sse-status-' + id).dataset.outcome", answer) == "cancelled"
    stopped = text(page, answer)
    page.wait_for_timeout(500)                       # nothing more arrives once stopped
    assert text(page, answer) == stopped and full_answer().startswith(stopped) and stopped != full_answer()
    assert not shown(page, f"#card-{answer} .stop")


def test_a_restart_mid_answer_says_interrupted_and_retry_answers_again(context, start_example):
    app = start_example("answers", TOKEN_SECONDS="0.1")
    page = open_page(context, app.url + "/")
    answer = ask(page)
    wait_tokens(page, answer, 5)
    app.restart()                                    # the in-memory answers are gone with the process
    wait_state(page, "finished", 15, answer)
    assert page.evaluate("id => document.getElementById('sse-status-' + id).dataset.outcome", answer) == "interrupted"
    assert shown(page, f"#card-{answer} .retry") and not shown(page, f"#card-{answer} .stop")
    page.click(f"#card-{answer} .retry")
    wait_until(page, "id => !document.getElementById('card-' + id)", 5, answer, "the old card replaced")
    again = page.evaluate("() => document.querySelector('#answers .answer').id.replace('card-', '')")
    wait_state(page, "finished", 15, again)
    assert text(page, again) == full_answer()

