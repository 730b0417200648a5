"""Lambda entry points of the scale-agent runbook (state_machines/scale_agent.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.agent_operations import ScaleRequest, normalize_scale
from remediation.logic import scale_agent
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the console input, validated; raises InvalidInput before any write."""
    request = normalize_scale(event["input"], load_settings(), event["executionName"])
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def set_desired_count(event: dict, context: LambdaContext) -> dict:
    request = ScaleRequest.model_validate(event["request"])
    result = scale_agent.set_desired_count(request, event["executionArn"], load_settings())
    logger.info("Set desired count", extra={"outcome": result["outcome"], "call": result["call"]})
    return result


@logger.inject_lambda_context
def verify_stable(event: dict, context: LambdaContext) -> dict:
    request = ScaleRequest.model_validate(event["request"])
    result = scale_agent.verify_stable(request, load_settings())
    logger.info("Verification", extra={"verification": result})
    return result


@logger.inject_lambda_context
def apply_scaling_policy(event: dict, context: LambdaContext) -> dict:
    request = ScaleRequest.model_validate(event["request"])
    result = scale_agent.apply_scaling_policy(request, load_settings())
    logger.info("Step-scaling policy", extra={"outcome": result["outcome"], "calls": result["calls"]})
    return result
