"""Lambda entry points of the maintenance-window runbook (state_machines/maintenance_window.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.clock import utc_now
from remediation.domain.requests.continuity import MaintenanceWindowRequest, normalize_maintenance_window
from remediation.logic import maintenance_window
from remediation.observability import logger, metrics
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the monthly schedule's event or the console input, validated; raises InvalidInput."""
    request = normalize_maintenance_window(event["input"], load_settings(), event["executionName"], utc_now())
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
@metrics.log_metrics
def acquire_guard(event: dict, context: LambdaContext) -> dict:
    """A refusal is a verdict, not an error."""
    request = MaintenanceWindowRequest.model_validate(event["request"])
    verdict = maintenance_window.admit(request, event["executionArn"], load_settings())
    logger.info("Guard verdict", extra={"verdict": verdict, "idempotency_key": request.idempotency_key})
    metrics.add_dimension("runbook", request.runbook)
    metrics.add_metric(name="GuardProceeded" if verdict["proceed"] else "GuardSuppressed", unit="Count", value=1)
    return verdict


@logger.inject_lambda_context
def pre_checklist(event: dict, context: LambdaContext) -> dict:
    request = MaintenanceWindowRequest.model_validate(event["request"])
    result = maintenance_window.pre_checklist(request, load_settings())
    logger.info("Pre-maintenance checklist", extra={"ready": result["ready"], "checks": result["checks"]})
    return result


@logger.inject_lambda_context
def start_backup(event: dict, context: LambdaContext) -> dict:
    request = MaintenanceWindowRequest.model_validate(event["request"])
    result = maintenance_window.start_backup(request, event["executionArn"], load_settings())
    logger.info("Backup", extra={"outcome": result["outcome"], "jobs": result["jobs"], "calls": result["calls"]})
    return result


@logger.inject_lambda_context
def check_backup(event: dict, context: LambdaContext) -> dict:
    result = maintenance_window.check_backup(event["backup"])
    logger.info("Backup check", extra={"state": result["state"], "checks_left": result["checksLeft"]})
    return result


@logger.inject_lambda_context
def suppress_auto_remediation(event: dict, context: LambdaContext) -> dict:
    request = MaintenanceWindowRequest.model_validate(event["request"])
    result = maintenance_window.suppress(request, event["executionArn"], load_settings())
    logger.info(
        "Auto-remediation suppressed",
        extra={"outcome": result["outcome"], "until": result["suppressedUntil"], "call": result["call"]},
    )
    return result


@logger.inject_lambda_context
def assess_health(event: dict, context: LambdaContext) -> dict:
    result = maintenance_window.assess_health(event["phase"], event["agents"], event["evidence"], load_settings())
    logger.info("Health checked", extra={"phase": result["phase"], "healthy": result["healthy"]})
    return result


@logger.inject_lambda_context
def switch_back(event: dict, context: LambdaContext) -> dict:
    request = MaintenanceWindowRequest.model_validate(event["request"])
    result = maintenance_window.switch_back(request, event["executionArn"], load_settings())
    logger.info("Auto-remediation switched back", extra={"outcome": result["outcome"]})
    return result


@logger.inject_lambda_context
def report(event: dict, context: LambdaContext) -> dict:
    result = maintenance_window.report(event["state"], event["executionArn"], load_settings())
    logger.info("Report written", extra={"report": result})
    return result


@logger.inject_lambda_context
@metrics.log_metrics
def record_decision(event: dict, context: LambdaContext) -> dict:
    """The run's record step on both paths: on the failure path the flags go back first (logic/maintenance_window.py),
    then the shared record: audit, lease release, notification."""
    result = maintenance_window.record(event["state"], event["executionArn"], load_settings())
    logger.info("Decision recorded", extra={"runbook": event["runbook"], **result})
    metrics.add_dimension("runbook", event["runbook"])
    metrics.add_dimension("decision", result["decision"])
    metrics.add_metric(name="Decisions", unit="Count", value=1)
    return result
