"""go-no-go checks as pure functions over models: no HTTP needed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from releaser.config import Config, DatabaseConfig, ServiceRules
from releaser.release.envchange import ServiceEnv
from releaser.release.envfile import parse_env_text
from releaser.release.gitstate import GitState
from releaser.release.gonogo import (
    CheckResult,
    check_database_backup,
    check_env_file,
    check_git,
    check_no_deploy_in_progress,
    check_release_version,
    check_required,
    check_rollback_target,
    check_secrets,
    check_service,
    check_types,
    judge_backup,
    repo_slug,
    split_image_ref,
    verdict_of,
)
from releaser.render.models import Deploy, Service

STRONG = "ddfa30cbc846ea6f9059e5e5cfcb3c1f4e7d21cb6b02c102"


def svc(**fields: object) -> Service:
    return Service.model_validate({"id": "srv-abc", "name": "web", **fields})


def dep(i: int, status: str, commit: str | None = None, image: str | None = None) -> Deploy:
    data: dict[str, object] = {"id": f"dep-{i}", "status": status}
    if commit:
        data["commit"] = {"id": commit, "message": "msg"}
    if image:
        data["image"] = {"ref": image}
    return Deploy.model_validate(data)


def test_suspended_service_fails() -> None:
    """A suspended service is NO-GO; an active one passes."""
    assert check_service(svc(suspended="suspended")).status == "FAIL"
    assert check_service(svc(suspended="not_suspended")).status == "PASS"


@pytest.mark.parametrize(
    "status",
    ["created", "queued", "build_in_progress", "update_in_progress", "pre_deploy_in_progress"],
)
def test_any_in_progress_status_fails(status: str) -> None:
    """Every in-progress status blocks the release, naming the deploy and its status."""
    result = check_no_deploy_in_progress([dep(2, status), dep(1, "live")])
    assert result.status == "FAIL"
    assert f"dep-2 ({status})" in result.detail


def test_required_counts_linked_env_groups() -> None:
    """A required key set only in a linked env group is present."""
    env = ServiceEnv(service_vars={"A": "1"}, groups=[("shared", {"B": "2"})])
    rules = ServiceRules(required=["A", "B"])
    result = check_required(rules, env)
    assert result.status == "PASS" and "1 from linked env groups" in result.detail


def test_required_missing_and_empty_fail() -> None:
    """Missing and empty required keys are both named."""
    env = ServiceEnv(service_vars={"A": " "}, groups=[])
    result = check_required(ServiceRules(required=["A", "B"]), env)
    assert result == CheckResult(
        name="required vars", status="FAIL", detail="missing: B; set but empty: A"
    )


def test_secrets_weak_placeholder_and_duplicate() -> None:
    """Short, placeholder and duplicated secrets each get a reason; values never appear."""
    effective = {
        "SECRET_KEY": "changeme",
        "JWT_SIGNING_KEY": "k9Qz2LmW4pXa",
        "ADMIN_TOKEN": STRONG,
        "SESSION_SECRET": STRONG,
        "LOG_LEVEL": "info",
    }
    result = check_secrets(ServiceRules(), effective)
    assert result.status == "FAIL"
    assert "SECRET_KEY looks like a placeholder" in result.detail
    assert "JWT_SIGNING_KEY is 12 characters, needs at least 32" in result.detail
    assert "ADMIN_TOKEN and SESSION_SECRET hold the same value" in result.detail
    for value in effective.values():
        assert value not in result.detail


def test_declared_secrets_and_min_length_apply() -> None:
    """releaser.toml can declare extra secret keys and a different minimum length."""
    rules = ServiceRules(secrets=["SENTRY_DSN"], min_secret_length=8)
    assert check_secrets(rules, {"SENTRY_DSN": "short"}).status == "FAIL"
    assert check_secrets(rules, {"API_KEY": "8chars!!"}).status == "PASS"


def test_typed_values_fail_with_key_type_and_reason() -> None:
    """A declared type that does not parse fails with key, type and why."""
    rules = ServiceRules(types={"CORS_ORIGINS": "json_list", "WORKERS": "int"})
    value = "[https://app.acme.example]"
    result = check_types(rules, {"CORS_ORIGINS": value, "WORKERS": "4"})
    assert result.status == "FAIL"
    assert result.detail.startswith("CORS_ORIGINS (json_list): not valid JSON")
    assert value not in result.detail


def test_database_url_is_a_postgres_url_by_default() -> None:
    """With no config, DATABASE_URL must parse as a postgres URL."""
    result = check_types(ServiceRules(), {"DATABASE_URL": "mysql://u:p@h/db"})
    assert result.status == "FAIL" and "DATABASE_URL (postgres_url)" in result.detail


def test_untyped_broken_json_is_caught() -> None:
    """Undeclared but bracketed end to end and not JSON fails; merely starting like it warns."""
    result = check_types(ServiceRules(), {"CORS_ORIGINS": "[https://a.example]"})
    assert result.status == "FAIL"
    assert result.detail.startswith("CORS_ORIGINS looks like JSON but is not: not valid JSON")
    log_format = check_types(ServiceRules(), {"LOG_FORMAT": "[%(levelname)s] %(message)s"})
    assert log_format.status == "WARN" and "LOG_FORMAT starts like JSON" in log_format.detail
    declared = ServiceRules(types={"LOG_FORMAT": "str"})
    assert check_types(declared, {"LOG_FORMAT": "[%(levelname)s] x"}).status == "PASS"


def test_env_file_drift_by_key_with_shell_safety() -> None:
    """Missing on Render fails; differing and Render-only keys warn; unsafe lines are named."""
    local = parse_env_text("A=1\nB=2\nC=p&ss\n", __import__("pathlib").Path(".env"))
    drift, shell = check_env_file(local, {"A": "1", "B": "changed", "D": "x"})
    assert drift.status == "FAIL"
    assert drift.detail.startswith("missing on Render: C; values differ: B; only on Render: D")
    assert shell.status == "WARN" and "C (line 3)" in shell.detail and "p&ss" not in shell.detail
    assert check_env_file(None, {})[0].status == "SKIP"


def test_rollback_target_is_the_live_deploy() -> None:
    """The live deploy is the rollback target; its id and version are shown."""
    deploys = [dep(3, "build_failed"), dep(2, "live", "abcdef1234"), dep(1, "deactivated")]
    result = check_rollback_target(svc(), deploys, ServiceRules())
    assert result.status == "PASS" and result.detail.startswith("dep-2 (abcdef1 msg) is live")


def test_no_successful_deploy_fails_or_warns_by_config() -> None:
    """Nothing to roll back to is a FAIL by default and a WARN when not required."""
    deploys = [dep(1, "build_failed")]
    assert check_rollback_target(svc(), deploys, ServiceRules()).status == "FAIL"
    relaxed = ServiceRules(require_rollback_target=False)
    assert check_rollback_target(svc(), deploys, relaxed).status == "WARN"


def test_rollback_target_beyond_retention_warns() -> None:
    """A target more builds back than the plan likely keeps is a warning."""
    deploys = [dep(i, "build_failed") for i in range(9, 2, -1)] + [dep(1, "live", "abc1234")]
    result = check_rollback_target(
        svc(service_details={"plan": "starter"}), deploys, ServiceRules()
    )
    assert result.status == "WARN" and "7 deploys back" in result.detail


def test_commit_same_as_live_warns_and_new_passes() -> None:
    """Releasing the live commit again warns; a different commit passes."""
    deploys = [dep(1, "live", "902ba3cda1883801594b6e1b452790cc53948fda")]
    assert check_release_version(svc(), deploys, "902ba3c", None).status == "WARN"
    assert check_release_version(svc(), deploys, "1b64538", None).status == "PASS"
    assert check_release_version(svc(), deploys, "main", None).status == "FAIL"
    assert check_release_version(svc(), deploys, None, None).status == "SKIP"


def test_image_repository_must_match_the_service() -> None:
    """--image must name the service's image repository; a mutable tag warns."""
    service = svc(imagePath="ghcr.io/acme/web:1.4.2")
    live = [dep(1, "live", image="ghcr.io/acme/web:1.4.2")]
    other = check_release_version(service, live, None, "ghcr.io/acme/api:1.5.0")
    assert other.status == "FAIL" and "ghcr.io/acme/api" in other.detail
    assert check_release_version(service, live, None, "ghcr.io/acme/web:1.5.0").status == "PASS"
    assert check_release_version(service, live, None, "ghcr.io/acme/web:1.4.2").status == "WARN"
    assert check_release_version(service, live, None, "ghcr.io/acme/web").status == "WARN"
    assert check_release_version(svc(repo="https://github.com/a/b"), live, None, "x:1").status == (
        "FAIL"
    )
    assert check_release_version(service, live, "abc1234", None).status == "FAIL"


