"""What users of Render's CLI, Heroku and flyctl expect: pipes, -v anywhere, colour only on a
terminal, a config found from a subfolder, `logs --follow`, a heartbeat, retry notes, shell
completion. Against the simulator over real HTTP; subprocesses where a real pipe matters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from releaser.durations import parse_bounded, parse_since
from releaser.errors import UsageError
from releaser.sim import SimServer

Run = Callable[..., Result]
WEB = "srv-hjtl316kyssqmyi4ywa3"
RELEASER = [sys.executable, "-c", "from releaser.cli.main import main; main(prog_name='releaser')"]


def sim_env(server: SimServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RENDER_", "NO_COLOR"))}
    env.update(RENDER_API_URL=server.url, RENDER_API_KEY=server.api_key, **extra)
    return env


Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """`releaser ARGS` in a subprocess against a simulator; none outlives the test."""
    started: list[subprocess.Popen[str]] = []

    def start(server: SimServer, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [*RELEASER, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=sim_env(server),
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=15)


@pytest.mark.parametrize(
    "args", [("history", "web", "--limit", "50"), ("logs", "web", "--since", "30d")]
)
def test_a_reader_that_goes_away_is_a_quiet_exit_0(
    sim: SimServer, args: tuple[str, ...], spawn: Spawn
) -> None:
    """`releaser history web | head -1`: the closed pipe ends the run quietly with exit 0."""
    proc = spawn(sim, *args)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before the first byte is written
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    assert proc.wait(timeout=30) == 0, stderr
    assert stderr == ""


def test_non_utf8_bytes_from_the_shell_are_exit_2_before_any_write(
    sim: SimServer, tmp_path: Path
) -> None:
    """`releaser env set web K=$'\\xff' --yes`, real bytes in argv: one line, exit 2, no backup
    file and no PUT (it once crashed after writing the backup)."""
    for argv in ([b"status", b"\xff\xfe"], [b"env", b"set", b"web", b"K=\xff", b"--yes"]):
        done = subprocess.run(
            [*RELEASER, *argv], capture_output=True, env=sim_env(sim), cwd=tmp_path, timeout=60
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.decode().startswith("Error: argument ")
        assert b"not valid UTF-8" in done.stderr and len(done.stderr.splitlines()) == 1
    assert [r for r in sim.requests if r.method != "GET"] == []
    assert list(tmp_path.iterdir()) == []


def test_verbose_works_after_the_command(sim: SimServer, run_cli: Run) -> None:
    """`releaser status nope -v` shows the traceback, as `releaser -v status nope` does."""
    for args in (("status", "nope", "-v"), ("-v", "status", "nope")):
        result = run_cli(*args)
        assert result.exit_code == 2
        assert "Traceback" in result.stderr and "NotFoundError" in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("Error: no service named 'nope'")


def test_colour_on_a_terminal_only_and_never_when_asked(sim: SimServer) -> None:
    """PASS/GO and Error: are coloured on a terminal; --no-color (anywhere), NO_COLOR and pipes
    get plain text."""
    from releaser.cli.main import main

    def run(*args: str, color: bool, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(main, list(args), color=color, env=env, prog_name="releaser")

    terminal = run("go-no-go", "web", color=True)
    assert "\x1b[32mPASS" in terminal.stdout and "\x1b[" in terminal.stdout
    assert "\x1b[" not in run("go-no-go", "web", color=False).stdout  # a pipe
    assert "\x1b[" not in run("go-no-go", "web", "--no-color", color=True).stdout
    assert "\x1b[" not in run("go-no-go", "web", color=True, env={"NO_COLOR": "1"}).stdout
    error = run("status", "nope", color=True)
    assert error.stderr.startswith("\x1b[31m\x1b[1mError:")
    assert run("status", "nope", color=True, env={"NO_COLOR": "1"}).stderr.startswith("Error: ")


def test_go_no_go_from_a_subfolder_uses_the_projects_releaser_toml(
    sim: SimServer, run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a subfolder, the repository's releaser.toml still applies (NO-GO, not GO), and
    stderr says which file was used; --config FILE picks another one."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "releaser.toml").write_text('[services.web]\nrequired = ["NOT_ON_RENDER"]\n')
    (tmp_path / "app" / "deep").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "app" / "deep")
    result = run_cli("go-no-go", "web")
    assert result.exit_code == 1, result.stderr
    assert "NOT_ON_RENDER" in result.stdout
    assert "releaser: using config ../../releaser.toml" in result.stderr
    assert result.stdout.startswith(
        "go-no-go for web (srv-hjtl316kyssqmyi4ywa3), rules from ../../"
    )
    (tmp_path / "lenient.toml").write_text("[services.web]\nrequired = []\n")
    chosen = run_cli("--config", str(tmp_path / "lenient.toml"), "go-no-go", "web")
    assert chosen.exit_code == 0, chosen.stdout
    assert f"using config {tmp_path / 'lenient.toml'}" in chosen.stderr


def test_outside_a_repository_a_parent_folders_config_is_not_used(
    sim: SimServer, run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No .git above: only ./releaser.toml counts (a stray /tmp/releaser.toml steers nothing)."""
    (tmp_path / "releaser.toml").write_text('[services.web]\nrequired = ["NOT_ON_RENDER"]\n')
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    result = run_cli("go-no-go", "web")
    assert result.exit_code == 0
    assert "default rules (no releaser.toml)" in result.stdout.splitlines()[0]


