"""A long job's progress: a background task publishes its percent and its result; Cancel stops it.

    python examples/progress.py        # then open http://127.0.0.1:5001

Each job streams on its own channel (`job-<id>`). The page asks for the stream with `hub.sse_url`,
taken before the job starts, so the first percent is never lost, and a dropped connection resumes
where it stopped (the hub replays what the page missed).
"""
import asyncio
import itertools
import os

from fasthtml.common import *
from sse_monitor import Hub, SSEConnectionMonitor, SSEElement, sse_headers

hub = Hub()
app, rt = fast_app(lifespan=hub.lifespan, hdrs=sse_headers())
jobs: dict[str, asyncio.Task] = {}
job_ids = itertools.count(1)
STEPS, STEP_SECONDS = 20, float(os.environ.get("STEP_SECONDS", "0.25"))


def Bar(percent: int, text: str):
    return Div(Progress(value=percent, max=100), Span(text, cls="job-text"))


async def run_job(channel: str, number: int) -> None:
    """The work: publish the percent after each step, then the result, then close the job's stream."""
    try:
        for step in range(1, STEPS + 1):
            await asyncio.sleep(STEP_SECONDS)
            percent = step * 100 // STEPS
            await hub.publish(channel, Bar(percent, f"{percent}%"))
        await hub.publish(channel, Bar(100, f"Done: {number} squared is {number * number}"))
    except asyncio.CancelledError:
        await hub.publish(channel, Div(Span("Cancelled", cls="job-text")))
    finally:
        jobs.pop(channel, None)


@rt("/")
def index():
    return Titled("Jobs",
        Button("Start a job", hx_post="/jobs", hx_target="#jobs", hx_swap="afterbegin"),
        Div(id="jobs"))


@rt("/jobs")
async def post():
    number = next(job_ids)
    channel = f"job-{number}"
    url = hub.sse_url(f"/events/{channel}", channel)          # before the job publishes anything
    jobs[channel] = asyncio.create_task(run_job(channel, number))
    status, _ = SSEConnectionMonitor(channel, include_runtime=False)
    return Article(
        H3(f"Job {number} ", status),
        SSEElement(channel, url, Bar(0, "Waiting…"), hx_swap="innerHTML"),   # each event replaces the bar
        Button("Cancel", hx_post=f"/jobs/{channel}/cancel", hx_swap="none"),
        id=channel)


@rt("/jobs/{channel}/cancel")
def post(channel: str):  # noqa: F811 (FastHTML routes by path)
    task = jobs.get(channel)
    if task is not None:
        task.cancel()


@rt("/events/{channel}")
async def get(request, channel: str):
    return hub.stream(request, channel)


if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "5001")))
