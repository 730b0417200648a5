"""Read-only investigation steps shared by every runbook's parallel Investigate state."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from remediation.logic import investigate
from remediation.observability import logger
from remediation.settings import load_settings


@logger.inject_lambda_context
def collect_utilization(event: dict, context: LambdaContext) -> dict:
    return investigate.collect_utilization(
        event["agents"],
        event["windowMinutes"],
        event["periodSeconds"],
        event["stat"],
        event.get("includeLogVolume", False),
        load_settings(),
    )


@logger.inject_lambda_context
def search_logs(event: dict, context: LambdaContext) -> dict:
    return investigate.search_agent_logs(event["pattern"], event["windowMinutes"], load_settings())


@logger.inject_lambda_context
def describe_services(event: dict, context: LambdaContext) -> dict:
    return investigate.describe_agents(event["agents"], load_settings())
