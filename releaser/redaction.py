"""The one place that makes untrusted text safe to print: ``redact``.

App log lines, pg_dump's stderr and error bodies are other programs' words. Before any of
it reaches a terminal, JSON or a report it goes through ``redact``, which

- makes terminal control characters visible (``\\x1b``, ``\\r``, ...), so a log line cannot
  move the cursor, recolour the terminal or overwrite the line before it;
- replaces every known secret, also in the encodings apps log them in (base64 standard and
  URL-safe, also inside a longer base64 blob; URL-encoded; JSON-escaped; any letter case);
- replaces credentials by their shape even when no configured secret matches: libpq and
  query-string ``password=``, ``key=value`` pairs whose key names a secret, URL userinfo,
  ``Authorization``/bearer tokens, well-known token prefixes, JWTs and PEM private keys.

Over-masking a harmless word is cheap; printing a credential is not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import stat
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, quote_plus

MASK = "******"
MIN_SECRET = 4  # shorter "secrets" would mask half of every line
_MIN_BASE64_CORE = 8  # a shorter base64 fragment matches too much unrelated text

# C0 controls except tab, DEL, C1 controls, and the bidi overrides that reorder what a
# terminal shows ("Trojan Source").
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control character spelled out, so a terminal shows it as text."""
    return _CONTROL.sub(_escape, text)


