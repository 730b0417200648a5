"""Lambda entry points of the restart-agent runbook (state_machines/restart_agent.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.agent_operations import normalize_restart
from remediation.domain.requests.common import ServiceRequest
from remediation.logic import restart_agent
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the console input, validated; raises InvalidInput before any write."""
    request = normalize_restart(event["input"], load_settings(), event["executionName"])
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def force_new_deployment(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = restart_agent.restart(request, event["executionArn"], load_settings())
    logger.info("Restart", extra={"outcome": result["outcome"], "call": result["call"]})
    return result


@logger.inject_lambda_context
def check_rollout(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = restart_agent.check_rollout(request, event["checksLeft"])
    logger.info("Rollout check", extra={"stable": result["stable"], "checks_left": result["checksLeft"]})
    return result
