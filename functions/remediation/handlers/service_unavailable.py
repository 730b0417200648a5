"""Lambda entry points of the service-unavailable runbook (state_machines/service_unavailable.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.common import ServiceRequest
from remediation.domain.requests.incidents import normalize_service_unavailable
from remediation.invocation import region_and_account
from remediation.logic import service_unavailable
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the unavailable alarm event or console input, validated; raises InvalidInput before any write."""
    region, account_id = region_and_account(context)
    settings = load_settings()
    request = normalize_service_unavailable(event["input"], settings, account_id, region, event["executionName"])
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump(), "severity": service_unavailable.severity(settings)}


@logger.inject_lambda_context
def inspect_service(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = service_unavailable.inspect_service(request, load_settings())
    logger.info(
        "Service",
        extra={
            "running": result["runningCount"],
            "desired": result["desiredCount"],
            "revision": result["runningRevision"],
        },
    )
    return result


@logger.inject_lambda_context
def stopped_tasks(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = service_unavailable.list_stopped_tasks(request)
    logger.info("Stopped tasks", extra={key: result[key] for key in ("count", "startFailures", "crashes")})
    return result


@logger.inject_lambda_context
def recover(event: dict, context: LambdaContext) -> dict:
    """The remedy the evidence calls for and, for a rollback or a restart, the guarded write."""
    request = ServiceRequest.model_validate(event["request"])
    result = service_unavailable.decide_and_recover(request, event["evidence"], event["executionArn"], load_settings())
    extra = {"action": result["plan"]["action"], "why": result["plan"]["why"]}
    logger.info("Remedy", extra=extra | {key: result[key] for key in ("outcome", "call") if key in result})
    return result


@logger.inject_lambda_context
def check_recovery(event: dict, context: LambdaContext) -> dict:
    request = ServiceRequest.model_validate(event["request"])
    result = service_unavailable.check_recovery(
        request, event["action"], event["checksLeft"], event["executionArn"], load_settings()
    )
    logger.info("Recovery check", extra={"stable": result["stable"], "checks_left": result["checksLeft"]})
    return result
