"""Error types. Each carries its exit code and the advice printed after the message.

The CLI boundary prints ``Error: <message>. <advice>`` on one line and exits with
``exit_code``; nothing else in the package prints errors or calls ``sys.exit``.
Any other exception reaching the boundary is a bug in releaser: exit ``EXIT_BUG`` (70),
never 3, so CI does not retry it as if the environment had failed.
"""

from __future__ import annotations

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
