"""Automation flags (kill switch, maintenance suppression) in one SSM parameter the stack creates.

Operators flip them with one `aws ssm put-parameter`; the maintenance runbook sets `suppressedUntil`.
Read fresh on every guard decision: a kill switch that takes minutes to bite is not a kill switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

from remediation.errors import FlagStoreUnavailable


@dataclass(frozen=True)
class AutomationFlags:
    enabled: bool
    suppressed_until: datetime | None
    reason: str


def read(parameter_name: str) -> AutomationFlags:
    """Raises FlagStoreUnavailable when the flags cannot be read or understood: callers fail closed."""
    try:
        document = parameters.get_parameter(parameter_name, transform="json", force_fetch=True)
    except (GetParameterError, TransformParameterError) as error:
        raise FlagStoreUnavailable(f"cannot read automation flags {parameter_name}: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("enabled"), bool):
        raise FlagStoreUnavailable(f"automation flags {parameter_name} must be a JSON object with a boolean 'enabled'")
    until = document.get("suppressedUntil")
    try:
        suppressed_until = datetime.fromisoformat(until) if until else None
    except (TypeError, ValueError) as error:
        raise FlagStoreUnavailable(f"automation flags {parameter_name}: bad suppressedUntil {until!r}") from error
    return AutomationFlags(document["enabled"], suppressed_until, str(document.get("reason", "")))
