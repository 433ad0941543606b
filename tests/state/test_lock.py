"""The per-service release lock on real PostgreSQL (and the local SQLite default)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from simulators import SimOptions
from statehelp import WEB

from releaser.sim import SimServer
from releaser.state.local import SqliteStore
from releaser.state.models import LockHolder
from releaser.state.pg import PostgresStore
from releaser.state.store import StateStore, acquire

Run = Callable[..., Result]
Start = Callable[..., SimServer]
ROUNDS = 100


@pytest.fixture
def sim_defaults() -> SimOptions:
    """Scaled time (40x), not the folder's virtual time: these tests race real processes and
    threads, which wait in real time."""
    return SimOptions(clock=40.0, rate_limits=False, env="owner")


def holder(service: str = WEB, who: str = "alice", what: str = "deploy") -> LockHolder:
    return LockHolder(
        service=service,
        service_name="web",
        who=who,
        host="laptop-7",
        ci_url="https://github.com/acme/shop/actions/runs/42",
        since=datetime(2026, 1, 2, 10, 0, tzinfo=UTC),
        what=what,
        pid=os.getpid(),
    )


def open_store(dsn: str | None) -> StateStore:
    return PostgresStore(dsn) if dsn else SqliteStore()


def _racer(dsn: str | None, cwd: str, name: str, start: Any, done: Any, wins: Any) -> None:
    """One process of the race: every round, try the lock at the barrier, hold it a moment."""
    os.chdir(cwd)
    store = open_store(dsn)
    for round_no in range(ROUNDS):
        start.wait()
        held = store.try_lock(holder(who=name))
        if held is not None:
            wins.put((round_no, name))
        done.wait()  # both have tried before the winner lets go
        if held is not None:
            held.release()
    store.close()


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_two_processes_racing_for_one_service_exactly_one_wins_every_round(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    """100 rounds, two OS processes released at one barrier: each round exactly one holds it."""
    dsn = request.getfixturevalue("state_dsn") if backend == "postgres" else None
    open_store(dsn).close()  # migrate once, so both racers start from the same schema
    ctx = multiprocessing.get_context("spawn")
    start, done, wins = ctx.Barrier(2), ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_racer, args=(dsn, str(tmp_path), name, start, done, wins))
        for name in ("runner-a", "runner-b")
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=300)
        assert proc.exitcode == 0
    winners: dict[int, list[str]] = {}
    while not wins.empty():
        round_no, name = wins.get()
        winners.setdefault(round_no, []).append(name)
    assert sorted(winners) == list(range(ROUNDS))
    assert all(len(names) == 1 for names in winners.values()), winners


def env_set_slowly(sim: SimServer, seconds: float) -> None:
    """Reading the env vars takes `seconds`: the lock is held at least that long."""
    sim.add_fault(method="GET", path="/services/*/env-vars", delay_seconds=seconds)


def test_two_releaser_processes_env_set_at_once_one_writes_the_other_exits_3(
    state_dsn: str, start_sim: Start, spawn_releaser: Callable[..., Any]
) -> None:
    """Real `releaser env set` processes, 4 rounds: one writes, the other names the holder."""
    sim = start_sim("demo")
    # env set reads the variables three times (two pages each) while it holds the lock: 1.2 s
    # per read holds it ~7 s, far longer than the two processes' start-up skew (was 2.5 s:
    # 15 s a round, a minute for the test).
    env_set_slowly(sim, 1.2)
    for round_no in range(4):
        sim.clear_requests()
        procs = [
            spawn_releaser(
                "env", "set", "web", f"ROUND={round_no}{who}", "--yes", env={"RELEASER_ACTOR": who}
            )
            for who in ("ci-a", "ci-b")
        ]
        results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 3], results
        loser_err = next(err for code, _, err in results if code == 3)
        assert "Error: web is locked by ci-" in loser_err and "running env set" in loser_err
        # env set writes key by key: the one winner PUTs its one key, the loser nothing.
        puts = [r for r in sim.requests if r.method == "PUT" and "/env-vars" in r.path]
        assert len(puts) == 1, [r.path for r in puts]


def test_a_sigkilled_holder_never_leaves_the_lock_stuck(
    state_dsn: str, start_sim: Start, spawn_releaser: Callable[..., Any], run_cli: Run
) -> None:
    """SIGKILL the holder mid-command: the lock is free again at once for the next releaser."""
    sim = start_sim("demo")
    env_set_slowly(sim, 60)
    proc = spawn_releaser("env", "set", "web", "A=1", "--yes", env={"RELEASER_ACTOR": "doomed"})
    store = PostgresStore(state_dsn)
    deadline = time.monotonic() + 60
    while not store.holders(WEB):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    assert store.holders("web")[0].who == "doomed"
    locked = run_cli("rollback", "web", "--to", "previous", "--yes")
    assert locked.exit_code == 3 and "locked by doomed on" in locked.stderr
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    held = acquire(store, holder(who="next"), timeout=10)
    assert [h.who for h in store.holders(WEB)] == ["next"]
    held.release()
    assert store.holders(WEB) == []
    status = run_cli("lock", "status", "web")
    assert status.exit_code == 0 and "web is not locked." in status.stdout
    store.close()


def test_a_held_lock_stops_a_deploy_before_any_write_and_names_the_holder(
    state_dsn: str, start_sim: Start, run_cli: Run
) -> None:
    """Locked: exit 3, one line naming who, where, since when and the CI run; nothing written."""
    sim = start_sim("demo")
    store = PostgresStore(state_dsn)
    held = store.try_lock(holder())
    assert held is not None
    result = run_cli("deploy", "web", "--yes", "--skip-checks")
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: web is locked by alice on laptop-7 since 2026-01-02 10:00:00Z "
        "(https://github.com/acme/shop/actions/runs/42), running deploy. Wait for it to "
        "finish (or pass --lock-timeout 10m); if that holder is gone, 'releaser lock release "
        f"{WEB} --force'. Nothing was changed"
    )
    assert [r for r in sim.requests if r.method != "GET"] == []
    waited = run_cli("env", "set", "web", "A=1", "--yes", "--lock-timeout", "1s")
    assert waited.exit_code == 3 and "running deploy after waiting 1s." in waited.stderr
    assert [r for r in sim.requests if r.method != "GET"] == []
    held.release()
    store.close()


def test_lock_timeout_waits_for_the_holder_to_finish(
    state_dsn: str, start_sim: Start, run_cli: Run
) -> None:
    """--lock-timeout: the second releaser waits, then proceeds once the first lets go."""
    start_sim("demo")
    store = PostgresStore(state_dsn)
    held = store.try_lock(holder())
    assert held is not None
    threading.Timer(1.5, held.release).start()
    result = run_cli("env", "set", "web", "A=1", "--yes", "--lock-timeout", "60s")
    assert result.exit_code == 0, result.stderr
    assert "Wrote 1 change(s)" in result.stderr
    store.close()


def test_lock_status_and_forced_release_are_audited(
    state_dsn: str, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status lists the holder; release needs --force, ends the holder's session, is logged."""
    monkeypatch.setenv("RELEASER_ACTOR", "oncall-bob")
    store = PostgresStore(state_dsn)
    held = store.try_lock(holder())
    assert held is not None
    listed = run_cli("lock", "status", "-o", "json")
    assert listed.exit_code == 0
    assert [(h["service"], h["who"], h["what"]) for h in json.loads(listed.stdout)] == [
        (WEB, "alice", "deploy")
    ]
    refused = run_cli("lock", "release", "web")
    assert refused.exit_code == 2 and "needs --force" in refused.stderr
    assert len(store.holders()) == 1
    released = run_cli("lock", "release", "web", "--force")
    assert released.exit_code == 0, released.stderr
    assert "Released the lock on web (alice on laptop-7" in released.stdout
    assert store.holders() == []
    again = store.try_lock(holder(who="carol"))
    assert again is not None
    again.release()
    held.release()  # the old session is gone: releasing it is harmless
    entries = store.entries("web")
    assert [(e.action, e.who) for e in entries] == [("lock release --force", "oncall-bob")]
    assert entries[0].detail["released_holder"]["who"] == "alice"
    store.close()


