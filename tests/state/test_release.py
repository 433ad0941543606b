"""`releaser release NAME`: several services, migration first, all back when one fails."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import demo
import pytest
from click.testing import Result

from releaser.sim import SimServer, load_scenario
from releaser.state.pg import PostgresStore

Run = Callable[..., Result]
Start = Callable[..., SimServer]
QUICK = {"build_seconds": 20, "update_seconds": 10}
WEB_LIVE = demo.LIVE
RELEASE_TOML = """
[releases.shop]
services = ["web", "worker"]
migrate = { service = "web", command = "python -m app.migrate" }
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "releaser.toml"
    path.write_text(RELEASE_TOML)
    return path


def autodeploy(sim: SimServer, name: str) -> str:
    with sim.state.lock:
        return str(sim.state.service(name).config.auto_deploy)


def live_id(sim: SimServer, name: str) -> str:
    with sim.state.lock:
        sim.state.advance()
        live = sim.state.service(name).live()
        assert live is not None
        return live.id


def writes(sim: SimServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sim.requests if r.method != "GET"]


def release(run_cli: Run, *args: str) -> Result:
    return run_cli("release", "shop", "--yes", "--soak", "20s", *args)


def test_a_healthy_release_migrates_first_then_deploys_in_order(
    state_dsn: str, shop: Path, start_sim: Start, run_cli: Run
) -> None:
    """Migration job, then web, then worker; autodeploy off for the release and back on after."""
    sim = start_sim("demo")
    for name in ("web", "worker"):
        sim.queue_behaviour(name, "succeed", **QUICK)
    result = release(run_cli, "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "healthy" and report["migration"]["status"] == "succeeded"
    order = [p.rsplit("/", 1)[-1] for m, p in writes(sim) if m == "POST"]
    assert order == ["jobs", "deploys", "deploys"]
    deploy_posts = [p for m, p in writes(sim) if m == "POST" and p.endswith("/deploys")]
    assert [p.split("/")[3] for p in deploy_posts] == [
        demo.WEB,
        demo.WORKER,
    ]
    patches = [json.dumps(r.json) for r in sim.requests if r.method == "PATCH"]
    assert patches.count('{"autoDeploy": "no"}') == 2 and patches[-1] == '{"autoDeploy": "yes"}'
    assert autodeploy(sim, "web") == "yes" and autodeploy(sim, "worker") == "yes"
    store = PostgresStore(state_dsn)
    entries = store.entries()
    store.close()
    assert sorted((e.service_name, e.action, e.verdict) for e in entries) == [
        ("web", "release", "healthy"),
        ("worker", "release", "healthy"),
    ]
    assert all(e.report and e.report.startswith("# Release report: shop") for e in entries)


def test_a_failing_second_service_rolls_back_the_first(
    state_dsn: str, shop: Path, start_sim: Start, run_cli: Run
) -> None:
    """worker fails to build: web (already live on the new deploy) goes back; exit 1."""
    sim = start_sim("demo")
    sim.queue_behaviour("web", "succeed", **QUICK)
    sim.queue_behaviour("worker", "build_failed", **QUICK)
    result = release(run_cli, "--report", "release.md")
    assert result.exit_code == 1, result.stderr
    assert "worker failed; every service is back on its previous deploy" in result.stderr
    rollbacks = [p for m, p in writes(sim) if p.endswith("/rollback")]
    assert rollbacks == [f"/v1/services/{demo.WEB}/rollback"]
    with sim.state.lock:
        sim.state.advance()
        web_live = sim.state.service("web").live()
    assert web_live is not None and web_live.facts.rollback_of == WEB_LIVE
    assert autodeploy(sim, "web") == "no" and autodeploy(sim, "worker") == "no"
    markdown = Path("release.md").read_text()
    assert "**ROLLED_BACK**" in markdown and "autodeploy left OFF on web" in markdown
    store = PostgresStore(state_dsn)
    verdicts = {e.service_name: e.verdict for e in store.entries()}
    store.close()
    assert verdicts["web"].startswith("healthy, rolled back (healthy)")
    assert verdicts["worker"] != "healthy"


def test_a_failed_migration_deploys_nothing(
    state_dsn: str, shop: Path, start_sim: Start, run_cli: Run
) -> None:
    """The migration job exits non-zero: no deploy is created, autodeploy is restored, exit 1."""
    sim = start_sim("demo")
    sim.queue_job("web", succeeds=False, seconds=10)
    result = release(run_cli)
    assert result.exit_code == 1
    assert "the migration job failed: nothing was deployed" in result.stderr
    assert "  [job] ==> Running 'python -m app.migrate'" in result.stderr  # its logs, streamed
    assert "  [job] ==> Job failed: exited with status 1" in result.stderr
    assert not [p for m, p in writes(sim) if p.endswith("/deploys")]
    assert live_id(sim, "web") == WEB_LIVE
    assert autodeploy(sim, "web") == "yes" and autodeploy(sim, "worker") == "yes"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def test_changed_since_picks_services_by_root_dir_and_build_filter(
    tmp_path: Path, shop: Path, start_sim: Start, run_cli: Run
) -> None:
    """A real git repository: only the services whose watched paths changed are released."""
    scenario = load_scenario("demo")
    web, worker = scenario.services[0], scenario.services[1]
    web.root_dir = "web"
    worker.build_paths, worker.build_ignored_paths = ["worker/**", "shared/*.py"], ["**/*.md"]
    sim = start_sim(scenario)
    git(tmp_path, "init", "-q", "-b", "main")
    base = commit(tmp_path, {"web/app.py": "1", "worker/run.py": "1", "shared/db.py": "1"}, "base")
    commit(tmp_path, {"worker/README.md": "docs only"}, "docs")
    docs_only = run_cli("release", "shop", "--changed-since", base, "--dry-run")
    assert docs_only.exit_code == 0, docs_only.stderr
    assert "skip    web: skipped, nothing changed in rootDir web/" in docs_only.stderr
    assert "skip    worker: skipped, nothing changed in build filter" in docs_only.stderr
    assert "no service of the release changed" in docs_only.stdout
    commit(tmp_path, {"shared/db.py": "2", "webapp/x.py": "not web/"}, "shared code")
    picked = run_cli("release", "shop", "--changed-since", base, "--dry-run", "-o", "json")
    assert picked.exit_code == 0, picked.stderr
    assert "include worker: 1 changed file(s) in build filter" in picked.stderr
    assert "shared/db.py" in picked.stderr
    plan = json.loads(picked.stdout)
    included = {s["service_name"]: s["included"] for s in plan["services"]}
    assert included == {"web": False, "worker": True}
    assert plan["checks"] and all(c["name"].startswith("worker: ") for c in plan["checks"])
    assert writes(sim) == []  # a dry run writes nothing, takes no lock
    bad = run_cli("release", "shop", "--changed-since", "no-such-ref", "--dry-run")
    assert bad.exit_code == 2 and "git cannot compare no-such-ref with HEAD" in bad.stderr
