"""The suite's own machinery: a `timing` test's processes run ahead of the other lanes
(support/priority.py). If this breaks, timing tests measure the machine's queue again."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from support.priority import TIMING_NICE, family, set_family_nice, stat_fields


def nice_of(pid: int) -> int:
    return int(stat_fields(pid)[16])


def test_the_whole_family_is_raised_and_put_back():
    lane = os.getpriority(os.PRIO_PROCESS, 0)
    # a child that starts a grandchild: both must follow
    child = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; "
                              "subprocess.run([sys.executable, '-c', 'import time; time.sleep(30)'])"])
    try:
        while not (grandchildren := family(child.pid)[1:]):
            time.sleep(0.01)
        grandchild = grandchildren[0]
        if os.geteuid() != 0:     # raising a priority needs root: then nothing changes
            assert set_family_nice(TIMING_NICE) is False
            assert nice_of(grandchild) == lane
            return
        assert set_family_nice(TIMING_NICE)
        assert nice_of(os.getpid()) == nice_of(child.pid) == nice_of(grandchild) == TIMING_NICE
        assert set_family_nice(lane)
        assert nice_of(os.getpid()) == nice_of(child.pid) == nice_of(grandchild) == lane
    finally:
        for pid in family(child.pid)[1:]:    # only this test's processes, not the session's servers
            os.kill(pid, 9)
        child.kill()
        child.wait()
