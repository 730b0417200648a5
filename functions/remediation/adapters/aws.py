"""boto3 clients created once per container, and ClientError codes turned into domain errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from remediation.errors import AwsAccessDenied, AwsCallFailed, AwsThrottled

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, user_agent_extra="acso-runbook-automation")
_THROTTLING = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


@cache
def client(service_name: str) -> Any:
    return boto3.client(service_name, config=_CLIENT_CONFIG)


@cache
def regional_client(service_name: str, region: str) -> Any:
    """A client for another region (the DR region), created once per container like `client`."""
    return boto3.client(service_name, region_name=region, config=_CLIENT_CONFIG)


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


@contextmanager
def aws_errors(operation: str) -> Iterator[None]:
    """Map the errors every adapter shares; adapters catch their own specific codes first."""
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        if code in _THROTTLING:
            raise AwsThrottled(f"{operation} was throttled ({code})") from error
        if code in _ACCESS_DENIED:
            raise AwsAccessDenied(f"{operation} was denied: {error}") from error
        raise AwsCallFailed(f"{operation} failed: {code or error}") from error