def test_image_refs_normalise_docker_hub() -> None:
    """Docker Hub's implicit registry and library/ prefix are made explicit."""
    assert split_image_ref("nginx:1.27") == ("docker.io/library/nginx", "1.27", None)
    assert split_image_ref("acme/web@sha256:ab") == ("docker.io/acme/web", None, "sha256:ab")
    assert split_image_ref("localhost:5000/web:2") == ("localhost:5000/web", "2", None)


def test_repo_slugs_match_across_url_styles() -> None:
    """https, ssh and scp-style URLs of one repository compare equal."""
    slugs = {
        repo_slug("https://github.com/acme/web"),
        repo_slug("git@github.com:acme/web.git"),
        repo_slug("ssh://git@github.com/acme/web.git"),
    }
    assert slugs == {"github.com/acme/web"}


def state(**fields: object) -> GitState:
    base: dict[str, object] = {
        "root": "/src",
        "branch": "main",
        "head": "a" * 40,
        "dirty_files": 0,
        "upstream": "origin/main",
        "ahead": 0,
    }
    return GitState.model_validate({**base, **fields})


def test_git_clean_passes_dirty_and_unpushed_warn() -> None:
    """A clean pushed checkout passes; uncommitted or unpushed work warns."""
    assert check_git(state(), None).status == "PASS"
    result = check_git(state(dirty_files=2, ahead=3), None)
    assert result.status == "WARN"
    assert result.detail == "2 files with uncommitted changes; 3 commits not pushed to origin/main"
    assert check_git(None, None).status == "SKIP"


