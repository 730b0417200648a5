"""Lambda entry points of the dr-test runbook (state_machines/dr_test.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.clock import utc_now
from remediation.domain.requests.continuity import DrTestRequest, normalize_dr_test
from remediation.logic import dr_test
from remediation.observability import logger, metrics
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the quarterly schedule's event or the console input, validated; raises InvalidInput."""
    request = normalize_dr_test(event["input"], load_settings(), event["executionName"], utc_now())
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
@metrics.log_metrics
def acquire_guard(event: dict, context: LambdaContext) -> dict:
    """A refusal is a verdict, not an error."""
    request = DrTestRequest.model_validate(event["request"])
    verdict = dr_test.admit(request, event["executionArn"], load_settings())
    logger.info("Guard verdict", extra={"verdict": verdict, "idempotency_key": request.idempotency_key})
    metrics.add_dimension("runbook", request.runbook)
    metrics.add_metric(name="GuardProceeded" if verdict["proceed"] else "GuardSuppressed", unit="Count", value=1)
    return verdict


@logger.inject_lambda_context
def find_latest_backup(event: dict, context: LambdaContext) -> dict:
    request = DrTestRequest.model_validate(event["request"])
    backup = dr_test.find_latest_backup(request, load_settings())
    logger.info("Newest backup", extra={"backup": {k: v for k, v in backup.items() if k != "tooLarge"}})
    return backup


@logger.inject_lambda_context
def restore_backup(event: dict, context: LambdaContext) -> dict:
    """One batch of copies into the DR restore bucket (the state machine loops until `done`)."""
    request = DrTestRequest.model_validate(event["request"])
    result = dr_test.restore_backup(
        request,
        event["backup"],
        event["progress"],
        event["executionArn"],
        load_settings(),
        event["batchSize"],
        context.get_remaining_time_in_millis,
    )
    logger.info(
        "Restore batch",
        extra={
            "outcome": result["outcome"],
            "done": result["done"],
            "copied": result["copied"],
            "call": result["call"],
        },
    )
    return result


@logger.inject_lambda_context
def validate_restore(event: dict, context: LambdaContext) -> dict:
    """One batch of comparisons (the state machine loops until `done`)."""
    result = dr_test.validate_restore(
        event["backup"], event["action"], event["progress"], event["batchSize"], context.get_remaining_time_in_millis
    )
    logger.info(
        "Validation batch",
        extra={"done": result["done"], "checked": result["checked"], "problems": result["problemCount"]},
    )
    return result


@logger.inject_lambda_context
def report(event: dict, context: LambdaContext) -> dict:
    request = DrTestRequest.model_validate(event["request"])
    result = dr_test.report(
        request, event["backup"], event["action"], event["validation"], event["executionArn"], load_settings()
    )
    logger.info("DR test measured", extra={"objectives": result["objectives"], "report": result["report"]})
    return result


@logger.inject_lambda_context
def clean_up(event: dict, context: LambdaContext) -> dict:
    result = dr_test.clean_up(event["action"], event["validated"])
    logger.info("Restore copy", extra=result)
    return result
