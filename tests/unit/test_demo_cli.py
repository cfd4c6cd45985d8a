"""The demo as a new user meets it: `--help` explains every option, and running it leaves nothing
behind in the folder it was started from."""
from __future__ import annotations

import re

import pytest

from sse_monitor.cli import main
from sse_monitor.demo import create_app


def test_demo_help_describes_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    options = re.findall(r"^  (--[a-z-]+)(?: [A-Z{][^ ]*)?( +)(\S.*)?$", text, re.M)
    assert {name for name, _, _ in options} >= {"--host", "--port", "--assets", "--htmx", "--redis", "--workers",
                                               "--no-tab-sharing"}
    assert all(description for _, _, description in options), options


def test_the_demo_writes_nothing_into_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    create_app(None)
    assert list(tmp_path.iterdir()) == [], "no .sesskey or anything else"
