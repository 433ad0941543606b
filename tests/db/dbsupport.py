"""Helpers for the database tests: DSNs, throwaway databases, fake pg_dump binaries."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN_DSN = os.environ.get("RELEASER_TEST_PG_DSN") or DEFAULT_DSN
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

# The awkward parts a real application database has (see issue 5).
SCHEMA_SQL = '''
CREATE EXTENSION hstore;
CREATE SCHEMA sales;
CREATE SCHEMA "Audit Log";
CREATE TABLE public.customers (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    tags text[],
    profile jsonb,
    avatar bytea,
    balance numeric(20, 6),
    score double precision,
    joined timestamptz,
    attrs hstore
);
CREATE TABLE sales.orders (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES public.customers (id),
    amount numeric NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT now(),
    note text
);
CREATE INDEX orders_customer ON sales.orders (customer_id);
CREATE TYPE sales.level AS ENUM ('info', 'warn');
CREATE TABLE "Audit Log"."Events ""quoted""" (
    id serial PRIMARY KEY, payload jsonb, at timestamptz, level sales.level DEFAULT 'warn'
);
CREATE TABLE public.empty_table (id int);
CREATE SEQUENCE sales.invoice_no START 1000;
SELECT nextval('sales.invoice_no') FROM generate_series(1, 5);
CREATE SEQUENCE public.never_used;
INSERT INTO public.customers (name, tags, profile, avatar, balance, score, joined, attrs)
SELECT 'customer ' || i || E'\\twith tab\\nand newline \\\\ backslash ü',
       ARRAY['t' || (i % 7), NULL, 'x,y'],
       jsonb_build_object('i', i, 'nested', jsonb_build_object('ok', i % 2 = 0)),
       decode(md5(i::text), 'hex'),
       i * 1.000001,
       CASE WHEN i % 100 = 0 THEN 'NaN'::float8 ELSE i / 3.0 END,
       '2024-01-01 00:00:00+00'::timestamptz + i * interval '37 minutes',
       hstore(ARRAY['k', 'v' || i])
FROM generate_series(1, 2000) AS i;
INSERT INTO sales.orders (customer_id, amount, note)
SELECT 1 + i % 2000, (i % 997) * 1.25, CASE WHEN i % 3 = 0 THEN NULL ELSE 'n' || i END
FROM generate_series(1, 5000) AS i;
INSERT INTO "Audit Log"."Events ""quoted""" (payload, at)
SELECT jsonb_build_array(i, 'e'), '2024-06-01 12:00:00+02'::timestamptz + i * interval '1 second'
FROM generate_series(1, 300) AS i;
CREATE MATERIALIZED VIEW sales.totals AS
    SELECT customer_id, sum(amount) AS total, count(*) AS n FROM sales.orders GROUP BY 1;
