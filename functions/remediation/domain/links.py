"""AWS console links put in every notification, so the reader lands on the evidence in one click."""

from __future__ import annotations

from urllib.parse import quote


def execution(region: str, execution_arn: str) -> str:
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


def ecs_service(region: str, cluster: str, service: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{cluster}/services/{service}/health?region={region}"
    )


def alarm(region: str, alarm_name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{quote(alarm_name)}"


def log_group(region: str, name: str) -> str:
    encoded = quote(quote(name, safe=""), safe="").replace("%", "$")
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{encoded}"
    )


def s3_object(region: str, bucket: str, key: str) -> str:
    return f"https://s3.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={quote(key)}"
