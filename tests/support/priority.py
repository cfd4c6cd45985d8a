"""Promises kept in wall time, measured at the front of the machine's queue.

Some tests assert what a user is promised in seconds: a shutdown tells its clients within one, a page
is Live within one of loading, a stall is noticed within stall_timeout + 1 s. `make test` runs five
lanes at once on a 2-core machine, so every process waits its turn for a core, and such a bound
measured the queue instead of the product (CI 2026-12-04: a WebKit page Live 2.6 s after loading).

A test marked `timing` (tests/conftest.py) therefore runs with its whole process family, the test
process and everything it started (its servers, its browser and the browser's tabs, Redis, nginx),
at `TIMING_NICE`: ahead of the other lanes, as the user's page and server are ahead of nothing on
their own machines. Afterwards the family goes back to the priority the lane started with. Processes
started during the test inherit the raised priority and are put back too.

Raising a priority needs root (CI runs as root). Elsewhere `set_family_nice` returns False and the test
runs at the lane's priority, as before.
"""
from __future__ import annotations

import os

TIMING_NICE = -10


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (field 3, the state, first): the name is
    in parentheses and may hold spaces. Raises OSError if the process is gone."""
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    return text[text.rfind(")") + 2:].split()


def family(root: int) -> list[int]:
    """`root` and every process descended from it, found through each process's parent in /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            parent = int(stat_fields(int(name))[1])
        except OSError:          # exited meanwhile
            continue
        children.setdefault(parent, []).append(int(name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def set_family_nice(value: int, root: int | None = None) -> bool:
    """Give every thread of `root`'s family (this process by default) the nice `value`. Linux keeps a
    nice value per thread, so each thread is set. False if that is not permitted (not root)."""
    for pid in family(root or os.getpid()):
        try:
            threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in threads:
            try:
                os.setpriority(os.PRIO_PROCESS, tid, value)
            except ProcessLookupError:
                pass
            except PermissionError:
                return False
    return True
