"""Step Functions adapter: answer a `.waitForTaskToken` task.

A token Step Functions no longer waits for (the task timed out, the execution ended, or the token is not one of
its tokens) raises TaskNoLongerWaiting. Error messages name the operation, the code and the AWS request id,
never the token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code
from remediation.domain.approval import TaskNoLongerWaiting

_NOT_WAITING = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}


def send_task_success(task_token: str, output: dict) -> None:
    _call(
        "states.SendTaskSuccess",
        client("stepfunctions").send_task_success,
        taskToken=task_token,
        output=json.dumps(output),
    )


def send_task_failure(task_token: str, error: str, cause: str) -> None:
    _call(
        "states.SendTaskFailure",
        client("stepfunctions").send_task_failure,
        taskToken=task_token,
        error=error[:256],
        cause=cause[:32768],
    )


def _call(operation: str, call: Callable[..., Any], **request: Any) -> None:
    try:
        call(**request)
    except ClientError as error:
        code = error_code(error)
        if code in _NOT_WAITING:
            request_id = error.response.get("ResponseMetadata", {}).get("RequestId", "unknown")
            # from None: the AWS message is not ours to echo, and must not carry the token into a log.
            raise TaskNoLongerWaiting(f"{operation}: {code} (request {request_id})") from None
        with aws_errors(operation):
            raise
