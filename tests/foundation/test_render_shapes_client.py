"""RenderClient reads real Render shapes (render-shapes over HTTP) into models without tripping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from releaser.render.client import RenderClient, RetryPolicy


def shapes_client(sim_factory: Callable[..., Any]) -> RenderClient:
    server = sim_factory("render-shapes")
    return RenderClient(server.api_key, server.url, retry=RetryPolicy(attempts=2))


def test_every_service_and_deploy_parses(sim_factory: Callable[..., Any]) -> None:
    """crn- ids, shared names, autoDeployTrigger, disks, commit: null, finishedAt: null and an
    image digest all parse; an image deploy's identity is its digest, not its tag."""
    with shapes_client(sim_factory) as client:
        services = client.list_services()
        by_id = {s.id: s for s in services}
        assert by_id["crn-sh4p3scr0n000000001"].type == "cron_job"
        assert by_id["srv-sh4p3sapi0000000001"].auto_deploy_trigger == "checksPass"
        assert by_id["srv-sh4p3sd1sk000000001"].has_disk
        assert [s.name for s in services].count("api") == 2
        proxy = client.list_deploys("srv-sh4p3s1m4g30000001", limit=10)
        assert all(d.commit is None and d.image is not None for d in proxy)
        assert [d.finished_at is None for d in proxy] == [False, True, True]
        assert len({d.identity for d in proxy}) == 3  # one tag, three digests
        assert proxy[0].version.endswith("@sha256:333333333333")


def test_postgres_nulls_missing_fields_and_odd_statuses_parse(
    sim_factory: Callable[..., Any],
) -> None:
    """ipAllowList null, no project, no diskAutoscalingEnabled, status creating / unknown."""
    with shapes_client(sim_factory) as client:
        found = {p.name: p for p in client.list_postgres()}
        assert found["shapes-db"].ip_allow_list is None
        assert (found["shapes-db-new"].status, found["shapes-db-old"].status) == (
            "creating",
            "unknown",
        )
        detail = client.resolve_postgres("shapes-db")
        assert detail.id == "dpg-sh4p3sdb00000000001-a"
