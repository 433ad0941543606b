"""Env merge plans and backups: nothing dropped that was not asked for, 0600 backups."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from releaser.config import ServiceRules
from releaser.errors import ConfigError, UsageError
from releaser.release.envchange import (
    ServiceEnv,
    parse_assignments,
    prepare_restore,
    prepare_set,
    read_backup,
    write_backup,
)
from releaser.render.models import Service

SERVICE = Service(id="srv-abc", name="web")


def env(**own: str) -> ServiceEnv:
    return ServiceEnv(service_vars=own, groups=[("shared", {"SESSION_SECRET": "s" * 5 + "x" * 40})])


def test_set_merges_and_keeps_everything_else() -> None:
    """Setting one key keeps every other var; the plan lists keys by change kind."""
    prepared = prepare_set(
        SERVICE, env(A="1", B="2", C="3"), ServiceRules(), {"B": "9", "D": "4"}, ["C"]
    )
    assert prepared.target == {"A": "1", "B": "9", "D": "4"}
    plan = prepared.plan
    assert (plan.added, plan.changed, plan.removed, plan.unchanged) == (["D"], ["B"], ["C"], 1)


def test_unset_of_a_group_var_is_refused() -> None:
    """A key that comes from an env group cannot be removed from the service."""
    with pytest.raises(UsageError, match="linked env group 'shared'"):
        prepare_set(SERVICE, env(A="1"), ServiceRules(), {}, ["SESSION_SECRET"])


def test_unset_of_an_absent_key_is_a_note_not_a_change() -> None:
    """Unsetting a key that is not there changes nothing and says so."""
    prepared = prepare_set(SERVICE, env(A="1"), ServiceRules(), {}, ["NOPE"])
    assert prepared.plan.empty and "NOPE is not set" in prepared.plan.notes[0]


def test_set_and_unset_of_one_key_is_a_usage_error() -> None:
    """Asking to set and unset the same key is ambiguous: refused."""
    with pytest.raises(UsageError, match="both set and unset"):
        prepare_set(SERVICE, env(A="1"), ServiceRules(), {"A": "2"}, ["A"])


def test_new_values_are_validated_without_quoting_them() -> None:
    """Bad typed values and weak secrets about to be written are problems, values unquoted."""
    rules = ServiceRules(types={"CORS_ORIGINS": "json_list"})
    prepared = prepare_set(
        SERVICE, env(), rules, {"CORS_ORIGINS": "[https://x.example]", "API_KEY": "short-key"}, []
    )
    assert prepared.problems == [
        "API_KEY (secret): is 9 characters, needs at least 32",
        "CORS_ORIGINS (json_list): not valid JSON (Expecting value at line 1 column 2); "
        "are the items quoted?",
    ]


def test_assignments_without_equals_never_echo_the_argument() -> None:
    """KEY=VALUE parsing splits on the first '='; a bad argument is named by position only."""
    assert parse_assignments(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(UsageError) as err:
        parse_assignments(["A=1", "s3cr3t-pasted-alone"])
    assert "argument 2" in str(err.value) and "s3cr3t" not in str(err.value)
    with pytest.raises(UsageError, match="valid name"):
        parse_assignments(["1BAD=x"])


def test_backup_is_private_and_round_trips(tmp_path: Path) -> None:
    """A backup file is created 0600 in a 0700 directory and reads back exactly."""
    path = write_backup(tmp_path / "b", "srv-abc", "web", {"A": "1", "SECRET_KEY": "v"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    backup = read_backup(path)
    assert {v.key: v.value for v in backup.env_vars} == {"A": "1", "SECRET_KEY": "v"}


def test_restore_plan_removes_vars_added_since(tmp_path: Path) -> None:
    """Restoring puts the saved set back exactly: later additions are removed."""
    backup = read_backup(write_backup(tmp_path, "srv-abc", "web", {"A": "1"}))
    prepared = prepare_restore(SERVICE, env(A="2", NEW="x"), backup)
    assert prepared.target == {"A": "1"}
    assert (prepared.plan.changed, prepared.plan.removed) == (["A"], ["NEW"])
    with pytest.raises(UsageError, match="backup is of service srv-abc"):
        prepare_restore(Service(id="srv-other"), env(), backup)


def test_bad_backup_files_are_input_errors(tmp_path: Path) -> None:
    """A backup that is not JSON, or not ours, is exit 2 with the file (and line)."""
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "format": \n')
    with pytest.raises(ConfigError, match=r"broken\.json:3: not a releaser env backup"):
        read_backup(broken)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"hello": "world"}))
    with pytest.raises(ConfigError, match="not a releaser env backup"):
        read_backup(foreign)
