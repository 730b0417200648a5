"""Lambda entry points of the memory-leak runbook (state_machines/memory_leak.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.common import ServiceRequest
from remediation.domain.requests.incidents import normalize_memory_leak
from remediation.invocation import region_and_account
from remediation.logic import memory_leak
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the memory alarm event or console input, validated; raises InvalidInput before any write."""
    region, account_id = region_and_account(context)
    request = normalize_memory_leak(event["input"], load_settings(), account_id, region, event["executionName"])
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def memory_trend(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = memory_leak.trend(request, load_settings())
    logger.info("Memory trend", extra={"verdict": result["verdict"], "why": result["why"]})
    return result


@logger.inject_lambda_context
def restart(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = memory_leak.restart(request, event["executionArn"], load_settings())
    logger.info("Restart", extra={"outcome": result["outcome"], "call": result["call"]})
    return result


@logger.inject_lambda_context
def verify_memory(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = memory_leak.verify(request, event.get("beforePercent"), event["executionArn"], load_settings())
    logger.info("Verification", extra={"verification": result})
    return result
