"""`releaser promote`: exactly staging's verified version to production, or a refusal."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import Result
from deployhelp import QUICK, new_deploys, requests_to, writes

from releaser.sim import SimServer

Run = Callable[..., Result]
Start = Callable[..., SimServer]

VERIFIED = "7e57ed0000000000000000000000000000c0ffee"  # live on web-staging


def promote(run_cli: Run, source: str, target: str, *args: str) -> Result:
    return run_cli(
        "promote",
        "--from",
        source,
        "--to",
        target,
        "--skip-checks",
        "--yes",
        "--soak",
        "20s",
        *args,
    )


def test_promote_deploys_the_commit_live_on_staging_not_the_branch_head(
    start_sim: Start, run_cli: Run
) -> None:
    """Staging runs 7e57ed0 while its branch head moved on: prod gets 7e57ed0, watched."""
    sim = start_sim("deploy-promote")
    sim.queue_behaviour("web-prod", "succeed", **QUICK)
    result = promote(run_cli, "web-staging", "web-prod", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["outcome"] == "healthy"
    posts = requests_to(sim, "POST", "/deploys")
    assert [r.json["commitId"] for r in posts] == [VERIFIED]
    assert [d.commit for d in new_deploys(sim, "web-prod")] == [VERIFIED]
    assert "promoting dep-stgweb00000000000002 (7e57ed0 Verified on staging)" in result.stderr


def test_promote_pins_the_image_by_digest(start_sim: Start, run_cli: Run) -> None:
    """Image-backed: prod gets staging's image by digest (a tag may have moved since)."""
    sim = start_sim("deploy-promote")
    sim.queue_behaviour("img-prod", "succeed", **QUICK)
    result = promote(run_cli, "img-staging", "img-prod")
    assert result.exit_code == 0, result.stderr
    [post] = requests_to(sim, "POST", "/deploys")
    assert post.json["imageUrl"].startswith("ghcr.io/acme/web@sha256:")


@pytest.mark.parametrize(
    ("source", "target", "code", "message"),
    [
        (
            "sick-staging",
            "web-prod",
            1,
            "Error: staging sick-staging (srv-stg0sick000000000001) is live but not healthy",
        ),
        (
            "other-app",
            "web-prod",
            2,
            "Error: other-app (srv-other0000000000000001) builds from"
            " https://github.com/acme/other but web-prod",
        ),
        (
            "img-staging",
            "web-prod",
            2,
            "Error: img-staging (srv-stg0img0000000000001) and web-prod"
            " (srv-prd0web0000000000001) are not both image-backed or both git-backed",
        ),
        ("web-prod", "web-prod", 2, "Error: --from and --to name the same service"),
    ],
)
def test_promote_refuses_unverified_or_unrelated_sources(
    start_sim: Start, run_cli: Run, source: str, target: str, code: int, message: str
) -> None:
    """Not live and healthy on staging, or not the same repository/image: refuse, write nothing."""
    sim = start_sim("deploy-promote")
    result = promote(run_cli, source, target)
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith(message)
    assert writes(sim) == []


def test_promote_dry_run_names_the_version_and_writes_nothing(
    start_sim: Start, run_cli: Run
) -> None:
    """--dry-run: which commit would go to prod; zero writes."""
    sim = start_sim("deploy-promote")
    result = promote(run_cli, "web-staging", "web-prod", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"DRY RUN: would deploy commit {VERIFIED[:12]} to web-prod")
    assert writes(sim) == []
