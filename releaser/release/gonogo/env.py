"""Checks that look at the environment: required keys, secrets, typed values, a local .env file.

``drift_rows`` is the per-key table ``releaser env diff`` prints from the same comparison.
"""

from __future__ import annotations

from collections.abc import Mapping

from releaser.config import ServiceRules
from releaser.output import mask
from releaser.release.envchange import ServiceEnv, diff_plan
from releaser.release.envfile import EnvFile
from releaser.release.gonogo.check import CheckResult, Status, _keys, _result
from releaser.release.values import check_json, check_secret, check_typed


def check_required(rules: ServiceRules, env: ServiceEnv) -> CheckResult:
    name = "required vars"
    effective = env.effective()
    if not rules.required:
        return _result(
            name,
            "PASS",
            f"{len(effective)} vars set; no required keys declared in releaser.toml",
        )
    missing = [k for k in rules.required if k not in effective]
    empty = [k for k in rules.required if k in effective and not effective[k].strip()]
    problems = []
    if missing:
        problems.append(f"missing: {_keys(missing)}")
    if empty:
        problems.append(f"set but empty: {_keys(empty)}")
    if problems:
        return _result(name, "FAIL", "; ".join(problems))
    from_groups = sum(1 for k in rules.required if k not in env.service_vars)
    tail = f" ({from_groups} from linked env groups)" if from_groups else ""
    return _result(name, "PASS", f"all {len(rules.required)} required keys are set{tail}")


def check_secrets(rules: ServiceRules, effective: Mapping[str, str]) -> CheckResult:
    name = "secrets"
    keys = sorted(k for k in effective if rules.is_secret(k))
    if not keys:
        return _result(name, "PASS", "no variables are secrets (by name or releaser.toml)")
    problems = []
    for key in keys:
        reason = check_secret(effective[key], rules.min_secret_length)
        if reason:
            problems.append(f"{key} {reason}")
    by_value: dict[str, list[str]] = {}
    for key in keys:
        if effective[key]:
            by_value.setdefault(effective[key], []).append(key)
    for twins in by_value.values():
        if len(twins) > 1:
            problems.append(f"{' and '.join(twins)} hold the same value")
    if problems:
        return _result(name, "FAIL", "; ".join(problems))
    return _result(
        name,
        "PASS",
        f"{len(keys)} secrets are distinct, not placeholders, at least "
        f"{rules.min_secret_length} characters",
    )


def check_types(rules: ServiceRules, effective: Mapping[str, str]) -> CheckResult:
    name = "typed values"
    checked = 0
    problems = []
    doubtful = []
    for key in sorted(effective):
        value_type = rules.type_of(key)
        value = effective[key]
        if not value_type:
            # No declared type, but it is meant to be JSON and it is not: the classic
            # CORS_ORIGINS=[https://a.example] that crashes a List[str] setting at boot.
            text = value.strip()
            problem = check_json(text) if text[:1] in ("[", "{") else None
            if problem:
                if (text[0], text[-1]) in (("[", "]"), ("{", "}")):
                    # Bracketed end to end: meant as JSON, and the app will choke on it.
                    problems.append(f"{key} looks like JSON but is not: {problem}")
                else:
                    doubtful.append(f"{key} starts like JSON but does not parse")
            continue
        if value_type == "str":
            continue
        checked += 1
        reason = check_typed(value_type, value)
        if reason:
            problems.append(f"{key} ({value_type}): {reason}")
    if problems:
        return _result(name, "FAIL", "; ".join(problems + doubtful))
    if doubtful:
        hint = " (declare its type in releaser.toml: json to check it, str to silence this)"
        return _result(name, "WARN", "; ".join(doubtful) + hint)
    if not checked:
        return _result(name, "PASS", "no typed keys present (declare types in releaser.toml)")
    plural = "value parses" if checked == 1 else "values parse"
    return _result(name, "PASS", f"{checked} typed {plural} as declared")


def check_env_file(env_file: EnvFile | None, effective: Mapping[str, str]) -> list[CheckResult]:
    if env_file is None:
        return [_result("env file drift", "SKIP", "no --env-file given")]
    # The file is the target and Render the current state: "added" is missing on Render.
    drift = diff_plan(effective, env_file.values())
    problems = []
    status: Status = "PASS"
    if drift.added:
        status = "FAIL"
        problems.append(f"missing on Render: {_keys(drift.added)}")
    if drift.changed:
        status = "WARN" if status == "PASS" else status
        problems.append(f"values differ: {_keys(drift.changed)}")
    if drift.removed:
        status = "WARN" if status == "PASS" else status
        problems.append(f"only on Render: {_keys(drift.removed)}")
    detail = "; ".join(problems) or f"{drift.unchanged} keys match {env_file.path}"
    if problems:
        detail += f" (compare with 'releaser env diff SERVICE --env-file {env_file.path}')"
    results = [_result("env file drift", status, detail)]
    unsafe = env_file.shell_unsafe
    if unsafe:
        lines = "; ".join(f"{e.key} (line {e.line}): {e.shell_reason}" for e in unsafe[:5])
        more = f" (+{len(unsafe) - 5} more)" if len(unsafe) > 5 else ""
        results.append(
            _result("env file shell-safe", "WARN", f"not safe to 'source': {lines}{more}")
        )
    else:
        results.append(
            _result("env file shell-safe", "PASS", f"{env_file.path} is safe to 'source'")
        )
    return results


def drift_rows(env_file: EnvFile, env: ServiceEnv) -> list[dict[str, str | int | bool | None]]:
    """Per-key rows for ``env diff``: status and masked values on both sides."""
    effective = env.effective()
    sources = env.sources()
    local = env_file.values()
    lines = {e.key: e for e in env_file.entries}
    rows: list[dict[str, str | int | bool | None]] = []
    for key in sorted(set(local) | set(effective)):
        if key not in effective:
            state = "missing on Render"
        elif key not in local:
            state = "only on Render"
        elif local[key] != effective[key]:
            state = "differs"
        else:
            state = "same"
        entry = lines.get(key)
        rows.append(
            {
                "key": key,
                "status": state,
                "local": mask(local[key]) if key in local else None,
                "render": mask(effective[key]) if key in effective else None,
                "source": sources.get(key),
                "line": entry.line if entry else None,
                "shell_unsafe": entry.shell_reason if entry else None,
            }
        )
    return rows
