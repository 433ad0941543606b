"""Health judged per service type: what is probed, with which rule, on real Render shapes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from releaser.release.health import RULE_PATH, RULE_PORT, HealthProber, health_check
from releaser.render.client import RenderClient
from releaser.sim import SimServer

Start = Callable[..., SimServer]


@pytest.fixture
def shapes(
    start_sim: Start, client_for: Callable[[SimServer], RenderClient]
) -> tuple[SimServer, RenderClient]:
    sim = start_sim("render-shapes")
    return sim, client_for(sim)


def test_each_service_type_gets_its_own_rule(shapes: tuple[SimServer, RenderClient]) -> None:
    """Private: never probed (name:port); worker and cron: no URL; web with a path: strict;
    web without one and static sites: lenient; releaser.toml's path makes it strict."""
    _, client = shapes
    by_name = {s.name: s for s in client.list_services() if s.id != "srv-sh4p3sapi0000000002"}
    private = health_check(by_name["search"])
    assert private.url is None and "search:10000" in private.judged
    assert private.rule == "not probed"
    for name in ("mailer", "nightly-report"):
        assert health_check(by_name[name]).url is None
    strict = health_check(by_name["storefront"])
    assert strict.strict and strict.url and strict.url.endswith("/healthz")
    assert strict.rule == RULE_PATH
    lenient = health_check(by_name["api"])
    assert not lenient.strict and lenient.url and lenient.url.endswith("/")
    assert lenient.rule == RULE_PORT
    site = health_check(by_name["docs"])
    assert not site.strict and "the site" in site.judged
    configured = health_check(by_name["api"], "/v1/health")
    assert configured.strict and configured.url and configured.url.endswith("/v1/health")


def test_a_404_is_up_without_a_health_path_and_down_with_one(
    shapes: tuple[SimServer, RenderClient],
) -> None:
    """The same app's 404 on '/': up by the port rule (and the detail says so), down by the
    path rule; a 503 is down by both."""
    sim, client = shapes
    api = next(s for s in client.list_services() if s.id == "srv-sh4p3sapi0000000001")
    url = health_check(api).url
    assert url is not None
    with HealthProber(url, strict=False) as lenient, HealthProber(url) as strict:
        up, down = lenient.probe(), strict.probe()
    assert (up.healthy, up.status, up.rule) == (True, 404, RULE_PORT)
    assert "any answer below 500 counts" in up.detail
    assert (down.healthy, down.status, down.rule) == (False, 404, RULE_PATH)
    with sim.state.lock:
        sim.state.service(api.id).config.suspended = True  # the app now answers 503
    with HealthProber(url, strict=False) as lenient:
        assert not lenient.probe().healthy


def test_no_answer_is_down_by_either_rule(unused_port: int) -> None:
    """Nothing listening: unhealthy whatever the rule (Render's port check fails too)."""
    for strict in (True, False):
        with HealthProber(f"http://127.0.0.1:{unused_port}/", strict=strict) as prober:
            result = prober.probe()
        assert not result.healthy and "no answer" in result.detail


@settings(max_examples=200, deadline=None)
@given(status=st.integers(min_value=200, max_value=599), strict=st.booleans())
def test_the_rule_is_200_399_with_a_path_and_below_500_without(status: int, strict: bool) -> None:
    """For any answer: strict is healthy iff 200-399; the port rule iff below 500."""
    transport = httpx.MockTransport(lambda request: httpx.Response(status))
    with HealthProber("http://app.test/", strict=strict, transport=transport) as prober:
        result = prober.probe()
    expected = 200 <= status < 400 if strict else status < 500
    assert result.healthy == expected and result.status == status
