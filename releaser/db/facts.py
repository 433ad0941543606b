"""Reading the facts a restored copy is checked against.

At snapshot time this runs inside the transaction whose snapshot pg_dump uses (and, with
``jobs`` > 1, in extra connections that import that same snapshot), so the numbers describe
exactly what the dump holds. At verify time it runs against the restored database.

Fingerprint: per table, the sum over rows of a 64-bit row hash. Order-independent (no
sort, one sequential scan); unlike XOR, a duplicated row still changes it. The row hash is
``hash_record_extended(row)`` (PostgreSQL 14+, about 4x cheaper: no text conversion) when
every column is a built-in type with a hash opclass whose hash does not depend on OIDs;
otherwise the first 64 bits of md5(row text), made deterministic by ``session_setup_sql``
(enums, domains, extension types, reg* columns hash by OID or have no hash function).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from releaser.db.manifest import Facts, SequenceFact, TableFact
from releaser.db.pgtools import session_setup_sql

if TYPE_CHECKING:
    import psycopg

_NOT_EXTENSION_MEMBER = """
  NOT EXISTS (SELECT 1 FROM pg_depend d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
"""
_USER_SCHEMA = """
  n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
"""

# True when every column's type (or array element type) is a built-in base type with a
# default hash opclass and an OID-independent hash.
_HASHABLE = """
NOT EXISTS (
  SELECT 1 FROM pg_attribute a
  JOIN pg_type ty ON ty.oid = a.atttypid
  LEFT JOIN pg_type el ON el.oid = ty.typelem AND ty.typcategory = 'A'
  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    AND NOT (
      coalesce(el.typnamespace, ty.typnamespace) = 'pg_catalog'::regnamespace
      AND coalesce(el.typtype, ty.typtype) = 'b'
      AND coalesce(el.typname, ty.typname) NOT IN (
        'oid', 'regclass', 'regproc', 'regprocedure', 'regoper', 'regoperator', 'regtype',
        'regconfig', 'regdictionary', 'regnamespace', 'regrole', 'regcollation',
        'xid', 'xid8', 'cid', 'tid', 'oidvector', 'int2vector')
      AND EXISTS (
        SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
        WHERE am.amname = 'hash' AND oc.opcdefault
          AND oc.opcintype = coalesce(el.oid, ty.oid))
    )
)
"""

# A matview's query is deterministic when every function, operator and aggregate in it
# is BUILT-IN (OID below FirstNormalObjectId) and IMMUTABLE, it uses no SQL value function
# (CURRENT_DATE, CURRENT_USER, ...) and it reads only tables and matviews without row
# security: its row count after the restore's REFRESH then follows from the data. Read
# from the stored rule's parse tree, which names every function and relation by OID.
# Only such a query is ever run at snapshot time: a user-defined function (which may
# call itself IMMUTABLE) or a view could run the dump's code on the source server.
_DETERMINISTIC = """
(c.relkind <> 'm' OR EXISTS (
  SELECT 1 FROM pg_rewrite rw
  WHERE rw.ev_class = c.oid AND rw.rulename = '_RETURN'
    AND rw.ev_action::text NOT LIKE '%{SQLVALUEFUNCTION%'
    AND rw.ev_action::text NOT LIKE '%{NEXTVALEXPR%'
    AND NOT EXISTS (
      SELECT 1
      FROM regexp_matches(rw.ev_action::text, ':(funcid|opfuncid|aggfnoid|winfnoid) (\\d+)',
                          'g') m
      LEFT JOIN pg_proc p ON p.oid = m[2]::oid
      WHERE m[2]::oid >= 16384
         OR (m[1] IN ('funcid', 'opfuncid') AND p.provolatile IS DISTINCT FROM 'i'))
    AND NOT EXISTS (
      SELECT 1 FROM regexp_matches(rw.ev_action::text, ':relid (\\d+)', 'g') m
      JOIN pg_class rc ON rc.oid = m[1]::oid
      WHERE rc.relkind NOT IN ('r', 'p', 'm') OR rc.relrowsecurity)))
"""

RELATIONS_SQL = f"""
SELECT n.nspname, c.relname, c.relkind::text, c.relispopulated, {_HASHABLE},
       {_DETERMINISTIC}
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't'
  AND {_USER_SCHEMA} AND {_NOT_EXTENSION_MEMBER}
ORDER BY 1, 2
"""

SEQUENCES_SQL = f"""
SELECT n.nspname, c.relname, s.seqincrement, s.seqcycle
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_sequence s ON s.seqrelid = c.oid
WHERE c.relkind = 'S' AND c.relpersistence <> 't' AND {_USER_SCHEMA} AND {_NOT_EXTENSION_MEMBER}
ORDER BY 1, 2
"""

DATABASE_SQL = """
SELECT current_database(), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
       pg_database_size(current_database()), current_setting('server_version'),
       current_setting('server_version_num')::int,
       has_function_privilege('pg_control_system()', 'EXECUTE'),
       coalesce((SELECT s.setconfig FROM pg_db_role_setting s
                 WHERE s.setdatabase = d.oid AND s.setrole = 0), '{}'::text[]),
       shobj_description(d.oid, 'pg_database')
FROM pg_database d WHERE d.datname = current_database()
"""

INVALID_INDEXES_SQL = """
SELECT n.nspname || '.' || c.relname
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid ORDER BY 1
"""


def prepare(conn: psycopg.Connection) -> None:
    with conn.cursor() as cur:
        for statement in session_setup_sql():
            cur.execute(statement)
        if conn.info.server_version >= 170000:  # only SETs here: no snapshot is taken yet
            cur.execute("SET transaction_timeout = 0")


def database_facts(conn: psycopg.Connection) -> Facts:
    """The cheap facts (catalog reads). Sequences are read here, BEFORE pg_dump starts:
    sequences are not transactional, so pg_dump later sees a value >= this one."""
    with conn.cursor() as cur:
        cur.execute(DATABASE_SQL)
        row = cur.fetchone()
        assert row is not None
        database, encoding, collate, ctype, size, version, version_num, can_sysid = row[:8]
        settings, comment = row[8:]
        system_identifier = None
        if can_sysid:
            cur.execute("SELECT system_identifier::text FROM pg_control_system()")
            sysrow = cur.fetchone()
            system_identifier = sysrow[0] if sysrow else None
        cur.execute("SELECT extname, extversion FROM pg_extension ORDER BY 1")
        extensions = {str(k): str(v) for k, v in cur.fetchall()}
        cur.execute("SELECT count(*) FROM pg_largeobject_metadata")
        lo_row = cur.fetchone()
        cur.execute(INVALID_INDEXES_SQL)
        invalid = [r[0] for r in cur.fetchall()]
    return Facts(
        database=database,
        encoding=encoding,
        collate=collate,
        ctype=ctype,
        size_bytes=int(size),
        server_version=version,
        server_version_num=int(version_num),
        system_identifier=system_identifier,
        extensions=extensions,
        sequences=sequence_facts(conn),
        large_objects=int(lo_row[0]) if lo_row else 0,
        invalid_indexes=invalid,
        database_settings=sorted(str(x) for x in settings),
        database_comment=comment,
    )


def sequence_facts(conn: psycopg.Connection) -> list[SequenceFact]:
    from psycopg import sql

    result: list[SequenceFact] = []
    with conn.cursor() as cur:
        cur.execute(SEQUENCES_SQL)
        for schema, name, increment, cycle in cur.fetchall():
            cur.execute(
                sql.SQL("SELECT last_value, is_called FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(name)
                )
            )
            row = cur.fetchone()
            assert row is not None
            result.append(
                SequenceFact(
                    schema_name=schema,
                    name=name,
                    last_value=row[0],
                    is_called=row[1],
                    increment=increment,
                    cycle=cycle,
                )
            )
    return result


HASH_RECORD_MIN_VERSION = 140000


def list_relations(conn: psycopg.Connection) -> list[TableFact]:
    fast = conn.info.server_version >= HASH_RECORD_MIN_VERSION
    with conn.cursor() as cur:
        cur.execute(RELATIONS_SQL)
        return [
            TableFact(
                schema_name=schema,
                name=name,
                kind="matview" if kind == "m" else "table",
                rows=0 if populated else None,
                fingerprint_method="hash_record" if fast and hashable else "md5_text",
                deterministic=bool(deterministic),
            )
            for schema, name, kind, populated, hashable, deterministic in cur.fetchall()
        ]


# ``r.*`` as a function argument is always the whole row of the relation aliased ``r``;
# a bare ``r`` (or ``t``) would be a COLUMN of that name when the table has one, and the
# fingerprint would silently cover that one column. record_out is what ``::text`` does.
_ROW_HASH = {
    "hash_record": "hash_record_extended(r.*, 0)",
    "md5_text": "('x' || substr(md5(textin(record_out(r.*))), 1, 16))::bit(64)::bigint",
}


def scan(conn: psycopg.Connection, relation: TableFact, restored: bool = False) -> TableFact:
    """One sequential scan: row count and fingerprint. ``ONLY``: an inheritance parent's
    own rows, as the archive copies them (its children are relations of their own).
    ``restored``: matviews were just refreshed, count what they hold."""
    from psycopg import sql

    if relation.kind == "matview":
        return _scan_matview(conn, relation, restored)
    query = sql.SQL("SELECT count(*), coalesce(sum({}), 0) FROM ONLY {}.{} AS r").format(
        sql.SQL(_ROW_HASH[relation.fingerprint_method]),
        sql.Identifier(relation.schema_name),
        sql.Identifier(relation.name),
    )
    with conn.cursor() as cur:
        cur.execute(query)
        row = cur.fetchone()
        assert row is not None
    return relation.model_copy(update={"rows": int(row[0]), "fingerprint": str(row[1])})


def _scan_matview(conn: psycopg.Connection, relation: TableFact, restored: bool) -> TableFact:
    """A restore does not copy a matview's rows: it REFRESHes it. So a matview is checked
    for what a restore can promise: it exists, it is populated when the source's was, and
    (when its query is deterministic) it has the rows its query gives on this data. The
    stored contents may be stale, so they are never what is compared."""
    from psycopg import sql

    if relation.rows is None or not relation.deterministic:
        return relation.model_copy(update={"fingerprint": None})
    if restored:
        counted = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(relation.schema_name), sql.Identifier(relation.name)
        )
        row = conn.execute(counted).fetchone()
        assert row is not None
        return relation.model_copy(update={"rows": int(row[0]), "fingerprint": None})
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (relation.schema_name, relation.name),
        )
        found = cur.fetchone()
        assert found is not None
        definition = str(found[0]).strip().rstrip(";")
        query = sql.SQL("SELECT count(*) FROM ({}) AS q").format(sql.SQL(definition))
        cur.execute(query)
        row = cur.fetchone()
        assert row is not None
    return relation.model_copy(update={"rows": int(row[0]), "fingerprint": None})


def scan_all(
    conn: psycopg.Connection,
    relations: list[TableFact],
    *,
    jobs: int = 1,
    open_worker: Callable[[], psycopg.Connection] | None = None,
    restored: bool = False,
) -> list[TableFact]:
    """Scan every relation, on ``conn`` alone or also on ``jobs - 1`` extra connections
    from ``open_worker`` (which must already see the same snapshot)."""
    if jobs <= 1 or open_worker is None or len(relations) <= 1:
        return [scan(conn, r, restored) for r in relations]
    work: queue.Queue[tuple[int, TableFact]] = queue.Queue()
    for item in enumerate(relations):
        work.put(item)
    results: dict[int, TableFact] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(worker_conn: psycopg.Connection) -> None:
        try:
            while not errors:
                try:
                    index, relation = work.get_nowait()
                except queue.Empty:
                    return
                fact = scan(worker_conn, relation, restored)
                with lock:
                    results[index] = fact
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    extra = [open_worker() for _ in range(min(jobs, len(relations)) - 1)]
    try:
        threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in extra]
        for thread in threads:
            thread.start()
        run(conn)
        for thread in threads:
            thread.join()
    finally:
        for worker_conn in extra:
            worker_conn.close()
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(relations))]


def collect(
    conn: psycopg.Connection,
    *,
    jobs: int = 1,
    open_worker: Callable[[], psycopg.Connection] | None = None,
    like: list[TableFact] | None = None,
) -> Facts:
    """All facts on an open connection (already prepared, in the right transaction).
    ``like``: the manifest's tables, whose fingerprint methods are reused so that both
    sides are hashed the same way."""
    facts = database_facts(conn)
    relations = list_relations(conn)
    if like:
        methods = {t.qualified: t.fingerprint_method for t in like}
        relations = [
            r.model_copy(
                update={"fingerprint_method": methods.get(r.qualified, r.fingerprint_method)}
            )
            for r in relations
        ]
    tables = scan_all(conn, relations, jobs=jobs, open_worker=open_worker, restored=True)
    return facts.model_copy(update={"tables": tables})