def _base64_cores(secret: bytes) -> set[str]:
    """The base64 text that any encoding containing ``secret`` must contain.

    Inside a longer blob (``user:secret`` in Basic auth) the secret starts at byte offset
    0, 1 or 2 of a 3-byte group; for each, the characters made only of the secret's bits.
    """
    cores = set()
    n = len(secret)
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * offset + secret).decode().rstrip("=")
            start = -(-8 * offset // 6)  # ceil: skip characters holding padding bits
            end = 8 * (offset + n) // 6  # floor: the last one may mix with what follows
            core = text[start:end]
            if len(core) >= _MIN_BASE64_CORE:
                cores.add(core)
    return cores


def secret_forms(secret: str) -> set[str]:
    """``secret`` as apps write it into logs: raw, URL-encoded, JSON-escaped, base64."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(json.dumps(secret)[1:-1])[1:-1],  # JSON inside a JSON string
        json.dumps(secret)[1:-1].replace("/", "\\/"),
        visible(secret),
        # Unicode case mapping can change a string's length ('İ'.lower() is two characters),
        # which IGNORECASE does not see through: list the re-cased forms themselves.
        secret.lower(),
        secret.upper(),
    }
    forms |= _base64_cores(secret.encode())
    return {f for f in forms if len(f) >= MIN_SECRET}


@lru_cache(maxsize=64)
def _known(secrets: frozenset[str]) -> tuple[tuple[str, ...], re.Pattern[str]] | None:
    """Every form of the secrets, lowercased (for a quick look), and one pattern for them."""
    forms: set[str] = set()
    for secret in secrets:
        forms |= secret_forms(secret)
    if not forms:
        return None
    # Longest first, so a secret that contains another is masked whole.
    alternatives = sorted(forms, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(f) for f in alternatives), re.IGNORECASE)
    return tuple({f.lower() for f in forms}), pattern


def _mask_known(text: str, secrets: Iterable[str]) -> str:
    known = _known(frozenset(s for s in secrets if s and len(s) >= MIN_SECRET))
    if known is None:
        return text
    lowered_forms, pattern = known
    # Most lines hold no secret: plain substring tests say so much faster than the pattern
    # (for ASCII text, where lowercasing keeps every position).
    if text.isascii():
        lowered = text.lower()
        if not any(form in lowered for form in lowered_forms):
            return text
    return pattern.sub(MASK, text)


# A name that says its value is secret: SECRET_KEY, db_password, DB_PASS, apiKey, ...
_SECRET_WORD = re.compile(
    r"(?i)password|passwd|passphrase|pwd|secret|token|api[_\-]?key|access[_\-]?key"
    r"|private[_\-]?key|credential|_pass\b"
)
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|\\\"(?:(?!\\\").)*\\\""
# name=value (libpq, query strings, env dumps) and "name": "value" (JSON, also escaped JSON).
# Names are matched whole and checked afterwards: a pattern with the secret words inside
# the name backtracks on every word of every line.
_ASSIGNMENTS = [
    # Possessive ++: a word not followed by '=' is skipped at once, never re-tried shorter.
    (re.compile(r"(?<![\w.\-])([\w.\-]++)\s*=\s*"), re.compile(rf"{_QUOTED}|[^\s&]+"), "="),
    (re.compile(r"\\?[\"']([\w.\-]++)\\?[\"']\s*:\s*"), re.compile(_QUOTED), ":"),
]


_SECRET_HINTS = ("pass", "pwd", "secret", "token", "key", "credential")  # cheap prefilter


def _mask_assignments(text: str) -> str:
    lowered = text.lower()
    if not any(hint in lowered for hint in _SECRET_HINTS):
        return text
    for name_pattern, value_pattern, hint in _ASSIGNMENTS:
        if hint not in text:
            continue
        out: list[str] = []
        pos = 0
        for match in name_pattern.finditer(text):
            if match.start() < pos or not _SECRET_WORD.search(match.group(1)):
                continue
            value = value_pattern.match(text, match.end())
            if value is None:
                continue
            quote_char = '"' if value.group().startswith(('"', '\\"')) else ""
            out += [text[pos : match.end()], f"{quote_char}{MASK}{quote_char}"]
            pos = value.end()
        text = "".join(out) + text[pos:]
    return text


# (pattern, replacement, hints); applied in order, after known secrets. A pattern runs only
# when one of its hints is in the lowercased text: most log lines have none, and skipping a
# regex is cheaper than running it.
_SHAPES: list[tuple[re.Pattern[str], str, tuple[str, ...]]] = [
    # PEM private keys, to their END line or to the end of the text.
    (
        re.compile(
            r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        "-----BEGIN \\1PRIVATE KEY----- " + MASK + " -----END \\1PRIVATE KEY-----",
        ("private key-----",),
    ),
    # URL userinfo: scheme://user:password@host. Greedy up to the LAST '@' of the authority,
    # so a password containing '@' is masked whole.
    (
        re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*+://)([^\s/?#@:]*):[^\s/?#]*@"),
        "\\1\\2:" + MASK + "@",
        ("://",),
    ),
    # scheme://TOKEN@host (Sentry DSNs, git tokens): a long user name is a key.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*+://)[\w\-.~%]{16,}+@"), "\\1" + MASK + "@", ("://",)),
    # Authorization headers and bearer/basic credentials.
    (
        re.compile(r"(?i)\b(bearer|basic)(\s+|%20|\+)[\w\-.~+/]+=*"),
        "\\1\\2" + MASK,
        ("bearer", "basic"),
    ),
    (
        re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?!bearer\b|basic\b)[^\s\"',;]+"),
        "\\1" + MASK,
        ("authorization",),
    ),
    # Tokens whose prefix says what they are.
    (
        re.compile(
            r"\b(?:(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}|gh[pousr]_[A-Za-z0-9]{20,}"
            r"|github_pat_\w{20,}|xox[abprs]-[\w\-]{10,}|AKIA[0-9A-Z]{16}|rnd_[\w\-]{16,})"
        ),
        MASK,
        ("_live_", "_test_", "gh", "github_pat_", "xox", "akia", "rnd_"),
    ),
    # JSON Web Tokens.
    (re.compile(r"\beyJ[\w\-]{8,}\.[\w\-]{8,}\.[\w\-]*"), MASK, ("eyj",)),
    # A message that is one long base64 run (a PEM body logged line by line).
    (re.compile(r"^\s*(?=[A-Za-z0-9+/]*[G-Zg-z+/])[A-Za-z0-9+/]{40,}={0,2}\s*$"), MASK, ()),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` safe to print: control characters visible, secrets and credentials masked."""
    text = visible(text)
    text = _mask_known(text, secrets)
    lowered = text.lower()
    for pattern, replacement, hints in _SHAPES:
        if not hints or any(hint in lowered for hint in hints):
            text = pattern.sub(replacement, text)
    return _mask_assignments(text)


# --- masked values ------------------------------------------------------------------------

MIN_FINGERPRINT = 12  # a shorter value could be found from its fingerprint by brute force
_KEY_FILE = "fingerprint.key"
_machine_keys: dict[Path, bytes] = {}  # by config folder: read the file once per run


def config_dir() -> Path:
    """releaser's folder in the user's config home ($XDG_CONFIG_HOME, else ~/.config)."""
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "releaser"


def _read_or_create_key(folder: Path) -> bytes:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
        raise OSError("the config folder is a symlink or not ours")
    if info.st_mode & 0o077:
        folder.chmod(0o700)
    path = folder / _KEY_FILE
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        # 0600 from the first byte; O_EXCL + O_NOFOLLOW: never through a planted symlink.
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.geteuid():
                raise OSError("the key file is not ours") from None
            if info.st_mode & 0o077:
                os.fchmod(handle.fileno(), 0o600)
            key = handle.read()
        if len(key) < 32:
            raise OSError("the key file is damaged") from None
        return key
    key = os.urandom(32)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def machine_key() -> bytes:
    """The per-machine fingerprint key (0600 in a 0700 folder), made on first use.

    When the config folder cannot be used (read-only home, someone else's file) a key for
    this run only is used: fingerprints then compare within one output, not across runs.
    """
    folder = config_dir()
    if folder not in _machine_keys:
        try:
            _machine_keys[folder] = _read_or_create_key(folder)
        except OSError:
            _machine_keys[folder] = os.urandom(32)
    return _machine_keys[folder]


def fingerprint(value: str) -> str | None:
    """A short keyed tag so two masked values can be compared by eye; None when too short.

    Keyed (HMAC with the machine key): without the key file, a fingerprint cannot be
    checked against guesses, so it reveals nothing about the value.
    """
    if len(value) < MIN_FINGERPRINT:
        return None
    return hmac.new(machine_key(), value.encode(), hashlib.sha256).hexdigest()[:8]


def mask(value: str | None) -> str:
    """What we show instead of a secret: never the value, only its length and a fingerprint."""
    if value is None:
        return "(unset)"
    if value == "":
        return "(empty)"
    tag = fingerprint(value)
    return f"{MASK} (len {len(value)}, fp {tag})" if tag else f"{MASK} (len {len(value)})"


# --- values that are credentials by their look --------------------------------------------

_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-.~:]{20,}")
_HEX = re.compile(r"[0-9a-fA-F]{32,}")


def looks_like_credential(value: str) -> bool:
    """Whether a value is a credential by its shape, whatever its key is called.

    libpq strings with a password, PEM private keys, and long random tokens (mixed-case
    letters with digits, like base64 or API keys, or 32+ hex digits). A URL with a password
    is not masked whole: ``redact`` masks just its password.
    """
    text = value.strip()
    if "PRIVATE KEY-----" in text or re.search(r"(?i)\bpassword\s*=", text):
        return True
    if not _TOKEN.fullmatch(text) or "://" in text:
        return False
    if _HEX.fullmatch(text):
        return True
    has_digit = any(c.isdigit() for c in text)
    return has_digit and any(c.islower() for c in text) and any(c.isupper() for c in text)
