"""AWS console links put in every notification, so the reader lands on the evidence in one click."""

from __future__ import annotations

from urllib.parse import quote


def execution(region: str, execution_arn: str) -> str:
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


def ecs_service(region: str, cluster: str, service: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{cluster}/services/{service}/health?region={region}"
    )


def ecs_stopped_tasks(region: str, cluster: str, service: str) -> str:
    """The service's Tasks tab filtered to its stopped tasks (stop codes and reasons)."""
    return (
        f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{cluster}/services/{service}/tasks"
        f"?region={region}&status=STOPPED"
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


def s3_folder(region: str, bucket: str, prefix: str) -> str:
    """A "folder" (key prefix ending in /) in the S3 console, e.g. a report with its graphs."""
    return f"https://s3.console.aws.amazon.com/s3/buckets/{bucket}?region={region}&prefix={quote(prefix)}&showversions=false"


def s3_prefix(region: str, bucket: str, prefix: str) -> str:
    """The bucket's "folder" view at a prefix (e.g. a day's backup YYYY/MM/DD/)."""
    return f"https://s3.console.aws.amazon.com/s3/buckets/{bucket}?region={region}&prefix={quote(prefix)}"


def backup_jobs(region: str) -> str:
    """AWS Backup's backup-job list (filter by vault, state and date there)."""
    return f"https://{region}.console.aws.amazon.com/backup/home?region={region}#/jobs/backup"


def backup_job(region: str, job_id: str) -> str:
    return f"https://{region}.console.aws.amazon.com/backup/home?region={region}#/jobs/backup/details/{quote(job_id)}"


def ssm_parameter(region: str, name: str) -> str:
    """The parameter's page in Parameter Store (its History tab lists every version)."""
    return (
        f"https://{region}.console.aws.amazon.com/systems-manager/parameters/{quote(name.lstrip('/'))}/description"
        f"?region={region}&tab=Table"
    )


def rds_instance(region: str, instance_id: str) -> str:
    """The instance's page in the RDS console (its Monitoring and Logs tabs)."""
    return (
        f"https://{region}.console.aws.amazon.com/rds/home?region={region}"
        f"#database:id={quote(instance_id)};is-cluster=false"
    )


def elasticache_cluster(region: str, cluster_id: str) -> str:
    """The cluster's page in the ElastiCache console (its Metrics tab)."""
    return f"https://{region}.console.aws.amazon.com/elasticache/home?region={region}#/redis/{quote(cluster_id)}"


def ecr_image(region: str, account_id: str, repository: str, digest: str | None) -> str:
    """The image's page in the ECR console (its scan findings), or the repository's when the digest is unknown."""
    base = f"https://{region}.console.aws.amazon.com/ecr/repositories/private/{account_id}/{repository}"
    return f"{base}/_/image/{digest}/details?region={region}" if digest else f"{base}?region={region}"


def iam_role(name: str) -> str:
    """The role's page in the IAM console; its "Last Accessed" tab shows what the access review read."""
    return f"https://console.aws.amazon.com/iam/home#/roles/details/{quote(name, safe='')}?section=permissions"
