"""The one redaction function: encoded secrets, credential shapes, terminal control characters,
and the keyed fingerprint of masked values."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from leakforms import ENCODINGS, fake_pem

from releaser.redaction import fingerprint, mask, redact

SECRET = "Qm9sZC1zdHJvbmctcGFzc3dvcmQtZm9yLXNpbQ+/x&y=z"


def leaked(secret: str, text: str) -> list[str]:
    """Which encodings of ``secret`` still appear in ``text``."""
    return [name for name, enc in ENCODINGS.items() if enc(secret) in text]


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_known_secret_is_masked_in_every_encoding(encoding: str) -> None:
    """A configured secret logged base64/URL/JSON-encoded or re-cased is masked."""
    line = f"config dump: value={ENCODINGS[encoding](SECRET)!s} end"
    assert leaked(SECRET, redact(line, [SECRET])) == []


@given(
    secret=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=8, max_size=40
    ),
    prefix=st.text(max_size=20),
    suffix=st.text(max_size=20),
    encoding=st.sampled_from(list(ENCODINGS)),
)
@settings(max_examples=300, deadline=None)
def test_property_no_encoding_of_a_known_secret_survives(
    secret: str, prefix: str, suffix: str, encoding: str
) -> None:
    """Whatever the secret and the text around it, none of its encodings survive redaction."""
    out = redact(prefix + ENCODINGS[encoding](secret) + suffix, [secret])
    assert leaked(secret, out) == []


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_property_no_control_character_reaches_the_terminal(text: str) -> None:
    """Nothing but tab among C0/C1 controls, DEL and bidi overrides survives."""
    out = redact(text)
    assert not any(
        (ord(c) < 32 and c != "\t") or 0x7F <= ord(c) <= 0x9F or 0x202A <= ord(c) <= 0x202E
        for c in out
    )


@pytest.mark.parametrize(
    ("line", "secret_part", "kept"),
    [
        ("host=db port=5432 password='s3cr et!' user=app", "s3cr et", "host=db port=5432"),
        ("connecting: dbname=x password=Hunter2Hunter2 sslmode=require", "Hunter2", "sslmode"),
        ("GET /callback?code=1&password=Pa55w0rdXyz&next=/ 200", "Pa55w0rd", "next=/"),
        ("postgresql://app:p@ss@word/x@db.internal:5432/main", "ss@word", "db.internal"),
        ("redis://:Zq8vLmN3pQ@redis:6379/0", "Zq8vLmN3pQ", "redis:6379"),
        ("sentry: https://4f1c2e9b7a6d4e0f8a1b2c3d@o1.ingest.sentry.io/5", "4f1c2e9b", "sentry.io"),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIiOiIx.sig", "eyJzdWIiOiIx", "Authorization"),
        ("curl -H 'authorization: token ghp_abcdefghijklmnopqrstuvwxyz012345'", "ghp_abc", "curl"),
        ('{"level":"info","api_key":"AbCdEf0123456789","msg":"ok"}', "AbCdEf01", '"msg":"ok"'),
        ("STRIPE_SECRET=sk_live_51HxAbCdEfGh loaded", "51HxAbCd", "loaded"),
        (
            "key: " + fake_pem("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") + " done",
            "MIIEvQIBADAN",
            "done",
        ),
    ],
)
def test_credentials_are_masked_by_shape(line: str, secret_part: str, kept: str) -> None:
    """Credentials nobody configured are masked by their shape; the rest stays readable."""
    out = redact(line)
    assert secret_part not in out
    assert kept in out
    assert "******" in out


def test_escape_sequences_and_carriage_returns_are_made_visible() -> None:
    """An app line cannot clear the screen, recolour it or overwrite the line before it."""
    out = redact("\x1b[2J\x1b]0;owned\x07fake OK\rERROR real\x9b31m\u202etxt\tok")
    assert out == "\\x1b[2J\\x1b]0;owned\\x07fake OK\\rERROR real\\x9b31m\\u202etxt\tok"


def test_fingerprint_is_keyed_per_machine_and_absent_for_short_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is 0600 in a 0700 folder; another machine's key gives another fingerprint."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "one"))
    long_value = "a-long-enough-secret-value"
    first = fingerprint(long_value)
    assert first and first == fingerprint(long_value)
    folder = tmp_path / "one" / "releaser"
    key = folder / "fingerprint.key"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    import hashlib

    assert first not in hashlib.sha256(("releaser:" + long_value).encode()).hexdigest()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "two"))
    assert fingerprint(long_value) != first
    assert fingerprint("short-11chr") is None
    assert mask("short-11chr") == "****** (len 11)"
    assert mask(long_value).startswith("****** (len 26, fp ")


def test_fingerprint_key_is_never_written_through_a_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted symlink at the key's path is not followed (no file is created elsewhere)."""
    folder = tmp_path / "cfg" / "releaser"
    folder.mkdir(parents=True, mode=0o700)
    target = tmp_path / "elsewhere"
    os.symlink(target, folder / "fingerprint.key")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert fingerprint("a-long-enough-secret-value")
    assert not target.exists()


def test_tables_show_control_characters_as_text(
    sim_factory: Callable[..., Any], run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit message with an escape sequence is listed as text by 'history'."""
    server = sim_factory("demo")
    monkeypatch.setenv("RENDER_API_URL", server.url)
    monkeypatch.setenv("RENDER_API_KEY", server.api_key)
    with server.state.lock:
        deploy = server.state.service("web").deploys[0]
        deploy.message = "Fix totals\x1b]0;pwned\x07\rall good"
    result = run_cli("history", "web")
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    assert "\\x1b]0;pwned" in result.stdout
