"""The result contract every command's core returns.

A core entry point (go-no-go, deploy, rollback, promote, env change, snapshot, verify,
restore, drill, prune, ...) returns one ``Result``: a typed ``outcome`` that knows its exit
code, a one-sentence ``summary`` and the ``advice`` printed after it when the outcome is not
a success. Its JSON form is ``model_dump(mode="json")``; its text (and, where there is one,
Markdown) form is a method beside the data, so the CLI only chooses which to print.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, computed_field

from releaser.errors import (
    EXIT_ENVIRONMENT,
    EXIT_NEGATIVE,
    EXIT_OK,
    EXIT_UNSAFE,
    EXIT_USAGE,
    EnvironmentProblem,
    NegativeVerdict,
    ReleaserError,
    UnsafeState,
    UsageError,
)


class Outcome(StrEnum):
    """An outcome's name, as shown in JSON and reports, and its exit code.

    Members are declared as ``NAME = "value", exit_code``::

        class DeployOutcome(Outcome):
            HEALTHY = "healthy", EXIT_OK
            ROLLED_BACK = "rolled_back", EXIT_NEGATIVE
    """

    _exit_code: int

    def __new__(cls, value: str, exit_code: int = EXIT_OK) -> Outcome:
        member = str.__new__(cls, value)
        member._value_ = value
        member._exit_code = exit_code
        return member

    @property
    def exit_code(self) -> int:
        return self._exit_code

    @property
    def heading(self) -> str:
        """``rolled_back`` -> ``ROLLED BACK``: the first word of a text report."""
        return self.value.upper().replace("_", " ")


# The error raised after the result is printed, by exit code: its one line is the last
# line on stderr, and the exit code reaches CI through the CLI's one error boundary.
_ERROR_FOR_EXIT: dict[int, type[ReleaserError]] = {
    EXIT_NEGATIVE: NegativeVerdict,
    EXIT_USAGE: UsageError,
    EXIT_ENVIRONMENT: EnvironmentProblem,
    EXIT_UNSAFE: UnsafeState,
}


class Style(Protocol):
    """How a terminal colours text (the CLI passes ``click.style``: no click below cli/)."""

    def __call__(self, text: str, *, fg: str | None = None, bold: bool | None = None) -> str: ...


class Result(BaseModel):
    """Base of every command result. Subclasses narrow ``outcome`` to their own enum."""

    outcome: Outcome
    summary: str
    advice: str = ""

    # Whether the text's first line is the verdict (coloured on a terminal); a result whose
    # text opens with a table header or key/value pairs says False.
    verdict_first: ClassVar[bool] = True

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def render_text(self) -> str:
        """The terminal form (stdout): the verdict first. Subclasses add their details."""
        return f"{self.outcome.heading}: {self.summary}"

    def render_terminal(self, style: Style) -> str:
        """The text form coloured for a terminal: the verdict line green or red, bold."""
        if not self.verdict_first:
            return self.render_text()
        head, _, rest = self.render_text().partition("\n")
        colour = "green" if self.ok else "red"
        return style(head, fg=colour, bold=True) + ("\n" + rest if rest else "")

    def render_markdown(self) -> str | None:
        """The report file's form, for results that have one (``--report``)."""
        return None

    def error(self, default_advice: str = "") -> ReleaserError | None:
        """The error that carries this result's exit code to the boundary (None on success)."""
        if self.ok:
            return None
        kind = _ERROR_FOR_EXIT.get(self.exit_code, NegativeVerdict)
        return kind(self.summary, self.advice or default_advice)


class View(BaseModel):
    """A read-only command's answer (services, history, env list, ...): data, no verdict.

    It always succeeds (a failure is an error, not a view), so its text has no coloured
    verdict line. Its JSON form is ``json_document()``: the model, unless a subclass keeps
    an older shape that scripts read.
    """

    def json_document(self) -> Any:
        return self.model_dump(mode="json")

    def render_text(self) -> str:
        """The stdout form (a table, lines); "" prints nothing."""
        raise NotImplementedError

    def render_terminal(self, style: Style) -> str:
        """The text form for a terminal (colour where a view has some to give)."""
        return self.render_text()

    def note(self) -> str:
        """Talk for stderr after the text, e.g. that nothing matched ("" for none)."""
        return ""


ItemT = TypeVar("ItemT", bound=BaseModel)


class Listing(View, Generic[ItemT]):
    """A view of a list: its JSON form is the list itself, not an object around it; the
    other fields of a subclass only shape the text form."""

    items: list[ItemT]

    def json_document(self) -> list[Any]:
        return [item.model_dump(mode="json") for item in self.items]
