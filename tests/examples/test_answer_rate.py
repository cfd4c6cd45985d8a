"""examples/answers.py at a fast model's rate, in Chromium: 500 tokens a second are shown as they come."""
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


def test_five_hundred_tokens_a_second_are_shown_as_they_come(page, start_example):
    """A fast model (500 tokens/s for 3 s): once the page has caught up on the tokens made before its
    stream opened (within half a second), each token is on the page within 100 ms of when it is due
    on the model's clock, and none is missing or doubled. The clock is the page's: token n is due
    (n - 1) x 2 ms after token 1, from the most punctual token shown."""
    app = start_example("answers", TOKEN_SECONDS="0.002", ANSWER_TOKENS="1500")
    page.goto(app.url + "/")
    page.evaluate(RECORD_SHOWN)
    answer = ask(page)
    wait_state(page, "finished", 15, answer)
    assert text(page, answer) == full_answer(tokens=1500)
    live = [(n, t) for n, t in page.evaluate("() => window.__shown") if n > 250]   # from 0.5 s on
    offsets = [t - (n - 1) * 2.0 for n, t in live]         # when token 1 was due, by each token
    lags = [offset - min(offsets) for offset in offsets]
    worst = max(range(len(lags)), key=lags.__getitem__)
    assert lags[worst] <= 100, f"token {live[worst][0]} shown {lags[worst]:.0f} ms late"
    assert live[0][0] <= 260 and live[-1][0] == 1500, "shown as they came, to the last"
