"""`releaser sim`: run the local Render simulator.

Only click is imported at module level: the simulator loads inside the commands, so
`releaser --help` stays fast.
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from releaser.cli.common import output_option
from releaser.cli.console import console

if TYPE_CHECKING:
    from releaser.sim import SimServer
    from releaser.sim.scenario import Scenario
    from releaser.sim.server import RecordedRequest


@click.group()
def sim() -> None:
    """Run a local Render simulator to rehearse releases without a Render account."""


@sim.command()
@click.option(
    "--scenario",
    default="demo",
    show_default=True,
    help="A built-in scenario (see 'releaser sim scenarios') or the path to a .toml file.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=0,
    type=click.IntRange(0, 65535),
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--time-scale",
    default=1.0,
    type=click.FloatRange(min=0, min_open=True),
    show_default=True,
    help="Simulated seconds per real second: 10 makes a 5-minute deploy take 30 s.",
)
@click.option(
    "--postgres",
    "postgres_dsns",
    multiple=True,
    metavar="NAME=DSN",
    help="Map a simulated Postgres (name or dpg- id) onto a real database. Repeatable.",
)
@click.option("--quiet", is_flag=True, help="Do not log each request on stderr.")
@click.option(
    "--env-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the exports to this file, atomically, once listening (removed on exit): "
    "wait for it, then source it.",
)
def serve(
    scenario: str,
    host: str,
    port: int,
    time_scale: float,
    postgres_dsns: tuple[str, ...],
    quiet: bool,
    env_file: Path | None,
) -> None:
    """Serve the simulated Render API until Ctrl-C.

    Prints the environment for releaser on stdout (RENDER_API_URL, RENDER_API_KEY,
    RENDER_OWNER_ID). The API key printed is the simulator's own throwaway key.

    \b
    Example:
      releaser sim serve --scenario crash-loop --time-scale 10 --env-file sim.env &
      while [ ! -f sim.env ]; do sleep 0.1; done; . ./sim.env; releaser deploy web
    """
    from releaser.files import check_writable_file
    from releaser.sim import SimServer, load_scenario

    loaded = load_scenario(scenario)
    server = SimServer(
        loaded,
        host=host,
        port=port,
        time_scale=time_scale,
        on_request=None if quiet else _log_request,
    )
    _map_postgres(server, postgres_dsns)
    if env_file is not None:
        check_writable_file(env_file, "--env-file", b"export RENDER_API_URL=")
    # Ctrl-C or TERM from the moment we print anything ends in a clean exit 0: the handler
    # and the try come first (a Ctrl-C between printing and serving once exited 130).
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        _serve(server, loaded, time_scale, env_file)
    finally:
        signal.signal(signal.SIGTERM, previous)
    console().say("Render simulator stopped.")


def _map_postgres(server: SimServer, postgres_dsns: tuple[str, ...]) -> None:
    """``--postgres NAME=DSN``: a simulated database backed by a real one."""
    from releaser.db.dsn import password_on_command_line
    from releaser.errors import UsageError
    from releaser.sim.state import ApiProblem

    for index, mapping in enumerate(postgres_dsns, start=1):
        name, sep, dsn = mapping.partition("=")
        if password_on_command_line(dsn):  # visible to every user in ps
            console().warn(
                "--postgres holds a password, which other users can read with ps. "
                "Leave it out and use PGPASSFILE or a libpq service file (PGSERVICEFILE)."
            )
        if not sep or not dsn.startswith(("postgres://", "postgresql://")):
            raise UsageError(
                # Not quoted: it may be a DSN with a password.
                f"--postgres value {index} is not NAME=postgresql://…",
                "Example: --postgres main-db=postgresql://postgres@127.0.0.1:5432/app",
            )
        try:
            server.state.map_postgres(name, dsn)
        except ApiProblem as problem:
            raise UsageError(
                f"--postgres: {problem.message}", "Use a Postgres name or id from the scenario"
            ) from None


def _serve(server: SimServer, loaded: Scenario, time_scale: float, env_file: Path | None) -> None:
    """Start, print the exports (and write --env-file), serve until Ctrl-C, clean up."""
    from releaser.files import write_private

    say = console().say
    wrote_env_file = False
    server.start()
    try:
        exports = (
            f"export RENDER_API_URL={server.url}\n"
            f"export RENDER_API_KEY={server.api_key}\n"
            f"export RENDER_OWNER_ID={server.owner_id}\n"
        )
        console().data(exports.rstrip("\n"))
        if env_file is not None:
            # Atomic, and only once listening: its existence means "ready".
            write_private(env_file, exports)
            wrote_env_file = True
        say(f"Render simulator: scenario {loaded.name}, time x{time_scale:g}, API {server.url}")
        for service in loaded.services:
            web = service.type in ("web_service", "static_site")
            url = server.app_url(service.id) if web else "-"
            say(f"  {service.name:<16} {service.id}  {url}")
        say("Steer it: GET /_sim/state, /_sim/requests; POST /_sim/faults, /_sim/behaviours")
        say("Ctrl-C stops.")
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if wrote_env_file and env_file is not None:
            env_file.unlink(missing_ok=True)  # it would point at a simulator that is gone


@sim.command()
@output_option
def scenarios() -> None:
    """List the built-in scenarios.

    \b
    Example:
      releaser sim scenarios -o json
    """
    from releaser.sim.scenario_list import scenarios as builtin

    console().show(builtin())


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (kill, CI teardown) stops as cleanly as Ctrl-C.
    raise KeyboardInterrupt


def _log_request(record: RecordedRequest) -> None:
    from releaser.cli.console import say  # from the server's thread: no click context there

    query = "&".join(f"{k}={v}" for k, v in record.query.items())
    fault = " (fault)" if record.fault else ""
    status = record.status or "dropped"
    say(f"sim: {record.method} {record.path}{'?' + query if query else ''} -> {status}{fault}")
