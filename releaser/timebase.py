"""The product's time, behind one seam: real by default, virtual in tests.

Code that paces or waits (retry back-off, Retry-After, the server clock, watch ticks, job and
lock polling) reads time here instead of from `time`, so a test can swap in `VirtualTime`, in
which sleeping is instant. The simulator's `SourceClock` reads the same source, so when the
client sleeps 30 s the simulated deploy moves 30 s with it: a 20-minute watch takes no real
time. The module functions look the source up at each call, so a default argument such as
``sleep=timebase.sleep`` follows a source swapped in after import.

Not everything is paced time: httpx's timeouts, a health probe's latency and the simulator's
"slow network" fault delays stay real, because they measure or race the real network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class TimeSource(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for durations and deadlines)."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch (for comparing with the server's Date)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        ...


class RealTime:
    """The `time` module, looked up per call (so a test may still monkeypatch it)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class VirtualTime:
    """Time that moves only when someone sleeps; sleeping returns at once.

    Thread-safe, but meant to be advanced by one thread (the client's): the simulator's
    threads only read it. ``settle`` hooks run before time moves, outside the lock: the
    simulator uses one to finish a request the client already gave up on (a slow POST), so
    what that request does lands at the moment it arrived, as it would in real time.
    """

    def __init__(self, start_wall: float | None = None) -> None:
        self._lock = threading.Lock()
        # Whole seconds, as HTTP Date headers are: where a run's second boundaries fall must not
        # depend on when it started, or the same run could end differently. Real-looking
        # values, so nothing meets a monotonic clock at 0.
        self._mono = float(int(time.monotonic()))
        self._wall = float(int(time.time())) if start_wall is None else start_wall
        self._settle: list[Callable[[], None]] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def wall(self) -> float:
        with self._lock:
            return self._wall

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        for settle in list(self._settle):
            settle()
        with self._lock:
            self._mono += seconds
            self._wall += seconds

    def on_settle(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` before each move of time (e.g. wait for in-flight requests)."""
        self._settle.append(hook)


_source: TimeSource = RealTime()


def monotonic() -> float:
    return _source.monotonic()


def wall() -> float:
    return _source.wall()


def sleep(seconds: float) -> None:
    _source.sleep(seconds)


def current() -> TimeSource:
    return _source


@contextmanager
def use(source: TimeSource) -> Iterator[TimeSource]:
    """Make ``source`` the product's time for the block (tests); the previous one after."""
    global _source
    previous, _source = _source, source
    try:
        yield source
    finally:
        _source = previous
