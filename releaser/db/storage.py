"""Where snapshots live: ``s3://bucket/prefix`` (boto3) or ``file:///path``.

Both stores offer the same small surface, with keys relative to the store's prefix:
stream an upload (aborted, never committed, if the reader raises), create an object only if
it does not exist yet (the manifest's conditional put), read, list, delete, and say whether
an object is under a retention lock.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import unquote, urlparse

from releaser.errors import (
    AlreadyExists,
    EnvironmentProblem,
    NotFoundError,
    ReleaserError,
    UsageError,
)
from releaser.files import FILE_MODE, private_dir

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024 * 1024
MIN_PART = 8 * MIB
MAX_PARTS = 10_000
# Server-side encryption for S3 objects: AES256 unless RELEASER_S3_SSE says otherwise
# ("aws:kms", or "none" for S3-compatible stores that reject the header).
SSE_ENV = "RELEASER_S3_SSE"


class ByteReader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class StoredObject:
    key: str  # relative to the store prefix
    size: int
    modified: datetime


def chunk_size_for(expected_bytes: int) -> int:
    """Multipart chunk size: at least 8 MiB, and large enough that twice the expected size
    still fits in 9,000 parts (S3 allows 10,000): a dump can outgrow its estimate."""
    needed = math.ceil(max(expected_bytes, 0) * 2 / (MAX_PARTS - 1_000))
    return max(MIN_PART, math.ceil(needed / MIB) * MIB)


class Store(Protocol):
    url: str

    def upload_stream(self, key: str, reader: ByteReader, expected_bytes: int) -> int:
        """Upload until EOF; return the chunk size used. An exception from ``reader`` aborts
        the upload and leaves no object."""

    def create(self, key: str, data: bytes) -> None:
        """Write ``data`` only if ``key`` does not exist (else AlreadyExists)."""

    def read_bytes(self, key: str) -> bytes: ...

    def open_read(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks (streaming; memory stays flat)."""

    def list(self, prefix: str = "") -> list[StoredObject]: ...

    def delete(self, key: str) -> None: ...

    def lock_reason(self, key: str) -> str | None:
        """Why ``key`` cannot be deleted (retention, legal hold), or None."""


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4 = re.compile(r"\d+\.\d+\.\d+\.\d+")


def open_store(url: str, endpoint_url: str | None = None) -> Store:
    """A store from its URL; anything else is bad input (exit 2)."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise UsageError(f"store {url!r} has no bucket", "Use s3://bucket/prefix")
        if not _BUCKET.fullmatch(parsed.netloc) or _IPV4.fullmatch(parsed.netloc):
            # Checked here: boto3 would fail later with "S3 unreachable" and a long regex.
            raise UsageError(
                f"store {url!r}: {parsed.netloc!r} is not a valid bucket name",
                "S3 bucket names are 3-63 lowercase letters, digits, dots and hyphens",
            )
        return S3Store(url, parsed.netloc, parsed.path.strip("/"), endpoint_url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise UsageError(f"store {url!r} names a host", "Use file:///absolute/path")
        path = unquote(parsed.path)
        if not path.startswith("/"):
            raise UsageError(f"store {url!r} is not an absolute path", "Use file:///absolute/path")
        return FileStore(url, Path(path))
    raise UsageError(
        f"store {url!r} is not an s3:// or file:// URL",
        "Use --to s3://bucket/prefix or --to file:///path",
    )


# -- file:// ------------------------------------------------------------------------------

PARTIAL_SUFFIX = ".partial"


def _open_new(path: Path, *, exclusive: bool) -> IO[bytes]:
    """A new 0600 file, never opened through a symlink (O_NOFOLLOW). Read-only or full
    disks are one clear error (exit 3)."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    try:
        fd = os.open(path, flags, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
    except FileExistsError:
        raise
    except OSError as exc:
        raise _write_error(path, exc) from None
    return os.fdopen(fd, "wb")


def _write_error(path: Path, exc: OSError) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"cannot write {path}: {exc.strerror or exc}",
        "Check that the store is writable and has free space",
    )


