"""``releaser cancel``: stop a running deploy, once, and read back what Render did.

Finding the deploy only reads (``find_running``, all that ``--dry-run`` does); ``cancel``
writes one cancel POST. After an answer that says nothing clear, it looks at the deploy's
status and never posts again.
"""

from __future__ import annotations

from releaser.errors import (
    EXIT_ENVIRONMENT,
    EXIT_NEGATIVE,
    EXIT_OK,
    ApiError,
    EnvironmentProblem,
    NegativeVerdict,
    NotFoundError,
    ReleaserError,
    UsageError,
    WriteOutcomeUnknown,
)
from releaser.release.rollback import service_arg
from releaser.release.writes import cancel_once, look_after_cancel
from releaser.render.client import RenderClient
from releaser.render.models import Deploy, Service
from releaser.results import Outcome, Result

RECENT = 20  # deploys read to find the one in progress


class CancelOutcome(Outcome):
    PLANNED = "planned", EXIT_OK  # --dry-run
    CANCELED = "canceled", EXIT_OK
    FINISHED_FIRST = "finished_first", EXIT_NEGATIVE  # it ended before the cancel
    UNKNOWN = "unknown", EXIT_ENVIRONMENT  # Render did not confirm the cancel


class CancelReport(Result):
    service_id: str
    service_name: str | None
    deploy_id: str
    version: str
    status_before: str | None
    status_now: str | None
    outcome: CancelOutcome
    live_deploy_id: str | None = None  # what serves now (or will keep serving)

    def error(self, default_advice: str = "") -> ReleaserError | None:
        if self.outcome is CancelOutcome.FINISHED_FIRST:
            return NegativeVerdict(self.summary, "Nothing was canceled")
        if self.outcome is CancelOutcome.UNKNOWN:
            return EnvironmentProblem(
                self.summary, f"Check 'releaser status {self.service_id}' before trying again"
            )
        return None


def find_running(client: RenderClient, service: Service, deploy_id: str | None) -> Deploy:
    """``deploy_id`` (which must be in progress) or the newest deploy in progress."""
    if deploy_id is not None:
        deploy = client.get_deploy(service.id, deploy_id)
        if not deploy.in_progress:
            raise UsageError(
                f"deploy {deploy.id} is {deploy.status}; only a deploy in progress can be canceled",
                f"See 'releaser history {service_arg(service)}'",
            )
        return deploy
    running = [d for d in client.list_deploys(service.id, limit=RECENT) if d.in_progress]
    if not running:
        raise NotFoundError(
            f"no deploy is in progress on {service.label}", "Nothing to cancel; nothing was changed"
        )
    return running[0]


def _live(client: RenderClient, service: Service) -> Deploy | None:
    from releaser.release.inspect import live_deploy

    return live_deploy(client, service.id)


def plan_report(client: RenderClient, service: Service, deploy: Deploy) -> CancelReport:
    live = _live(client, service)
    keeps = f"; {live.id} ({live.version}) keeps serving" if live else ""
    summary = f"would cancel {deploy.id} ({deploy.version}, {deploy.status}){keeps}"
    return _report(service, deploy, deploy.status, ("planned", summary), live)


def cancel(client: RenderClient, service: Service, deploy: Deploy) -> CancelReport:
    """One cancel POST; the status is read back, whatever the answer said."""
    answer = cancel_once(client, service.id, deploy.id)
    # A lost answer may have gone through: look, do not post again. A 400 is Render refusing
    # to cancel a finished deploy: it finished first. Anything else stops here.
    if answer is not None and not _unclear_or_refused(answer):
        raise answer
    problem = answer.message if answer is not None else None
    # No clock: the command reports what it reads at once (one look, even after a lost answer).
    now = look_after_cancel(lambda: client.get_deploy(service.id, deploy.id), answer)
    assert now is not None  # get_deploy raises rather than answer nothing
    live = _live(client, service)
    serving = f"; live: {live.id} ({live.version})" if live else "; no deploy is live"
    if now.status == "canceled":
        outcome = "canceled"
        summary = f"canceled {deploy.id} ({deploy.version}){serving}"
    elif now.in_progress:
        outcome = "unknown"
        summary = (
            f"{deploy.id} is still {now.status} after the cancel request"
            + (f" ({problem})" if problem else "")
            + serving
        )
    else:
        outcome = "finished_first"
        summary = f"{deploy.id} finished before it could be canceled: it is {now.status}{serving}"
    return _report(service, deploy, now.status, (outcome, summary), live)


def _unclear_or_refused(error: ReleaserError) -> bool:
    if isinstance(error, WriteOutcomeUnknown):
        return True
    return isinstance(error, ApiError) and error.status == 400


def _report(
    service: Service,
    deploy: Deploy,
    status_now: str | None,
    verdict: tuple[str, str],  # outcome, summary
    live: Deploy | None,
) -> CancelReport:
    outcome, summary = verdict
    return CancelReport(
        service_id=service.id,
        service_name=service.name,
        deploy_id=deploy.id,
        version=deploy.version,
        status_before=deploy.status,
        status_now=status_now,
        outcome=CancelOutcome(outcome),
        summary=summary,
        live_deploy_id=live.id if live else None,
    )
