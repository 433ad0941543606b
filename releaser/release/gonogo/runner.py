"""The whole checklist: every check in order, and one verdict."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from releaser.config import Config
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


class GoNoGoReport(BaseModel):
    service_id: str
    service_name: str | None
    verdict: Literal["GO", "NO-GO"]
    checks: list[CheckResult]


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
    return GoNoGoReport(
        service_id=service.id,
        service_name=service.name,
        verdict=verdict_of(checks),
        checks=checks,
    )
