"""Shared fixtures of the runbook-function unit tests: emulated AWS (moto), settings, virtual time.

Powertools reads POWERTOOLS_* when `remediation.observability` is imported, and boto3 reads the region and
credentials when a client is created, so the process environment is set here, before any handler import.
Every fixture is opt-in: the other unit tests (config, domain, emulator) do not use them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
import pytest
from moto import mock_aws

ACCOUNT_ID = "123456789012"
REGION = "eu-west-1"
CLUSTER = "acso-production-cluster"
AGENTS = ("supervisor", "threat-hunter", "incident-response", "service-orchestration", "financial-intelligence")
SERVICES = {agent: f"acso-production-{agent}" for agent in AGENTS}
STATE_TABLE = "acso-production-remediation-state"
REPORTS_BUCKET = "acso-production-remediation-reports"
EVIDENCE_BUCKET = "acso-production-evidence"
AUDIENCES = ("security", "legal", "compliance")
"""The data-breach runbook's audiences: one topic each (tests/unit/test_data_breach.py creates them)."""


def audience_topic_arn(audience: str) -> str:
    return f"arn:aws:sns:eu-west-1:123456789012:acso-production-{audience}"


AGENTS_LOG_GROUP = "/aws/acso/production/agents"
LEVELS = {
    "L1": ("On-call engineer", "Medium", 15),
    "L2": ("Development team lead", "High", 5),
    "L3": ("Engineering manager", "Critical", 0),
    "L4": ("CTO / VP Engineering", "Critical", 0),
}
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:x"

# The tests never reach real AWS: fake credentials and a fixed region, whatever the shell had.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_REGION"] = REGION
os.environ["AWS_DEFAULT_REGION"] = REGION
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "acso-production-runbooks")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ACSO/Remediation")

from remediation import clock  # noqa: E402 - after the environment above
from remediation.settings import load_settings  # noqa: E402


@cache
def boto(service_name: str) -> Any:
    """The tests' own clients, created once: moto intercepts clients created before a mock starts."""
    return boto3.client(service_name, region_name=REGION)


@dataclass(frozen=True)
class LambdaContext:
    function_name: str = "x"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = FUNCTION_ARN
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


def execution_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-high-cpu:{name}"


@dataclass
class VirtualClock:
    now: datetime

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def virtual_clock() -> Iterator[VirtualClock]:
    """Virtual time near the real present (CloudWatch Logs refuses events older than 14 days)."""
    virtual = VirtualClock(datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5))
    clock.use_source(lambda: virtual.now)
    yield virtual
    clock.use_source(None)


def alarm_state_change(agent: str, state_at: str) -> dict:
    """A "CloudWatch Alarm State Change" event for the agent's high-CPU alarm, in the documented format
    (CloudWatch user guide, "Alarm events and EventBridge")."""
    alarm_name = f"acso-production-{agent}-high-cpu"
    return {
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": ACCOUNT_ID,
        "time": state_at[:19] + "Z",
        "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{alarm_name}"],
        "detail": {
            "alarmName": alarm_name,
            "state": {
                "value": "ALARM",
                "reason": "Threshold Crossed: 2 out of the last 2 datapoints [93.1 (01/03/24 12:05:00), 91.7 (01/03/24 "
                "12:00:00)] were greater than the threshold (80.0) (minimum 2 datapoints for OK -> ALARM transition).",
                "reasonData": '{"version":"1.0","queryDate":"' + state_at + '"}',
                "timestamp": state_at,
            },
            "previousState": {
                "value": "OK",
                "reason": "Threshold Crossed: 2 out of the last 2 datapoints were not greater than the threshold "
                "(80.0).",
                "timestamp": "2024-03-01T09:40:04.555+0000",
            },
            "configuration": {
                "description": f"ACSO {agent}: CPU > 80 % for 10 minutes; starts the high-cpu runbook.",
                "metrics": [
                    {
                        "id": "b9f3d4a1-1f5e-4d0c-9a63-6c1e0e3f5a10",
                        "metricStat": {
                            "metric": {
                                "namespace": "AWS/ECS",
                                "name": "CPUUtilization",
                                "dimensions": {"ClusterName": CLUSTER, "ServiceName": SERVICES[agent]},
                            },
                            "period": 300,
                            "stat": "Average",
                        },
                        "returnData": True,
                    }
                ],
            },
        },
    }


