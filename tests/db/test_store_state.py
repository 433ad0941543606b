"""What a store says about its snapshots must be true: the newest evidence wins, a snapshot
without its dump is incomplete, verify checks that a manifest belongs to its id, evidence
files prove something only by their content, and file:// stores are private."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from dbsupport import create_database, drop, unique_name, url_for

from releaser.db.catalog import list_snapshots
from releaser.db.drill import run_drill
from releaser.db.dsn import parse_dsn
from releaser.db.evidence import latest_verified
from releaser.db.prune import plan_prune
from releaser.db.snapshot import new_snapshot_id, take_snapshot
from releaser.db.storage import open_store


@pytest.fixture(scope="module")
def small_db(pg_admin: str) -> Any:
    name = unique_name("releaser_small")
    create_database(
        name,
        "CREATE TABLE items AS SELECT g AS id, md5(g::text) AS v FROM "
        "generate_series(1, 500) g; CREATE SEQUENCE s;",
    )
    yield name
    drop(name)


def _snap(dbname: str, store_url: str) -> str:
    store = open_store(store_url)
    return take_snapshot(parse_dsn(url_for(dbname)), store).manifest.snapshot_id


def _store_root(file_store: str) -> Path:
    return Path(file_store.removeprefix("file://"))


def _corrupt_dump(file_store: str, snapshot_id: str) -> None:
    dump = _store_root(file_store) / snapshot_id / "dump.pgcustom"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    os.chmod(dump, 0o600)
    dump.write_bytes(bytes(data))


def test_later_failed_drill_takes_back_verified(
    run_cli: Any, small_db: str, file_store: str
) -> None:
    """A snapshot whose newest drill failed is not verified: db list says FAILED, go-no-go's
    lookup falls back to the older intact verified snapshot, and prune keeps that one."""
    store = open_store(file_store)
    server = parse_dsn(url_for(small_db))
    older = _snap(small_db, file_store)
    assert run_drill(store, source=None, use_latest=True, target_server=server)
    newer = _snap(small_db, file_store)
    first = run_drill(store, source=None, use_latest=True, target_server=server)
    assert first.evidence.passed and first.evidence.snapshot_id == newer
    verified = latest_verified(file_store)
    assert verified is not None and verified.snapshot_id == newer

    _corrupt_dump(file_store, newer)
    second = run_drill(store, source=None, use_latest=True, target_server=server)
    assert not second.evidence.passed

    verified = latest_verified(file_store)
    assert verified is not None and verified.snapshot_id == older
    listed = json.loads(run_cli("db", "list", "--to", file_store, "-o", "json").stdout)
    by_id = {r["snapshot_id"]: r for r in listed["snapshots"]}
    assert by_id[newer]["verified"] is False and by_id[older]["verified"] is True
    table = run_cli("db", "list", "--to", file_store).stdout
    assert "FAILED" in next(line for line in table.splitlines() if newer in line)
    third = _snap(small_db, file_store)
    actions = {d.entry.snapshot_id: d.action for d in plan_prune(store, keep=1)}
    assert actions == {third: "keep", newer: "delete", older: "keep"}


def test_empty_or_garbage_evidence_is_not_verified(small_db: str, file_store: str) -> None:
    """An evidence file named '-passed.json' proves nothing when it is empty, unparsable,
    says passed=false, or belongs to another snapshot."""
    store = open_store(file_store)
    snapshot_id = _snap(small_db, file_store)
    for number, body in enumerate(
        [
            b"",
            b"{not json",
            json.dumps({"snapshot_id": snapshot_id, "passed": False}).encode(),
            json.dumps({"snapshot_id": "other-id", "passed": True}).encode(),
        ]
    ):
        store.create(f"{snapshot_id}/drills/2030010{number + 1}T000000Z-passed.json", body)
        assert latest_verified(file_store) is None, body
        assert not list_snapshots(store)[0].verified


def test_missing_dump_is_incomplete_and_recorded(
    run_cli: Any, small_db: str, file_store: str
) -> None:
    """Manifest kept, dump gone: INCOMPLETE in db list, never latest, and verify/drill exit 1
    (not 2 "check the id") with failed evidence written."""
    snapshot_id = _snap(small_db, file_store)
    (_store_root(file_store) / snapshot_id / "dump.pgcustom").unlink()
    listed = json.loads(run_cli("db", "list", "--to", file_store, "-o", "json").stdout)
    assert listed["snapshots"][0]["complete"] is False
    result = run_cli("db", "verify", snapshot_id, "--to", file_store)
    assert result.exit_code == 1, result.stderr
    assert "dump" in result.stderr and "missing" in result.stderr
    evidence = list((_store_root(file_store) / snapshot_id / "drills").glob("*-failed.json"))
    assert len(evidence) == 1
    drill = run_cli("db", "drill", url_for(small_db), "--use-latest", "--to", file_store)
    assert drill.exit_code == 2, drill.stderr  # no complete snapshot to drill
    assert "no complete snapshot" in drill.stderr


def test_verify_refuses_a_manifest_of_another_snapshot(
    run_cli: Any, small_db: str, file_store: str
) -> None:
    """Copying snapshot B's manifest over A's does not let 'verify A' verify B."""
    first = _snap(small_db, file_store)
    second = _snap(small_db, file_store)
    root = _store_root(file_store)
    target = root / first / "manifest.json"
    os.chmod(target, 0o600)
    target.write_bytes((root / second / "manifest.json").read_bytes())
    result = run_cli("db", "verify", first, "--to", file_store)
    assert result.exit_code == 1, result.stderr
    assert "describes another snapshot" in result.stderr
    assert not next(
        e for e in list_snapshots(open_store(file_store)) if e.snapshot_id == first
    ).complete


def test_verify_reads_the_table_of_contents(
    run_cli: Any, small_db: str, file_store: str, db_names: Any
) -> None:
    """A dump of another database with a patched sha and size fails verify (its table of
    contents and row counts are not the manifest's); the output says only a drill proves
    the data."""
    import hashlib

    snapshot_id = _snap(small_db, file_store)
    other = db_names()
    create_database(
        other, "CREATE TABLE items AS SELECT 1 AS id, 'x' AS v; CREATE TABLE extra AS SELECT 1 AS z"
    )
    other_id = _snap(other, file_store)
    root = _store_root(file_store)
    swapped = (root / other_id / "dump.pgcustom").read_bytes()
    dump = root / snapshot_id / "dump.pgcustom"
    os.chmod(dump, 0o600)
    dump.write_bytes(swapped)
    manifest_path = root / snapshot_id / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["dump"]["sha256"] = hashlib.sha256(swapped).hexdigest()
    manifest["dump"]["size_bytes"] = len(swapped)
    os.chmod(manifest_path, 0o600)
    manifest_path.write_text(json.dumps(manifest))
    result = run_cli("db", "verify", snapshot_id, "--to", file_store, "-o", "json")
    assert result.exit_code == 1
    failed = {c["name"] for c in json.loads(result.stdout)["checks"] if not c["ok"]}
    assert {
        "archive rows public.items",
        "archive rows public.extra",
        "archive table of contents",
    } <= failed
    good = _snap(small_db, file_store)
    ok = run_cli("db", "verify", good, "--to", file_store)
    assert ok.exit_code == 0, ok.stderr
    assert "only a drill" in ok.stdout


def test_file_store_is_private_and_refuses_symlinks(
    run_cli: Any, small_db: str, tmp_path: Path
) -> None:
    """Dumps, manifests, evidence and --report files are 0600 in 0700 folders, whatever the
    umask; a report path that is a symlink is refused and its target untouched."""
    store_root = tmp_path / "nested" / "store"
    store_url = f"file://{store_root}"
    old = os.umask(0o022)
    try:
        report = tmp_path / "drill.md"
        result = run_cli(
            "db", "drill", url_for(small_db), "--to", store_url, "--report", str(report)
        )
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.stderr
    for path in [store_root, *store_root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    assert stat.S_IMODE((tmp_path / "nested").stat().st_mode) == 0o700
    assert stat.S_IMODE(report.stat().st_mode) == 0o600

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.md"
    link.symlink_to(victim)
    again = run_cli(
        "db", "drill", url_for(small_db), "--use-latest", "--to", store_url, "--report", str(link)
    )
    assert again.exit_code == 2, again.stderr
    assert "symbolic link" in again.stderr or "symlink" in again.stderr
    assert victim.read_text() == "keep me"


def test_store_path_containment_uses_resolved_paths(tmp_path: Path) -> None:
    """A key cannot reach a sibling folder whose name merely starts with the store's
    (/x/store-evil), nor follow a symlink out of the store."""
    from releaser.errors import UsageError

    root = tmp_path / "store"
    evil = tmp_path / "store-evil"
    evil.mkdir()
    store = open_store(f"file://{root}")
    store.create("ok/file.json", b"{}")
    with pytest.raises(UsageError):
        store.read_bytes("../store-evil/x")
    (root / "ok" / "out").symlink_to(evil)
    with pytest.raises(UsageError):
        store.create("ok/out/planted.json", b"{}")
    assert not list(evil.iterdir())


def test_killed_snapshot_partial_is_listed_and_pruned(
    small_db: str, file_store: str, tmp_path: Path
) -> None:
    """A snapshot killed with SIGKILL mid-dump leaves a .partial: db list shows it as
    INCOMPLETE and prune removes it once it is a day old. SIGTERM cleans up like Ctrl-C."""
    from dbsupport import fake_pg_bin

    pidfile = tmp_path / "bin" / "sleeper.pid"
    bindir = fake_pg_bin(
        tmp_path / "bin",
        f'[ "$1" = --version ] && exec "$REAL" "$@"\n"$REAL" "$@"; echo $$ > {pidfile}; '
        "exec sleep 30",
    )
    script = (
        "import sys\n"
        "from releaser.cli.main import main\n"
        "sys.exit(main(['db', 'snapshot', sys.argv[1], '--to', sys.argv[2]]))\n"
    )
    env = {**os.environ, "RELEASER_PG_BINDIR": str(bindir)}
    for sig, leftover in (("TERM", False), ("KILL", True)):
        proc = subprocess.Popen(
            [sys.executable, "-c", script, url_for(small_db), file_store],
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        root = _store_root(file_store)
        deadline = time.monotonic() + 60
        while not (list(root.rglob("*.partial")) and pidfile.exists()):
            assert time.monotonic() < deadline, "no partial dump appeared"
            time.sleep(0.05)
        proc.send_signal(getattr(signal, f"SIG{sig}"))
        _, err = proc.communicate(timeout=60)
        partials = list(root.rglob("*.partial"))
        if leftover:
            assert partials, "SIGKILL leaves the partial dump"
        else:
            assert proc.returncode != 0 and not partials, err
            assert not [p for p in root.iterdir() if p.is_dir()], "empty snapshot folder left"
        if pidfile.exists():  # the stand-in pg_dump outlives a SIGKILLed releaser
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            pidfile.unlink()
    store = open_store(file_store)
    entries = list_snapshots(store)
    assert len(entries) == 1 and not entries[0].complete
    old = entries[0].modified.timestamp() - 3 * 86400
    for path in _store_root(file_store).rglob("*"):
        os.utime(path, (old, old))
    from releaser.db.prune import apply_prune

    apply_prune(store, plan_prune(store, keep=1))
    assert list_snapshots(store) == []


def test_snapshot_ids_never_collide() -> None:
    """Many ids for the same database and second are all different."""
    from datetime import UTC, datetime

    when = datetime(2024, 5, 1, tzinfo=UTC)
    ids = {new_snapshot_id("app", when) for _ in range(20000)}
    assert len(ids) == 20000


@pytest.fixture
def tmpfs(tmp_path: Path) -> Any:
    """A small tmpfs mount (a real read-only or full file system), or a skip."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_read_only_store_drill_still_prints_its_verdict(
    run_cli: Any, small_db: str, tmpfs: Path, tmp_path: Path
) -> None:
    """A store that turns read-only after the snapshot: the drill prints PASSED and writes
    the report, then exits 3 with one clear error saying the evidence was not stored."""
    store_url = f"file://{tmpfs}/store"
    _snap(small_db, store_url)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    report = tmp_path / "r.md"
    result = run_cli(
        "db",
        "drill",
        url_for(small_db),
        "--use-latest",
        "--to",
        store_url,
        "--report",
        str(report),
    )
    assert result.exit_code == 3, result.stderr
    assert "PASSED" in result.stdout
    assert result.stderr.count("Error:") == 1
    assert "evidence could not be stored" in result.stderr
    assert report.read_text().startswith("# Recovery drill PASSED")


