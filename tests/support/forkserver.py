"""A fork server for test servers: one process that has imported uvicorn and FastHTML once, and forks
a uvicorn for each `ServerProcess.start` (servers.py), instead of a fresh Python that imports them
again. A fresh start costs about 0.45 CPU-s, most of it imports; the suite starts about a thousand
servers on a 2-core machine, where CPU time is wall time.

A forked server is what a spawned one is: its own session and process group (so killpg, SIGSTOP and
SIGTERM reach it and its workers exactly as before), the environment, working directory and log
file it was given, and `uvicorn ARGS` run by uvicorn's own command line. It imports the app, and this
library, itself: only third-party modules that read no configuration at import are preloaded.

Protocol (JSON lines): the client writes {"argv", "env", "cwd", "log"}; the server answers {"pid"}
or {"error"}, and writes {"exited": pid, "returncode": n} when a child exits (negative: the signal
that ended it, as `subprocess.Popen.returncode`). The server exits when its input closes.
"""
from __future__ import annotations

import json
import os
import select
import signal
import sys

PRELOAD = ("uvicorn.main", "uvicorn.config", "uvicorn.server", "uvicorn.lifespan.on",
           "uvicorn.protocols.http.h11_impl", "uvicorn.protocols.http.httptools_impl",
           "uvicorn.loops.asyncio",
           "fasthtml.common", "starlette.applications", "httpx")


def preload() -> None:
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:    # an optional protocol this install lacks: uvicorn will not pick it
            pass


def run_child(request: dict, keep_fds: tuple[int, ...]) -> None:
    """In the forked child: become the server the request describes, then exit with its status."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):   # as a fresh Python has them
            signal.signal(sig, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if request["log"] else null
        os.dup2(null, 0)      # over the request pipe; dup2 makes 0-2 inheritable, as uvicorn's
        os.dup2(log, 1)       # workers (spawned) need them
        os.dup2(log, 2)
        for fd in {null, log, *keep_fds} - {0, 1, 2}:
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[:0] = [p for p in extra if p not in sys.path]
        sys.argv = ["uvicorn", *request["argv"]]
        from uvicorn.main import main as uvicorn_command
        try:
            uvicorn_command.main(args=request["argv"], prog_name="uvicorn")
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:   # noqa: BLE001 (anything that escapes must still end this child only)
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve() -> None:
    preload()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)   # only to wake select through the wakeup fd
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C in pytest: the input closing ends us
    requests = sys.stdin.buffer
    replies = sys.stdout.buffer

    def say(message: dict) -> None:
        replies.write(json.dumps(message).encode() + b"\n")
        replies.flush()

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            say({"exited": pid, "returncode": os.waitstatus_to_exitcode(status)})

    buffered = b""
    while True:
        try:
            ready, _, _ = select.select([requests.fileno(), wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            os.read(wake_r, 4096)
            reap()
        if requests.fileno() not in ready:
            continue
        chunk = os.read(requests.fileno(), 65536)
        if not chunk:
            return
        buffered += chunk
        while b"\n" in buffered:
            line, buffered = buffered.split(b"\n", 1)
            request = json.loads(line)
            replies.flush()
            try:
                pid = os.fork()
            except OSError as error:
                say({"error": str(error)})
                continue
            if pid == 0:
                run_child(request, (wake_r, wake_w, requests.fileno(), replies.fileno()))
            say({"pid": pid})
        reap()


if __name__ == "__main__":
    serve()
