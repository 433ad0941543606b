"""The local git checkout: uncommitted changes, unpushed commits, whether a commit exists.

Read-only ``git`` calls with a short timeout; no git, or not a checkout, is "nothing to say",
never an error: go-no-go runs in CI containers without git too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pydantic import BaseModel

GIT_TIMEOUT = 10.0


class GitState(BaseModel):
    root: Path
    branch: str | None  # None: detached HEAD
    head: str | None  # None: no commits yet
    dirty_files: int
    upstream: str | None
    ahead: int | None  # commits not on the upstream; None without an upstream


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        check=False,
        env={**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"},
    )


def git_available() -> bool:
    return shutil.which("git") is not None


def read_state(cwd: Path) -> GitState | None:
    """The checkout containing ``cwd``, or None when there is none (or no git)."""
    if not git_available() or not cwd.is_dir():
        return None
    try:
        top = _git(cwd, "rev-parse", "--show-toplevel")
        if top.returncode != 0:
            return None
        root = Path(top.stdout.strip())
        head_run = _git(root, "rev-parse", "--verify", "--quiet", "HEAD")
        head = head_run.stdout.strip() if head_run.returncode == 0 else None
        branch_run = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD")
        branch = branch_run.stdout.strip() if branch_run.returncode == 0 else None
        status = _git(root, "status", "--porcelain", "--untracked-files=no")
        dirty = len([line for line in status.stdout.splitlines() if line.strip()])
        upstream_run = _git(root, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}")
        upstream = upstream_run.stdout.strip() if upstream_run.returncode == 0 else None
        ahead: int | None = None
        if upstream and head:
            count = _git(root, "rev-list", "--count", "@{u}..HEAD")
            if count.returncode == 0 and count.stdout.strip().isdigit():
                ahead = int(count.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        return None
    return GitState(
        root=root, branch=branch, head=head, dirty_files=dirty, upstream=upstream, ahead=ahead
    )


def resolve_commit(root: Path, commit: str) -> str | None:
    """The full sha of ``commit`` if it exists in this checkout, else None."""
    if not commit or commit.startswith("-"):
        return None
    try:
        run = _git(root, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    except (OSError, subprocess.TimeoutExpired):
        return None
    return run.stdout.strip() if run.returncode == 0 else None


def on_remote(root: Path, sha: str) -> bool | None:
    """Whether any remote-tracking branch contains ``sha`` (None: cannot tell)."""
    try:
        run = _git(root, "branch", "-r", "--contains", sha)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if run.returncode != 0:
        return None
    return bool(run.stdout.strip())


def remote_urls(root: Path) -> list[str]:
    """The fetch URLs of the checkout's remotes (empty when none or unreadable)."""
    try:
        run = _git(root, "remote", "-v")
    except (OSError, subprocess.TimeoutExpired):
        return []
    urls = {parts[1] for line in run.stdout.splitlines() if len(parts := line.split()) >= 2}
    return sorted(urls)
