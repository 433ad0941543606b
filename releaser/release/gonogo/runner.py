"""The whole checklist: every check in order, and one verdict."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field, computed_field

from releaser.config import Config
from releaser.errors import EXIT_NEGATIVE, EXIT_OK
from releaser.release.envchange import ServiceEnv, read_service_env
from releaser.release.envfile import read_env_file
from releaser.release.gonogo.backup import check_database_backup
from releaser.release.gonogo.check import CheckResult
from releaser.release.gonogo.env import check_env_file, check_required, check_secrets, check_types
from releaser.release.gonogo.service import (
    DEPLOY_HISTORY,
    check_no_deploy_in_progress,
    check_rollback_target,
    check_service,
)
from releaser.release.gonogo.version import check_release_version, inspect_git
from releaser.render.client import RenderClient
from releaser.render.models import Deploy, Service
from releaser.results import Outcome, Result, Style

STATUS_COLOURS = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}


def _plain(text: str, *, fg: str | None = None, bold: bool | None = None) -> str:
    return text


class GoNoGoOutcome(Outcome):
    GO = "GO", EXIT_OK  # warnings allowed
    NO_GO = "NO-GO", EXIT_NEGATIVE


class GoNoGoReport(Result):
    outcome: GoNoGoOutcome
    service_id: str
    service_name: str | None
    checks: list[CheckResult]
    # Which rules applied: the same checks say GO without a config and NO-GO with one.
    config_path: Path | None = Field(default=None, exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Literal["GO", "NO-GO"]:
        return "GO" if self.outcome is GoNoGoOutcome.GO else "NO-GO"

    def render_text(self) -> str:
        return self._render(_plain)

    def render_terminal(self, style: Style) -> str:
        return self._render(style)

    def _render(self, style: Style) -> str:
        name = self.service_name or self.service_id
        rules = (
            f"rules from {self.config_path}"
            if self.config_path
            else "default rules (no releaser.toml)"
        )
        lines = [f"go-no-go for {name} ({self.service_id}), {rules}", ""]
        width = max(len(c.name) for c in self.checks)
        for check in self.checks:
            status = style(f"{check.status:<4}", fg=STATUS_COLOURS.get(check.status))
            lines.append(f"  {status}  {check.name:<{width}}  {check.detail}")
        warnings = sum(1 for c in self.checks if c.status == "WARN")
        failures = sum(1 for c in self.checks if c.status == "FAIL")
        counts = []
        if failures:
            counts.append(f"{failures} failed")
        if warnings:
            counts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
        verdict = style(self.verdict, fg="green" if self.verdict == "GO" else "red", bold=True)
        lines += ["", f"Verdict: {verdict}" + (f" ({', '.join(counts)})" if counts else "")]
        return "\n".join(lines)

    def render_markdown(self) -> str:
        """The CI step summary."""
        return f"## go-no-go: {self.verdict}\n\n```\n{self.render_text()}\n```"


def verdict_of(checks: Sequence[CheckResult]) -> Literal["GO", "NO-GO"]:
    return "NO-GO" if any(c.status == "FAIL" for c in checks) else "GO"


def run_go_no_go(
    client: RenderClient,
    service: Service,
    config: Config,
    *,
    commit: str | None = None,
    image: str | None = None,
    env_file: Path | None = None,
    cwd: Path | None = None,
    deploys: list[Deploy] | None = None,
    env: ServiceEnv | None = None,
) -> GoNoGoReport:
    """Every check, in order; API trouble raises (exit 3), bad input raises (exit 2).

    ``deploys`` (newest first, at least DEPLOY_HISTORY of them when there are that many) and
    ``env`` let a caller that already read them (deploy) avoid reading them twice.
    """
    rules = config.rules_for(service.id, service.name)
    local = read_env_file(env_file) if env_file else None  # bad file: exit 2 before any call
    if deploys is None:
        deploys = client.list_deploys(service.id, limit=DEPLOY_HISTORY)
    if env is None:
        env = read_service_env(client, service)
    effective = env.effective()
    checks = [
        check_service(service),
        check_no_deploy_in_progress(deploys),
        check_required(rules, env),
        check_secrets(rules, effective),
        check_types(rules, effective),
        *check_env_file(local, effective),
        check_rollback_target(service, deploys, rules),
        check_release_version(service, deploys, commit, image),
        inspect_git(cwd or Path.cwd(), service, commit),
        check_database_backup(rules, config),
    ]
    outcome = GoNoGoOutcome(verdict_of(checks))
    failed = [c.name for c in checks if c.status == "FAIL"]
    return GoNoGoReport(
        outcome=outcome,
        summary=(
            f"GO for {service.label}"
            if outcome is GoNoGoOutcome.GO
            else f"NO-GO for {service.label}: {len(failed)} check(s) failed ({', '.join(failed)})"
        ),
        advice=(
            ""
            if outcome is GoNoGoOutcome.GO
            else "Fix what the FAIL lines say, then run go-no-go again"
        ),
        service_id=service.id,
        service_name=service.name,
        checks=checks,
        config_path=config.path,
    )