def test_without_a_shared_backend_the_lock_is_local_only_in_a_private_file(
    start_sim: Start, run_cli: Run, tmp_path: Path
) -> None:
    """No DSN: SQLite under .releaser/ (0700, file 0600) and the output says local only."""
    start_sim("demo")
    result = run_cli("env", "set", "web", "A=1", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "Ledger: recorded in .releaser/state.db (lock is local only" in result.stderr
    assert (tmp_path / ".releaser").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / ".releaser" / "state.db").stat().st_mode & 0o777 == 0o600
    store = SqliteStore()
    assert store.holders() == []
    local = store.try_lock(holder())
    assert local is not None
    blocked = run_cli("env", "set", "web", "A=2", "--yes")
    assert blocked.exit_code == 3 and "locked by alice" in blocked.stderr
    local.release()
    store.close()


def test_a_symlinked_state_file_is_refused(start_sim: Start, run_cli: Run, tmp_path: Path) -> None:
    """.releaser/state.db as a symlink: exit 2 before any write, the target untouched."""
    sim = start_sim("demo")
    (tmp_path / ".releaser").mkdir(mode=0o700)
    target = tmp_path / "elsewhere.db"
    (tmp_path / ".releaser" / "state.db").symlink_to(target)
    result = run_cli("env", "set", "web", "A=1", "--yes")
    assert result.exit_code == 2
    assert "state.db: it is a symlink" in result.stderr
    assert not target.exists()
    assert [r for r in sim.requests if r.method != "GET"] == []


def test_reading_locks_and_the_ledger_on_a_fresh_checkout_creates_nothing(
    run_cli: Run, tmp_path: Path
) -> None:
    """lock status and ledger are read-only: no .releaser/ appears where there was none."""
    status = run_cli("lock", "status")
    assert status.exit_code == 0 and status.stdout == "No service is locked.\n"
    listed = run_cli("lock", "status", "-o", "json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    ledger = run_cli("ledger")
    assert ledger.exit_code == 0 and ledger.stdout == "The ledger has no entries.\n"
    assert not (tmp_path / ".releaser").exists()
