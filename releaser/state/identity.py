"""Who is acting, from where: the user or CI actor, the host and the CI run URL."""

from __future__ import annotations

import getpass
import os
import socket

from pydantic import BaseModel


class Actor(BaseModel):
    who: str
    host: str
    ci_url: str | None = None


def current_actor(environ: dict[str, str] | None = None) -> Actor:
    """The CI actor when a known CI runs us (GitHub Actions, GitLab CI), else the local user."""
    env = dict(os.environ) if environ is None else environ
    ci_url: str | None = None
    who = env.get("RELEASER_ACTOR")
    if env.get("GITHUB_ACTIONS") == "true":
        who = who or env.get("GITHUB_ACTOR")
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo, run = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
        if repo and run:
            ci_url = f"{server}/{repo}/actions/runs/{run}"
    elif env.get("GITLAB_CI") == "true":
        who = who or env.get("GITLAB_USER_LOGIN")
        ci_url = env.get("CI_JOB_URL")
    if not who:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (some containers)
            who = f"uid {os.getuid()}"
    return Actor(who=who, host=socket.gethostname(), ci_url=ci_url)
