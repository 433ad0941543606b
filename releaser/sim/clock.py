"""Simulated time: real elapsed time multiplied by a scale, plus manual jumps.

Deploys, logs and health changes are scheduled in simulated time, so a 5-minute deploy takes
30 real seconds at scale 10, and a test can jump ahead without sleeping. `SourceClock` follows
`releaser.timebase` instead: with a virtual source, simulated time moves when the client
sleeps, and a 5-minute deploy takes no real time at all.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from releaser import timebase


class Clock(Protocol):
    def now(self) -> datetime:
        """The current simulated time (UTC, aware)."""
        ...

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward (scripts and tests fast-forward with this)."""
        ...


class ScaledClock:
    """Simulated now = start + real elapsed * scale + manual jumps."""

    def __init__(self, scale: float = 1.0, start: datetime | None = None) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self._start = start or datetime.now(UTC)
        self._mono = time.monotonic()
        self._jumped = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._mono) * self.scale + self._jumped
        return self._start + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._jumped += max(0.0, seconds)


class ManualClock:
    """Time that moves only when told to: deterministic tests, no sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=max(0.0, seconds))


class SourceClock:
    """Simulated now = a time source's wall clock, plus manual jumps.

    Without a source it reads `releaser.timebase` at each call (whatever source is in use),
    so the simulator and the client it serves share one time: a test that swaps in
    `timebase.VirtualTime` sees every client sleep move the simulated deploy just as far.
    """

    def __init__(self, source: timebase.TimeSource | None = None) -> None:
        self._source = source
        self._jumped = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        wall = self._source.wall() if self._source is not None else timebase.wall()
        with self._lock:
            jumped = self._jumped
        return datetime.fromtimestamp(wall + jumped, UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._jumped += max(0.0, seconds)
