"""Which services a commit range touches: Render's rootDir and build filter against git."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from releaser.errors import UsageError
from releaser.render.models import Service


@dataclass
class Selection:
    service: Service
    included: bool
    why: str


def changed_files(since: str, until: str) -> list[str]:
    """Paths changed between two commits of the git repository in the current folder."""
    for ref in (since, until):
        if ref.startswith("-"):
            raise UsageError(f"{ref!r} is not a git revision", "Pass a commit, tag or branch")
    try:
        done = subprocess.run(
            ["git", "diff", "--name-only", "--no-renames", f"{since}...{until}", "--"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"cannot run git: {exc}", "Run releaser inside the repository") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["git diff failed"])[-1]
        raise UsageError(
            f"git cannot compare {since} with {until}: {reason}",
            "Run inside the repository and fetch enough history (fetch-depth: 0 in CI)",
        )
    return [line for line in done.stdout.splitlines() if line]


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Render's build-filter globs: ``**`` any depth, ``*`` within one path segment."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(f"^{out}$")


def _matches(path: str, patterns: list[str]) -> bool:
    return any(glob_regex(p.lstrip("./")).match(path) for p in patterns)


def _sample(paths: list[str]) -> str:
    shown = ", ".join(paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def select(service: Service, files: list[str]) -> Selection:
    """Include the service when a changed file is one its build watches, and say why."""
    label = service.name or service.id
    flt = service.build_filter
    if flt and (flt.paths or flt.ignored_paths):
        hits = [
            f
            for f in files
            if (not flt.paths or _matches(f, flt.paths)) and not _matches(f, flt.ignored_paths)
        ]
        what = f"build filter {flt.paths or ['**']}"
        if flt.ignored_paths:
            what += f" minus {flt.ignored_paths}"
    elif (service.root_dir or "").strip("/."):
        root = (service.root_dir or "").strip("/").removeprefix("./") + "/"
        hits = [f for f in files if f.startswith(root)]
        what = f"rootDir {root}"
    else:
        return Selection(service, bool(files), f"{label}: builds from the whole repository")
    if hits:
        return Selection(
            service, True, f"{label}: {len(hits)} changed file(s) in {what}: {_sample(hits)}"
        )
    return Selection(service, False, f"{label}: skipped, nothing changed in {what}")
