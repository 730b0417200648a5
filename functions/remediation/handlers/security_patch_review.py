"""Lambda entry points of the security-patch-review runbook (state_machines/security_patch_review.asl.json)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.scheduled_reviews import PatchReviewRequest, normalize_security_patch_review
from remediation.invocation import region_and_account
from remediation.logic import security_patch_review
from remediation.observability import logger
from remediation.settings import load_settings


def _region_and_account(context: LambdaContext) -> tuple[str, str]:
    region, account_id = region_and_account(context)
    return region, account_id


@logger.inject_lambda_context
def normalize(event: dict, context: LambdaContext) -> dict:
    """First state: the monthly schedule's event or the console input, validated; raises InvalidInput."""
    request = normalize_security_patch_review(event["input"], load_settings(), event["executionName"])
    logger.info("Request normalized", extra={"request": request.model_dump()})
    return {"request": request.model_dump()}


@logger.inject_lambda_context
def scan_images(event: dict, context: LambdaContext) -> dict:
    region, account_id = _region_and_account(context)
    request = PatchReviewRequest.model_validate(event["request"])
    result = security_patch_review.scan_images(
        list(request.agents), event["services"], load_settings(), account_id, region
    )
    logger.info(
        "Images scanned",
        extra={"images": [{k: scan[k] for k in ("agent", "image", "status", "counts")} for scan in result["images"]]},
    )
    return result


@logger.inject_lambda_context
def publish_report(event: dict, context: LambdaContext) -> dict:
    region, _ = _region_and_account(context)
    request = PatchReviewRequest.model_validate(event["request"])
    result = security_patch_review.publish_report(request, event["images"], load_settings(), region)
    logger.info("Patch review published", extra={"verdict": result["verdict"], "report": result["report"]})
    return result
