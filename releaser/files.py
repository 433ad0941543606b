"""Writing files only their owner can read: dumps, manifests, evidence, reports.

releaser's files hold whole databases and the names of secrets, so every file it writes is
0600 in folders it creates 0700, and nothing is ever written through a symlink (a planted
link would send the data, or an overwrite, somewhere else). Two functions, on purpose:

- ``private_dir(path)``: make ``path`` (and missing parents) 0700; refuse a symlink.
- ``write_private(path, data)``: write ``path`` 0600 atomically (temp file + rename);
  refuse when ``path`` is a symlink.

Problems are ``EnvironmentProblem`` (exit 3) with the path in the message, never the data.
``check_writable_file`` (the same as on the input12 branch, which writes --report files for
deploy and sim) refuses a path before a long run rather than after it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from releaser.errors import EnvironmentProblem, UsageError

DIR_MODE = 0o700
FILE_MODE = 0o600


def check_writable_file(path: Path, flag: str, ours: bytes) -> None:
    """Refuse, before anything else happens, a path we could not (or must not) write later.

    A deploy that ran and then failed to write its report once lost its outcome. An existing
    file is replaced only when it is empty or one of ours (starts with ``ours``): a mistyped
    `--report ../../etc/passwd`, run as root, must not replace a system file.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror}", "Pick another path") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise UsageError(
                f"{flag} {path} is a symbolic link",
                "Name the file itself; releaser never writes through a link",
            )
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{flag} {path} is not a regular file", "Name a file")
        if not os.access(path, os.W_OK):
            raise UsageError(f"{flag} {path} is not writable", "Pick another path")
        try:
            with path.open("rb") as handle:
                head = handle.read(len(ours))
        except OSError as exc:
            raise UsageError(f"{flag} {path}: {exc.strerror}", "Pick another path") from None
        if head and head != ours:
            raise UsageError(
                f"{flag} {path} exists and was not written by releaser",
                "Pick a new path, or remove the file if it may go",
            )
        return
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{flag} {path}: folder {folder} does not exist", "Create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: folder {folder} is not writable", "Pick another path")


def private_dir(path: str | os.PathLike[str]) -> Path:
    """``path`` as a directory: created (with missing parents) 0700. An existing directory
    is left as it is (it may be shared on purpose); a symlink is refused."""
    target = Path(path)
    if target.is_symlink():
        raise UsageError(f"{target} is a symlink", "Use a real directory")
    missing: list[Path] = []
    walk = target
    while not walk.exists() and not walk.is_symlink() and walk != walk.parent:
        missing.append(walk)
        walk = walk.parent
    try:
        for folder in reversed(missing):
            with contextlib.suppress(FileExistsError):  # a concurrent writer made it
                os.mkdir(folder, DIR_MODE)
            os.chmod(folder, DIR_MODE)  # mkdir's mode is cut by the umask
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot create the directory {target}: {exc.strerror}",
            "Check the path and its permissions",
        ) from None
    if target.is_symlink() or not target.is_dir():
        raise UsageError(f"{target} is not a directory", "Use a directory path")
    return target


def write_private(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` as a 0600 file, replacing any old file atomically.
    A symlink at ``path`` is refused (exit 2) and nothing is written."""
    target = Path(path)
    if target.is_symlink():
        raise UsageError(
            f"refusing to write {target}: it is a symlink", "Write to a regular file path"
        )
    payload = data.encode("utf-8") if isinstance(data, str) else data
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(temp, flags, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, FILE_MODE)  # O_CREAT's mode is cut by the umask, never widened
            # rename replaces a link itself, never its target: no write goes through one.
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot write {target}: {exc.strerror}",
            "Check the path, free space and permissions",
        ) from None
    return target
