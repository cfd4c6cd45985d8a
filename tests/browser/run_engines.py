"""Run the browser suite once per engine, the engines in parallel processes, and report each one's
wall time: `python tests/browser/run_engines.py [pytest args]` (what `make test` does).

One process per engine, not pytest-xdist: its --dist loadgroup does not group tests under the pytest
in use, and one process per engine keeps one browser per module. Each line of output is prefixed with
its engine; the exit status is non-zero if any engine failed."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engines import selected_engines  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def main(args: list[str]) -> int:
    engines = selected_engines()
    width = max(map(len, engines))
    started, ended, runs, lock = time.monotonic(), {}, {}, threading.Lock()

    def pump(engine: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            with lock:
                sys.stdout.write(f"[{engine:<{width}}] {line}")
                sys.stdout.flush()
        proc.wait()
        ended[engine] = time.monotonic()

    threads = []
    for engine in engines:
        basetemp = tempfile.mkdtemp(prefix=f"sse-monitor-{engine}-")   # concurrent sessions: own tmp dirs
        command = [sys.executable, "-m", "pytest", "tests/browser", "-p", "no:cacheprovider",
                   f"--basetemp={basetemp}", "--durations=20", *args]
        proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "SSE_MONITOR_ENGINES": engine},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        runs[engine] = proc
        thread = threading.Thread(target=pump, args=(engine, proc))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()

    print("\nbrowser suite, wall time per engine:")
    for engine, proc in runs.items():
        status = {0: "passed", 5: "no tests selected"}.get(proc.returncode, f"FAILED (exit {proc.returncode})")
        print(f"  {engine:<{width}} {ended[engine] - started:7.1f} s  {status}")
    return 0 if all(proc.returncode in (0, 5) for proc in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
