"""The last step of every runbook, success and failure paths alike: audit, release, notify."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.logic.record import record_decision as record
from remediation.observability import logger, metrics
from remediation.settings import load_settings


@logger.inject_lambda_context
@metrics.log_metrics
def record_decision(event: dict, context: LambdaContext) -> dict:
    result = record(event["runbook"], event["state"], event["executionArn"], load_settings())
    logger.info("Decision recorded", extra={"runbook": event["runbook"], **result})
    metrics.add_dimension("runbook", event["runbook"])
    metrics.add_dimension("decision", result["decision"])
    metrics.add_metric(name="Decisions", unit="Count", value=1)
    return result
