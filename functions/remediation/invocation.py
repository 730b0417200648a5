"""Where a step runs: its region and account, from the invoked function's ARN (no extra AWS call)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.utils import ArnParser


def region_and_account(context: LambdaContext) -> tuple[str, str]:
    arn = ArnParser().parse_arn(context.invoked_function_arn)
    return arn["region"], arn["account"]
