"""examples/answers.py at a fast model's rate, in Chromium: 500 tokens a second are all shown, in order."""
from browser.helpers import wait_state
from examples.test_answers import ask, full_answer, text

# Each token's text ends in "-n"; record when the page first shows token n (a MutationObserver).
RECORD_SHOWN = """() => { window.__shown = [];
  new MutationObserver(() => {
    const el = document.querySelector('#answers .answer-text');
    const m = el && el.textContent.match(/-(\\d+)$/);
    if (m && (!window.__shown.length || +m[1] > window.__shown[window.__shown.length - 1][0]))
      window.__shown.push([+m[1], performance.now()]);
  }).observe(document.body, {childList: true, subtree: true, characterData: true}); }"""


def test_five_hundred_tokens_a_second_all_arrive_in_order(page, start_example):
    """A fast model (500 tokens/s for 3 s): the page shows every token once, in order, to the last,
    appended as they come (the lag itself is a speed target: benchmarks/page_tokens.py measures it)."""
    app = start_example("answers", TOKEN_SECONDS="0.002", ANSWER_TOKENS="1500")
    page.goto(app.url + "/")
    page.evaluate(RECORD_SHOWN)
    answer = ask(page)
    wait_state(page, "finished", 15, answer)
    assert text(page, answer) == full_answer(tokens=1500)
    shown = [n for n, _ in page.evaluate("() => window.__shown")]
    assert shown[-1] == 1500, "shown to the last"
    assert len(shown) > 100, f"appended as they came, not in a few large swaps ({len(shown)} updates)"
