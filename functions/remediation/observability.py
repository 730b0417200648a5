"""The one place Logger and Metrics are created; configured by POWERTOOLS_* variables.

No Powertools Tracer: it is built on the X-Ray SDK for Python, in maintenance mode since 2026-02-25 (end of support
2027-02-25, AWS recommends OpenTelemetry), whose import creates two botocore clients for centralized sampling that
Lambda never uses (aws/aws-xray-sdk-python#311), about 0.2 s of CPU at every cold start. Lambda's active tracing
(stacks/runbook.py) still traces each invocation and Step Functions each execution, without the SDK."""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
