"""Progress for long database operations: phases always (stderr), byte counters on a TTY.

Core functions take a Reporter so that the CLI decides how loud to be and tests can
observe phase events (``event``) without patching anything.
"""

from __future__ import annotations

import sys
import time


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(count) < 1024 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"  # pragma: no cover


def mb_per_s(size: int, seconds: float) -> float:
    return round(size / 1_000_000 / seconds, 1) if seconds > 0 else 0.0


class Reporter:
    """Silent base: used by library callers (go-no-go) and tests."""

    def phase(self, text: str) -> None:
        """A step starts (``dumping app to s3://…``)."""

    def transferred(self, done: int, total: int | None = None) -> None:
        """Bytes moved so far in the current step."""

    def event(self, name: str) -> None:
        """A named point in a flow (``snapshot-exported``, ``dump-started``)."""

    def done(self) -> None:
        """The current byte counter is finished."""


class StderrReporter(Reporter):
    """Phases on stderr; a throttled bytes/throughput line only when stderr is a TTY."""

    def __init__(self, tty: bool | None = None) -> None:
        self.tty = sys.stderr.isatty() if tty is None else tty
        self._started = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def phase(self, text: str) -> None:
        self.done()
        self._started = time.monotonic()
        # stderr looked up now, not at import: a test runner swaps it per run.
        print(text, file=sys.stderr, flush=True)

    def transferred(self, done: int, total: int | None = None) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if now - self._last < 0.25:
            return
        self._last = now
        rate = mb_per_s(done, now - self._started)
        of = f" of ~{human_bytes(total)}" if total else ""
        sys.stderr.write(f"\r  {human_bytes(done)}{of}  {rate} MB/s   ")
        sys.stderr.flush()
        self._drawn = True

    def done(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False
