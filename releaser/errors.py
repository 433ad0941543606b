"""Error types: every exception class of releaser lives here. Each carries its exit code and
the advice printed after the message.

The CLI boundary prints ``Error: <message>. <advice>`` on one line and exits with
``exit_code``; nothing else in the package prints errors or calls ``sys.exit``.
Any other exception reaching the boundary is a bug in releaser: exit ``EXIT_BUG`` (70),
never 3, so CI does not retry it as if the environment had failed.

The tree (exit code in brackets)::

    ReleaserError [2]
    ├── UsageError [2]                bad flag or argument value
    │   └── RefusedTarget [2]         a restore into the source or a production database
    ├── ConfigError [2]               bad releaser.toml, env file, scenario or input file
    ├── NotFoundError [2]             a named service, deploy or snapshot does not exist
    ├── AlreadyExists [2]             a conditional create found the object there
    ├── EnvironmentProblem [3]        network, auth, rate limit, S3, Postgres
    │   ├── ApiError [3]              the Render API answered an error or was unreachable
    │   │   ├── WriteOutcomeUnknown [3]   a write may or may not have happened: look first
    │   │   └── RequestRejected [2]   Render refused our input (a 4xx but auth or 404)
    │   ├── LockHeld [3]              another releaser holds the service's lock
    │   └── DumpFailed [3]            pg_dump failed or wrote no archive
    ├── NegativeVerdict [1]           the tool worked and the answer is no
    │   ├── Declined [1]              the person at the terminal said no to a write
    │   └── IncompleteSnapshot [1]    a snapshot without a usable manifest or dump
    └── UnsafeState [4]               failed and not safely back: a human is needed
        └── WatchAbandoned [4]        Ctrl-C left a deploy running with nobody watching

    DownloadInterrupted               not a ReleaserError: a broken export download, caught
                                      inside db/render_export (one retry, then an
                                      EnvironmentProblem); it never reaches the boundary

``releaser.sim.state.ApiProblem`` is not here on purpose: it is the simulator's HTTP error
answer (a status and a body it serves), not an error of releaser's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from releaser.db.manifest import Manifest

EXIT_OK = 0
EXIT_NEGATIVE = 1  # NO-GO, deploy failed (rolled back), verification failed
EXIT_USAGE = 2  # bad flag, bad config file, bad input file
EXIT_ENVIRONMENT = 3  # Render/S3/Postgres unreachable, auth refused, rate limit exhausted
EXIT_UNSAFE = 4  # failed AND not safely back: a human is needed
EXIT_BUG = 70  # a bug in releaser (sysexits EX_SOFTWARE): report it, do not retry


class ReleaserError(Exception):
    """Base error: a message (what happened) and advice (what to do)."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(message)
        self.message = message.rstrip(".")
        self.advice = advice

    def one_line(self) -> str:
        text = f"{self.message}."
        if self.advice:
            text += f" {self.advice}"
        # One line, always: multi-line causes (pg_dump stderr, API bodies) are folded.
        return " ".join(text.split())

    def __str__(self) -> str:
        return self.one_line()


class UsageError(ReleaserError):
    """Bad flag or argument value (exit 2)."""

    exit_code = EXIT_USAGE


class ConfigError(ReleaserError):
    """Bad config file, env file, scenario or other input file (exit 2)."""

    exit_code = EXIT_USAGE


class NotFoundError(ReleaserError):
    """A named thing (service, deploy, snapshot) does not exist (exit 2: the input is wrong)."""

    exit_code = EXIT_USAGE


class EnvironmentProblem(ReleaserError):
    """Something outside releaser failed: network, auth, rate limit, S3, Postgres (exit 3)."""

    exit_code = EXIT_ENVIRONMENT


class ApiError(EnvironmentProblem):
    """The Render API answered with an error or could not be reached (exit 3)."""

    def __init__(self, message: str, advice: str = "", status: int | None = None) -> None:
        super().__init__(message, advice)
        self.status = status


class NegativeVerdict(ReleaserError):
    """The tool worked and the answer is no: NO-GO, failed deploy rolled back, failed check."""

    exit_code = EXIT_NEGATIVE


class Declined(NegativeVerdict):
    """The person at the terminal said no to a write: nothing was changed (exit 1)."""


class UnsafeState(ReleaserError):
    """The release failed and the service is not safely back (exit 4)."""

    exit_code = EXIT_UNSAFE


class RefusedTarget(UsageError):
    """The restore target is the source or a production database (exit 2)."""


class AlreadyExists(ReleaserError):
    """A conditional create found the object already there."""


class WriteOutcomeUnknown(ApiError):
    """A write timed out or got a 5xx: it may have happened. Look before retrying."""

    def __init__(self, problem: str, status: int | None = None) -> None:
        super().__init__(
            f"{problem}; the request may or may not have been applied",
            "Check the current state before trying again",
            status=status,
        )


class RequestRejected(ApiError):
    """Render refused our input (a 4xx other than auth or 404): exit 2, not 3."""

    exit_code = EXIT_USAGE


class LockHeld(EnvironmentProblem):
    """Another releaser holds the lock (exit 3: retrying later may help)."""


class DumpFailed(EnvironmentProblem):
    """pg_dump exited non-zero, was killed, or wrote something that is not an archive."""


class IncompleteSnapshot(NegativeVerdict):
    """The snapshot exists but cannot be used: no (readable) manifest, a manifest of
    another snapshot, or a missing dump (exit 1; callers record failed evidence)."""

    def __init__(
        self, snapshot_id: str, message: str, advice: str, manifest: Manifest | None = None
    ) -> None:
        super().__init__(message, advice)
        self.snapshot_id = snapshot_id
        self.manifest = manifest


class WatchAbandoned(UnsafeState):
    """Ctrl-C (or a dying runner) left a deploy running with nobody watching it (exit 4)."""


class DownloadInterrupted(Exception):
    """The HTTP transfer broke (an expired URL, a dropped connection): not the archive's fault."""
