"""The shared guard step of every runbook that writes (state `AcquireGuard`)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.domain.requests.common import ServiceRequest
from remediation.logic import guard
from remediation.observability import logger, metrics
from remediation.settings import load_settings


@logger.inject_lambda_context
@metrics.log_metrics
def acquire(event: dict, context: LambdaContext) -> dict:
    """Input: {"request", "action", "executionArn"}. A refusal is a verdict, not an error."""
    request = ServiceRequest.model_validate(event["request"])
    verdict = guard.admit(request, event["action"], event["executionArn"], load_settings())
    logger.info("Guard verdict", extra={"verdict": verdict.to_dict(), "idempotency_key": request.idempotency_key})
    metrics.add_dimension("runbook", request.runbook)
    metrics.add_metric(name="GuardProceeded" if verdict.proceed else "GuardSuppressed", unit="Count", value=1)
    return verdict.to_dict()
