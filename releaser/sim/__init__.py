"""The Render simulator: a local HTTP server that behaves like the Render API releaser uses.

from releaser.sim import SimServer, load_scenario

with SimServer(load_scenario("crash-loop"), time_scale=10) as sim:
    ...  # RENDER_API_URL=sim.url, RENDER_API_KEY=sim.api_key, RENDER_OWNER_ID=sim.owner_id
"""

from releaser.sim.clock import Clock, ManualClock, ScaledClock, SourceClock
from releaser.sim.ratelimit import RateLimits
from releaser.sim.scenario import Behaviour, Fault, Scenario, builtin_scenarios, load_scenario
from releaser.sim.server import RecordedRequest, SimServer

__all__ = [
    "Behaviour",
    "Clock",
    "Fault",
    "ManualClock",
    "RateLimits",
    "RecordedRequest",
    "Scenario",
    "ScaledClock",
    "SimServer",
    "SourceClock",
    "builtin_scenarios",
    "load_scenario",
]
