"""Writes whose answer can be lost: send once, then look; never send again.

A timeout, a 5xx or a dropped connection after a POST leaves its outcome unknown
(``WriteOutcomeUnknown``): Render may have done it, or may do it a minute later. Sending it
again is how one release becomes two, so every deploy-creating POST (a deploy, a rollback)
and every cancel goes through here: one POST, then a look at what Render shows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from releaser.errors import ApiError, ReleaserError, WriteOutcomeUnknown
from releaser.release.watch import ServerClock
from releaser.render.client import RenderClient
from releaser.render.models import Deploy

# A slow API can apply a write long after the client gave up on it (Render has been seen to
# create a deploy a minute after a timed-out POST): look this long, in server seconds.
LOOK_SECONDS = 120.0
LOOK_EVERY = 5.0  # about 12 list reads a minute: within the watch's request budget

# After a cancel whose answer was lost: how often, and how far apart (server seconds), to look.
CANCEL_LOOKS = 6
CANCEL_LOOK_INTERVAL = 5.0


def create_deploy_once(
    client: RenderClient,
    service_id: str,
    post: Callable[[], Deploy | None],
    matches: Callable[[Deploy], bool],
    *,
    clock: ServerClock,
    what: str,
    check: str,
    known: frozenset[str] = frozenset(),
    looking: Callable[[], None] = lambda: None,
) -> Deploy:
    """``post`` a deploy (or a rollback) once; without a clear answer, find the one it made.

    ``matches`` tells ours from other new deploys, ``known`` lists those that existed before;
    ``looking`` is told each time the answer was not enough and the list is searched.
    """
    asked_at = datetime.fromtimestamp(clock.now(), UTC)

    def look() -> Deploy | None:
        looking()
        return find_new_deploy(client, service_id, asked_at, matches, clock=clock, known=known)

    return post_then_look(post, look, what=what, check=check)


def post_then_look(
    post: Callable[[], Deploy | None],
    look: Callable[[], Deploy | None],
    *,
    what: str,
    check: str,
) -> Deploy:
    """Send one deploy-creating POST. Never a second one.

    A 202 without a body or an unknown outcome (timeout, 5xx, dropped answer) is answered by
    looking at the deploy list; if the deploy still does not show, stop (exit 3) and say what
    to check: posting again is how one release becomes two.
    """
    try:
        created = post()
    except WriteOutcomeUnknown as exc:
        found = look()
        if found is None:
            raise ApiError(
                f"{what} got no clear answer ({exc.message}) and no new deploy appeared in "
                f"{LOOK_SECONDS:.0f}s",
                f"It may still appear: check {check} before trying again "
                "(releaser did not send it twice)",
            ) from None
        return found
    if created is not None:
        return created
    found = look()  # 202 with no body: Render queued it; the list will show it
    if found is None:
        raise ApiError(
            f"Render accepted {what} (202) but it did not appear in the deploy list within "
            f"{LOOK_SECONDS:.0f}s",
            f"Check {check} before trying again",
        )
    return found


def find_new_deploy(
    client: RenderClient,
    service_id: str,
    asked_at: datetime,
    matches: Callable[[Deploy], bool],
    *,
    clock: ServerClock,
    within: float = LOOK_SECONDS,
    known: frozenset[str] = frozenset(),
) -> Deploy | None:
    """The oldest deploy created since ``asked_at`` that ``matches`` and is not ``known``.

    Looks every LOOK_EVERY server seconds for ``within`` of them; read errors count as "not
    seen yet" (the outcome stays unknown), never as "not there".
    """
    # Date headers have 1 s resolution: look a little before, and rely on ``known`` ids.
    since = asked_at - timedelta(seconds=2)
    began = clock.now()
    while True:
        try:
            listed = client.list_deploys(service_id, created_after=since, limit=20)
        except ApiError:
            listed = []
        candidates = [d for d in listed if d.id not in known and matches(d)]
        if candidates:
            oldest = datetime.min.replace(tzinfo=UTC)
            return sorted(candidates, key=lambda d: d.created_at or oldest, reverse=True)[-1]
        if clock.now() - began >= within:
            return None
        clock.sleep(LOOK_EVERY)


def cancel_once(client: RenderClient, service_id: str, deploy_id: str) -> ReleaserError | None:
    """POST one cancel, never a second: None when Render said yes, else the error it got.

    After an error the cancel may have happened, may still happen (a lost answer) or was
    refused (a 400: the deploy ended first); ``look_after_cancel`` reads what it did.
    """
    try:
        client.cancel_deploy(service_id, deploy_id)
    except ReleaserError as exc:
        return exc
    return None


def look_after_cancel(
    read: Callable[[], Deploy | None],
    problem: ReleaserError | None,
    *,
    clock: ServerClock | None = None,
) -> Deploy | None:
    """The deploy as read back after a cancel whose answer was ``problem`` (None: a yes).

    One read. With a ``clock`` to wait on, an answer that left the outcome unknown gets up to
    CANCEL_LOOKS reads, CANCEL_LOOK_INTERVAL apart, until the deploy has ended: the cancel
    may land late.
    """
    unclear = isinstance(problem, WriteOutcomeUnknown)
    looks = CANCEL_LOOKS if unclear and clock is not None else 1
    deploy: Deploy | None = None
    for look in range(looks):
        if look and clock is not None:
            clock.sleep(CANCEL_LOOK_INTERVAL)
        deploy = read()
        if deploy is not None and has_ended(deploy.status):
            break
    return deploy


def has_ended(status: str | None) -> bool:
    """Whether a deploy with ``status`` is past canceling: canceled, or failed on its own."""
    return status is not None and (status == "canceled" or status.endswith("failed"))
