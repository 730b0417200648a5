"""ECS adapter: read service state, set an absolute desired count and re-read what ECS reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code, regional_client
from remediation.errors import ServiceNotFound


@dataclass(frozen=True)
class ServiceState:
    service_name: str
    status: str
    desired_count: int
    running_count: int
    pending_count: int
    task_definition: str
    deployments: int
    rollout_state: str
    """The primary deployment's rolloutState: COMPLETED, IN_PROGRESS or FAILED."""
    recent_events: tuple[str, ...]

    @property
    def is_steady(self) -> bool:
        return self.status == "ACTIVE" and self.deployments == 1 and self.running_count == self.desired_count

    def to_dict(self) -> dict:
        return asdict(self) | {"steady": self.is_steady}


def _state(raw: dict) -> ServiceState:
    return ServiceState(
        service_name=raw["serviceName"],
        status=raw.get("status", "UNKNOWN"),
        desired_count=raw.get("desiredCount", 0),
        running_count=raw.get("runningCount", 0),
        pending_count=raw.get("pendingCount", 0),
        task_definition=raw.get("taskDefinition", ""),
        deployments=len(raw.get("deployments", [])) or 1,
        rollout_state=next(
            (d.get("rolloutState", "COMPLETED") for d in raw.get("deployments", []) if d.get("status") == "PRIMARY"),
            "COMPLETED",
        ),
        recent_events=tuple(event.get("message", "") for event in raw.get("events", [])[:5]),
    )


def describe_services(cluster: str, service_names: list[str]) -> dict[str, ServiceState]:
    """Describe up to any number of services (ECS takes 10 per call); missing ones raise."""
    states: dict[str, ServiceState] = {}
    for start in range(0, len(service_names), 10):
        batch = service_names[start : start + 10]
        with aws_errors("ecs.DescribeServices"):
            response = client("ecs").describe_services(cluster=cluster, services=batch)
        for raw in response.get("services", []):
            states[raw["serviceName"]] = _state(raw)
    missing = [name for name in service_names if name not in states or states[name].status == "INACTIVE"]
    if missing:
        raise ServiceNotFound(f"ECS services not found or inactive in cluster {cluster}: {', '.join(missing)}")
    return states


def set_desired_count(cluster: str, service_name: str, desired_count: int) -> ServiceState:
    """Absolute and idempotent: repeating the call leaves the same desired count."""
    with aws_errors("ecs.UpdateService"):
        client("ecs").update_service(cluster=cluster, service=service_name, desiredCount=desired_count)
    return describe_services(cluster, [service_name])[service_name]


def describe_fleet(cluster: str, service_names: list[str], region: str | None = None) -> dict[str, ServiceState | None]:
    """Every service of a cluster, here or in another region (10 per DescribeServices call); None for a service
    that is missing or no longer ACTIVE: in an outage that is a finding, not an error. So is a missing cluster."""
    ecs = regional_client("ecs", region) if region else client("ecs")
    found: dict[str, ServiceState | None] = dict.fromkeys(service_names)
    for start in range(0, len(service_names), 10):
        with aws_errors("ecs.DescribeServices"):
            try:
                response = ecs.describe_services(cluster=cluster, services=service_names[start : start + 10])
            except ClientError as error:
                if error_code(error) == "ClusterNotFoundException":
                    return found
                raise
        for raw in response.get("services", []):
            state = _state(raw)
            found[state.service_name] = state if state.status == "ACTIVE" else None
    return found


def set_desired_count_in(region: str, cluster: str, service_name: str, desired_count: int) -> None:
    """`set_desired_count` in another region (the DR region): absolute and idempotent. Callers that change several
    services re-read them together (`describe_fleet`), one call instead of one per service."""
    with aws_errors("ecs.UpdateService"):
        regional_client("ecs", region).update_service(cluster=cluster, service=service_name, desiredCount=desired_count)


# Task definition fields RegisterTaskDefinition accepts back (DescribeTaskDefinition returns more).
_REGISTERABLE = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "runtimePlatform",
    "ephemeralStorage",
    "pidMode",
    "ipcMode",
)


def describe_task_definition(task_definition: str) -> dict:
    with aws_errors("ecs.DescribeTaskDefinition"):
        return client("ecs").describe_task_definition(taskDefinition=task_definition)["taskDefinition"]


def find_task_definition(task_definition: str) -> dict | None:
    """The revision as ECS describes it (`status` ACTIVE or INACTIVE), or None when it does not exist (ECS then
    answers ClientException "Unable to describe task definition.")."""
    with aws_errors("ecs.DescribeTaskDefinition"):
        try:
            return client("ecs").describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
        except ClientError as error:
            if error_code(error) == "ClientException":
                return None
            raise


def list_active_task_definitions(family: str) -> list[str]:
    """ARNs of every ACTIVE revision of one family (deregistered revisions are INACTIVE and left out)."""
    arns: list[str] = []
    with aws_errors("ecs.ListTaskDefinitions"):
        pages = client("ecs").get_paginator("list_task_definitions").paginate(familyPrefix=family, status="ACTIVE")
        for page in pages:
            arns += page.get("taskDefinitionArns", [])
    return arns


def register_resized_revision(current: dict, cpu: int, memory: int) -> str:
    """A new revision of the same family, identical but for the task size; returns `family:revision`."""
    request = {key: current[key] for key in _REGISTERABLE if current.get(key)}
    with aws_errors("ecs.RegisterTaskDefinition"):
        registered = client("ecs").register_task_definition(**request, cpu=str(cpu), memory=str(memory))
    revision = registered["taskDefinition"]
    return f"{revision['family']}:{revision['revision']}"


