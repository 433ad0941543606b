"""Choosing the rollback target: previous, by deploy id, by commit; and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from releaser.errors import NotFoundError, UsageError
from releaser.release.rollback import select_target
from releaser.render.models import Commit, Deploy

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def dep(id: str, status: str, days_ago: float, sha: str, trigger: str = "new_commit") -> Deploy:
    return Deploy(
        id=id,
        status=status,
        trigger=trigger,
        created_at=NOW - timedelta(days=days_ago),
        commit=Commit(id=sha, message=f"change {sha[:4]}"),
    )


HISTORY = [
    dep("dep-live", "live", 0, "aaaa111"),
    dep("dep-upfail", "update_failed", 1, "bbbb222"),
    dep("dep-cancel", "canceled", 2, "cccc333"),
    dep("dep-good2", "deactivated", 3, "dddd444"),
    dep("dep-buildfail", "build_failed", 4, "eeee555"),
    dep("dep-good1", "deactivated", 5, "ffff666"),
]


def test_previous_is_the_newest_successful_deploy_before_the_live_one() -> None:
    """Failed and canceled deploys are skipped: 'previous' means the last good version."""
    target = select_target(HISTORY, "previous", retention=10)
    assert target.deploy.id == "dep-good2"
    assert target.live is not None and target.live.id == "dep-live"
    assert target.warnings == ()


def test_previous_skips_the_release_a_rollback_escaped_and_the_live_version() -> None:
    """After 'A, B, rollback to A', previous is not B (rolled back from) nor A again."""
    history = [
        dep("dep-rb", "live", 0, "aaaa111", trigger="rollback"),
        dep("dep-b", "deactivated", 1, "bbbb222"),
        dep("dep-a", "deactivated", 2, "aaaa111"),
        dep("dep-z", "deactivated", 3, "9999999"),
    ]
    target = select_target(history, "previous", retention=10)
    assert target.deploy.id == "dep-z"
    assert any("itself a rollback" in w for w in target.warnings)


def test_order_of_the_list_does_not_matter() -> None:
    """History is ordered by creation time, not by how the API listed it."""
    assert select_target(list(reversed(HISTORY)), "previous").deploy.id == "dep-good2"


def test_a_commit_selects_the_newest_successful_deploy_of_that_commit() -> None:
    """A sha prefix picks the newest deploy of it that went live."""
    history = [*HISTORY, dep("dep-good0", "deactivated", 6, "dddd444")]
    assert select_target(history, "dddd444", retention=10).deploy.id == "dep-good2"


def test_a_deploy_id_is_taken_as_is_after_the_checks() -> None:
    """An explicit id that succeeded is the target."""
    assert select_target(HISTORY, "dep-good1", retention=10).deploy.id == "dep-good1"


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("dep-live", UsageError, "deploy dep-live is the live deploy already"),
        ("dep-upfail", UsageError, "deploy dep-upfail is update_failed, it never went live"),
        ("dep-cancel", UsageError, "deploy dep-cancel is canceled, it never went live"),
        ("bbbb222", UsageError, "deploy dep-upfail is update_failed, it never went live"),
        ("dep-nothere", NotFoundError, "deploy dep-nothere is not among"),
        ("0123abc", NotFoundError, "no deploy of commit 0123abc"),
        ("yesterday", UsageError, "--to 'yesterday' is neither"),
    ],
)
def test_unfit_targets_are_refused_before_anything_is_written(
    spec: str, error: type[Exception], message: str
) -> None:
    """Not the live one, not a failed one, must exist, must be a recognisable spec."""
    with pytest.raises(error) as caught:
        select_target(HISTORY, spec)
    assert str(caught.value).startswith(message)


def test_no_live_deploy_means_no_previous() -> None:
    """'previous' is relative to the live deploy; without one, name the target."""
    with pytest.raises(NotFoundError, match="no live deploy"):
        select_target([dep("dep-x", "deactivated", 1, "aaaa111")], "previous")


def test_nothing_good_before_live_is_refused() -> None:
    """Only failures before the live deploy: nothing to go back to."""
    history = [dep("dep-live", "live", 0, "aaaa111"), dep("dep-f", "build_failed", 1, "bbbb222")]
    with pytest.raises(NotFoundError, match="no successful deploy before the live one"):
        select_target(history, "previous")


def test_a_target_past_build_retention_is_warned_about() -> None:
    """Render keeps a few builds: an old target gets a WARN with the fallback command."""
    target = select_target(HISTORY, "dep-good1", retention=2)
    assert len(target.warnings) == 1
    assert "5 builds since dep-good1" in target.warnings[0]
    assert "releaser deploy SERVICE --commit ffff666" in target.warnings[0]