class FileStore:
    def __init__(self, url: str, root: Path) -> None:
        self.url = url
        self.root = root

    def _path(self, key: str) -> Path:
        # Containment by resolved paths, not by string prefix: /store-evil starts with
        # /store, and a symlink inside the store could point anywhere.
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise UsageError(f"key {key!r} escapes the store", "Use a plain snapshot id")
        return path

    def _ensure_root(self) -> None:
        private_dir(self.root)

    def _parent_dir(self, path: Path) -> None:
        private_dir(path.parent)

    def upload_stream(self, key: str, reader: ByteReader, expected_bytes: int) -> int:
        self._ensure_root()
        final = self._path(key)
        self._parent_dir(final)
        # Written under a temporary name and renamed on success: a failed dump never
        # leaves a plausible-looking object behind. A SIGKILLed one leaves the .partial,
        # which list() shows (the snapshot is then INCOMPLETE) and prune removes.
        partial = final.with_name(final.name + PARTIAL_SUFFIX)
        try:
            with _open_new(partial, exclusive=False) as out:
                shutil.copyfileobj(reader, out, MIB)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, final)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            self._tidy(partial.parent)
            if isinstance(exc, OSError):  # full or read-only disk: exit 3, not "unexpected"
                raise _write_error(final, exc) from None
            raise
        return MIB

    def create(self, key: str, data: bytes) -> None:
        self._ensure_root()
        path = self._path(key)
        self._parent_dir(path)
        try:
            out = _open_new(path, exclusive=True)
        except FileExistsError:
            raise AlreadyExists(f"{self.url}/{key} already exists") from None
        try:
            with out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            raise _write_error(path, exc) from None

    def _read_error(self, key: str, exc: OSError) -> ReleaserError:
        # A file where a folder should be, or an id too long for a name, is simply absent.
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG):
            return NotFoundError(f"{self.url}/{key} does not exist", "Check the id")
        return EnvironmentProblem(
            f"cannot read {self.url}/{key}: {exc.strerror}", "Check the store's permissions"
        )

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as exc:
            raise self._read_error(key, exc) from None

    def open_read(self, key: str) -> Iterator[bytes]:
        try:
            handle = open(self._path(key), "rb")
        except OSError as exc:
            raise self._read_error(key, exc) from None
        with handle:
            while chunk := handle.read(MIB):
                yield chunk

    def _list(self, base: Path) -> list[StoredObject]:
        if not base.exists():
            return []
        found = []
        for path in sorted(base.rglob("*")):
            if path.is_symlink():
                continue
            # An empty folder (a dump killed before it wrote a byte) is listed as "<dir>/",
            # like an S3 folder marker: an incomplete snapshot that prune can remove.
            empty_dir = path.is_dir() and not any(path.iterdir())
            if path.is_file() or empty_dir:
                stat = path.stat()
                found.append(
                    StoredObject(
                        key=str(path.relative_to(self.root)) + ("/" if empty_dir else ""),
                        size=0 if empty_dir else stat.st_size,
                        modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                    )
                )
        return found

    def list(self, prefix: str = "") -> list[StoredObject]:
        if not self.root.is_dir():
            # Not "no snapshots": a mistyped --to must not look like an empty store.
            raise NotFoundError(
                f"store {self.url} does not exist (no folder {self.root})",
                "Check the store URL (--to or releaser.toml); 'releaser db snapshot' creates it",
            )
        base = self.root / prefix if prefix else self.root
        try:
            return self._list(base)
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ENAMETOOLONG):  # no such prefix can exist
                return []
            raise EnvironmentProblem(
                f"cannot list {self.url}: {exc.strerror} ({exc.filename})",
                "Check the store's path and permissions",
            ) from None

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_dir():  # an empty folder listed as "<dir>/"
            self._tidy(path)
            return
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._tidy(path.parent)

    def _tidy(self, parent: Path) -> None:
        # Remove now-empty snapshot directories; the store root stays.
        root = self.root.resolve()
        with contextlib.suppress(OSError):
            while parent != root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent

    def lock_reason(self, key: str) -> str | None:
        return None


# -- s3:// --------------------------------------------------------------------------------


