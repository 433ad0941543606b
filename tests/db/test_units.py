"""Pure pieces: chunk sizing, version choice, DSN masking, COPY counting, checks."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from releaser.db.archive import count_copy_rows, parse_qualified
from releaser.db.checks import compare_facts
from releaser.db.dsn import parse_dsn
from releaser.db.manifest import Facts, SequenceFact, TableFact
from releaser.db.pgtools import PgBinary, choose, parse_version_output
from releaser.db.storage import MAX_PARTS, MIN_PART, chunk_size_for, open_store
from releaser.errors import EnvironmentProblem, UsageError


@given(st.integers(min_value=0, max_value=40 * 1024**4))
def test_chunk_size_fits_twice_the_estimate_in_10000_parts(size: int) -> None:
    """Chunks are >= 8 MiB, whole MiB, and 2x the estimate fits in under 10,000 parts."""
    chunk = chunk_size_for(size)
    assert chunk >= MIN_PART and chunk % (1024 * 1024) == 0
    assert 2 * size / chunk <= MAX_PARTS


def test_version_choice() -> None:
    """Same major preferred, else the closest newer; never an older pg_dump."""
    found = [
        PgBinary("/a/14", 14, "14.1"),
        PgBinary("/a/17", 17, "17.0"),
        PgBinary("/a/16", 16, "16.2"),
    ]
    assert choose("pg_dump", 16, found).path == "/a/16"
    assert choose("pg_dump", 15, found).path == "/a/16"
    with pytest.raises(EnvironmentProblem) as caught:
        choose("pg_dump", 18, found)
    assert "pg_dump 18 or newer is needed for a PostgreSQL 18 server" in caught.value.message
    assert "14.1 (/a/14)" in caught.value.message
    assert parse_version_output("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)") == (
        15,
        "15.20",
    )
    assert parse_version_output("pg_dump (PostgreSQL) 9.6.24") == (9, "9.6.24")


def test_dsn_masking_and_comparison() -> None:
    """Passwords never appear in the display form; loopback names compare equal."""
    dsn = parse_dsn("postgresql://app:p%40ss@localhost:5433/main?sslmode=require")
    assert dsn.masked == "postgresql://app:******@localhost:5433/main"
    assert "p@ss" not in dsn.display and "p@ss" not in repr(dsn)
    assert dsn.password == "p@ss"
    assert "password" not in dsn.without_password()
    assert dsn.same_database(parse_dsn("host=127.0.0.1 port=5433 dbname=main user=other"))
    assert not dsn.same_database(parse_dsn("host=127.0.0.1 port=5433 dbname=other"))
    assert dsn.redact("FATAL: password p@ss rejected") == "FATAL: password ****** rejected"


def test_bad_dsn_is_usage_error_without_secret() -> None:
    with pytest.raises(UsageError) as caught:
        parse_dsn("postgresql://u:topsecret@h:notaport/db")
    assert "topsecret" not in str(caught.value)


@pytest.mark.parametrize("url", ["s3://", "file://host/x", "http://x", "file://relative"])
def test_bad_store_urls(url: str) -> None:
    with pytest.raises(UsageError):
        open_store(url)


def test_copy_row_counting() -> None:
    """Rows between COPY and \\. are counted per table, quoted names unquoted."""
    sql = (
        b"SET x = 1;\n"
        b'COPY "Audit Log"."Events ""quoted""" (id, payload) FROM stdin;\n'
        b"1\t{}\n2\tline with \\n escaped newline\n\\.\n"
        b"COPY public.empty (id) FROM stdin;\n\\.\n"
    )
    assert count_copy_rows(io.BytesIO(sql)) == {'Audit Log.Events "quoted"': 2, "public.empty": 0}
    assert parse_qualified('a."b.c"') == "a.b.c"


def _facts(**changes: object) -> Facts:
    base = Facts(
        database="d",
        encoding="UTF8",
        size_bytes=1,
        server_version="15",
        server_version_num=150000,
        tables=[TableFact(schema_name="s", name="t", rows=3, fingerprint="9")],
        sequences=[SequenceFact(schema_name="s", name="q", last_value=10, is_called=True)],
    )
    return base.model_copy(update=changes)


def test_checks_report_expected_and_actual() -> None:
    """Missing tables, changed fingerprints, sequences that went backwards all fail."""
    same = compare_facts(_facts(), _facts())
    assert all(c.ok for c in same)
    moved_back = _facts(
        sequences=[SequenceFact(schema_name="s", name="q", last_value=9, is_called=True)]
    )
    seq = next(c for c in compare_facts(_facts(), moved_back) if c.name == "sequence s.q")
    assert (seq.expected, seq.actual, seq.ok) == (">= 10", "9", False)
    ahead = _facts(
        sequences=[SequenceFact(schema_name="s", name="q", last_value=12, is_called=True)]
    )
    assert all(c.ok for c in compare_facts(_facts(), ahead))
    changed = _facts(tables=[TableFact(schema_name="s", name="t", rows=3, fingerprint="8")])
    fp = next(c for c in compare_facts(_facts(), changed) if c.name == "fingerprint s.t")
    assert not fp.ok
    gone = compare_facts(_facts(), _facts(tables=[]))
    assert any(c.name == "table s.t" and c.actual == "missing" and not c.ok for c in gone)


def test_help_does_not_import_boto3_or_psycopg() -> None:
    """`releaser db --help` stays light: boto3 and psycopg load only when a command runs."""
    import subprocess
    import sys

    code = (
        "import sys; from click.testing import CliRunner; from releaser.cli.main import main;"
        "r = CliRunner().invoke(main, ['db', '--help']); assert r.exit_code == 0, r.output;"
        "r = CliRunner().invoke(main, ['db', 'drill', '--help']); assert r.exit_code == 0;"
        "print(sorted(m for m in ('boto3', 'psycopg', 'botocore') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
