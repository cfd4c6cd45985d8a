"""Streamed answers, as from an LLM: each answer runs once in the background and survives a reload.

    python examples/answers.py         # then open http://127.0.0.1:5001 (and a second tab)

Ask something: the answer streams in token by token. Reload mid-answer, or open a second tab: the
answer is there from its first token and goes on, each token once. Stop cancels it. Restart the
server mid-answer: the page says "Interrupted" and offers Retry.

How: `Runs` starts the model's token generator in the background, bound to the answer's channel,
once (a second start, a reload, a reconnect never run it twice). `runs.route` streams an answer to
any page: from its first token (`runs.sse_url`), or from the page's last id after a dropped
connection; tabs showing the same answer share one stream. Each token
is appended to the answer (`hx-swap="beforeend"`), not re-swapped. The Retry and Stop buttons are
shown by CSS from the status indicator's `data-outcome`: no script of our own.

The model is a built-in fake (deterministic, no network, no keys). To use a real one, give `MODEL`
any async generator of text pieces, e.g. with the `openai` package:

    async def openai_model(prompt):
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True)
        async for chunk in stream:
            yield chunk.choices[0].delta.content or ""
"""
import asyncio
import html
import os
import secrets

from fasthtml.common import *
from sse_monitor import Hub, Runs, SSEConnectionMonitor, SSEElement, sse_headers

TOKEN_SECONDS = float(os.environ.get("TOKEN_SECONDS", "0.05"))
ANSWER_TOKENS = int(os.environ.get("ANSWER_TOKENS", "60"))


async def fake_model(prompt: str):
    """A stand-in for an LLM: the same answer for the same question, a word every TOKEN_SECONDS."""
    words = prompt.split() or ["nothing"]
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(1, ANSWER_TOKENS + 1):
        await asyncio.sleep(max(0.0, start + n * TOKEN_SECONDS - loop.time()))   # on its own clock
        yield ("" if n == 1 else " ") + f"{words[n % len(words)]}-{n}"


MODEL = fake_model

hub = Hub()
runs = Runs(hub, event="token")
STYLE = Style("""
.answer-text { white-space: pre-wrap; }
.answer .retry { display: none; }
.answer:has([id^="sse-status-"][data-outcome="interrupted"]) .retry,
.answer:has([id^="sse-status-"][data-outcome="error"]) .retry { display: inline-block; }
.answer:has([id^="sse-status-"][data-outcome]) .stop { display: none; }
""")
app, rt = fast_app(lifespan=hub.lifespan, hdrs=(*sse_headers(), STYLE))
asked: dict[str, str] = {}          # answer id -> its question, oldest first (what a reload shows)


async def tokens_as_html(prompt: str):
    """The model's text pieces, escaped: the page appends each one as HTML."""
    async for piece in MODEL(prompt):
        if piece:
            yield html.escape(piece)


def AnswerCard(answer_id: str, prompt: str):
    """A question and its answer. The answer's stream replays every token so far, then goes on."""
    status, _ = SSEConnectionMonitor(answer_id, include_runtime=False)
    return Article(
        P(Strong("You: "), prompt),
        Div(Strong("Answer "), status),
        SSEElement(answer_id, runs.sse_url(f"/answers/{answer_id}", answer_id), cls="answer-text",
                   sse_swap="token", hx_swap="beforeend"),
        Button("Stop", cls="stop", hx_post=f"/answers/{answer_id}/stop", hx_swap="none"),
        Button("Retry", cls="retry", hx_post="/ask", hx_vals={"prompt": prompt},
               hx_target=f"#card-{answer_id}", hx_swap="outerHTML"),
        cls="answer", id=f"card-{answer_id}")


@rt("/")
def index():
    return Titled("Answers",
        Form(Input(name="prompt", placeholder="Ask something", required=True, autofocus=True),
             Button("Ask"), hx_post="/ask", hx_target="#answers", hx_swap="afterbegin",
             # Empty the box once asked, unless the next question was typed meanwhile.
             hx_on__before_request="this.dataset.sent = this.elements.prompt.value",
             hx_on__after_request="if (this.elements.prompt.value === this.dataset.sent) this.reset()"),
        Div(*[AnswerCard(a, p) for a, p in reversed(asked.items())], id="answers"))


@rt("/ask")
async def post(prompt: str):
    prompt = prompt.strip()[:500]
    if not prompt:
        return Response("prompt: ask something", status_code=400)
    answer_id = f"answer-{secrets.token_hex(6)}"
    asked[answer_id] = prompt
    await runs.start(answer_id, lambda: tokens_as_html(prompt))
    return AnswerCard(answer_id, prompt)


@rt("/answers/{answer_id}/stop")
async def post(answer_id: str):  # noqa: F811 (FastHTML routes by path)
    await runs.cancel(answer_id)


runs.route(app, "/answers/{run_id}")

if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "5001")))