FLAGS_PARAMETER = "/acso/production/runbooks/automation"
DR_REGION = "us-west-2"
ACTIVE_REGION_PARAMETER = "/acso/production/dr/active-region"
BACKUP_BUCKET = "acso-production-backups"
BACKUP_VAULT = "acso-production-vault"
DR_RESTORE_BUCKET = "acso-production-dr-restore"
MAINTENANCE_BACKUP_RESOURCES = (
    f"arn:aws:rds:{REGION}:{ACCOUNT_ID}:db:acso-production-db",
    f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/acso-production-agents",
)
MAINTENANCE_BACKUP_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/service-role/AWSBackupDefaultServiceRole"
AUTOMATION_ENABLED = {"enabled": True, "suppressedUntil": None, "reason": ""}
DB_INSTANCE = "acso-production-db"
SLOW_QUERY_LOG_GROUP = "/aws/rds/instance/acso-production-db/slowquery"
CACHE_CLUSTER = "acso-production-cache"


def settings_document(topic_arns: dict[str, str], **guard: Any) -> dict:
    """The document the stack puts in ACSO_SETTINGS for production (stacks/remediation_stack.py)."""
    return {
        "environment": "production",
        "clusterName": CLUSTER,
        "agents": list(AGENTS),
        "serviceNamePrefix": "acso-production-",
        "agentsLogGroup": AGENTS_LOG_GROUP,
        "health": {"cpuPercent": 70, "memoryPercent": 80, "errorRatePercent": 1},
        "cpuAlarm": "acso-production-{agent}-high-cpu",
        "highCpu": {
            "alarmThresholdPercent": 80,
            "scaleOutStep": 1,
            "maxDesiredCount": 6,
            "verifyAfterSeconds": 300,
            "recoveryMarginPercent": 10,
        },
        "memoryLeak": {
            "alarmThresholdPercent": 85,
            "trendHours": 24,
            "minRisePercentPerHour": 0.5,
            "verifyAfterSeconds": 600,
        },
        "guard": {
            "dryRun": False,
            "lockSeconds": 900,
            "cooldownSeconds": 900,
            "minDesiredCount": 1,
            "actionsPerHour": 10,
            "blastRadiusPercent": 60,
            "breakerFailures": 3,
            "breakerWindowSeconds": 3600,
            "approvalTimeoutSeconds": 1800,
            "flagsParameter": FLAGS_PARAMETER,
            "maintenanceWindows": [{"weekday": "SUN", "start": "02:00", "end": "05:00", "weekOfMonth": 1}],
        }
        | guard,
        "stateTable": STATE_TABLE,
        "reportsBucket": REPORTS_BUCKET,
        "escalation": {
            level: {"role": role, "severity": severity, "responseMinutes": minutes, "topicArn": topic_arns[level]}
            for level, (role, severity, minutes) in LEVELS.items()
        },
        "approval": {
            "functionName": "acso-production-approval-decide",
            "secretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:acso-production-approval-key-AbCdEf",
        },
        "availability": {
            "unavailableAlarm": "acso-production-{agent}-unavailable",
            "outageAlarm": "acso-production-complete-outage",
            "outageMinServicesDown": 3,
        },
        "dr": {
            "region": DR_REGION,
            "clusterName": CLUSTER,
            "activeRegionParameter": ACTIVE_REGION_PARAMETER,
            "approverLevel": "L3",
            "approvalTimeoutSeconds": 900,
            "readyChecks": 10,
            "readyPollSeconds": 60,
            "restoreBucket": DR_RESTORE_BUCKET,
            "rtoMinutes": 240,
            "rpoMinutes": 1440,
        },
        "backups": {"bucket": BACKUP_BUCKET, "vault": BACKUP_VAULT, "maxAgeHours": 24},
        "maintenanceWindow": {
            "durationMinutes": 180,
            "monitorMinutes": 30,
            "backupResources": list(MAINTENANCE_BACKUP_RESOURCES),
            "backupRoleArn": MAINTENANCE_BACKUP_ROLE,
            "backupChecks": 12,
            "backupPollSeconds": 300,
        },
        "weeklyPerformanceReview": {
            "days": 7,
            "anomalyPercent": 25,
            "anomalySigma": 3,
            "forecastDays": 90,
            "loadBalancer": None,
        },
        "dataBreach": {
            "evidenceBucket": EVIDENCE_BUCKET,
            "evidenceRetentionMode": "COMPLIANCE",
            "evidenceRetentionDays": 365,
            "logWindowMinutes": 1440,
            "audiences": {audience: audience_topic_arn(audience) for audience in AUDIENCES},
        },
        "securityPatchReview": {"topFindings": 10, "maxScanAgeDays": 30},
        "accessReview": {
            "roleNameContains": "acso",
            "unusedAfterDays": 90,
            "lastAccessedPollSeconds": 5,
            "lastAccessedChecks": 24,
        },
        "agentConfigParameter": "/acso/production/{agent}/config",
        "configUpdate": {
            "maxConfigBytes": 2048,
            "loadedPattern": '"Configuration loaded" "[{agent}]"',
            "loadedChecks": 5,
            "loadedPollSeconds": 60,
        },
        "database": {
            "instanceId": DB_INSTANCE,
            "slowQueryLogGroup": SLOW_QUERY_LOG_GROUP,
            "maxConnections": 1000,
            "connectionsAlarmPercent": 80,
            "cpuPercent": 80,
            "freeMemoryPercent": 10,
            "latencyMs": 20,
            "reviewHours": 24,
            "topQueries": 10,
            "alarmName": "acso-production-database-connections",
        },
        "cache": {
            "clusterId": CACHE_CLUSTER,
            "hitRateTargetPercent": 80,
            "memoryPercent": 80,
            "engineCpuPercent": 90,
            "reviewHours": 24,
            "alarmName": "acso-production-cache-hit-rate",
        },
    }


