"""Writing the files a user names (``--report PATH``): checked first, 0600, never via a symlink."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from releaser.errors import UsageError


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


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only (0600).

    A temporary file in the same folder is renamed over the target, so a reader never sees
    half a file and a symlink planted at ``path`` is replaced, not followed.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