def deploy_task_definition(cluster: str, service_name: str, task_definition: str) -> ServiceState:
    """Absolute: the service runs exactly this `family:revision`."""
    with aws_errors("ecs.UpdateService"):
        client("ecs").update_service(cluster=cluster, service=service_name, taskDefinition=task_definition)
    return describe_services(cluster, [service_name])[service_name]


def force_new_deployment(cluster: str, service_name: str) -> ServiceState:
    """Replace every task with a fresh one of the same task definition (the runbook's graceful restart)."""
    with aws_errors("ecs.UpdateService"):
        client("ecs").update_service(cluster=cluster, service=service_name, forceNewDeployment=True)
    return describe_services(cluster, [service_name])[service_name]


def describe_service_raw(cluster: str, service_name: str) -> dict:
    """The service exactly as ECS describes it, tags included (forensic evidence: roles, network, deployments,
    events); datetimes stay datetimes."""
    with aws_errors("ecs.DescribeServices"):
        response = client("ecs").describe_services(cluster=cluster, services=[service_name], include=["TAGS"])
    found = [raw for raw in response.get("services", []) if raw.get("serviceName") == service_name]
    if not found:
        raise ServiceNotFound(f"ECS service {service_name} not found in cluster {cluster}")
    return found[0]


def describe_task_definition_raw(task_definition: str) -> dict:
    """{"taskDefinition": ..., "tags": [...]} exactly as ECS describes the revision (forensic evidence)."""
    with aws_errors("ecs.DescribeTaskDefinition"):
        response = client("ecs").describe_task_definition(taskDefinition=task_definition, include=["TAGS"])
    return {"taskDefinition": response["taskDefinition"], "tags": response.get("tags", [])}


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)


def describe_service_detail(cluster: str, service_name: str, max_events: int = 5) -> dict:
    """The service as an incident responder reads it: status, running / desired / pending, its task definition,
    each deployment (status, task definition, rollout state and reason, counts, failed tasks, when) and the newest
    events; times as ISO text. The PRIMARY deployment's task definition is the service's own (ECS keeps them equal)."""
    with aws_errors("ecs.DescribeServices"):
        response = client("ecs").describe_services(cluster=cluster, services=[service_name])
    found = [raw for raw in response.get("services", []) if raw.get("serviceName") == service_name]
    if not found or found[0].get("status") == "INACTIVE":
        raise ServiceNotFound(f"ECS service {service_name} not found or inactive in cluster {cluster}")
    raw = found[0]
    deployments = [
        {
            "id": deployment.get("id"),
            "status": deployment.get("status"),
            "taskDefinition": raw.get("taskDefinition", "")
            if deployment.get("status") == "PRIMARY"
            else deployment.get("taskDefinition", ""),
            "rolloutState": deployment.get("rolloutState", "COMPLETED"),
            "rolloutStateReason": deployment.get("rolloutStateReason"),
            "desiredCount": deployment.get("desiredCount", 0),
            "runningCount": deployment.get("runningCount", 0),
            "pendingCount": deployment.get("pendingCount", 0),
            "failedTasks": deployment.get("failedTasks", 0),
            "createdAt": _iso(deployment.get("createdAt")),
        }
        for deployment in sorted(raw.get("deployments", []), key=lambda d: d.get("status") != "PRIMARY")
    ]
    return {
        "serviceName": raw["serviceName"],
        "status": raw.get("status", "UNKNOWN"),
        "desiredCount": raw.get("desiredCount", 0),
        "runningCount": raw.get("runningCount", 0),
        "pendingCount": raw.get("pendingCount", 0),
        "taskDefinition": raw.get("taskDefinition", ""),
        "deployments": deployments,
        "events": [
            {"createdAt": _iso(event.get("createdAt")), "message": event.get("message", "")}
            for event in raw.get("events", [])[:max_events]
        ],
    }


def stopped_tasks(cluster: str, service_name: str, max_tasks: int = 20) -> list[dict]:
    """The service's stopped tasks that ECS still keeps (about an hour), newest first, at most `max_tasks`: task
    definition, stop code and reason, each container's exit code and reason, created / started / stopped times."""
    with aws_errors("ecs.ListTasks"):
        arns = client("ecs").list_tasks(
            cluster=cluster, serviceName=service_name, desiredStatus="STOPPED", maxResults=min(max_tasks, 100)
        )["taskArns"]
    if not arns:
        return []
    with aws_errors("ecs.DescribeTasks"):
        described = client("ecs").describe_tasks(cluster=cluster, tasks=arns[:max_tasks]).get("tasks", [])
    tasks = [
        {
            "taskArn": task["taskArn"],
            "taskDefinition": task.get("taskDefinitionArn", "").rsplit("/", 1)[-1],
            "lastStatus": task.get("lastStatus"),
            "stopCode": task.get("stopCode"),
            "stoppedReason": task.get("stoppedReason"),
            "startedBy": task.get("startedBy"),
            "createdAt": _iso(task.get("createdAt")),
            "startedAt": _iso(task.get("startedAt")),
            "stoppedAt": _iso(task.get("stoppedAt")),
            "containers": [
                {"name": c.get("name"), "exitCode": c.get("exitCode"), "reason": c.get("reason")}
                for c in task.get("containers", [])
            ],
        }
        # ListTasks' serviceName already scopes the list; the group says the same of each task.
        for task in described
        if task.get("group") in (None, f"service:{service_name}")
    ]
    return sorted(tasks, key=lambda task: task["stoppedAt"] or "", reverse=True)
