"""go-no-go: may we release this service now? A checklist with evidence and one verdict.

Each check is a function over models (pure, testable without HTTP) returning a CheckResult
with one line of detail. Details name keys, types, lengths and fingerprints, never values.
The verdict is NO-GO iff any check FAILs; WARN and SKIP never block.

The checks are grouped by what they look at: ``service`` (the service and its deploys),
``version`` (image refs, commits, the git checkout), ``env`` (values, secrets, a .env file,
and the drift rows ``env diff`` shows) and ``backup`` (drill-verified snapshots).
``runner`` runs them all and returns the report.
"""

from releaser.release.gonogo.backup import VerifiedSnapshot, check_database_backup, judge_backup
from releaser.release.gonogo.check import CheckResult, Status
from releaser.release.gonogo.env import (
    check_env_file,
    check_required,
    check_secrets,
    check_types,
    drift_rows,
)
from releaser.release.gonogo.runner import GoNoGoOutcome, GoNoGoReport, run_go_no_go, verdict_of
from releaser.release.gonogo.service import (
    DEFAULT_RETENTION,
    DEPLOY_HISTORY,
    RETENTION_BY_PLAN,
    check_no_deploy_in_progress,
    check_rollback_target,
    check_service,
    retention_for,
)
from releaser.release.gonogo.version import (
    check_git,
    check_release_version,
    inspect_git,
    repo_slug,
    split_image_ref,
)

__all__ = [
    "DEFAULT_RETENTION",
    "DEPLOY_HISTORY",
    "RETENTION_BY_PLAN",
    "CheckResult",
    "GoNoGoOutcome",
    "GoNoGoReport",
    "Status",
    "VerifiedSnapshot",
    "check_database_backup",
    "check_env_file",
    "check_git",
    "check_no_deploy_in_progress",
    "check_release_version",
    "check_required",
    "check_rollback_target",
    "check_secrets",
    "check_service",
    "check_types",
    "drift_rows",
    "inspect_git",
    "judge_backup",
    "repo_slug",
    "retention_for",
    "run_go_no_go",
    "split_image_ref",
    "verdict_of",
]
