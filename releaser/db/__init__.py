"""Database snapshots: dump to a store, verify, restore, drill, prune.

One job per module: ``dsn`` (where a database is, masked), ``pgtools`` (which pg_dump),
``facts`` (what to verify against), ``storage`` (s3:// and file://), ``manifest`` and
``evidence`` (what the store holds), ``snapshot``, ``verify``, ``restore``, ``drill``, ``prune``.
"""
