"""What `pip install` gives a user: the sdist and wheel build (`python -m build`) and pass
`twine check`; the wheel ships the joined runtime (not its parts) and the examples, and an example
runs from the installed package with `sse-monitor example NAME`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import zipfile

import httpx
import pytest

from support.servers import REPO_DIR, free_port, wait_for_port


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(out)]
    built = subprocess.run([*command, str(REPO_DIR)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    return out


def test_the_sdist_and_wheel_build_and_pass_twine_check(dist):
    files = sorted(p.name for p in dist.iterdir())
    assert any(f.endswith(".whl") for f in files) and any(f.endswith(".tar.gz") for f in files), files
    checked = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_wheel_ships_the_runtime_joined_and_the_examples(dist):
    wheel = next(dist.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "sse_monitor/browser/static/sse-monitor.js" in names
    assert not any(n.startswith("sse_monitor/browser/runtime/") for n in names), "the parts stay in the repo"
    for example in ("answers", "chat", "dashboard", "progress"):
        assert f"sse_monitor/examples/{example}.py" in names


def test_an_example_runs_from_the_installed_package(dist, tmp_path):
    """The wheel unpacked where site-packages would be (its dependencies are this environment's):
    `sse-monitor example answers` serves the example from the package, not from this checkout."""
    site = tmp_path / "site"
    zipfile.ZipFile(next(dist.glob("*.whl"))).extractall(site)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sse_monitor.cli", "example", "answers", "--port", str(port)],
                            cwd=tmp_path, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(site)})
    try:
        wait_for_port(port, 20)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "Ask something" in page.text
        listing = subprocess.run([sys.executable, "-m", "sse_monitor.cli", "example"], capture_output=True,
                                 text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(site)})
        assert "answers" in listing.stdout and "progress" in listing.stdout
        where = subprocess.run([sys.executable, "-c", "import sse_monitor.cli as c; print(c.examples_folder())"],
                               capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(site)})
        assert where.stdout.strip() == str(site / "sse_monitor" / "examples")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
