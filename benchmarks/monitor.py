"""Memory of the running process: the RSS high-water mark of a stage.

``VmHWM`` in /proc/self/status cannot be reset between stages, so a thread samples the
RSS from /proc/self/statm every 50 ms and keeps the largest value seen since the stage
began. ``ru_maxrss`` (the whole process's high-water) is recorded beside it.
"""

from __future__ import annotations

import os
import resource
import threading

PAGE = os.sysconf("SC_PAGE_SIZE")
INTERVAL_S = 0.05


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:  # not Linux: fall back to the process high-water
        return maxrss_bytes()


def maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class PeakRss:
    """``with PeakRss() as m: ...``; then ``m.start``, ``m.peak`` (bytes)."""

    def __init__(self, interval: float = INTERVAL_S):
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakRss:
        self.start = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, rss_bytes())
