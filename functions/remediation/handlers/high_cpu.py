"""Lambda entry points of the high-cpu runbook (state_machines/high_cpu.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.common import ServiceRequest
from remediation.domain.requests.incidents import normalize_service_alarm
from remediation.invocation import region_and_account
from remediation.logic import high_cpu
from remediation.observability import logger
from remediation.settings import load_settings

RUNBOOK = "high-cpu"


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the alarm event or console input, validated; raises InvalidInput before any write."""
    region, account_id = region_and_account(context)
    request = normalize_service_alarm(
        event["input"], RUNBOOK, high_cpu.ACTION, load_settings(), account_id, region, event["executionName"]
    )
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def scale_out(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = high_cpu.scale_out(request, event["executionArn"], load_settings())
    logger.info("Scale-out", extra={"outcome": result["outcome"], "call": result["call"]})
    return result


@logger.inject_lambda_context
def verify_scaling(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = high_cpu.verify(request, event["targetDesiredCount"], event["executionArn"], load_settings())
    logger.info("Verification", extra={"verification": result})
    return result


@logger.inject_lambda_context
def restore_prior_count(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = high_cpu.restore(request, event["priorDesiredCount"], load_settings())
    logger.info("Restored prior desired count", extra={"restore": result})
    return result


@logger.inject_lambda_context
def roll_back_resize(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = high_cpu.roll_back_resize(request, event["resized"])
    logger.info("Rolled back the resize", extra={"restore": result})
    return result


@logger.inject_lambda_context
def plan_resize(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = high_cpu.plan_resize(request, load_settings())
    logger.info("Resize plan", extra={"plan": result})
    return result


@logger.inject_lambda_context
def resize_task(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = high_cpu.resize(request, event["plan"], event["executionArn"], load_settings())
    logger.info("Resize", extra={"outcome": result["outcome"]})
    return result
