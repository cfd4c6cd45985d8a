"""A long job's progress: a background task publishes its percent and its result; Cancel stops it.

    python examples/progress.py        # then open http://127.0.0.1:5001

Each job streams on its own channel (`job-<id>`). The page asks for the stream with `hub.sse_url`,
taken before the job starts, so the first percent is never lost, and a dropped connection resumes
where it stopped (the hub replays what the page missed). When a job is over, `hub.end` finishes its
channel: its stream closes (a browser opens at most 6 connections to a site, so eight jobs at once
all finish) and its indicator says how it ended. A reload shows every job where it stands.
"""
import asyncio
import itertools
import os

from fasthtml.common import *
from sse_monitor import Hub, SSEConnectionMonitor, SSEElement, sse_headers

hub = Hub()
app, rt = fast_app(lifespan=hub.lifespan, hdrs=sse_headers())
jobs: dict[str, asyncio.Task] = {}
shown: dict[str, tuple[int, str]] = {}     # every job's bar as it stands: what a reload shows
job_ids = itertools.count(1)
STEPS, STEP_SECONDS = 20, float(os.environ.get("STEP_SECONDS", "0.25"))


def Bar(percent: int, text: str):
    return Div(Progress(value=percent, max=100), Span(text, cls="job-text"))


async def show(channel: str, percent: int, text: str) -> None:
    shown[channel] = (percent, text)
    await hub.publish(channel, Bar(percent, text))


async def run_job(channel: str, number: int) -> None:
    """The work: publish the percent after each step, then the result, then end the job's channel."""
    try:
        for step in range(1, STEPS + 1):
            await asyncio.sleep(STEP_SECONDS)
            percent = step * 100 // STEPS
            await show(channel, percent, f"{percent}%")
        await show(channel, 100, f"Done: {number} squared is {number * number}")
        await hub.end(channel, "done")
    except asyncio.CancelledError:
        await show(channel, shown[channel][0], "Cancelled")
        await hub.end(channel, "cancelled")
    except Exception as exc:
        await show(channel, shown[channel][0], "Failed")
        await hub.end(channel, "error", str(exc)[:200])
    finally:
        jobs.pop(channel, None)


def JobCard(channel: str):
    """A job as it stands now; its stream goes on from here (or just says how it ended)."""
    url = hub.sse_url(f"/events/{channel}", channel)
    status, _ = SSEConnectionMonitor(channel, include_runtime=False)
    percent, text = shown[channel]
    return Article(
        H3(f"Job {channel.removeprefix('job-')} ", status),
        SSEElement(channel, url, Bar(percent, text), hx_swap="innerHTML"),   # each event replaces the bar
        Button("Cancel", hx_post=f"/jobs/{channel}/cancel", hx_swap="none"),
        id=channel)


@rt("/")
def index():
    return Titled("Jobs",
        Button("Start a job", hx_post="/jobs", hx_target="#jobs", hx_swap="afterbegin"),
        Div(*[JobCard(channel) for channel in reversed(shown)], id="jobs"))


@rt("/jobs")
async def post():
    number = next(job_ids)
    channel = f"job-{number}"
    shown[channel] = (0, "Waiting…")
    card = JobCard(channel)                                   # its URL before the job publishes anything
    jobs[channel] = asyncio.create_task(run_job(channel, number))
    return card


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
