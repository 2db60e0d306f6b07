"""A noisy neighbour for bench/load.py's ``--neighbour SHARE``: a process that
keeps one core busy for SHARE of the time (busy, then asleep, in periods of
20 ms) until it is stopped. load.py starts one per core, so that the
workspace runs on what a slower or shared host would leave it. It asks for a
higher priority than the site's (where it may: as root), so that it takes its
share however busy the site is, as a hypervisor takes its steal time.

    python bench/_neighbour.py 0.25
"""

import contextlib
import os
import sys
import time

PERIOD_S = 0.02


def main() -> None:
    share = float(sys.argv[1])
    if not 0 < share < 1:
        raise SystemExit("share: between 0 and 1, e.g. 0.25")
    busy, idle = PERIOD_S * share, PERIOD_S * (1 - share)
    with contextlib.suppress(PermissionError):
        os.nice(-10)
    while True:
        # Busy for ``busy`` of CPU time (not of the clock: preempted, it
        # would take less than its share), then asleep.
        until = time.process_time() + busy
        while time.process_time() < until:
            pass
        time.sleep(idle)


if __name__ == "__main__":
    main()
