"""Every bad input a user can type or configure gets one clean line and the right exit code.

One table, run through the real CLI against the simulator over HTTP. For each refused input:
the documented exit code, exactly one stderr line `Error: ...` saying what is wrong, never the
catch-all `Error: unexpected`, no secret echoed, no write recorded by the simulator and no
file created or changed. With `-o json`, stdout is one JSON object describing the failure.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from localstate import ledger_rows

from releaser.sim import SimServer

Run = Callable[..., Result]
SKIP = ("--skip-checks", "--yes")


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int
    says: str  # part of the one stderr line
    env: dict[str, str | None] = field(default_factory=dict)  # None unsets
    files: dict[str, bytes] = field(default_factory=dict)  # made before the run, under cwd
    cwd: str = "."
    json_error: bool = False  # -o json: stdout is {"error", "exit_code", "advice"}
    plan_first: bool = False  # the plan (stdout) is printed before the refusal


CONFIG_DB = b'[services.web]\ndatabase = "main"\n\n[databases.mian]\nstore = "file:///tmp/x"\n'
BAD_AGE = b'[databases.main]\nstore = "file:///tmp/x"\nmax_backup_age = "soon"\n'
ZERO_AGE = b'[databases.main]\nstore = "file:///tmp/x"\nmax_backup_age = "0"\n'
BAD_TOML_UP = b"[services.web\nrequired = 1\n"

CASES = [
    # Click's own usage errors: one line, with "did you mean" where it helps.
    Case("unknown command", ("deplyo", "web"), 2, "no command 'deplyo'. Did you mean 'deploy'?"),
    Case("unknown command far", ("frobnicate",), 2, "Run 'releaser --help' to list"),
    Case("misspelt option", ("deploy", "web", "--tmeout", "3"), 2, "Did you mean"),
    Case("missing argument", ("deploy",), 2, "Missing argument 'SERVICE'"),
    Case("missing option", ("rollback", "web"), 2, "Missing option '--to'"),
    Case("extra argument", ("status", "web", "extra"), 2, "extra argument (extra)"),
    Case("limit zero", ("history", "web", "--limit", "0"), 2, "'--limit': 0 is not in the range"),
    Case("limit text", ("history", "web", "--limit", "ten"), 2, "'ten' is not a valid integer"),
    Case("bad level", ("logs", "web", "--level", "fatal"), 2, "'fatal' is not one of"),
    Case("bad output", ("services", "-o", "yaml"), 2, "'yaml' is not one of 'table', 'json'"),
    Case("bad port", ("sim", "serve", "--port", "70000"), 2, "70000 is not in the range"),
    Case("unknown global", ("--colour", "services"), 2, "No such option '--colour'"),
    # Names and ids that do not exist.
    Case("unknown name", ("status", "nope"), 2, "no service named 'nope'. Run 'releaser services'"),
    Case("close name", ("status", "wbe"), 2, "no service named 'wbe'. Did you mean 'web'?"),
    Case("unknown id", ("status", "srv-nothere1"), 2, "service srv-nothere1 not found"),
    Case("unknown deploy", ("rollback", "web", "--to", "dep-nothere", "--yes"), 2, "dep-nothere"),
    Case("unknown scenario", ("sim", "serve", "--scenario", "nope"), 2, "unknown scenario 'nope'"),
    # Durations: not durations, zero, out of range, overflow; --since also takes RFC 3339.
    Case("since word", ("logs", "web", "--since", "soon"), 2, "--since 'soon' is not a duration"),
    Case("since empty", ("logs", "web", "--since", ""), 2, "--since '' is not a duration"),
    Case("since zero", ("logs", "web", "--since", "0"), 2, "--since '0' is out of range"),
    Case("since overflow", ("logs", "web", "--since", "99999999d"), 2, "from 1s to 365d"),
    Case("since huge", ("logs", "web", "--since", "9" * 400 + "d"), 2, "out of range"),
    Case("since bad date", ("logs", "web", "--since", "2026-13-45T00:00:00Z"), 2, "RFC 3339"),
    Case("since no zone", ("logs", "web", "--since", "2026-01-01T00:00:00"), 2, "no time zone"),
    Case("since future", ("logs", "web", "--since", "2999-01-01T00:00:00Z"), 2, "in the future"),
    Case("since and deploy", ("logs", "web", "--since", "1h", "--deploy", "dep-x"), 2, "--deploy"),
    Case("follow and deploy", ("logs", "web", "-f", "--deploy", "dep-x"), 2, "--follow"),
    Case("timeout zero", ("deploy", "web", "--timeout", "0", *SKIP), 2, "--timeout '0' is out"),
    Case("timeout huge", ("deploy", "web", "--timeout", "99999999d", *SKIP), 2, "10s to 1d"),
    Case("timeout word", ("deploy", "web", "--timeout", "soon", *SKIP), 2, "not a duration"),
    Case("soak zero", ("deploy", "web", "--soak", "0", *SKIP), 2, "--soak '0' is out of range"),
    Case("soak negative", ("deploy", "web", "--soak", "-5s", *SKIP), 2, "--soak '-5s'"),
    Case(
        "promote timeout",
        ("promote", "--from", "web", "--to", "web", "--timeout", "1s", "--yes"),
        2,
        "--timeout '1s' is out of range",
    ),
    # Commits and images: validated even with --skip-checks.
    Case("empty commit", ("deploy", "web", "--commit", "", "--yes"), 2, "--commit is empty"),
    Case("junk commit", ("deploy", "web", "--commit", "not a sha!", *SKIP), 2, "not a commit sha"),
    Case("short commit", ("deploy", "web", "--commit", "abc", *SKIP), 2, "not a commit sha"),
    Case("gonogo empty commit", ("go-no-go", "web", "--commit", ""), 2, "--commit is empty"),
    Case("empty image", ("deploy", "web", "--image", "", *SKIP), 2, "not an image reference"),
    # --report is checked before anything is written.
    Case("report no folder", ("deploy", "web", "--report", "no/r.md", *SKIP), 2, "does not exist"),
    Case(
        "report is folder",
        ("deploy", "web", "--report", "dir", *SKIP),
        2,
        "not a regular file",
        files={"dir/keep": b""},
    ),
    Case("report empty", ("deploy", "web", "--report", "", *SKIP), 2, "--report"),
    Case(
        "report over a file not ours",
        ("deploy", "web", "--dry-run", "--report", "passwd"),
        2,
        "--report passwd exists and was not written by releaser",
        files={"passwd": b"root:x:0:0:root:/root:/bin/bash\n"},
    ),
    Case(
        "env-file over a file not ours",
        ("sim", "serve", "--env-file", "notes.txt"),
        2,
        "--env-file notes.txt exists and was not written by releaser",
        files={"notes.txt": b"my notes\n"},
    ),
    # Confirmation without a terminal.
    Case("deploy no tty", ("deploy", "web"), 2, "no terminal to confirm on"),
    Case("rollback no tty", ("rollback", "web", "--to", "previous"), 2, "no terminal"),
    # Arguments that are not text.
    Case("non-utf8 name", ("status", "\udcff\udcfe"), 2, "argument 2 is not valid UTF-8"),
    Case("non-utf8 value", ("env", "set", "web", "K=\udcff", "--yes"), 2, "argument 4 is not"),
    Case("nul in argument", ("status", "we\x00b"), 2, "contains a NUL byte"),
    # Configuration files.
    Case(
        "config is a folder", ("go-no-go", "web"), 2, "is not a file", env={"RELEASER_CONFIG": "."}
    ),
    Case(
        "config missing",
        ("go-no-go", "web"),
        2,
        "config file nope.toml does not exist. Fix RELEASER_CONFIG",
        env={"RELEASER_CONFIG": "nope.toml"},
    ),
    Case(
        "--config missing",
        ("--config", "nope.toml", "go-no-go", "web"),
        2,
        "Fix --config",
    ),
    Case(
        "config binary",
        ("go-no-go", "web"),
        2,
        "releaser.toml is not UTF-8",
        files={"releaser.toml": b"\xff\xfe\x00bin"},
    ),
    Case(
        "database not declared",
        ("go-no-go", "web"),
        2,
        "releaser.toml:2: services.web.database: 'main' is not a database declared",
        files={"releaser.toml": CONFIG_DB},
    ),
    Case(
        "bad backup age",
        ("go-no-go", "web"),
        2,
        "releaser.toml:3: databases.main.max_backup_age: max_backup_age 'soon' is not a dur",
        files={"releaser.toml": BAD_AGE},
    ),
    Case(
        "zero backup age",
        ("go-no-go", "web"),
        2,
        "releaser.toml:3: databases.main.max_backup_age: max_backup_age '0' is out of range",
        files={"releaser.toml": ZERO_AGE},
    ),
    Case(
        "config found upward",
        ("go-no-go", "web"),
        2,
        "../releaser.toml: ",
        files={".git/HEAD": b"ref: refs/heads/main\n", "releaser.toml": BAD_TOML_UP, "sub/x": b""},
        cwd="sub",
    ),
    Case(
        "scenario binary",
        ("sim", "serve", "--scenario", "s.toml"),
        2,
        "s.toml",
        files={"s.toml": b"\x00\x01\xff\xfe"},
    ),
    Case("env file missing", ("go-no-go", "web", "--env-file", "no.env"), 2, "no.env does not"),
    Case(
        "backup dir under a file",
        ("env", "set", "web", "K=v", "--backup-dir", "afile/sub", "--yes"),
        2,
        "cannot create the backup folder afile/sub",
        files={"afile": b"x"},
        plan_first=True,
    ),
    # The environment: key, URL, workspace.
    Case("no api key", ("services",), 3, "RENDER_API_KEY is not set", env={"RENDER_API_KEY": None}),
    Case("url not a url", ("services",), 2, "is not an http(s) URL", env={"RENDER_API_URL": "x"}),
    Case("url nowhere", ("services",), 3, "cannot connect to", env={"RENDER_API_URL": "{dead}"}),
    Case(
        "url bad port",
        ("services",),
        2,
        "'http://127.0.0.1:abc/v1' is not an http(s) URL",
        env={"RENDER_API_URL": "http://127.0.0.1:abc/v1"},
    ),
    Case(
        "url with a space",
        ("services",),
        2,
        "is not an http(s) URL",
        env={"RENDER_API_URL": "http://exa mple.com/v1"},
    ),
    Case(
        "url not utf-8",
        ("services",),
        2,
        "is not an http(s) URL",
        env={"RENDER_API_URL": "http://h\udcff/v1"},
    ),
    Case("control char in id", ("logs", "web", "--deploy", "dep-\x7f"), 2, "cannot be asked for"),
    Case(
        "url without /v1",
        ("status", "web"),
        2,
        "does not answer like the Render API (404 on /services, and GET /owners failed). "
        "Render's API is at https://api.render.com/v1: the URL must end in /v1",
        env={"RENDER_API_URL": "{base}"},
    ),
    Case(
        "url not render",
        ("status", "srv-hjtl316kyssqmyi4ywa3"),
        2,
        "does not answer like the Render API",
        env={"RENDER_API_URL": "{notrender}"},
    ),
    Case(
        "wrong owner id",
        ("logs", "web"),
        2,
        "RENDER_OWNER_ID tea-wrong0000 is not the workspace of web",
        env={"RENDER_OWNER_ID": "tea-wrong0000"},
    ),
    # Stores.
    Case("store missing", ("db", "list", "--to", "file:///no/such/folder"), 2, "does not exist"),
    Case("bucket invalid", ("db", "list", "--to", "s3://My_Bucket"), 2, "not a valid bucket"),
    Case("bucket short", ("db", "list", "--to", "s3://ab/p"), 2, "not a valid bucket name"),
    Case("bucket is ip", ("db", "list", "--to", "s3://10.0.0.1/p"), 2, "not a valid bucket"),
    Case("store scheme", ("db", "list", "--to", "ftp://x"), 2, "not an s3:// or file:// URL"),
    Case("snapshot id", ("db", "verify", "../etc", "--to", "file:///tmp"), 2, "not a snapshot id"),
    Case(
        "snapshot id too long",
        ("db", "verify", "a" * 3000, "--to", "file://{tmp}/store"),
        2,
        "no snapshot aaaa",
        files={"store/keep": b""},
    ),
    Case(
        "snapshot folder is a file",
        ("db", "verify", "app-20240101T000000Z-abcd", "--to", "file://{tmp}/store"),
        2,
        "no snapshot app-20240101T000000Z-abcd",
        files={"store/app-20240101T000000Z-abcd": b"x"},
    ),
    Case("scenario name too long", ("sim", "serve", "--scenario", "a" * 3000), 2, "unknown"),
    # The simulator's own flags.
    Case("sim postgres", ("sim", "serve", "--postgres", "main-db"), 2, "--postgres"),
    Case("sim env-file", ("sim", "serve", "--env-file", "no/sim.env"), 2, "--env-file no/sim.env"),
    # -o json: the failure is one JSON object on stdout too.
    Case("json unknown", ("status", "nope", "-o", "json"), 2, "no service", json_error=True),
    Case("json timeout", ("deploy", "web", "--timeout", "0", "-o", "json"), 2, "", json_error=True),
    Case("json usage", ("history", "web", "--limit", "0", "-o", "json"), 2, "", json_error=True),
    Case(
        "json no key",
        ("services", "--output=json"),
        3,
        "RENDER_API_KEY",
        env={"RENDER_API_KEY": None},
        json_error=True,
    ),
]


@pytest.fixture
def not_render(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTP server that is not Render: a static file server over an empty folder."""
    root = tmp_path_factory.mktemp("static")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a hash of its bytes: what 'nothing written' compares.

    Releaser's local lock files (``.releaser/``: a lock is taken before planning, so two
    runners never plan the same write) are left out here; ``ledger_rows`` checks that the
    refused run recorded nothing in them.
    """
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".releaser" not in p.relative_to(root).parts
    }


def test_the_table_covers_every_kind_of_bad_input() -> None:
    """The table is large and its ids are unique (the closing note reports the count)."""
    assert len({c.id for c in CASES}) == len(CASES) >= 80


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_right_code_nothing_written(
    case: Case,
    sim: SimServer,
    run_cli: Run,
    tmp_path: Path,
    unused_port: int,
    not_render: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refused: the exit code, one `Error:` line naming the problem, no writes, no files."""
    for name, content in case.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    monkeypatch.chdir(tmp_path / case.cwd)
    places = {
        "{base}": sim.url.removesuffix("/v1"),
        "{dead}": f"http://127.0.0.1:{unused_port}/v1",
        "{notrender}": not_render,
    }
    args = [a.replace("{tmp}", str(tmp_path)) for a in case.args]
    for name, value in case.env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, places.get(value, value))
    before = tree(tmp_path)
    sim.clear_requests()

    result = run_cli(*args)

    lines = result.stderr.strip().splitlines()
    assert result.exit_code == case.code, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and not lines[0].startswith("Error: unexpected")
    assert case.says in lines[0]
    assert "Traceback" not in result.stderr
    assert sim.api_key not in result.stderr + result.stdout
    assert [r for r in sim.requests if r.method != "GET"] == []
    assert tree(tmp_path) == before
    assert ledger_rows(tmp_path) == 0
    if case.json_error:
        error = json.loads(result.stdout)
        assert set(error) == {"error", "exit_code", "advice"}
        assert error["exit_code"] == case.code and error["error"] in lines[0]
    elif case.plan_first:
        assert result.stdout.startswith("Plan for web")
    else:
        assert result.stdout == ""
