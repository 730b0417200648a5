"""Lambda entry points of the weekly-performance-review runbook (state_machines/weekly_performance_review.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.scheduled_reviews import WeeklyReviewRequest, normalize_weekly_review
from remediation.invocation import region_and_account
from remediation.logic import weekly_performance_review
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the weekly schedule's event or console input, validated; raises InvalidInput."""
    request = normalize_weekly_review(event["input"], load_settings(), event["executionName"])
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def collect_metrics(event: dict, context: LambdaContext) -> dict:
    request = WeeklyReviewRequest.model_validate(event["request"])
    result = weekly_performance_review.collect(request, load_settings())
    logger.info("Metrics collected", extra={"window": result["window"], "services": list(result["services"])})
    return result


@logger.inject_lambda_context
def describe_scaling(event: dict, context: LambdaContext) -> dict:
    return weekly_performance_review.describe_scaling(event["agents"], load_settings())


@logger.inject_lambda_context
def analyze(event: dict, context: LambdaContext) -> dict:
    request = WeeklyReviewRequest.model_validate(event["request"])
    result = weekly_performance_review.analyze(request, event["observed"], load_settings())
    logger.info("Performance analyzed", extra={"headline": result["headline"], "anomalies": result["anomalies"]})
    return result


@logger.inject_lambda_context
def publish_report(event: dict, context: LambdaContext) -> dict:
    request = WeeklyReviewRequest.model_validate(event["request"])
    region, _ = region_and_account(context)
    result = weekly_performance_review.publish(request, event["analysis"], load_settings(), region)
    logger.info("Report published", extra={"report": result})
    return result
