"""config-update (runbook: Agent Configuration Updates): write the agent's new configuration to its SSM
parameter, force a new deployment so the tasks read it, and confirm the new tasks logged "Configuration
loaded"; when they never do (or never stabilise), put the previous version's value back and redeploy.

Parameter Store keeps every version: the previous one stays in the parameter's history, and the restore writes
that version's value again (a new version), never deletes anything. Both writes go through the guard's last
check (`authorize_write`); the "before" is remembered across retries (`remember_plan`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from remediation.adapters import ecs, logs, ssm, state_store
from remediation.clock import utc_now
from remediation.domain.requests.agent_operations import ConfigUpdateRequest, config_value
from remediation.logic.guard import authorize_write, lease_resource
from remediation.logic.restart_agent import ROLLOUT_CHECKS, ROLLOUT_POLL_SECONDS
from remediation.settings import Settings

ACTION = "config-update"
_PLAN_TTL_SECONDS = 7 * 24 * 3600


def _calls(request: ConfigUpdateRequest, parameter: str, value: str) -> list[dict]:
    """The exact calls the step makes (recorded in the audit, and all a dry run does)."""
    return [
        {"operation": "ssm.PutParameter", "parameters": {"Name": parameter, "Value": value, "Overwrite": True}},
        {
            "operation": "ecs.UpdateService",
            "parameters": {
                "cluster": request.cluster_name,
                "service": request.service_name,
                "forceNewDeployment": True,
            },
        },
    ]


def _same_config(stored: str, value: str) -> bool:
    """Equal as JSON (key order and spacing do not matter), or equal as text when the stored one is not JSON."""
    try:
        return json.loads(stored) == json.loads(value)
    except ValueError:
        return stored == value


def apply(request: ConfigUpdateRequest, execution_arn: str, settings: Settings) -> dict:
    """Write the new configuration (one new parameter version), then force a new deployment.

    Outcomes: updated | unchanged (the parameter already holds it) | dry-run | refused (the guard's last check,
    or someone else changed the parameter meanwhile).
    """
    parameter = settings.config_parameter(request.agent)
    value = config_value(request.config)
    current = ssm.get_parameter(parameter)
    service = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
    first = state_store.remember_plan(
        settings.state_table,
        f"{request.idempotency_key}#apply",
        {"before": current.to_dict()},
        utc_now(),
        _PLAN_TTL_SECONDS,
    )
    before = first["before"]
    result: dict[str, Any] = {
        "action": ACTION,
        "service": request.service_name,
        "parameter": parameter,
        "before": before,
        "call": _calls(request, parameter, value),
        "authorization": None,
        "pollSeconds": ROLLOUT_POLL_SECONDS,
        "checksLeft": ROLLOUT_CHECKS,
        "loadedChecks": settings.config_update.loaded_checks,
        "loadedPollSeconds": settings.config_update.loaded_poll_seconds,
    }
    if current.type == "SecureString":  # read encrypted: its value could not be compared or restored
        refusal = {"allowed": False, "reason": "secure-string", "detail": f"{parameter} is a SecureString; not handled"}
        return result | {"outcome": "refused", "authorization": refusal, "call": None, "after": current.to_dict()}
    if _same_config(before["value"], value):
        return result | {"outcome": "unchanged", "call": None, "after": current.to_dict()}
    if request.dry_run:
        return result | {"outcome": "dry-run", "after": current.to_dict()}
    written_earlier = current.version != before["version"]  # by an earlier attempt of this step, or someone else
    if written_earlier and current.value != value:
        refusal = {
            "allowed": False,
            "reason": "parameter-changed",
            "detail": f"{parameter} was changed meanwhile (now version {current.version}); nothing written",
        }
        return result | {"outcome": "refused", "authorization": refusal, "after": current.to_dict()}
    if not written_earlier:
        authorization = authorize_write(request, service, service.desired_count, execution_arn, settings)
        if not authorization.allowed:
            return result | {
                "outcome": "refused",
                "authorization": authorization.to_dict(),
                "after": current.to_dict(),
            }
        current = ssm.ParameterVersion(parameter, value, ssm.put_parameter(parameter, value), current.type)
        state_store.record_action(
            settings.state_table, lease_resource(request), ACTION, utc_now(), settings.guard.cooldown_seconds
        )
    if written_earlier and (service.rollout_state == "IN_PROGRESS" or service.deployments > 1):
        deployed = service  # the earlier attempt's deployment is rolling out: do not restart the tasks twice
    else:
        deployed = ecs.force_new_deployment(request.cluster_name, request.service_name)
    return result | {
        "outcome": "updated",
        "after": current.to_dict(),
        "serviceAfter": deployed.to_dict(),
        "deployedAt": utc_now().isoformat(),
    }


def check_loaded(request: ConfigUpdateRequest, deployed_at: str, checks_left: int, settings: Settings) -> dict:
    """One bounded poll of the agents' log group: the agent's "Configuration loaded" line since the deployment."""
    pattern = settings.config_update.loaded_pattern.replace("{agent}", request.agent)
    found = logs.search(settings.agents_log_group, pattern, datetime.fromisoformat(deployed_at), utc_now())
    return {
        "loaded": found.count > 0,
        "checksLeft": checks_left - 1,
        "pattern": pattern,
        "since": deployed_at,
        "matches": found.count,
        "samples": list(found.samples),
    }


def restore(request: ConfigUpdateRequest, action: dict, execution_arn: str, settings: Settings) -> dict:
    """Put the previous version's value (read from the parameter's history) back as a new version, and force a
    new deployment so the tasks read it again. Through the guard's last check, which lets a restore replace the
    deployment this run started even while it is still in progress.

    Outcomes: restored | refused (the guard, or someone else changed the parameter since our write).
    """
    parameter, ours = action["parameter"], action["after"]["version"]
    previous = ssm.get_parameter_version(parameter, action["before"]["version"])
    current = ssm.get_parameter(parameter)
    result: dict[str, Any] = {
        "parameter": parameter,
        "previousVersion": previous.version,
        "replacedVersion": ours,
        "call": _calls(request, parameter, previous.value),
        "authorization": None,
    }
    restored_earlier = current.version > ours and current.value == previous.value  # a retried restore step
    if current.version != ours and not restored_earlier:
        refusal = {
            "allowed": False,
            "reason": "parameter-changed",
            "detail": f"{parameter} was changed by someone else after version {ours} (now version "
            f"{current.version}); not restored",
        }
        return result | {"outcome": "refused", "authorization": refusal, "after": current.to_dict()}
    if not restored_earlier:
        service = ecs.describe_services(request.cluster_name, [request.service_name])[request.service_name]
        authorization = authorize_write(
            request, service, service.desired_count, execution_arn, settings, replaces_deployment=True
        )
        if not authorization.allowed:
            return result | {
                "outcome": "refused",
                "authorization": authorization.to_dict(),
                "after": current.to_dict(),
            }
        current = ssm.ParameterVersion(
            parameter, previous.value, ssm.put_parameter(parameter, previous.value), current.type
        )
    deployed = ecs.force_new_deployment(request.cluster_name, request.service_name)
    return result | {"outcome": "restored", "after": current.to_dict(), "serviceAfter": deployed.to_dict()}
