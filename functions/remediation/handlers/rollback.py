"""Lambda entry points of the rollback runbook (state_machines/rollback.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.agent_operations import RollbackRequest
from remediation.invocation import region_and_account
from remediation.logic import rollback
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the console input, checked against ECS (read only); raises InvalidInput before any write."""
    region, account_id = region_and_account(context)
    request = rollback.normalize(event["input"], load_settings(), event["executionName"], account_id, region)
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def roll_back(event: dict, context: LambdaContext) -> dict:
    request = RollbackRequest.model_validate(event["request"])
    result = rollback.roll_back(request, event["executionArn"], load_settings())
    logger.info("Rollback", extra={"outcome": result["outcome"], "call": result["call"]})
    return result


@logger.inject_lambda_context
def check_rollout(event: dict, context: LambdaContext) -> dict:
    request = RollbackRequest.model_validate(event["request"])
    result = rollback.check_rollout(request, event["target"], event["checksLeft"], event["deployedAt"])
    logger.info(
        "Rollout check",
        extra={"stable": result["stable"], "on_target": result["onTarget"], "checks_left": result["checksLeft"]},
    )
    return result
