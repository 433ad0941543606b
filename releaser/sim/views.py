"""State objects rendered as Render API JSON, shaped like real Render answers.

Real answers are looser than the spec, and the simulator follows them (the conformance test
names each exception): image deploys carry `commit: null`, unfinished deploys
`finishedAt: null`, Postgres may lack `project` or `diskAutoscalingEnabled` and carry
`ipAllowList: null`, and services carry `autoDeployTrigger` beside `autoDeploy`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from releaser.sim.logs import LogEntry
from releaser.sim.state import (
    DeployState,
    EnvGroupState,
    Event,
    JobState,
    PostgresState,
    ServiceState,
    SimState,
    fake_sha,
)

JSON = dict[str, Any]

# The short type names in env group service links and in dashboard URLs.
_SHORT_TYPE = {
    "static_site": "static",
    "web_service": "web",
    "private_service": "pserv",
    "background_worker": "worker",
    "cron_job": "cron",
}


def iso(moment: datetime) -> str:
    """RFC 3339, UTC, microseconds: log paging passes these timestamps back verbatim."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def app_url(base: str, service: ServiceState, unique_name: bool = True) -> str:
    """The live URL: by name like onrender.com, by id when another service has the name."""
    return f"{base}/_sim/apps/{service.name if unique_name else service.id}"


def service_url(state: SimState, base: str, svc: ServiceState) -> str:
    twins = sum(1 for s in state.services.values() if s.name == svc.name)
    return app_url(base, svc, unique_name=twins == 1)


def owner(state: SimState) -> JSON:
    o = state.owner
    return {
        "id": o.id,
        "name": o.name,
        "email": o.email,
        "type": o.type,
        "twoFactorAuthEnabled": True,
    }


def service(state: SimState, svc: ServiceState, base: str) -> JSON:
    config = svc.config
    body: JSON = {
        "id": svc.id,
        "autoDeploy": config.auto_deploy,
        "autoDeployTrigger": config.auto_deploy_trigger,
        "branch": config.branch,
        "createdAt": iso(svc.created_at),
        "dashboardUrl": f"https://dashboard.render.com/{_SHORT_TYPE[config.type]}/{svc.id}",
        "name": config.name,
        "notifyOnFail": "default",
        "ownerId": state.owner.id,
        "rootDir": config.root_dir,
        "slug": config.name,
        "suspended": "suspended" if config.suspended else "not_suspended",
        "suspenders": ["user"] if config.suspended else [],
        "type": config.type,
        "updatedAt": iso(svc.updated_at),
        "serviceDetails": service_details(svc, service_url(state, base, svc)),
    }
    if config.build_paths or config.build_ignored_paths:
        body["buildFilter"] = {
            "paths": config.build_paths,
            "ignoredPaths": config.build_ignored_paths,
        }
    if config.runtime == "image":
        body["imagePath"] = config.image
        del body["branch"]
    elif config.repo:
        body["repo"] = config.repo
    return body


def job(state: SimState, j: JobState) -> JSON:
    """A one-off job as Render shows it; its status follows the simulated clock."""
    status = j.status_at(state.now())
    body: JSON = {
        "id": j.id,
        "serviceId": j.service_id,
        "startCommand": j.start_command,
        "planId": j.plan_id,
        "status": status,
        "createdAt": iso(j.created_at),
    }
    if status != "pending":
        body["startedAt"] = iso(j.started_at)
    if status in ("succeeded", "failed"):
        body["finishedAt"] = iso(j.finished_at)
    return body