def test_since_accepts_an_rfc3339_time(sim: SimServer, run_cli: Run) -> None:
    """--since 2026-…T…Z: lines from that moment on, like --since with a duration."""
    history = json.loads(run_cli("history", "web", "-o", "json").stdout)
    created = history[0]["created_at"]
    result = run_cli("logs", "web", "--since", created.replace("+00:00", "Z"), "-o", "json")
    assert result.exit_code == 0, result.stderr
    entries = json.loads(result.stdout)
    assert entries and all(e["timestamp"] >= created for e in entries)


def test_nul_in_an_env_file_is_not_safe_to_source(
    sim: SimServer, run_cli: Run, tmp_path: Path
) -> None:
    """A NUL byte in .env is named as shell-unsafe, never called safe to source."""
    (tmp_path / ".env").write_bytes(b"A=1\nB=x\x00y\n")
    result = run_cli("go-no-go", "web", "--env-file", ".env", "-o", "json")
    check = next(
        c for c in json.loads(result.stdout)["checks"] if c["name"] == "env file shell-safe"
    )
    assert check["status"] in ("WARN", "FAIL")
    assert "B (line 2): value contains a NUL byte" in check["detail"]


def test_logs_follow_prints_history_then_new_lines_once_through_a_lost_connection(
    sim_factory: Callable[..., SimServer], spawn: Spawn
) -> None:
    """--follow: the history first, then new lines as they come; a dropped log stream is said
    and retried; no line twice; Ctrl-C ends it with exit 0."""
    server = sim_factory("demo", time_scale=20)
    proc = spawn(server, "logs", "web", "--follow", "--since", "30d", "--tail", "5", "-o", "json")
    assert proc.stdout is not None
    history = [json.loads(proc.stdout.readline()) for _ in range(5)]
    server.add_fault(method="GET", path="/logs", drop=True, count=6)  # beyond the 5 retries
    api = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"}, timeout=10
    )
    assert api.post(f"/services/{WEB}/deploys", json={}).status_code in (201, 202)
    new: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while not any("Cloning" in e["message"] for e in new):
        assert time.monotonic() < deadline, new
        new.append(json.loads(proc.stdout.readline()))
    proc.send_signal(signal.SIGINT)
    rest, stderr = proc.communicate(timeout=15)
    new += [json.loads(line) for line in rest.splitlines()]
    assert proc.returncode == 0, stderr
    ids = [e["id"] for e in history + new]
    assert len(ids) == len(set(ids)), "a line was printed twice"
    stamps = [e["timestamp"] for e in history + new]
    assert stamps[:5] == sorted(stamps[:5]) and max(stamps[:5]) <= min(stamps[5:])
    assert "lost the log stream" in stderr and "logs: reconnected" in stderr
    assert "Error:" not in stderr


