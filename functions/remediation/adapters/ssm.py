"""SSM Parameter Store adapter: read a parameter (value and version), find an earlier version in its history,
overwrite it. Parameter Store keeps every version, so an overwrite never loses the previous value."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code
from remediation.errors import ParameterNotFound

_NOT_FOUND = {"ParameterNotFound", "ParameterVersionNotFound"}


@dataclass(frozen=True)
class ParameterVersion:
    name: str
    value: str
    version: int
    type: str = "String"
    """String, StringList or SecureString (whose value is read here encrypted, so never written back)."""

    def to_dict(self) -> dict:
        return asdict(self)


@contextmanager
def _ssm_errors(operation: str, name: str) -> Iterator[None]:
    with aws_errors(operation):
        try:
            yield
        except ClientError as error:
            if error_code(error) in _NOT_FOUND:
                raise ParameterNotFound(f"{operation}: SSM parameter {name} does not exist") from error
            raise


def get_parameter(name: str) -> ParameterVersion:
    """The parameter's current value and version (String parameters: the value as stored)."""
    with _ssm_errors("ssm.GetParameter", name):
        parameter = client("ssm").get_parameter(Name=name)["Parameter"]
    return ParameterVersion(name, parameter["Value"], int(parameter["Version"]), parameter.get("Type", "String"))


def get_parameter_version(name: str, version: int) -> ParameterVersion:
    """One earlier version of the parameter, from its history (Parameter Store keeps the last 100)."""
    pages: Callable[..., Any] = client("ssm").get_paginator("get_parameter_history").paginate
    with _ssm_errors("ssm.GetParameterHistory", name):
        for page in pages(Name=name):
            for entry in page.get("Parameters", []):
                if int(entry["Version"]) == version:
                    return ParameterVersion(name, entry["Value"], version, entry.get("Type", "String"))
    raise ParameterNotFound(f"ssm.GetParameterHistory: version {version} of {name} is no longer in its history")


def put_parameter(name: str, value: str) -> int:
    """Overwrite the existing parameter (its type and tier are kept); returns the new version number."""
    with _ssm_errors("ssm.PutParameter", name):
        return int(client("ssm").put_parameter(Name=name, Value=value, Overwrite=True)["Version"])
