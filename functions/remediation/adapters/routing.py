"""The DR routing flag: one SSM parameter (created by the stack in its own region) naming the region that serves
the agents' traffic. The routing layer reads it; complete-outage sets it to the DR region after an approved
failover; failing back is a person's `aws ssm put-parameter` (README)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code


def active_region(parameter_name: str) -> str | None:
    """The region the parameter names now; None when the parameter does not exist."""
    with aws_errors("ssm.GetParameter"):
        try:
            return client("ssm").get_parameter(Name=parameter_name)["Parameter"]["Value"]
        except ClientError as error:
            if error_code(error) == "ParameterNotFound":
                return None
            raise


def set_active_region(parameter_name: str, region: str) -> str | None:
    """Absolute and idempotent (the same value again changes nothing that matters); returns the value read back."""
    with aws_errors("ssm.PutParameter"):
        client("ssm").put_parameter(Name=parameter_name, Value=region, Type="String", Overwrite=True)
    return active_region(parameter_name)