def service_details(svc: ServiceState, url: str) -> JSON:
    config = svc.config
    runtime = config.runtime or "python"
    if runtime in ("docker", "image"):
        env_specific: JSON = {
            "dockerCommand": config.start_command or "",
            "dockerContext": ".",
            "dockerfilePath": "./Dockerfile",
        }
    else:
        env_specific = {
            "buildCommand": config.build_command or "pip install -r requirements.txt",
            "startCommand": config.start_command or "gunicorn app:app",
        }
    if config.pre_deploy_command:
        env_specific["preDeployCommand"] = config.pre_deploy_command
    common: JSON = {
        "env": runtime,
        "runtime": runtime,
        "envSpecificDetails": env_specific,
        "plan": config.plan,
        "region": config.region,
        "buildPlan": "starter",
    }
    if config.type == "static_site":
        return {
            "buildCommand": env_specific.get("buildCommand", ""),
            "publishPath": config.publish_path,
            "url": url,
            "buildPlan": "starter",
        }
    if config.type == "cron_job":
        return {**common, "schedule": config.schedule}
    common["numInstances"] = config.num_instances
    if config.disk is not None:
        disk = config.disk
        common["disk"] = {
            "id": "dsk-" + fake_sha(svc.id)[:20],
            "name": disk.name,
            "sizeGB": disk.size_gb,
            "mountPath": disk.mount_path,
        }
    if config.type == "background_worker":
        return common
    common["openPorts"] = [{"port": 10000, "protocol": "TCP"}]
    if config.type == "private_service":
        return {**common, "url": f"{config.name}:10000"}
    return {
        **common,
        "healthCheckPath": config.health_check_path,
        "maintenanceMode": {"enabled": config.maintenance_mode, "uri": config.maintenance_uri},
        "url": url,
        "pullRequestPreviewsEnabled": "no",
        "maxShutdownDelaySeconds": 30,
    }


def deploy(d: DeployState) -> JSON:
    body: JSON = {
        "id": d.id,
        "status": d.status,
        "trigger": d.trigger,
        "createdAt": iso(d.created_at),
        "updatedAt": iso(d.updated_at),
    }
    if d.commit:
        body["commit"] = {
            "id": d.commit,
            "message": d.message or "",
            "createdAt": iso(d.created_at),
        }
    if d.image:
        body["commit"] = None  # as real Render sends it for image deploys
        body["image"] = {"ref": d.image, "sha": d.digest or ""}
    if d.started_at:
        body["startedAt"] = iso(d.started_at)
    finished = d.finished_at is not None and "finishedAt" not in d.nulls
    body["finishedAt"] = iso(d.finished_at) if finished and d.finished_at else None
    return body


def event(e: Event) -> JSON:
    return {
        "id": e.id,
        "timestamp": iso(e.timestamp),
        "serviceId": e.service_id,
        "type": e.type,
        "details": e.details,
    }


def env_group(state: SimState, group: EnvGroupState, with_vars: bool) -> JSON:
    body: JSON = {
        "id": group.id,
        "name": group.name,
        "ownerId": state.owner.id,
        "createdAt": iso(group.created_at),
        "updatedAt": iso(group.updated_at),
        "serviceLinks": [
            {"id": s.id, "name": s.name, "type": _SHORT_TYPE[s.config.type]}
            for s in state.linked_services(group.id)
        ],
    }
    if with_vars:
        body["envVars"] = [{"key": k, "value": v} for k, v in group.vars.items()]
        body["secretFiles"] = []
    return body


def postgres(state: SimState, pg: PostgresState, detail: bool) -> JSON:
    config = pg.config
    body: JSON = {
        "id": pg.id,
        "ipAllowList": None if "ipAllowList" in config.null else [],
        "createdAt": iso(pg.created_at),
        "updatedAt": iso(pg.updated_at),
        "dashboardUrl": f"https://dashboard.render.com/d/{pg.id}",
        "databaseName": pg.database_name,
        "databaseUser": pg.user,
        "highAvailabilityEnabled": config.high_availability,
        "name": config.name,
        "owner": owner(state),
        "plan": config.plan,
        "region": config.region,
        "readReplicas": [],
        "role": "primary",
        "status": pg.status(state.now()),
        "version": config.version,
        "suspended": "not_suspended",
        "suspenders": [],
        "diskAutoscalingEnabled": False,
    }
    if detail:
        body["parameterOverrides"] = {}
        # The spec requires `project` (untyped) on the detail; real answers often lack it.
        project_id = "prj-" + state.owner.id.split("-", 1)[-1]
        body["project"] = {"id": project_id, "name": state.owner.name}
    for key in config.omit:
        body.pop(key, None)
    return body


def connection_info(pg: PostgresState) -> JSON:
    return {
        "password": pg.password,
        "internalConnectionString": pg.internal_dsn(),
        "externalConnectionString": pg.dsn(),
        "psqlCommand": f"PGPASSWORD={pg.password} psql -h {pg.host} -p {pg.port} -U {pg.user} "
        + pg.database_name,
    }


def log(entry: LogEntry) -> JSON:
    return {
        "id": entry.id,
        "message": entry.message,
        "timestamp": iso(entry.timestamp),
        "labels": [{"name": name, "value": value} for name, value in entry.labels()],
    }
