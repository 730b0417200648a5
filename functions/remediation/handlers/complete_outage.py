"""Lambda entry points of the complete-outage runbook (state_machines/complete_outage.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.incidents import OutageRequest, normalize_outage
from remediation.invocation import region_and_account
from remediation.logic import complete_outage
from remediation.observability import logger, metrics
from remediation.settings import load_settings


def _account_and_region(context: LambdaContext) -> tuple[str, str]:
    region, account_id = region_and_account(context)
    return account_id, region


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the composite alarm's event or the console input, validated; raises InvalidInput."""
    account_id, region = _account_and_region(context)
    request = normalize_outage(
        event["input"], complete_outage.ACTION, load_settings(), account_id, region, event["executionName"]
    )
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
@metrics.log_metrics
def acquire_guard(event: dict, context: LambdaContext) -> dict:
    """A refusal is a verdict, not an error."""
    request = OutageRequest.model_validate(event["request"])
    verdict = complete_outage.admit(request, event["executionArn"], load_settings())
    logger.info("Guard verdict", extra={"verdict": verdict, "idempotency_key": request.idempotency_key})
    metrics.add_dimension("runbook", request.runbook)
    metrics.add_metric(name="GuardProceeded" if verdict["proceed"] else "GuardSuppressed", unit="Count", value=1)
    return verdict


@logger.inject_lambda_context
def assess(event: dict, context: LambdaContext) -> dict:
    request = OutageRequest.model_validate(event["request"])
    assessment = complete_outage.assess(request, load_settings())
    logger.info("Assessment", extra={"headline": assessment["headline"], "out_of_service": assessment["outOfService"]})
    return assessment


@logger.inject_lambda_context
def plan_failover(event: dict, context: LambdaContext) -> dict:
    request = OutageRequest.model_validate(event["request"])
    _, region = _account_and_region(context)
    plan = complete_outage.plan_failover(request, event["assessment"], event["guard"], region, load_settings())
    logger.info("Failover plan", extra={"possible": plan["possible"], "why": plan["why"], "targets": plan["targets"]})
    return plan


@logger.inject_lambda_context
def page_on_call(event: dict, context: LambdaContext) -> dict:
    request = OutageRequest.model_validate(event["request"])
    _, region = _account_and_region(context)
    paged = complete_outage.page_on_call(
        request, event["assessment"], event["plan"], event["executionArn"], region, load_settings()
    )
    logger.info("Paged", extra=paged)
    return paged


@logger.inject_lambda_context
def fail_over(event: dict, context: LambdaContext) -> dict:
    request = OutageRequest.model_validate(event["request"])
    result = complete_outage.fail_over(
        request, event["plan"], event["approval"], event["executionArn"], load_settings()
    )
    logger.info("Failover", extra={"outcome": result["outcome"], "call": result["call"]})
    return result


@logger.inject_lambda_context
def check_dr_ready(event: dict, context: LambdaContext) -> dict:
    result = complete_outage.check_dr_ready(event["targets"], event["checksLeft"], load_settings())
    logger.info("DR readiness", extra={"ready": result["ready"], "lagging": result["lagging"]})
    return result


@logger.inject_lambda_context
def switch_active_region(event: dict, context: LambdaContext) -> dict:
    result = complete_outage.switch_active_region(event["executionArn"], load_settings())
    logger.info("Active region", extra={"outcome": result["outcome"], "after": result.get("after")})
    return result
