"""Checks that look at the version about to be released: image refs, commits, the git checkout."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from releaser.release import gitstate
from releaser.release.gitstate import GitState
from releaser.release.gonogo.check import CheckResult, _n, _result
from releaser.release.gonogo.service import _live
from releaser.render.models import Deploy, Service

_SHA = re.compile(r"[0-9a-fA-F]{7,40}")


def split_image_ref(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) with Docker Hub's implicit parts made explicit."""
    text = ref.strip()
    digest: str | None = None
    if "@" in text:
        text, digest = text.split("@", 1)
    tag: str | None = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
    parts = text.split("/")
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = ["docker.io", *parts]
    if parts[0] in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        parts[0] = "docker.io"
        if len(parts) == 2:
            parts = ["docker.io", "library", parts[1]]
    return "/".join(parts).lower(), tag, digest


def _same_commit(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return a.startswith(b) or b.startswith(a)


def check_release_version(
    service: Service, deploys: Sequence[Deploy], commit: str | None, image: str | None
) -> CheckResult:
    name = "release version"
    live = _live(deploys)
    if commit:
        if service.image_path:
            return _result(
                name,
                "FAIL",
                f"{service.label} deploys an image ({service.image_path}); pass --image, "
                "not --commit",
            )
        if not _SHA.fullmatch(commit):
            return _result(name, "FAIL", "--commit must be a commit sha (7 to 40 hex digits)")
        live_commit = live.commit.id if live and live.commit else None
        if live and live_commit and _same_commit(commit, live_commit):
            return _result(
                name, "WARN", f"commit {commit[:7]} is already live ({live.id}): nothing new"
            )
        now = f"live is {live_commit[:7]}" if live_commit else "nothing live"
        return _result(name, "PASS", f"commit {commit[:7]} differs from what is live ({now})")
    if image:
        if not service.image_path:
            where = f"builds from {service.repo}" if service.repo else "is not image-backed"
            return _result(
                name, "FAIL", f"{service.label} {where}; --image needs an image-backed service"
            )
        wanted_repo, tag, digest = split_image_ref(image)
        service_repo, _, _ = split_image_ref(service.image_path)
        if wanted_repo != service_repo:
            return _result(
                name,
                "FAIL",
                f"image repository {wanted_repo} is not the service's ({service_repo})",
            )
        live_ref = live.image.ref if live and live.image else None
        if live and live_ref and live_ref.strip() == image.strip():
            return _result(name, "WARN", f"image {image} is already live ({live.id}): nothing new")
        if digest is None and tag in (None, "latest"):
            return _result(
                name,
                "WARN",
                f"image {image} names no fixed version (tag {tag or 'latest'}); "
                "promote a digest or a release tag",
            )
        return _result(name, "PASS", f"image {image} differs from what is live")
    return _result(name, "SKIP", "no --commit or --image given")


def repo_slug(url: str) -> str:
    """``host/owner/name`` for https, ssh and scp-style git URLs alike."""
    text = url.strip().lower().removesuffix("/").removesuffix(".git")
    match = re.match(r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/]+@)?([^/:]+)[:/](.+)$", text)
    if not match:
        return text
    return f"{match[1]}/{re.sub(r'^[0-9]+/', '', match[2])}"


def check_git(
    state: GitState | None,
    commit: str | None,
    *,
    commit_sha: str | None = None,
    commit_on_remote: bool | None = None,
    repo_matches: bool | None = None,
) -> CheckResult:
    name = "git checkout"
    if state is None:
        return _result(name, "SKIP", "not run inside a git checkout")
    if repo_matches is False:
        return _result(name, "SKIP", f"{state.root} is not a checkout of the service's repo")
    warnings = []
    if commit:
        if commit_sha is None:
            return _result(
                name,
                "FAIL",
                f"commit {commit} does not exist in {state.root}; fetch it, or fix --commit",
            )
        if commit_on_remote is False:
            warnings.append(f"commit {commit_sha[:7]} is on no remote branch (push it first)")
    if state.dirty_files:
        warnings.append(f"{_n(state.dirty_files, 'file')} with uncommitted changes")
    if state.head and state.upstream is None and state.branch:
        warnings.append(f"branch {state.branch} has no upstream")
    elif state.ahead:
        warnings.append(f"{_n(state.ahead, 'commit')} not pushed to {state.upstream}")
    if warnings:
        return _result(name, "WARN", "; ".join(warnings))
    where = f"{state.branch or 'detached HEAD'}"
    if state.upstream:
        where += f", up to date with {state.upstream}"
    return _result(name, "PASS", f"clean ({where})")


def inspect_git(cwd: Path, service: Service, commit: str | None) -> CheckResult:
    state = gitstate.read_state(cwd)
    if state is None:
        return check_git(None, commit)
    repo_matches: bool | None = None
    if service.repo:
        remotes = gitstate.remote_urls(state.root)
        if remotes:
            wanted = repo_slug(service.repo)
            repo_matches = any(repo_slug(u) == wanted for u in remotes)
    sha = gitstate.resolve_commit(state.root, commit) if commit else None
    on_remote = gitstate.on_remote(state.root, sha) if sha else None
    return check_git(
        state, commit, commit_sha=sha, commit_on_remote=on_remote, repo_matches=repo_matches
    )
