"""Lambda entry points of the database-review runbook (state_machines/database_review.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.clock import utc_now
from remediation.domain.requests.scheduled_reviews import ReviewRequest, normalize_review
from remediation.invocation import region_and_account
from remediation.logic import database_review
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the connections alarm's event or console input, validated; raises InvalidInput."""
    region, account_id = region_and_account(context)
    settings = load_settings()
    request = normalize_review(
        event["input"],
        "database-review",
        settings.database.alarm_name,
        settings.database.review_hours,
        account_id,
        region,
        event["executionName"],
        utc_now(),
    )
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def find_slow_queries(event: dict, context: LambdaContext) -> dict:
    request = ReviewRequest.model_validate(event["request"])
    result = database_review.find_slow_queries(request, load_settings())
    logger.info(
        "Slow queries",
        extra={"logGroup": result["logGroup"], "found": result["found"], "parsed": result["parsed"]},
    )
    return result


@logger.inject_lambda_context
def collect_metrics(event: dict, context: LambdaContext) -> dict:
    request = ReviewRequest.model_validate(event["request"])
    result = database_review.collect_metrics(request, load_settings())
    logger.info("Database metrics", extra={"metrics": result})
    return result


@logger.inject_lambda_context
def describe_instance(event: dict, context: LambdaContext) -> dict:
    result = database_review.describe_instance(load_settings())
    logger.info("Database instance", extra={"instance": result})
    return result


@logger.inject_lambda_context
def recommend(event: dict, context: LambdaContext) -> dict:
    request = ReviewRequest.model_validate(event["request"])
    result = database_review.recommend_and_report(request, event["evidence"], event["executionName"], load_settings())
    logger.info(
        "Database reviewed", extra={"report": result["report"], "recommendations": len(result["recommendations"])}
    )
    return result