class S3Store:
    def __init__(self, url: str, bucket: str, prefix: str, endpoint_url: str | None) -> None:
        self.url = url
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        sse = os.environ.get(SSE_ENV, "AES256").strip()
        self.sse = None if sse.lower() in ("", "none", "off") else sse
        self._client: S3Client | None = None

    @property
    def client(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                config=Config(retries={"max_attempts": 5, "mode": "standard"}),
            )
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def _extra(self) -> dict[str, Any]:
        return {"ServerSideEncryption": self.sse} if self.sse else {}

    def upload_stream(self, key: str, reader: ByteReader, expected_bytes: int) -> int:
        from boto3.s3.transfer import TransferConfig

        chunk = chunk_size_for(expected_bytes)
        # Few concurrent parts: memory is about concurrency x chunk, whatever the size.
        config = TransferConfig(
            multipart_threshold=chunk, multipart_chunksize=chunk, max_concurrency=4
        )
        with s3_errors(self, key):
            self.client.upload_fileobj(
                cast(IO[bytes], reader),
                self.bucket,
                self._key(key),
                ExtraArgs=self._extra(),
                Config=config,
            )
        return chunk

    def create(self, key: str, data: bytes) -> None:
        from botocore.exceptions import ClientError

        try:
            with s3_errors(self, key, passthrough=("PreconditionFailed",)):
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self._key(key),
                    Body=data,
                    IfNoneMatch="*",
                    ContentType="application/json",
                    **self._extra(),
                )
        except ClientError as exc:
            raise AlreadyExists(f"{self.url}/{key} already exists") from exc

    def read_bytes(self, key: str) -> bytes:
        with s3_errors(self, key):
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def open_read(self, key: str) -> Iterator[bytes]:
        with s3_errors(self, key):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            try:
                yield from body.iter_chunks(MIB)
            finally:
                body.close()

    def list(self, prefix: str = "") -> list[StoredObject]:
        found: list[StoredObject] = []
        full_prefix = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        with s3_errors(self, prefix or "(list)"):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                for item in page.get("Contents", []):
                    found.append(
                        StoredObject(
                            key=self._rel(item["Key"]),
                            size=int(item.get("Size", 0)),
                            modified=item["LastModified"],
                        )
                    )
        return found

    def delete(self, key: str) -> None:
        with s3_errors(self, key):
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            version = head.get("VersionId")
            # On a versioned bucket a plain delete only adds a marker and frees nothing;
            # delete the current version itself (which object lock would refuse).
            if version and version != "null":
                self.client.delete_object(Bucket=self.bucket, Key=self._key(key), VersionId=version)
            else:
                self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def lock_reason(self, key: str) -> str | None:
        with s3_errors(self, key):
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            return "legal hold"
        until = head.get("ObjectLockRetainUntilDate")
        if until and until > datetime.now(UTC):
            mode = head.get("ObjectLockMode", "retention")
            return f"{str(mode).lower()} retention until {until:%Y-%m-%d %H:%M}"
        return None


@contextlib.contextmanager
def s3_errors(store: S3Store, key: str, passthrough: tuple[str, ...] = ()) -> Iterator[None]:
    """Turn boto errors into ours: missing things exit 2, unreachable/refused exit 3."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    where = f"s3://{store.bucket}/{store._key(key)}"
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in passthrough:
            raise
        if code in ("NoSuchKey", "404", "NotFound"):
            raise NotFoundError(f"{where} does not exist", "Check the snapshot id") from None
        if code == "NoSuchBucket":
            raise NotFoundError(
                f"bucket {store.bucket} does not exist", "Create it or fix --to"
            ) from None
        raise EnvironmentProblem(
            f"S3 refused {where}: {code or exc}",
            "Check the credentials, the bucket policy and --endpoint-url",
        ) from None
    except NoCredentialsError:
        raise EnvironmentProblem(
            "no AWS credentials found",
            "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
        ) from None
    except BotoCoreError as exc:
        raise EnvironmentProblem(
            f"S3 is unreachable for {where}: {exc}",
            "Check the network, AWS_ENDPOINT_URL/--endpoint-url and the region",
        ) from None
