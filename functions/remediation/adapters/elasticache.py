"""ElastiCache adapter (read only): the agents' cache node as cache-review needs it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code
from remediation.errors import AwsCallFailed


@dataclass(frozen=True)
class CacheCluster:
    cluster_id: str
    node_type: str
    engine: str
    engine_version: str | None
    status: str
    nodes: int
    replication_group: str | None
    parameter_group: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def describe_cluster(cluster_id: str) -> CacheCluster:
    """DescribeCacheClusters for one cluster; a missing one fails with a message naming the configuration key."""
    with aws_errors("elasticache.DescribeCacheClusters"):
        try:
            found = client("elasticache").describe_cache_clusters(CacheClusterId=cluster_id)["CacheClusters"][0]
        except ClientError as error:
            if error_code(error) == "CacheClusterNotFound":
                raise AwsCallFailed(
                    f"ElastiCache cluster {cluster_id} does not exist in this account and region; check "
                    "cache.clusterId in cdk.json"
                ) from error
            raise
    return CacheCluster(
        cluster_id=found["CacheClusterId"],
        node_type=found["CacheNodeType"],
        engine=found["Engine"],
        engine_version=found.get("EngineVersion"),
        status=found.get("CacheClusterStatus", "unknown"),
        nodes=int(found.get("NumCacheNodes", 1)),
        replication_group=found.get("ReplicationGroupId"),
        parameter_group=(found.get("CacheParameterGroup") or {}).get("CacheParameterGroupName"),
    )
