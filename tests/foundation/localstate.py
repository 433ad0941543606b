"""What a run left in releaser's local state (``.releaser/``), for 'nothing was done' checks."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path


def ledger_rows(root: Path) -> int:
    """How many ledger entries the local state under ``root`` holds (0 without one)."""
    found = 0
    for db in root.rglob(".releaser/state.db"):
        with contextlib.closing(sqlite3.connect(db)) as conn:
            found += conn.execute("SELECT count(*) FROM releaser_ledger").fetchone()[0]
    return found
