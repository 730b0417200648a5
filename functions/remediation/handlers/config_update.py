"""Lambda entry points of the config-update runbook (state_machines/config_update.asl.json).

The rollout is watched by restart-agent's CheckRollout step (`restart_agent.check_rollout`)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.agent_operations import ConfigUpdateRequest, normalize_config_update
from remediation.logic import config_update
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the console input, validated; raises InvalidInput before any write."""
    request = normalize_config_update(event["input"], load_settings(), event["executionName"])
    logger.info("Request normalized", extra={"agent": request.agent, "dry_run": request.dry_run})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def apply_config(event: dict, context: LambdaContext) -> dict:
    request = ConfigUpdateRequest.model_validate(event["request"])
    result = config_update.apply(request, event["executionArn"], load_settings())
    logger.info(
        "Configuration update",
        extra={
            "outcome": result["outcome"],
            "before_version": result["before"]["version"],
            "after_version": result["after"]["version"],
        },
    )
    return result


@logger.inject_lambda_context
def check_config_loaded(event: dict, context: LambdaContext) -> dict:
    request = ConfigUpdateRequest.model_validate(event["request"])
    result = config_update.check_loaded(request, event["deployedAt"], event["checksLeft"], load_settings())
    logger.info("Configuration loaded check", extra={"loaded": result["loaded"], "checks_left": result["checksLeft"]})
    return result


@logger.inject_lambda_context
def restore_previous_config(event: dict, context: LambdaContext) -> dict:
    request = ConfigUpdateRequest.model_validate(event["request"])
    result = config_update.restore(request, event["action"], event["executionArn"], load_settings())
    logger.info(
        "Configuration restore", extra={"outcome": result["outcome"], "after_version": result["after"]["version"]}
    )
    return result
