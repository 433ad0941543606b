"""The API server's clock, as the watcher sees it through the responses' Date headers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from releaser import timebase

NEW_RESPONSE_SECONDS = 0.001  # an offset change smaller than this is two reads, not a response


class ServerClock:
    """The API server's time, extrapolated between responses at the rate it is seen to run.

    ``RenderClient.server_now()`` moves at our speed between responses; against the
    simulator's scaled time that would make a 60 s soak last a real minute. The rate is
    learnt from the Date headers (1 s resolution, hence the conservative estimate).
    """

    UNTRUSTED_MAX_SLEEP = 0.25  # real seconds: wake often until the rate is known

    def __init__(
        self,
        read_server: Callable[[], datetime],
        *,
        monotonic: Callable[[], float] = timebase.monotonic,
        wall: Callable[[], float] = timebase.wall,
        sleep: Callable[[float], None] = timebase.sleep,
    ) -> None:
        self._read = read_server
        self._mono = monotonic
        self._wall = wall
        self._sleep = sleep
        self._offset: float | None = None
        self._first: tuple[float, float] | None = None
        self._anchor: tuple[float, float] | None = None
        self._rate: float | None = None
        self._last = 0.0

    def _sample(self) -> None:
        server = self._read().timestamp()
        offset = server - self._wall()
        if self._offset is not None and abs(offset - self._offset) < NEW_RESPONSE_SECONDS:
            return  # no response since the last look: nothing new about the server
        self._offset = offset
        self._anchor = (self._mono(), server)
        if self._first is None:
            self._first = self._anchor
            return
        real = self._anchor[0] - self._first[0]
        seen = self._anchor[1] - self._first[1]
        if real >= 1.0 or seen >= 4.0:
            # Date headers truncate to the second: subtract one to never overestimate.
            self._rate = max(1.0, (seen - 1.0) / real) if real > 0 else None

    @property
    def rate(self) -> float | None:
        """Server seconds per real second, once known."""
        return self._rate

    def now(self) -> float:
        self._sample()
        assert self._anchor is not None
        mono, server = self._anchor
        estimate = server + (self._mono() - mono) * (self._rate or 1.0)
        self._last = max(self._last, estimate)
        return self._last

    def sleep(self, server_seconds: float) -> None:
        if server_seconds <= 0:
            return
        real = server_seconds / (self._rate or 1.0)
        if self._rate is None:
            real = min(real, self.UNTRUSTED_MAX_SLEEP)
        self._sleep(real)
