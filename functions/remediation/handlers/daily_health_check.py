"""Lambda entry points of the daily-health-check runbook (state_machines/daily_health_check.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.scheduled_reviews import normalize_health_check
from remediation.logic import health_check
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the schedule's event or console input, validated; raises InvalidInput."""
    request = normalize_health_check(event["input"], load_settings(), event["executionName"])
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def assess(event: dict, context: LambdaContext) -> dict:
    result = health_check.assess(event["agents"], event["evidence"], load_settings())
    logger.info("Health assessed", extra={"healthy": result["healthy"], "report": result["report"]})
    return result
