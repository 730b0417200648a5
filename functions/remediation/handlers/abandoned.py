"""Target of the rule on Step Functions "Execution Status Change" (TIMED_OUT, ABORTED, FAILED)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.logic.abandoned import release_abandoned
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
@event_source(data_class=EventBridgeEvent)
def release_leases(event: EventBridgeEvent, context: LambdaContext) -> dict:
    detail = event.detail
    result = release_abandoned(detail["executionArn"], detail["status"], detail["stateMachineArn"], load_settings())
    logger.info("Abandoned execution cleaned up", extra={"execution": detail["executionArn"], **result})
    return result
