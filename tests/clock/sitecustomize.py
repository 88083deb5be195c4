"""Shifts the clock of every Python process of a test run, when asked to.

``scripts/test.sh`` runs the suite a second time with this folder on ``PYTHONPATH`` and
``SHIFTED_CLOCK_OFFSET`` set to a number of seconds, so that the run starts at 23:58 UTC on
31 December and crosses midnight and the year boundary. Python loads ``sitecustomize`` at start-up,
so pytest and every process a test starts (real servers, ``spawn``-ed workers, CLI runs) move by the
same offset and agree on the time. The variable's name does not start with ``WHISTLE_``: the test
helpers pass the environment to server processes without those. libfaketime is not used: on
Debian 12 it breaks Python's timed waits (``threading.Event.wait`` hangs, ``time.sleep`` fails
with EINVAL). Kernel file timestamps are not shifted; see docs/testing.md.
"""

import os

_offset = os.environ.get("SHIFTED_CLOCK_OFFSET", "")
if _offset:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_offset), tick=True).start()
