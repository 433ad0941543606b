"""Real PostgreSQL and S3 (moto's server over HTTP) for the database tests.

PostgreSQL: ``RELEASER_TEST_PG_DSN`` (default postgres@127.0.0.1:5432, trust auth); when it
does not answer, every test here is skipped with a loud reason. Databases created here get
unique names and are dropped afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dbsupport import ADMIN_DSN, FAKE_AWS, SCHEMA_SQL, admin, create_database, drop, unique_name


@pytest.fixture(scope="session")
def pg_admin() -> str:
    """The admin DSN, or a loud skip when PostgreSQL is not reachable."""
    try:
        admin().close()
    except psycopg.OperationalError as exc:
        pytest.skip(
            f"PostgreSQL NOT REACHABLE at {ADMIN_DSN} ({exc}); database tests SKIPPED. "
            "Run scripts/pg-ensure or set RELEASER_TEST_PG_DSN"
        )
    return ADMIN_DSN


@pytest.fixture
def db_names(pg_admin: str) -> Iterator[Callable[[str], str]]:
    """Unique database names; every one handed out is dropped after the test."""
    names: list[str] = []

    def make(prefix: str = "releaser_t") -> str:
        names.append(unique_name(prefix))
        return names[-1]

    yield make
    for name in names:
        drop(name)


@pytest.fixture(scope="module")
def source_db(pg_admin: str) -> Iterator[str]:
    """The awkward test database (read-only for tests: they must not change it)."""
    name = unique_name("releaser_src")
    create_database(name, SCHEMA_SQL)
    yield name
    drop(name)


@pytest.fixture
def mutable_db(pg_admin: str) -> Iterator[str]:
    """A private copy of the awkward database that a test may write to."""
    name = unique_name("releaser_mut")
    create_database(name, SCHEMA_SQL)
    yield name
    drop(name)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 client on moto, with the environment releaser reads pointed at it."""
    import boto3

    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"releaser-{secrets.token_hex(6)}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_store(bucket: str) -> str:
    return f"s3://{bucket}/backups/app"


@pytest.fixture
def file_store(tmp_path: Path) -> str:
    """A file:// store in the test's own directory."""
    return f"file://{tmp_path / 'store'}"
