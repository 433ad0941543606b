"""Scenario files: built-ins load, `extends` works, bad files fail with file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import demo
import pytest

from releaser.errors import ConfigError
from releaser.sim import builtin_scenarios, load_scenario
from releaser.sim.scenario import parse_duration

MINIMAL = """\
[owner]
id = "tea-abc"
name = "Team"

[[services]]
id = "srv-abc"
name = "api"
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_scenario(write(tmp_path, text))
    assert caught.value.exit_code == 2
    return caught.value.one_line()


def test_every_builtin_scenario_loads_with_web_and_worker() -> None:
    """demo, crash-loop, build-fail, unhealthy and flaky-api exist and share demo's services."""
    names = builtin_scenarios()
    assert {"demo", "crash-loop", "build-fail", "unhealthy", "flaky-api"} <= set(names)
    for name in names:  # including scenarios other features add
        scenario = load_scenario(name)
        assert scenario.name == name and names[name]
    for name in ("demo", "crash-loop", "build-fail", "unhealthy", "flaky-api"):
        assert [s.name for s in load_scenario(name).services] == ["web", "worker"]
    assert load_scenario("crash-loop").next_deploys[0].behaviour == "crash_loop"
    assert load_scenario("flaky-api").faults


def test_the_demo_ids_tests_use_are_the_demo_scenario_s() -> None:
    """tests/demo.py is the one place tests read demo ids from: it must match the scenario."""
    scenario = load_scenario("demo")
    services = {s.name: s for s in scenario.services}
    web = sorted(services["web"].deploys, key=lambda d: d.id)
    by_id = {d.id: d for d in web}
    assert scenario.owner.id == demo.OWNER
    assert [g.id for g in scenario.env_groups] == [demo.ENV_GROUP]
    assert [p.id for p in scenario.postgres if p.name == "main-db"] == [demo.MAIN_DB]
    assert (services["web"].id, services["worker"].id) == (demo.WEB, demo.WORKER)
    assert [d.id for d in web if d.status == "live"] == [demo.LIVE]
    assert by_id[demo.LIVE].commit == demo.LIVE_COMMIT
    assert by_id[demo.PREVIOUS].commit == demo.PREVIOUS_COMMIT
    assert (by_id[demo.PREVIOUS].message or "").startswith("Revert")
    assert by_id[demo.UPDATE_FAILED].status == "update_failed"
    assert by_id[demo.BUILD_FAILED].status == "build_failed"
    assert by_id[demo.OLDEST].message == "Add health endpoint"


def test_a_minimal_file_gets_defaults(tmp_path: Path) -> None:
    """Only owner and a service id/name are needed; the rest has Render's defaults (an empty
    health path, autoDeployTrigger "commit")."""
    scenario = load_scenario(write(tmp_path, MINIMAL))
    service = scenario.services[0]
    assert (
        service.type,
        service.runtime,
        service.auto_deploy,
        service.auto_deploy_trigger,
        service.health_check_path,
    ) == ("web_service", "python", "yes", "commit", "")
    assert scenario.name == "s"


def test_extends_a_builtin_and_replaces_top_level_keys(tmp_path: Path) -> None:
    """A file extending demo keeps its services and adds its own next_deploys."""
    path = write(
        tmp_path,
        """\
        [scenario]
        extends = "demo"
        name = "mine"

        [[next_deploys]]
        service = "worker"
        behaviour = "build_failed"
        build_seconds = "2m"
        """,
    )
    scenario = load_scenario(path)
    assert scenario.name == "mine" and len(scenario.services) == 2
    assert scenario.next_deploys[0].build_seconds == 120


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (MINIMAL + 'type = "web"\n', 8, "services[0].type"),
        (MINIMAL + 'colour = "red"\n', 8, "services[0].colour: Extra inputs are not permitted"),
        (MINIMAL.replace('id = "srv-abc"', 'id = "abc"'), 6, "services[0].id"),
        (
            MINIMAL
            + '\n[[services.deploys]]\nid = "dep-1"\nstatus = "building"\ncreated_at = "-1d"\n',
            11,
            "status",
        ),
        (MINIMAL + 'env_groups = ["missing"]\n', 8, "no env group named 'missing'"),
        (MINIMAL + '\n[[next_deploys]]\nservice = "nope"\n', 10, "no service named 'nope'"),
        (MINIMAL + '\n[[faults]]\npath = "/logs"\n', 9, "a fault needs status"),
        (
            MINIMAL
            + '\n[[services.deploys]]\nid = "dep-1"\nstatus = "live"\ncreated_at = "soon"\n',
            12,
            "not a duration",
        ),
    ],
)
def test_bad_files_name_the_file_line_and_key(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    """Validation errors are one line with the file, the line number and the key path."""
    message = error_for(tmp_path, text)
    assert "s.toml" in message and f"line {line}:" in message, message
    assert fragment in message
    assert "\n" not in message and "The simulator" in message


def test_toml_syntax_errors_keep_tomllib_s_line(tmp_path: Path) -> None:
    """A TOML syntax error reports tomllib's line and column."""
    message = error_for(tmp_path, MINIMAL + "name = \n")
    assert "line 8" in message


def test_unknown_names_and_missing_files(tmp_path: Path) -> None:
    """An unknown built-in lists the real ones; a missing path says so."""
    with pytest.raises(ConfigError, match="demo"):
        load_scenario("nope")
    with pytest.raises(ConfigError, match="not found"):
        load_scenario(str(tmp_path / "missing.toml"))


def test_extends_cycles_are_refused(tmp_path: Path) -> None:
    """A scenario that extends itself is an error, not a recursion."""
    write(tmp_path, '[scenario]\nextends = "b.toml"\n', "a.toml")
    write(tmp_path, '[scenario]\nextends = "a.toml"\n', "b.toml")
    with pytest.raises(ConfigError, match="extends itself"):
        load_scenario(str(tmp_path / "a.toml"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("soon", None),
        ("90s", 90),
        ("5m", 300),
        ("-3d", -259200),
        ("-2h30m", -9000),
        ("now", 0),
    ],
)
def test_durations_and_offsets(text: str, seconds: float | None) -> None:
    """Durations are numbers or d/h/m/s strings; offsets may be negative."""
    if seconds is None:
        with pytest.raises(ValueError):
            parse_duration(text)
    else:
        assert parse_duration(text) == seconds
