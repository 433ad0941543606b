"""Checks that look at the service and its deploys: active, idle, something to roll back to."""

from __future__ import annotations

from collections.abc import Sequence

from releaser.config import ServiceRules
from releaser.release.gonogo.check import CheckResult, _result
from releaser.render.models import Deploy, Service

DEPLOY_HISTORY = 50  # deploys read: enough for in-progress, rollback target and retention
# Builds Render likely keeps for rollback, by service plan (DESIGN.md: "2 to 30 by plan").
# A guess on purpose: past it we WARN that a rollback may have to rebuild, we never FAIL.
RETENTION_BY_PLAN = {
    "free": 2,
    "starter": 5,
    "starter_plus": 5,
    "standard": 10,
    "standard_plus": 10,
    "pro": 30,
    "pro_plus": 30,
    "pro_max": 30,
    "pro_ultra": 30,
}
DEFAULT_RETENTION = 2


def check_service(service: Service) -> CheckResult:
    if service.is_suspended:
        return _result(
            "service",
            "FAIL",
            f"{service.label} is suspended; resume it before releasing",
        )
    return _result("service", "PASS", f"{service.label} exists and is not suspended")


def _live(deploys: Sequence[Deploy]) -> Deploy | None:
    return next((d for d in deploys if d.status == "live"), None)


def check_no_deploy_in_progress(deploys: Sequence[Deploy]) -> CheckResult:
    running = [d for d in deploys if d.in_progress]
    if running:
        what = ", ".join(f"{d.id} ({d.status})" for d in running)
        return _result(
            "no deploy in progress",
            "FAIL",
            f"deploy in progress: {what}; wait for it to finish or cancel it",
        )
    return _result("no deploy in progress", "PASS", "no deploy is queued or running")


def retention_for(plan: str | None) -> int:
    return RETENTION_BY_PLAN.get((plan or "").lower(), DEFAULT_RETENTION)


def check_rollback_target(
    service: Service, deploys: Sequence[Deploy], rules: ServiceRules
) -> CheckResult:
    """Something to roll back to: the live deploy (or the newest successful one)."""
    name = "rollback target"
    target = _live(deploys) or next((d for d in deploys if d.succeeded), None)
    if target is None:
        scope = f" in the last {len(deploys)} deploys" if len(deploys) >= DEPLOY_HISTORY else ""
        detail = f"no successful deploy{scope}: nothing to roll back to"
        if rules.require_rollback_target:
            return _result(
                name,
                "FAIL",
                detail + " (set require_rollback_target = false for a first release)",
            )
        return _result(name, "WARN", detail)
    newer = deploys.index(target)
    keep = retention_for(service.plan)
    label = f"{target.id} ({target.version})"
    if newer >= keep:
        return _result(
            name,
            "WARN",
            f"{label} is {newer} deploys back; Render likely keeps about {keep} builds on "
            f"plan {service.plan or 'unknown'}, so a rollback may have to rebuild",
        )
    state = "live" if target.status == "live" else f"{target.status}, newest successful"
    return _result(name, "PASS", f"{label} is {state}")