def test_a_long_build_has_a_heartbeat(
    sim_factory: Callable[..., SimServer], run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 6-minute build is not 6 minutes of silence: 'still in progress' at least each minute."""
    server = sim_factory("demo", time_scale=60, rate_limits=False)
    monkeypatch.setenv("RENDER_API_URL", server.url)
    monkeypatch.setenv("RENDER_API_KEY", server.api_key)
    server.queue_behaviour("web", "succeed", build_seconds=360, update_seconds=10)
    result = run_cli("deploy", "web", "--skip-checks", "--yes", "--soak", "20s")
    assert result.exit_code == 0, result.stderr
    beats = [line for line in result.stderr.splitlines() if "still in progress" in line]
    assert len(beats) >= 4, result.stderr
    assert any(" build] still in progress" in line for line in beats)


def test_a_rate_limited_wait_is_said_not_silent(sim: SimServer, run_cli: Run) -> None:
    """Render says wait 5 s (429): stderr says so before waiting; then the command succeeds."""
    sim.add_fault(method="GET", path="/services", status=429, retry_after=5, count=1)
    result = run_cli("services")
    assert result.exit_code == 0, result.stderr
    assert "rate limited by Render (429); retrying in 5s (attempt 2 of 5)" in result.stderr


def test_a_deploy_whose_report_cannot_be_written_keeps_its_verdict(
    sim_factory: Callable[..., SimServer],
    run_cli: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The report's folder vanishes mid-deploy: a warning, and the exit code is the deploy's."""
    server = sim_factory("demo", time_scale=40, rate_limits=False)
    monkeypatch.setenv("RENDER_API_URL", server.url)
    monkeypatch.setenv("RENDER_API_KEY", server.api_key)
    server.queue_behaviour("web", "succeed", build_seconds=20, update_seconds=10)
    folder = tmp_path / "reports"
    folder.mkdir()

    def remove_once_deploying() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(r.method == "POST" for r in server.requests):
                folder.rmdir()
                return
            time.sleep(0.01)

    remover = threading.Thread(target=remove_once_deploying)
    remover.start()
    result = run_cli(
        "deploy", "web", "--skip-checks", "--yes", "--soak", "20s", "--report", str(folder / "r.md")
    )
    remover.join()
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("HEALTHY: ")
    assert f"could not write the report to {folder / 'r.md'}" in result.stderr
    assert not folder.exists()


def test_report_is_private_and_replaces_a_planted_symlink_never_follows_it(
    sim: SimServer, run_cli: Run, tmp_path: Path
) -> None:
    """--report writes 0600; a symlink at the path is refused before anything happens."""
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    (tmp_path / "r.md").symlink_to(target)
    refused = run_cli("deploy", "web", "--skip-checks", "--yes", "--report", "r.md")
    assert refused.exit_code == 2 and "symbolic link" in refused.stderr
    assert target.read_text() == "keep"
    assert [r for r in sim.requests if r.method != "GET"] == []
    dry = run_cli("deploy", "web", "--dry-run", "--report", "plan.md")
    assert dry.exit_code == 0, dry.stderr
    assert (tmp_path / "plan.md").stat().st_mode & 0o777 == 0o600
    again = run_cli("deploy", "web", "--dry-run", "--report", "plan.md")  # ours: replaced
    assert again.exit_code == 0, again.stderr


def test_shell_completion_offers_commands_and_service_names(sim: SimServer) -> None:
    """Tab completion (bash protocol) completes command names and, from the API, services."""
    from releaser.cli.main import main

    def complete(words: str) -> list[str]:
        env = {
            "_RELEASER_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
        result = CliRunner().invoke(main, [], env=env, prog_name="releaser")
        assert result.exit_code == 0, result.output
        return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]

    assert "deploy" in complete("releaser dep")
    assert complete("releaser status w") == ["web", "worker"]
    assert "web" in complete("releaser promote --from ")
    assert complete("releaser deploy nothing-like-this") == []


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=30))
def test_any_duration_text_is_a_value_in_range_or_a_usage_error(text: str) -> None:
    """Whatever is typed, a duration flag yields a value in its range or exit 2: never a crash
    (OverflowError, ValueError) and never 0 where 0 makes no sense."""
    try:
        seconds = parse_bounded(text, "--timeout", 10.0, 86400.0)
    except UsageError as exc:
        assert exc.message.startswith("--timeout ")
    else:
        assert 10.0 <= seconds <= 86400.0
    try:
        since = parse_since(text)
    except UsageError as exc:
        assert exc.message.startswith("--since ")
    else:
        if isinstance(since, timedelta):
            assert timedelta(seconds=1) <= since <= timedelta(days=365)
        else:
            assert since.tzinfo is not None and since <= datetime.now(UTC) + timedelta(minutes=5)
