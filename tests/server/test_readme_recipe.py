"""The README's "Testing your own app's SSE" recipe really runs: saved next to the Quick start as
test_app_sse.py and run with plain `pytest` in a folder of its own, as a user would."""
import re
import subprocess
import sys

from support.servers import REPO_DIR


def readme_block(section: str, which: int = 0) -> str:
    readme = (REPO_DIR / "README.md").read_text()
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)[which]


def test_testing_recipe_passes_against_the_quick_start(tmp_path):
    (tmp_path / "app.py").write_text(readme_block("Quick start"))
    (tmp_path / "test_app_sse.py").write_text(readme_block("Testing your own app's SSE"))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app_sse.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=90,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def stream_of_page(server, page: str) -> list[tuple[str, str]]:
    """Follow the stream the page's `sse-connect` names to its end: (event, data) without heartbeats."""
    import asyncio

    from server.clients import open_stream

    url = re.search(r'sse-connect="([^"]+)"', page).group(1).replace("&amp;", "&")

    async def read() -> list:
        stream = await open_stream(server.port, url)
        events = await stream.read_all(timeout=10)
        assert stream.ended, "the response finished"
        return [(e.event, e.data) for e in events if e.event != "heartbeat"]

    return asyncio.run(read())


def serve_readme_app(tmp_path, module: str, code: str):
    """The README's app saved as `module`.py, under real uvicorn, as a user would run it."""
    from support.servers import ServerProcess

    (tmp_path / f"{module}.py").write_text(code)
    return ServerProcess(f"{module}:app", env={"PYTHONPATH": str(tmp_path)}, log_path=tmp_path / "server.log").start()


def test_streaming_a_job_runs_and_its_stream_finishes(tmp_path):
    """The README's "Streaming answers and jobs" app, saved as a user would, under real uvicorn: the
    page carries the job's stream, which sends the ten steps and then `end` (done), and finishes."""
    import httpx

    server = serve_readme_app(tmp_path, "jobapp", readme_block("Streaming answers and jobs"))
    try:
        events = stream_of_page(server, httpx.get(server.url + "/", timeout=10).text)
        assert [data for _, data in events[:-1]] == [f"<p>step {n} of 10</p>" for n in range(1, 11)]
        assert events[-1] == ("end", '{"outcome": "done", "detail": null}')
    finally:
        server.kill()


def test_an_answer_runs_once_and_every_page_gets_all_of_it(tmp_path):
    """The README's `Runs` app: two page loads start the answer once, and a stream of it from the
    page's URL gets every token from the first, then `end` (done); Stop on a finished run is harmless."""
    import httpx

    server = serve_readme_app(tmp_path, "answerapp", readme_block("Streaming answers and jobs", 1))
    try:
        pages = [httpx.get(server.url + "/", timeout=10).text for _ in range(2)]
        events = stream_of_page(server, pages[1])
        words = "You asked: why is the sky blue. Here is a slow answer.".split()
        assert events[:-1] == [("token", word + " ") for word in words], "each token once, from the first"
        assert events[-1] == ("end", '{"outcome": "done", "detail": null}')
        assert httpx.post(server.url + "/answers/answer-1/stop", timeout=10).status_code == 200
    finally:
        server.kill()


def test_the_quick_start_runs_with_python_app_py(tmp_path):
    """`python app.py`, as the README says: the page is served (on PORT, 5001 by default) and carries
    the feed's stream."""
    import os
    import signal
    import subprocess

    import httpx

    from support.servers import free_port, wait_for_port

    (tmp_path / "app.py").write_text(readme_block("Quick start"))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PORT": str(port), "PYTHONPATH": str(tmp_path)})
    try:
        wait_for_port(port, 20)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and 'sse-connect="/events/feed?lastEventId=' in page.text
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
