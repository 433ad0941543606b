"""``releaser promote``: production gets exactly what staging verified.

Not "the branch head" (it may have moved since staging was tested) but the very commit, or
the image pinned by digest, that is live and healthy on staging now. Reads only: the deploy
itself is ``releaser.release.deploy``'s job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from releaser import timebase
from releaser.errors import NegativeVerdict, UsageError
from releaser.release.deploy import DeployOptions
from releaser.release.health import HealthProber, confirm_healthy, health_check
from releaser.release.inspect import live_deploy
from releaser.render.client import RenderClient
from releaser.render.models import Deploy, Service


def promotion_options(
    client: RenderClient,
    staging_ref: str,
    prod: Service,
    options: DeployOptions,
    *,
    progress: Callable[[str], None] = lambda _: None,
    health_path: str | None = None,
    sleep: Callable[[float], None] = timebase.sleep,
) -> DeployOptions:
    """``options`` set to ship staging's live version to ``prod``, or a refusal."""
    staging = client.resolve_service(staging_ref)
    if staging.id == prod.id:
        raise UsageError("--from and --to name the same service", "Promote between two services")
    live = live_deploy(client, staging.id)
    if live is None:
        raise NegativeVerdict(
            f"staging {staging.label} has no live deploy",
            "Nothing was deployed. Deploy and verify staging first",
        )
    _require_healthy(staging, health_path, progress, sleep)
    commit, image = version_to_promote(staging, prod, live)
    progress(f"promoting {live.id} ({live.version}) from {staging.label} to {prod.label}")
    return replace(options, commit=commit, image=image)


def _require_healthy(
    staging: Service,
    health_path: str | None,
    progress: Callable[[str], None],
    sleep: Callable[[float], None],
) -> None:
    check = health_check(staging, health_path)
    url = check.url
    if url is None:
        progress(f"staging {staging.label} is not probed: judged by {check.judged}")
        return
    with HealthProber(url, strict=check.strict) as prober:
        probe = confirm_healthy(prober, sleep, needed=2, attempts=3, interval=1.0)
    if not probe.healthy:
        raise NegativeVerdict(
            f"staging {staging.label} is live but not healthy ({url}: {probe.detail})",
            "Nothing was deployed. Promote only what works on staging",
        )


def version_to_promote(
    staging: Service, prod: Service, live: Deploy
) -> tuple[str | None, str | None]:
    """(commit, image) to deploy on prod; refuses when the two do not share a source."""
    from releaser.release.gonogo import repo_slug, split_image_ref

    staging_image = bool(staging.image_path) or live.image is not None and not live.commit
    prod_image = bool(prod.image_path)
    if staging_image != prod_image:
        raise UsageError(
            f"{staging.label} and {prod.label} are not both image-backed or both git-backed",
            "Promote between services built the same way",
        )
    if prod_image:
        if live.image is None or not (live.image.sha or live.image.ref):
            raise NegativeVerdict(
                f"staging's live deploy {live.id} does not say which image it runs",
                "Deploy an explicit image to prod with 'releaser deploy --image'",
            )
        repo = split_image_ref(live.image.ref or staging.image_path or "")[0]
        prod_repo = split_image_ref(prod.image_path or "")[0]
        if repo != prod_repo:
            raise UsageError(
                f"staging runs images from {repo} but {prod.label} from {prod_repo}",
                "Promote between services that use the same image repository",
            )
        # The digest pins exactly what staging verified: a tag may have moved since.
        return None, f"{repo}@{live.image.sha}" if live.image.sha else live.image.ref
    if not staging.repo or not prod.repo or repo_slug(staging.repo) != repo_slug(prod.repo):
        raise UsageError(
            f"{staging.label} builds from {staging.repo or 'no repository'} but {prod.label} "
            f"from {prod.repo or 'no repository'}",
            "Promote between services that build from the same repository",
        )
    if live.commit is None or not live.commit.id:
        raise NegativeVerdict(
            f"staging's live deploy {live.id} does not say which commit it runs",
            "Deploy an explicit commit to prod with 'releaser deploy --commit'",
        )
    return live.commit.id, None
