"""The encodings an app logs a secret in: what the redaction must see through."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import quote, quote_plus

ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda s: s,
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64-urlsafe": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
    "base64 basic auth": lambda s: base64.b64encode(f"admin:{s}".encode()).decode(),
    "url-encoded": lambda s: quote(s, safe=""),
    "url-encoded plus": quote_plus,
    "json-escaped": lambda s: json.dumps(s)[1:-1],
    "upper": str.upper,
    "lower": str.lower,
}


def fake_pem(body: str, kind: str = "") -> str:
    """A PEM-framed private key block around ``body`` (not a key), assembled at run time so
    that no file in the repository looks like it carries a committed private key."""
    label = f"{kind} PRIVATE".lstrip() + " KEY"
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"
