"""The git checkout check against real repositories made by the test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from releaser.release.gonogo import inspect_git
from releaser.render.models import Service

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    """A bare 'remote' and a clone of it with one pushed commit."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    (work / "app.py").write_text("print('v1')\n")
    git(work, "add", "app.py")
    git(work, "commit", "-q", "-m", "v1")
    git(work, "push", "-q", "-u", "origin", "main")
    return remote, work


SERVICE = Service(id="srv-abc", name="web")


def test_clean_pushed_checkout_passes(repos: tuple[Path, Path]) -> None:
    """A clean checkout in step with its upstream passes."""
    _, work = repos
    result = inspect_git(work, SERVICE, None)
    assert result.status == "PASS" and "origin/main" in result.detail


def test_dirty_and_unpushed_work_warns(repos: tuple[Path, Path]) -> None:
    """Uncommitted changes and local-only commits are warnings."""
    _, work = repos
    (work / "app.py").write_text("print('v2')\n")
    git(work, "commit", "-q", "-am", "v2")
    (work / "app.py").write_text("print('v3')\n")
    result = inspect_git(work, SERVICE, None)
    assert result.status == "WARN"
    assert "1 file with uncommitted changes" in result.detail
    assert "1 commit not pushed to origin/main" in result.detail


def test_commit_must_exist_and_be_pushed(repos: tuple[Path, Path]) -> None:
    """--commit unknown locally fails; known but unpushed warns; pushed passes."""
    _, work = repos
    pushed = git(work, "rev-parse", "HEAD")
    assert inspect_git(work, SERVICE, pushed[:7]).status == "PASS"
    assert inspect_git(work, SERVICE, "deadbee").status == "FAIL"
    (work / "b.py").write_text("x = 1\n")
    git(work, "add", "b.py")
    git(work, "commit", "-q", "-m", "local")
    local = git(work, "rev-parse", "HEAD")
    result = inspect_git(work, SERVICE, local)
    assert result.status == "WARN" and "no remote branch" in result.detail


def test_other_repository_or_no_checkout_skips(repos: tuple[Path, Path], tmp_path: Path) -> None:
    """A checkout of another repository, or no checkout, is skipped with the reason."""
    _, work = repos
    other = Service(id="srv-abc", name="web", repo="https://github.com/acme/elsewhere")
    assert inspect_git(work, other, None).status == "SKIP"
    outside = tmp_path / "plain"
    outside.mkdir()
    assert inspect_git(outside, SERVICE, None).status == "SKIP"
