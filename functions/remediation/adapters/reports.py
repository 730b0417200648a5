"""S3 adapter: runbook reports people open from the notification."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code


def put_report(bucket: str, key: str, body: str, content_type: str) -> str:
    with aws_errors("s3.PutObject"):
        client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType=content_type)
    return f"s3://{bucket}/{key}"


def put_bytes(bucket: str, key: str, body: bytes, content_type: str) -> str:
    """A binary report object (a PNG graph)."""
    with aws_errors("s3.PutObject"):
        client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    return f"s3://{bucket}/{key}"


def get_json(bucket: str, key: str) -> dict | None:
    """A JSON document the runbooks keep in the bucket (e.g. a baseline), or None when there is none yet."""
    with aws_errors("s3.GetObject"):
        try:
            body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            # NoSuchKey needs s3:ListBucket on the bucket; without it S3 answers AccessDenied for a missing key.
            if error_code(error) == "NoSuchKey":
                return None
            raise
    return json.loads(body)
