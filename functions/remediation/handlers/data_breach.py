"""Lambda entry points of the data-breach runbook (state_machines/data_breach.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.incidents import DataBreachRequest, normalize_data_breach
from remediation.invocation import region_and_account
from remediation.logic import data_breach
from remediation.observability import logger, metrics
from remediation.settings import load_settings


def _region_and_account(context: LambdaContext) -> tuple[str, str]:
    region, account_id = region_and_account(context)
    return region, account_id


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: console input or GuardDuty finding, validated; raises InvalidInput before any write."""
    region, account_id = _region_and_account(context)
    request = normalize_data_breach(event["input"], load_settings(), event["executionName"], account_id, region)
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def describe_task_definition(event: dict, context: LambdaContext) -> dict:
    return data_breach.describe_task_definition(DataBreachRequest.model_validate(event["request"]))


@logger.inject_lambda_context
def read_service_logs(event: dict, context: LambdaContext) -> dict:
    return data_breach.read_service_logs(DataBreachRequest.model_validate(event["request"]), load_settings())


@logger.inject_lambda_context
def plan(event: dict, context: LambdaContext) -> dict:
    request = DataBreachRequest.model_validate(event["request"])
    result = data_breach.plan(request, event["investigation"], event["executionArn"], load_settings())
    logger.info("Plan", extra={"possible": result["possible"], "action": result["action"]})
    return result


@logger.inject_lambda_context
@metrics.log_metrics
def isolate_service(event: dict, context: LambdaContext) -> dict:
    request = DataBreachRequest.model_validate(event["request"])
    result = data_breach.isolate(request, event["approval"], event["executionArn"], load_settings())
    logger.info("Isolation", extra={"outcome": result["outcome"], "prior": result["priorDesiredCount"]})
    metrics.add_metric(name="ServicesIsolated", unit="Count", value=int(result["outcome"] == "isolated"))
    return result


@logger.inject_lambda_context
def preserve_evidence(event: dict, context: LambdaContext) -> dict:
    request = DataBreachRequest.model_validate(event["request"])
    result = data_breach.preserve_evidence(
        request, event["approval"], event["action"], event["executionArn"], load_settings()
    )
    logger.info("Evidence preserved", extra={"manifest": result["manifestUri"], "objects": result["count"]})
    return result


@logger.inject_lambda_context
def notify_stakeholders(event: dict, context: LambdaContext) -> dict:
    region, _ = _region_and_account(context)
    result = data_breach.notify_stakeholders(event["state"], event["executionArn"], region, load_settings())
    logger.info("Audiences notified", extra={"audiences": result["audiences"]})
    return result


@logger.inject_lambda_context
def restore_service(event: dict, context: LambdaContext) -> dict:
    request = DataBreachRequest.model_validate(event["request"])
    result = data_breach.restore(request, event["approval"], event["executionArn"], load_settings())
    logger.info("Restore", extra={"outcome": result["outcome"], "to": result.get("restoredTo")})
    return result
