"""The one place Logger, Tracer and Metrics are created; configured by POWERTOOLS_* variables."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# Patch only what the handlers call (botocore, through boto3): the default patches every library X-Ray supports
# that is importable, and so imports requests, httpx, sqlite3... at every cold start for nothing to trace.
tracer = Tracer(patch_modules=("boto3",))
metrics = Metrics()
