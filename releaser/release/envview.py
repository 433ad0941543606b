"""What `releaser env list`, `env get` and `env diff` show: values masked as the rules say.

A secret (by its key's name, or because it looks like a credential) shows as length and
fingerprint only; inside other values, credentials and known secrets are redacted.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from releaser.config import ServiceRules
from releaser.output import mask, redact, table
from releaser.redaction import looks_like_credential
from releaser.release.envchange import ServiceEnv
from releaser.results import Listing, View


def is_masked(key: str, value: str, rules: ServiceRules) -> bool:
    """A value shown only as length and fingerprint: by its key's name, or by its look."""
    return rules.is_secret(key) or looks_like_credential(value)


def shown_value(key: str, value: str, rules: ServiceRules, secrets: list[str]) -> str:
    """What ``env list`` may show: secrets masked whole, credentials inside masked, no
    other secret inside, control characters spelled out."""
    if is_masked(key, value, rules):
        return mask(value)
    shown = redact(value, secrets)
    return shown if len(shown) <= 80 else shown[:77] + "..."


class EnvVarRow(BaseModel):
    key: str
    source: str  # "service" or "group:<name>"
    overridden: bool
    secret: bool
    value: str  # as shown: masked or redacted


class EnvVars(Listing[EnvVarRow]):
    """`env list`: every variable, overridden group ones too."""

    label: str  # the service, for "No variables on ..."

    def render_text(self) -> str:
        body = [
            [r.key, f"{r.source} (overridden)" if r.overridden else r.source, r.value]
            for r in self.items
        ]
        return table(body, ["key", "source", "value"]) if body else f"No variables on {self.label}."


def env_vars(service_env: ServiceEnv, rules: ServiceRules, label: str) -> EnvVars:
    rows = service_env.rows()  # every value, overridden group ones too
    secrets = [r.value for r in rows if is_masked(r.key, r.value, rules)]
    return EnvVars(
        label=label,
        items=[
            EnvVarRow(
                key=row.key,
                source=row.source,
                overridden=row.overridden,
                secret=is_masked(row.key, row.value, rules),
                value=shown_value(row.key, row.value, rules, secrets),
            )
            for row in rows
        ],
    )


class EnvValue(View):
    """`env get`: one variable, masked as in `env list`."""

    key: str
    source: str
    secret: bool
    value: str  # as shown

    def render_text(self) -> str:
        return self.value


def env_value(service_env: ServiceEnv, rules: ServiceRules, key: str) -> EnvValue:
    """``key``'s value as shown; ``key`` must be one of the service's variables."""
    effective = service_env.effective()
    value = effective[key]
    secrets = [v for k, v in effective.items() if is_masked(k, v, rules)]
    return EnvValue(
        key=key,
        source=service_env.sources()[key],
        secret=is_masked(key, value, rules),
        value=shown_value(key, value, rules, secrets),
    )


class EnvDiff(View):
    """`env diff`: per key, status and masked values on both sides."""

    rows: list[dict[str, Any]]  # as go-no-go's env drift check makes them
    env_file: str
    label: str

    def json_document(self) -> list[dict[str, Any]]:
        return self.rows

    def render_text(self) -> str:
        body = [
            [r["key"], r["status"], r["source"], r["local"], r["render"], r["shell_unsafe"]]
            for r in self.rows
        ]
        headers = ["key", "status", "source", self.env_file, "render", "not safe to source"]
        differing = [r for r in self.rows if r["status"] != "same"]
        return "\n".join(
            [
                table(body, headers) if body else "Both sides are empty.",
                f"{len(differing)} of {len(self.rows)} keys differ."
                if differing
                else f"{self.label} and {self.env_file} agree.",
            ]
        )
