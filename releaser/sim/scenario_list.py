"""What `releaser sim scenarios` shows: the built-in scenarios and what each rehearses."""

from __future__ import annotations

from pydantic import BaseModel

from releaser.output import table
from releaser.results import Listing


class ScenarioRow(BaseModel):
    name: str
    description: str


class Scenarios(Listing[ScenarioRow]):
    def render_text(self) -> str:
        rows = [[s.name, s.description] for s in self.items]
        return table(rows, headers=["scenario", "description"])


def scenarios() -> Scenarios:
    from releaser.sim import builtin_scenarios

    found = builtin_scenarios()
    return Scenarios(items=[ScenarioRow(name=n, description=d) for n, d in found.items()])
