"""SNS adapter: one message per decision to the escalation level's topic."""

from __future__ import annotations

from remediation.adapters.aws import aws_errors, client

_SUBJECT_LIMIT = 100  # SNS rejects longer subjects


def publish(topic_arn: str, subject: str, message: str, attributes: dict[str, str]) -> str:
    with aws_errors("sns.Publish"):
        response = client("sns").publish(
            TopicArn=topic_arn,
            Subject=subject[:_SUBJECT_LIMIT],
            Message=message,
            MessageAttributes={key: {"DataType": "String", "StringValue": value} for key, value in attributes.items()},
        )
    return response["MessageId"]
