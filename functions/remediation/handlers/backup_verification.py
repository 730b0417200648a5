"""Lambda entry points of the backup-verification runbook (state_machines/backup_verification.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.clock import utc_now
from remediation.domain.requests.continuity import BackupVerificationRequest, normalize_backup_verification
from remediation.logic import backup_verification
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the daily schedule's event or the console input, validated; raises InvalidInput."""
    request = normalize_backup_verification(event["input"], load_settings(), event["executionName"], utc_now())
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def list_backup_jobs(event: dict, context: LambdaContext) -> dict:
    request = BackupVerificationRequest.model_validate(event["request"])
    result = backup_verification.list_jobs(request, load_settings())
    logger.info(
        "Backup jobs", extra={"vault": result["vault"], "window": result["window"], "jobs": len(result["jobs"])}
    )
    return result


@logger.inject_lambda_context
def list_backup_objects(event: dict, context: LambdaContext) -> dict:
    request = BackupVerificationRequest.model_validate(event["request"])
    result = backup_verification.list_objects(request, load_settings())
    logger.info("Backup objects", extra={"prefix": result["prefix"], "objects": len(result["objects"])})
    return result


@logger.inject_lambda_context
def assess(event: dict, context: LambdaContext) -> dict:
    result = backup_verification.assess(event["evidence"])
    logger.info("Backups assessed", extra={"verified": result["verified"]})
    return result
