"""The one simulator fixture's machinery (`start_sim`, `sim_factory` in conftest.py): which
clock, which rate limits, which RENDER_* variables, with per-folder defaults."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any, Literal

import pytest

from releaser import timebase
from releaser.sim import ManualClock, RateLimits, ScaledClock, SimServer, SourceClock
from releaser.sim.clock import Clock
from releaser.sim.scenario import Scenario, load_scenario
from releaser.timebase import VirtualTime

SimClock = Literal["virtual", "manual"] | float | Clock


@dataclass(frozen=True)
class SimOptions:
    """How `start_sim` starts a simulator; a folder's conftest sets its defaults by
    overriding the `sim_defaults` fixture, and any call may override them by keyword."""

    # "virtual": the product's time (releaser.timebase) is made virtual for the test and the
    #   simulator follows it: every sleep of the client is instant and moves the deploy as far.
    #   Only for a client in this process and thread; a subprocess needs scaled time.
    # "manual": time moves only on sim.advance(); a number: real time scaled by it; or a Clock.
    clock: SimClock = 1.0
    rate_limits: bool | RateLimits = True
    # Which RENDER_* variables point at the simulator: none, URL and key, or those and owner.
    env: Literal["none", "api", "owner"] = "none"


StartSim = Callable[..., SimServer]


class Simulators:
    """Starts simulators for one test (call it); `close()` stops them and restores real time.

    Also a context manager, for a property test that needs a fresh simulator per example:
    ``with Simulators(SimOptions(clock="virtual")) as start: sim = start("demo")``.
    """

    def __init__(self, defaults: SimOptions, monkeypatch: pytest.MonkeyPatch | None = None) -> None:
        self.monkeypatch = monkeypatch
        self.defaults = defaults
        self.virtual: VirtualTime | None = None  # shared by this test's virtual simulators
        self._stack = ExitStack()

    def __call__(self, scenario: str | Scenario = "demo", **overrides: Any) -> SimServer:
        """start_sim("crash-loop", clock="manual", rate_limits=False, env="api");
        time_scale=N means clock=N; other keywords go to SimServer."""
        if "time_scale" in overrides:
            overrides["clock"] = float(overrides.pop("time_scale"))
        mine = {k: overrides.pop(k) for k in ("clock", "rate_limits", "env") if k in overrides}
        options = replace(self.defaults, **mine)
        loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
        server = SimServer(
            loaded, clock=self._clock(options.clock), rate_limits=options.rate_limits, **overrides
        ).start()
        self._stack.callback(server.stop)
        if isinstance(server.clock, SourceClock) and self.virtual is not None:
            self.virtual.on_settle(server.settle)
        if options.env != "none":
            assert self.monkeypatch is not None, "env needs the test's monkeypatch"
            self.monkeypatch.setenv("RENDER_API_URL", server.url)
            self.monkeypatch.setenv("RENDER_API_KEY", server.api_key)
            if options.env == "owner":
                self.monkeypatch.setenv("RENDER_OWNER_ID", server.owner_id)
        return server

    def _clock(self, clock: SimClock) -> Clock:
        if clock == "virtual":
            if self.virtual is None:
                self.virtual = VirtualTime()
                self._stack.enter_context(timebase.use(self.virtual))
            return SourceClock(self.virtual)
        if clock == "manual":
            return ManualClock()
        if isinstance(clock, int | float):
            return ScaledClock(clock)
        return clock

    def close(self) -> None:
        self._stack.close()  # simulators first (last started first), then real time again

    def __enter__(self) -> Simulators:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