@dataclass
class EmulatedAws:
    """The account under moto: table, bucket, L1..L4 topics each read back through an SQS queue."""

    monkeypatch: pytest.MonkeyPatch
    topic_arns: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)

    def use_settings(self, **guard: Any) -> None:
        self.monkeypatch.setenv("ACSO_SETTINGS", json.dumps(settings_document(self.topic_arns, **guard)))
        load_settings.cache_clear()

    def notifications(self, level: str) -> list[dict]:
        """Every SNS message published to a level's topic, as its SQS subscriber received it."""
        sqs = boto("sqs")
        received = sqs.receive_message(QueueUrl=self.queue_urls[level], MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [json.loads(message["Body"]) for message in received.get("Messages", [])]

    def create_service(self, agent: str, desired_count: int) -> str:
        """The agent's ECS service, steady at desired_count, in the production cluster (created once)."""
        ecs = boto("ecs")
        if not ecs.describe_clusters(clusters=[CLUSTER])["clusters"]:
            ecs.create_cluster(clusterName=CLUSTER)
        task_definition = ecs.register_task_definition(
            family=f"acso-production-{agent}",
            containerDefinitions=[{"name": agent, "image": f"acso/{agent}:1.0", "memory": 512, "cpu": 256}],
        )["taskDefinition"]["taskDefinitionArn"]
        # moto reports MOTO_ECS_SERVICE_RUNNING tasks running at creation: a steady service runs what it desires.
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MOTO_ECS_SERVICE_RUNNING", str(desired_count))
            ecs.create_service(
                cluster=CLUSTER, serviceName=SERVICES[agent], taskDefinition=task_definition, desiredCount=desired_count
            )
        return SERVICES[agent]

    def desired_count(self, agent: str) -> int:
        services = boto("ecs").describe_services(cluster=CLUSTER, services=[SERVICES[agent]])["services"]
        return services[0]["desiredCount"]

    def items(self, prefix: str) -> list[dict]:
        """Every state-table item whose pk starts with the prefix (EVENT#, LEASE#, COOLDOWN#, AUDIT#)."""
        scan = boto("dynamodb").scan(TableName=STATE_TABLE, ConsistentRead=True)
        return [item for item in scan["Items"] if item["pk"]["S"].startswith(prefix)]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedAws]:
    # remediation.adapters.aws.client keeps its clients across tests on purpose (created once per container, like
    # in Lambda); moto intercepts them in every test, and each mock_aws() starts from an empty account.
    with mock_aws():
        boto("dynamodb").create_table(
            TableName=STATE_TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        boto("s3").create_bucket(Bucket=REPORTS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        boto("ssm").put_parameter(Name=FLAGS_PARAMETER, Type="String", Value=json.dumps(AUTOMATION_ENABLED))
        for agent, service in SERVICES.items():
            boto("cloudwatch").put_metric_alarm(
                AlarmName=f"acso-production-{agent}-high-cpu",
                Namespace="AWS/ECS",
                MetricName="CPUUtilization",
                Dimensions=[{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": service}],
                Statistic="Average",
                Period=300,
                EvaluationPeriods=2,
                Threshold=80,
                ComparisonOperator="GreaterThanThreshold",
            )
        emulated = EmulatedAws(monkeypatch)
        sns, sqs = boto("sns"), boto("sqs")
        for level in LEVELS:
            topic_arn = sns.create_topic(Name=f"acso-production-escalation-{level}")["TopicArn"]
            queue_url = sqs.create_queue(QueueName=f"escalation-{level}-reader")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
            emulated.topic_arns[level], emulated.queue_urls[level] = topic_arn, queue_url
        emulated.use_settings()
        yield emulated
    load_settings.cache_clear()


@pytest.fixture
def settings_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Settings without emulated AWS, for the pure request tests; call it to override guard values."""

    def use(**guard: Any):
        monkeypatch.setenv("ACSO_SETTINGS", json.dumps(settings_document(_fake_topics(), **guard)))
        load_settings.cache_clear()
        return load_settings()

    use()
    yield use
    load_settings.cache_clear()


def _fake_topics() -> dict[str, str]:
    return {level: f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:acso-production-escalation-{level}" for level in LEVELS}
