"""S3 adapter: runbook reports people open from the notification."""

from __future__ import annotations

from remediation.adapters.aws import aws_errors, client


def put_report(bucket: str, key: str, body: str, content_type: str) -> str:
    with aws_errors("s3.PutObject"):
        client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType=content_type)
    return f"s3://{bucket}/{key}"
