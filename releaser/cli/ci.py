"""Outcome reporting for CI and chat: GitHub Actions files and annotations, a webhook.

With ``GITHUB_ACTIONS=true`` a command appends its markdown report to
``$GITHUB_STEP_SUMMARY``, prints its FAIL and WARN lines as ``::error``/``::warning``
workflow commands (on stderr, so stdout stays parseable; the runner reads both), and
appends ``verdict``, ``exit_code``, ``deploy_id``, ``rolled_back`` and ``exit_reason`` to
``$GITHUB_OUTPUT``. ``--notify URL`` posts a one-message summary to a Slack-compatible
incoming webhook.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping, Sequence
from typing import Any

from releaser.cli.console import say
from releaser.errors import UsageError


def _escape(text: str) -> str:
    """A workflow-command message: one line, with GitHub's escapes."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _append(path: str, text: str) -> None:
    """Append to a file the runner gave us: created 0600 if missing, never via a symlink."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        why = "it is a symlink" if exc.errno == errno.ELOOP else exc.strerror
        say(f"Warning: cannot write the GitHub file {path}: {why}")
        return
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(text)


def outcome_outputs(
    action: str, exit_code: int, noted: Mapping[str, Any], error: str | None
) -> dict[str, str]:
    """The step outputs a workflow can branch on."""
    from releaser.cli.guard import VERDICTS

    verdict = str(noted.get("verdict") or VERDICTS.get(exit_code, "error"))
    to_ref = str(noted.get("to_ref") or "")
    return {
        "command": action,
        "verdict": verdict,
        "exit_code": str(exit_code),
        "deploy_id": to_ref if to_ref.startswith("dep-") else "",
        "rolled_back": "true" if "rolled" in verdict or "rollback" in action else "false",
        "exit_reason": " ".join((error or "").split()),
    }


def publish_github(
    environ: Mapping[str, str],
    outputs: Mapping[str, str],
    markdown: str | None,
    annotations: Sequence[tuple[str, str]],
) -> None:
    """Summary, annotations and outputs for GitHub Actions; nothing outside it."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return
    for level, text in annotations:
        say(f"::{level}::{_escape(text)}")
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        body = markdown or (
            f"## releaser {outputs['command']}: {outputs['verdict']}\n\n"
            + (f"{outputs['exit_reason']}\n" if outputs["exit_reason"] else "")
        )
        _append(summary, body.rstrip("\n") + "\n\n")
    output_file = environ.get("GITHUB_OUTPUT")
    if output_file:
        _append(output_file, "".join(f"{k}={v}\n" for k, v in outputs.items()))


def resolve_notify_url(value: str | None) -> str | None:
    """--notify URL or env:VAR (webhook URLs are secrets: prefer env: in CI)."""
    if not value:
        return None
    url = os.environ.get(value[4:], "") if value.startswith("env:") else value
    if not url.startswith(("https://", "http://")):
        raise UsageError(
            "--notify needs an http(s) webhook URL or env:VAR naming one",
            "For Slack: create an incoming webhook and pass --notify env:SLACK_WEBHOOK_URL",
        )
    return url


def notify(url: str, outputs: Mapping[str, str], service: str | None, ci_url: str | None) -> None:
    """POST {"text": ...} once; a failure is a warning (the release's exit code stands)."""
    import httpx

    icon = {"0": "✅"}.get(outputs["exit_code"], "❌")
    text = f"{icon} releaser {outputs['command']}"
    text += f" {service}" if service else ""
    text += f": {outputs['verdict']} (exit {outputs['exit_code']})"
    if outputs["exit_reason"]:
        text += f"\n{outputs['exit_reason']}"
    if ci_url:
        text += f"\n{ci_url}"
    host = httpx.URL(url).host  # the path of a webhook URL is its secret: never shown
    try:
        response = httpx.post(url, json={"text": text}, timeout=10.0)
    except httpx.HTTPError as exc:
        say(f"Warning: the notification to {host} failed: {type(exc).__name__}")
        return
    if response.status_code >= 300:
        say(f"Warning: the notification to {host} was refused (HTTP {response.status_code})")
