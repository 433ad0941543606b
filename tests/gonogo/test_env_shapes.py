"""env list/get mask credentials by the value's shape, not only by the key's name
(issue 11, item 10)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result
from conftest import WEB

Run = Callable[..., Result]
# A PEM-framed block (not a key), assembled so no committed file looks like a private key.
_LABEL = "RSA " + "PRIVATE" + " KEY"
PEM = f"-----BEGIN {_LABEL}-----\nMIIEowIBAAKCAQEAx9Lm0pQ7vZ3T\n-----END {_LABEL}-----"
SHAPED = {
    "PRIMARY_DB": "host=db.internal port=5432 dbname=app user=app password=Zq8vLmN3pQwe",
    "REPLICA_URL": "postgresql://app:p@ss@Word-42@replica.internal:5432/app",
    "SIGNING_CERT_BODY": PEM,
    "UPSTREAM_AUTH": "Xk29fLq81ZmBvT40pRwa7NcY",
    "WEBHOOK_HMAC": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}
LEAKS = ["Zq8vLmN3pQwe", "p@ss@Word-42", "ss@Word", "MIIEowIBAAKC", "Xk29fLq8", "9f86d0818"]
PLAIN = {"LOG_LEVEL": "info", "REGION": "frankfurt", "RELEASE_NAME": "api-v2-production-2024"}


@pytest.fixture
def shaped(start: Callable[..., Any]) -> Any:
    server = start("demo")
    with server.state.lock:
        server.state.service(WEB).env.update({**SHAPED, **PLAIN})
    return server


@pytest.mark.parametrize("output", ["table", "json"])
def test_list_masks_credentials_whatever_the_key_is_called(
    shaped: Any, run_cli: Run, output: str
) -> None:
    """libpq strings, URLs whose password holds '@', PEM keys and random tokens are masked;
    plain values stay readable."""
    result = run_cli("env", "list", "web", "-o", output)
    assert result.exit_code == 0, result.stderr
    for leak in LEAKS:
        assert leak not in result.stdout + result.stderr
    for value in PLAIN.values():
        assert value in result.stdout
    if output == "json":
        rows = {r["key"]: r for r in json.loads(result.stdout)}
        assert rows["REPLICA_URL"]["value"] == "postgresql://app:******@replica.internal:5432/app"
        for key in ("PRIMARY_DB", "SIGNING_CERT_BODY", "UPSTREAM_AUTH", "WEBHOOK_HMAC"):
            assert rows[key]["value"].startswith("****** (len "), key
            assert rows[key]["secret"] is True
        assert rows["LOG_LEVEL"]["secret"] is False


def test_get_masks_like_list_and_reveal_needs_a_terminal(
    shaped: Any, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """env get shows one value masked; --reveal refuses (exit 2) unless output is a terminal."""
    masked = run_cli("env", "get", "web", "UPSTREAM_AUTH")
    assert masked.exit_code == 0, masked.stderr
    assert masked.stdout.startswith("****** (len 24, fp ")
    plain = run_cli("env", "get", "web", "LOG_LEVEL", "-o", "json")
    assert json.loads(plain.stdout) == {
        "key": "LOG_LEVEL",
        "source": "service",
        "secret": False,
        "value": "info",
    }
    shaped.clear_requests()
    refused = run_cli("env", "get", "web", "UPSTREAM_AUTH", "--reveal")
    assert refused.exit_code == 2
    assert "Xk29" not in refused.stdout + refused.stderr
    assert shaped.requests == []  # refused before asking Render
    monkeypatch.setattr("releaser.cli.console.stdout_is_tty", lambda: True)
    revealed = run_cli("env", "get", "web", "UPSTREAM_AUTH", "--reveal")
    assert revealed.stdout == SHAPED["UPSTREAM_AUTH"] + "\n"
    missing = run_cli("env", "get", "web", "NOPE")
    assert missing.exit_code == 2 and "has no variable 'NOPE'" in missing.stderr
