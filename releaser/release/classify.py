"""Classifying log lines into startup-error causes.

Render marks a crash-looping deploy failed only after up to 15 minutes of failed health
checks; the logs name the cause within seconds. This module turns a line into a Finding
(what kind of failure, a human summary, the line itself) so the watcher can decide early and
the report can quote the decisive lines. Pure functions: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Causes, most specific first: when a crash prints several kinds of lines (a KeyError, then
# "exited with code 1"), the verdict names the most specific one.
MISSING_ENV_VAR = "missing_env_var"
SETTINGS_INVALID = "settings_invalid"
MODULE_NOT_FOUND = "module_not_found"
PORT_IN_USE = "port_in_use"
DATABASE_UNREACHABLE = "database_unreachable"
OUT_OF_MEMORY = "out_of_memory"
CONFIG_PATTERN = "config_pattern"
EXITED = "exited"

CAUSE_PRIORITY: tuple[str, ...] = (
    MISSING_ENV_VAR,
    SETTINGS_INVALID,
    MODULE_NOT_FOUND,
    PORT_IN_USE,
    DATABASE_UNREACHABLE,
    OUT_OF_MEMORY,
    CONFIG_PATTERN,
    EXITED,
)

CAUSE_TITLES = {
    MISSING_ENV_VAR: "missing environment variable",
    SETTINGS_INVALID: "settings that fail to parse",
    MODULE_NOT_FOUND: "module or import not found",
    PORT_IN_USE: "port already in use",
    DATABASE_UNREACHABLE: "database unreachable",
    OUT_OF_MEMORY: "out of memory",
    CONFIG_PATTERN: "startup error (releaser.toml pattern)",
    EXITED: "application exited",
}

# Causes that a healthy app can print while it retries (a database that is still starting):
# they need one more repetition before they count as a crash loop.
TRANSIENT_CAUSES = frozenset({DATABASE_UNREACHABLE})

_ENV_NAME = r"[A-Z][A-Z0-9_]{1,}"


@dataclass(frozen=True)
class Finding:
    """One log line that explains (part of) a failure."""

    cause: str
    summary: str
    line: str

    @property
    def title(self) -> str:
        return CAUSE_TITLES.get(self.cause, self.cause)


@dataclass(frozen=True)
class _Rule:
    cause: str
    pattern: re.Pattern[str]
    template: str  # the summary; {0} is the pattern's first group
    bare: str  # the summary when the line carries no detail (an exit without a code)


def _rule(cause: str, pattern: str, template: str, bare: str = "") -> _Rule:
    return _Rule(cause, re.compile(pattern), template, bare or template)


_RULES: tuple[_Rule, ...] = (
    # Missing env vars: Python's os.environ["X"], JS/Go "X is not defined", Spanish apps.
    _rule(MISSING_ENV_VAR, rf"KeyError: ['\"]({_ENV_NAME})['\"]", "{0} is not set"),
    _rule(MISSING_ENV_VAR, rf"environ(?:\.get)?\[['\"]({_ENV_NAME})['\"]\]", "{0} is not set"),
    _rule(
        MISSING_ENV_VAR,
        rf"(?<!name ')(?<!name \")\b({_ENV_NAME}) (?:is not defined|is not set|must be set)",
        "{0} is not set",
    ),
    _rule(MISSING_ENV_VAR, rf"\b({_ENV_NAME}) no est[aá] definid[oa]", "{0} is not set"),
    _rule(
        MISSING_ENV_VAR,
        rf"(?i:missing (?:required )?(?:environment|env) var(?:iable)?)[:\s]+['\"]?({_ENV_NAME})",
        "{0} is not set",
    ),
    # pydantic-settings: a value present but unparsable (a JSON list in CORS_ORIGINS) or a
    # required field missing from the environment.
    _rule(
        SETTINGS_INVALID,
        r"SettingsError: error parsing value for field ['\"]?(\w+)['\"]?",
        "the setting {0} does not parse",
    ),
    _rule(SETTINGS_INVALID, r"\bSettingsError\b", "settings failed to load (SettingsError)"),
    _rule(
        SETTINGS_INVALID,
        r"\d+ validation errors? for (\w*Settings\w*|\w*Config\w*)",
        "{0} failed validation",
    ),
    _rule(
        MODULE_NOT_FOUND,
        r"ModuleNotFoundError: No module named ['\"]([\w.]+)['\"]",
        "no module named {0}",
    ),
    _rule(
        MODULE_NOT_FOUND,
        r"ImportError: cannot import name ['\"]?([\w.]+)['\"]?",
        "cannot import {0}",
    ),
    _rule(MODULE_NOT_FOUND, r"Cannot find module ['\"]([^'\"]+)['\"]", "cannot find module {0}"),
    _rule(
        PORT_IN_USE,
        r"EADDRINUSE[^\d]*(?:[\d.:\[\]]*:)?(\d{2,5})?",
        "port {0} already in use",
        "port already in use",
    ),
    _rule(PORT_IN_USE, r"(?i)address already in use", "port already in use"),
    _rule(
        DATABASE_UNREACHABLE,
        r"ECONNREFUSED\s*([\w.\-\[\]:]+:\d+)?",
        "connection refused by {0}",
        "connection refused",
    ),
    _rule(
        DATABASE_UNREACHABLE,
        r"(?i)could not connect to server|connection to server at .* failed|PG::ConnectionBad",
        "could not connect to the database server",
    ),
    _rule(
        DATABASE_UNREACHABLE,
        r"(?i)OperationalError: .*(?:connection refused|could not connect|timeout expired)",
        "could not connect to the database",
    ),
    _rule(OUT_OF_MEMORY, r"(?i)heap out of memory", "JavaScript heap out of memory"),
    _rule(OUT_OF_MEMORY, r"OutOfMemoryError(?:: ([\w ]+))?", "Java {0}", "Java out of memory"),
    _rule(
        OUT_OF_MEMORY,
        r"(?i)(?:exit(?:ed)? (?:with )?(?:code|status) 137|\bOOMKilled\b|\bMemoryError\b"
        r"|out of memory)",
        "out of memory (killed)",
    ),
    _rule(
        EXITED,
        # Code 0 is a clean exit (a helper that finished), never a startup error.
        r"(?i)(?:application )?exited (?:early|with (?:code|status) ([1-9]\d*))",
        "the application exited with code {0}",
        "the application exited early",
    ),
)


def classify_line(line: str, extra_patterns: Sequence[str] = ()) -> Finding | None:
    """The most specific Finding for one log line, or None when it explains nothing."""
    best: Finding | None = None
    for rule in _RULES:
        match = rule.pattern.search(line)
        if match is None:
            continue
        finding = Finding(rule.cause, _summary(rule, match), line.strip())
        if best is None or _rank(finding.cause) < _rank(best.cause):
            best = finding
    if best is None or _rank(best.cause) > _rank(CONFIG_PATTERN):
        for pattern in extra_patterns:
            if re.search(pattern, line):
                return Finding(CONFIG_PATTERN, f"matches {pattern!r}", line.strip())
    return best


def _summary(rule: _Rule, match: re.Match[str]) -> str:
    detail = match.group(1) if match.re.groups else None
    return rule.template.format(detail) if detail else rule.bare


def _rank(cause: str) -> int:
    return CAUSE_PRIORITY.index(cause) if cause in CAUSE_PRIORITY else len(CAUSE_PRIORITY)


@dataclass(frozen=True)
class Diagnosis:
    """The verdict's cause: the most specific kind seen, and the lines that show it."""

    cause: str
    summary: str
    lines: tuple[str, ...]

    @property
    def title(self) -> str:
        return CAUSE_TITLES.get(self.cause, self.cause)

    def sentence(self) -> str:
        return f"{self.title}: {self.summary}" if self.summary else self.title


