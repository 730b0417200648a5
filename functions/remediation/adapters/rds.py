"""RDS adapter (read only): the agents' database instance as database-review needs it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code
from remediation.errors import AwsCallFailed


@dataclass(frozen=True)
class DatabaseInstance:
    instance_id: str
    instance_class: str
    engine: str
    engine_version: str | None
    status: str
    multi_az: bool
    allocated_storage_gib: int | None
    storage_type: str | None
    parameter_groups: tuple[str, ...]
    log_exports: tuple[str, ...]
    """Logs the instance exports to CloudWatch Logs (e.g. slowquery, error, postgresql)."""
    read_replicas: tuple[str, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def describe_instance(instance_id: str) -> DatabaseInstance:
    """DescribeDBInstances for one instance; a missing one fails with a message naming the configuration key."""
    with aws_errors("rds.DescribeDBInstances"):
        try:
            found = client("rds").describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]
        except ClientError as error:
            if error_code(error) == "DBInstanceNotFound":
                raise AwsCallFailed(
                    f"RDS instance {instance_id} does not exist in this account and region; check database.instanceId "
                    "in cdk.json"
                ) from error
            raise
    return DatabaseInstance(
        instance_id=found["DBInstanceIdentifier"],
        instance_class=found["DBInstanceClass"],
        engine=found["Engine"],
        engine_version=found.get("EngineVersion"),
        status=found.get("DBInstanceStatus", "unknown"),
        multi_az=bool(found.get("MultiAZ")),
        allocated_storage_gib=found.get("AllocatedStorage"),
        storage_type=found.get("StorageType"),
        parameter_groups=tuple(group["DBParameterGroupName"] for group in found.get("DBParameterGroups", [])),
        log_exports=tuple(found.get("EnabledCloudwatchLogsExports", [])),
        read_replicas=tuple(found.get("ReadReplicaDBInstanceIdentifiers", [])),
    )