def test_full_store_is_one_clear_error(run_cli: Any, small_db: str, tmpfs: Path) -> None:
    """A store too small for the dump: exit 3 with one line naming the path, no partial
    file and no manifest left behind."""
    big = unique_name("releaser_big")
    create_database(
        big,
        "CREATE TABLE b AS SELECT g, md5(g::text) || md5((g+1)::text) AS v "
        "FROM generate_series(1, 200000) g",
    )
    try:
        result = run_cli("db", "snapshot", url_for(big), "--to", f"file://{tmpfs}/store")
    finally:
        drop(big)
    assert result.exit_code == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "cannot write" in errors[0], result.stderr
    assert not [p for p in tmpfs.rglob("*") if p.is_file()]


def test_report_path_is_checked_before_the_drill(
    run_cli: Any, small_db: str, file_store: str, tmp_path: Path
) -> None:
    """A --report path that holds someone else's file is refused (exit 2) before anything
    runs; an earlier drill report is replaced."""
    notes = tmp_path / "notes.md"
    notes.write_text("my notes")
    refused = run_cli("db", "drill", url_for(small_db), "--to", file_store, "--report", str(notes))
    assert refused.exit_code == 2, refused.stderr
    assert notes.read_text() == "my notes"
    assert not Path(file_store.removeprefix("file://")).exists()  # nothing was written
    report = tmp_path / "drill.md"
    for _ in range(2):
        done = run_cli(
            "db", "drill", url_for(small_db), "--to", file_store, "--report", str(report)
        )
        assert done.exit_code == 0, done.stderr
    assert report.read_text().startswith("# Recovery drill PASSED")


def test_empty_snapshot_folder_is_incomplete_and_pruned(
    run_cli: Any, small_db: str, file_store: str
) -> None:
    """A snapshot folder left empty (a dump killed before its first byte) is listed as
    INCOMPLETE and pruned once a day old; the complete snapshot beside it stays."""
    kept = _snap(small_db, file_store)
    root = _store_root(file_store)
    empty = root / "app-20200101T000000Z-0dead0"
    empty.mkdir()
    listed = json.loads(run_cli("db", "list", "--to", file_store, "-o", "json").stdout)
    states = {r["snapshot_id"]: r["complete"] for r in listed["snapshots"]}
    assert states == {kept: True, empty.name: False}
    old = time.time() - 3 * 86400
    os.utime(empty, (old, old))
    result = run_cli("db", "prune", "--to", file_store, "--keep", "1", "--yes")
    assert result.exit_code == 0, result.stderr
    assert not empty.exists() and (root / kept).is_dir()