CREATE MATERIALIZED VIEW sales.not_populated AS SELECT 1 AS one WITH NO DATA;
SELECT lo_from_bytea(0, convert_to('a large object', 'UTF8'));
'''

# Every legal shape issue 14 names, on top of SCHEMA_SQL, in a SQL_ASCII database whose own
# settings (idle_in_transaction_session_timeout, a comment) a restore must bring back.
SHAPES_SQL = """
CREATE DOMAIN public.positive AS integer CHECK (VALUE > 0);
CREATE TYPE public.money_pair AS (amount numeric, currency text);
CREATE TABLE public.letters (t integer, doc json, p public.positive, pair public.money_pair,
                             x xml);
INSERT INTO public.letters
SELECT i, json_build_object('i', i, 'w', repeat('w', i % 5)), i,
       ROW(i * 1.5, 'EUR')::public.money_pair, ('<a>' || i || '</a>')::xml
FROM generate_series(1, 300) AS i;
CREATE TABLE public.nothing ();
INSERT INTO public.nothing SELECT FROM generate_series(1, 7);
CREATE TABLE public."Price (EUR)" (id int, "net (EUR)" numeric);
INSERT INTO public."Price (EUR)" SELECT i, i * 2 FROM generate_series(1, 40) AS i;
CREATE TABLE public.animals (id int, name text);
CREATE TABLE public.dogs (good boolean) INHERITS (public.animals);
INSERT INTO public.animals VALUES (1, 'generic'), (2, 'other');
INSERT INTO public.dogs SELECT i, 'dog ' || i, true FROM generate_series(3, 60) AS i;
CREATE MATERIALIZED VIEW public.mv_stale AS SELECT id FROM public.animals;
INSERT INTO public.animals VALUES (100, 'after the refresh');
CREATE MATERIALIZED VIEW public.mv_now AS SELECT now() AS at, g FROM generate_series(1, 3) g;
CREATE MATERIALIZED VIEW public.mv_random AS
    SELECT g FROM generate_series(1, 100) g WHERE random() < 0.5;
CREATE SEQUENCE public.countdown INCREMENT -1 MINVALUE -1000 MAXVALUE -1 START -1;
SELECT nextval('public.countdown') FROM generate_series(1, 10);
CREATE SEQUENCE public.wheel MINVALUE 1 MAXVALUE 5 CYCLE;
SELECT nextval('public.wheel') FROM generate_series(1, 4);
"""


def create_shapes_database(name: str, encoding: str = "SQL_ASCII") -> None:
    """SCHEMA_SQL + SHAPES_SQL in a (by default SQL_ASCII) database with database-level
    settings."""
    with admin() as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {} LOCALE 'C'").format(
                sql.Identifier(name), sql.Literal(encoding)
            )
        )
    try:
        _fill_shapes(name)
    except BaseException:
        drop(name)  # a half-built database must not outlive the test
        raise


def _fill_shapes(name: str) -> None:
    with psycopg.connect(dsn_for(name), autocommit=True, client_encoding="UTF8") as conn:
        conn.execute(SCHEMA_SQL)
        conn.execute(SHAPES_SQL)
        ident = sql.Identifier(name)
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET idle_in_transaction_session_timeout = '1s'").format(
                ident
            )
        )
        conn.execute(sql.SQL("ALTER DATABASE {} SET work_mem = '5MB'").format(ident))
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS 'the shop''s data'").format(ident))


def admin() -> psycopg.Connection:
    return psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)


def dsn_for(dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(ADMIN_DSN, dbname=dbname)


def url_for(dbname: str) -> str:
    """A URL DSN for the command line, with a password so masking is exercised (trust
    auth ignores it)."""
    info = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    host = info.get("host") or "127.0.0.1"
    port = info.get("port") or 5432
    user = info.get("user") or "postgres"
    return f"postgresql://{user}:{SECRET_PASSWORD}@{host}:{port}/{dbname}"


SECRET_PASSWORD = "s3cr3t-Pa55word"


def drop(dbname: str) -> None:
    with admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def create_database(name: str, setup_sql: str = "") -> None:
    with admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    if setup_sql:
        with psycopg.connect(dsn_for(name), autocommit=True) as conn:
            conn.execute(setup_sql)


def fake_pg_bin(directory: Path, pg_dump_script: str) -> Path:
    """A bin directory whose pg_dump is ``pg_dump_script`` (a shell body) and whose
    pg_restore is the real one: stands in for an old or crashing pg_dump binary."""
    import shutil

    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "pg_dump"
    real = shutil.which("pg_dump") or "/usr/bin/pg_dump"
    script.write_text(f"#!/bin/sh\nREAL={real}\n{pg_dump_script}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
    (directory / "pg_restore").symlink_to(shutil.which("pg_restore") or "/usr/bin/pg_restore")
    return directory


def count_rows(dbname: str, table: str) -> int:
    with psycopg.connect(dsn_for(dbname)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


def database_exists(dbname: str) -> bool:
    with admin() as conn:
        row = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (dbname,))
        found = row.fetchone()
        return bool(found and found[0])


def scratch_databases() -> list[str]:
    with admin() as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'releaser\\_drill\\_%'"
        ).fetchall()
        return [r[0] for r in rows]


def s3_keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
