"""Lambda entry points of the access-review runbook (state_machines/access_review.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.clock import utc_now
from remediation.domain.requests.scheduled_reviews import AccessReviewRequest, normalize_access_review
from remediation.logic import access_review
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the quarterly schedule's event or the console input, validated; raises InvalidInput."""
    request = normalize_access_review(event["input"], load_settings(), event["executionName"], utc_now())
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def list_roles(event: dict, context: LambdaContext) -> dict:
    result = access_review.list_roles(load_settings())
    logger.info("Roles listed", extra={"roles": [role["name"] for role in result["roles"]], "listed": result["listed"]})
    return result


@logger.inject_lambda_context
def start_last_accessed(event: dict, context: LambdaContext) -> dict:
    result = access_review.start_last_accessed(event["roles"], load_settings())
    logger.info("Last-accessed jobs started", extra={"jobs": result["jobs"]})
    return result


@logger.inject_lambda_context
def collect_last_accessed(event: dict, context: LambdaContext) -> dict:
    request = AccessReviewRequest.model_validate(event["request"])
    result = access_review.collect_last_accessed(request, event["roles"], event["lastAccessed"])
    logger.info(
        "Last-accessed checked",
        extra={"check": result["checks"], "pending": result["pending"], "assessed": len(result["assessed"])},
    )
    return result


@logger.inject_lambda_context
def publish_report(event: dict, context: LambdaContext) -> dict:
    request = AccessReviewRequest.model_validate(event["request"])
    result = access_review.publish_report(request, event["assessed"], event["listed"], load_settings())
    logger.info("Access review published", extra={"verdict": result["verdict"], "report": result["report"]})
    return result