def diagnose(findings: Iterable[Finding], max_lines: int = 5) -> Diagnosis | None:
    """Pick the cause to report and quote up to ``max_lines`` distinct decisive lines.

    The decisive lines are the lines of the chosen cause, then the exit lines that show the
    process died of it, without repeating the same text (a crash loop prints it many times).
    """
    found = list(findings)
    if not found:
        return None
    chosen = min(found, key=lambda f: _rank(f.cause))
    lines: list[str] = []
    for finding in found:
        if finding.cause == chosen.cause and finding.line not in lines:
            lines.append(finding.line)
    for finding in found:
        if finding.cause in (EXITED, OUT_OF_MEMORY) and finding.line not in lines:
            lines.append(finding.line)
    return Diagnosis(chosen.cause, chosen.summary, tuple(lines[:max_lines]))


# --- what a line says about the process: "is it failing", apart from "what it looks like" ---

START = "start"  # the service's main process (re)starts
DEATH = "death"  # the main process died
SUCCESS = "success"  # the app is up: listening, started, connected
RETRY = "retry"  # a failure the app is retrying on its own
WARNING = "warning"  # a warning: worth telling, never decisive
SUBPROCESS = "subprocess"  # a worker, child or helper exited: the main process lives on

RENDER_START = "==> Running '"  # Render's own marker: one per start of the service process
_STARTS = re.compile(
    r"^==> Running '|Starting gunicorn|\bPuma starting in\b|=> Booting Puma"
    r"|\bStarting \w+ (?:v\S+ )?using Java|^> \S+@\S+ start$|\bBooting (?:Unicorn|Falcon)\b"
)
_RENDER_EXIT = re.compile(r"^==> (?:Exited with status (\d+)|Application exited early)")
_DEATHS = re.compile(
    r"(?i)(?:^|\s)(?:application|process|main process|server) exited (?:early|with (?:code|status) "
    r"[1-9])|Shutting down: Master|^panic: |^fatal error: |\bApplication run failed\b"
    r"|\bOOMKilled\b|exit(?:ed)? (?:with )?(?:code|status) 137"
)
_SUBPROCESS = re.compile(
    r"(?i)\b(?:worker|child|helper|subprocess|sidecar|job runner)\b[^.]*\b(?:exit(?:ed|ing)?|"
    r"died|terminated|stopped|recycl\w*)\b|Autorestarting worker|\bexited with code 0\b"
)
_SUCCESS = re.compile(
    r"(?i)\blistening (?:on|at)\b|\bserver (?:is )?(?:running|started|ready)\b"
    r"|\bstarted \w+ in [\d.]+ ?s|\bapplication startup complete\b|Use Ctrl-C to stop"
    r"|Your service is live|\bconnected to (?:the )?(?:database|postgres|db|redis)\b"
    r"|\bready to accept connections\b"
)
_RETRY = re.compile(
    r"(?i)\bretry(?:ing)?\b|\bwill retry\b|\bback(?:ing)? ?off\b|\battempt \d+ ?(?:/|of) ?\d+"
    r"|\breconnecting\b|\btrying again\b"
)
_WARNING = re.compile(
    r"^\s*\[?(?:WARN|WARNING)\]?[:\s]|\[(?:WARN|WARNING)\]|^W, \[|\blevel=warn(?:ing)?\b"
    r"|\(node:\d+\) \w*Warning:|\s(?:WARN|WARNING)\s+\d*\s*---|^WARNING:|\bDeprecationWarning\b"
)


def line_role(line: str, level: str | None = None) -> str | None:
    """What the line says about the process, whatever error it also looks like.

    Order matters: a Render exit marker is a death even at info level; a worker's exit is
    not the service's; a warning stays a warning even when it names a missing variable.
    """
    text = line.strip()
    render_exit = _RENDER_EXIT.match(text)
    if render_exit:
        return DEATH  # Render's own word: the service's process ended (any status)
    if _STARTS.search(text):
        return START
    if _SUBPROCESS.search(text):
        return SUBPROCESS
    if (level or "").lower() in ("warn", "warning") or _WARNING.search(text):
        return WARNING
    if _DEATHS.search(text):
        return DEATH
    if _RETRY.search(text):
        return RETRY
    if _SUCCESS.search(text):
        return SUCCESS
    return None