def test_git_commit_must_exist_locally() -> None:
    """With --commit, a commit unknown to the checkout fails; one on no remote warns."""
    assert check_git(state(), "abc1234", commit_sha=None).status == "FAIL"
    pushed = check_git(state(), "abc1234", commit_sha="abc1234" + "0" * 33, commit_on_remote=False)
    assert pushed.status == "WARN" and "no remote branch" in pushed.detail


@dataclass
class Verified:
    snapshot_id: str
    taken_at: datetime


def test_backup_age_against_max_backup_age() -> None:
    """A verified snapshot younger than max_backup_age passes; older or none does not."""
    now = datetime(2025, 1, 2, tzinfo=UTC)
    db = DatabaseConfig(store="file:///x", max_backup_age="26h")
    fresh = Verified("main-1", now - timedelta(hours=3))
    stale = Verified("main-0", now - timedelta(hours=30))
    assert judge_backup("main", db, fresh, "FAIL", now).status == "PASS"
    old = judge_backup("main", db, stale, "FAIL", now)
    assert old.status == "FAIL" and "max_backup_age 26h" in old.detail
    assert judge_backup("main", db, None, "WARN", now).status == "WARN"


def test_backup_check_without_a_linked_database_skips() -> None:
    """No database linked: SKIP with the reason, never a fake PASS."""
    result = check_database_backup(ServiceRules(), Config())
    assert result.status == "SKIP" and "no database linked" in result.detail
    undeclared = check_database_backup(ServiceRules(database="main"), Config())
    assert undeclared.status == "WARN"


def test_verdict_is_no_go_iff_any_fail() -> None:
    """WARN and SKIP never block; one FAIL does."""
    ok = [
        CheckResult(name="a", status="WARN", detail=""),
        CheckResult(name="b", status="SKIP", detail=""),
    ]
    assert verdict_of(ok) == "GO"
    assert verdict_of([*ok, CheckResult(name="c", status="FAIL", detail="")]) == "NO-GO"
