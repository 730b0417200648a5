"""The remediation stack of one ACSO environment: alarms and schedules start runbooks (Step Functions)
whose Lambda steps investigate and act on the agents' ECS services, under one shared guard."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aws_cdk import ArnFormat, Duration, NestedStack, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from stacks.approval import HumanApproval, decide_function_name, signing_secret
from stacks.config import ESCALATION_LEVELS, EnvironmentConfig
from stacks.outage_alarm import outage_rules
from stacks.runbook import FUNCTIONS_DIR, RunbookStateMachine, StepFunction, objects_under, suppress_wildcards

# Names of the metric filters' metrics; the handlers read them (functions/remediation/logic/investigate.py).
AGENT_LOG_NAMESPACE = "ACSO/Agents"
ERROR_EVENTS_METRIC = "ErrorLogEvents"
ALL_EVENTS_METRIC = "LogEvents"
# Lambda asset: the handler package only, never caches or tests.
_ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc"]
# Who the data-breach runbook tells, besides the escalation level: one encrypted topic each (acso-<env>-<audience>).
DATA_BREACH_AUDIENCES = ("security", "legal", "compliance")
EVIDENCE_PREFIX = "data-breach/"
# The alarms that start database-review and cache-review (acso-<env>-<suffix>); harness: alarm_event("database",
# kind="connections") / alarm_event("cache", kind="hit-rate").
DATABASE_REVIEW_ALARM = "database-connections"
CACHE_REVIEW_ALARM = "cache-hit-rate"
# Up to this many agents, grants list every agent's ARN; beyond, the agents' name pattern (see `agent_arns`).
EXACT_ARNS_UP_TO_AGENTS = 25
# Agents per nested stack of agent alarms (3 alarms each): 300 of a stack's 500 resources, the rest is headroom.
AGENTS_PER_ALARM_STACK = 100


class RemediationStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, powertools_version: str, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.family: Stack = self
        self._code_by_stack: dict[Stack, lambda_.Code] = {}
        self._agent_name_patterns: set[str] = set()
        """Where `step`, `_runbook` and the runbooks' rules and alarms are created (see `_family`)."""
        prefix = f"acso-{config.name}"

        self.key = kms.Key(
            self,
            "NotificationsKey",
            enable_key_rotation=True,
            description=f"Encrypts the {prefix} escalation topics and dead-letter queue",
        )
        self.topics = {
            level: sns.Topic(
                self,
                f"Escalation{level}",
                topic_name=f"{prefix}-escalation-{level.lower()}",
                display_name=f"ACSO {config.name} {level}",
                master_key=self.key,
                enforce_ssl=True,
            )
            for level in ESCALATION_LEVELS
        }
        self.state_table = dynamodb.TableV2(
            self,
            "StateTable",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expiresAt",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.reports_bucket = s3.Bucket(
            self,
            "ReportsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        NagSuppressions.add_resource_suppressions(
            self.reports_bucket,
            [
                {
                    "id": "AwsSolutions-S1",
                    "reason": "Reports are written only by the runbooks' own roles and read by "
                    "operators; the audit trail of who acted is the DynamoDB audit record and CloudTrail.",
                }
            ],
        )

        # Kill switch and maintenance suppression, read fresh by the guard; operators flip them with
        # `aws ssm put-parameter --overwrite` (README), the maintenance runbook sets suppressedUntil.
        self.flags = ssm.StringParameter(
            self,
            "AutomationFlags",
            parameter_name=config.guard.flags_parameter,
            string_value=json.dumps({"enabled": True, "suppressedUntil": None, "reason": ""}),
            description=f"ACSO {config.name} runbook automation flags (kill switch, maintenance suppression)",
        )
        self._agent_log_metrics()
        self._add_data_breach_storage()  # before the settings, which carry the evidence bucket and audience topics
        # Before the settings, which carry its ARN and the decide function's fixed name (see stacks/approval.py).
        self.approval_key = signing_secret(
            self, "ApprovalSigningKey", description=f"HMAC key of the {prefix} approval links"
        )
        self.dead_letters = self._trigger_dead_letters()
        steps = self._steps(powertools_version)
        # Every runbook by its name; the abandoned-lease rule and the self-watching alarms cover all of them.
        self.runbooks: dict[str, RunbookStateMachine] = {}
        # The agents' alarms first: the complete-outage composite alarm names them, and CloudFormation creates a
        # composite alarm only when its children exist.
        alarm_stacks = self._add_agent_alarms()
        with self._family("Incidents", "alarm-driven incident runbooks") as incidents:
            for alarm_stack in alarm_stacks:
                incidents.add_stack_dependency(alarm_stack)
            self._add_high_cpu(steps)
            self._add_memory_leak(steps)
            self._add_service_unavailable(steps)
            self._add_complete_outage(steps)
            self._add_data_breach(steps)
        with self._family("AgentOperations", "runbooks an operator starts on one agent"):
            self._add_restart_agent(steps)
            self._add_scale_agent(steps)
            self._add_rollback(steps)
            self._add_config_update(steps)
        with self._family("ScheduledReviews", "daily, weekly, monthly and quarterly reviews (read only)"):
            self._add_daily_health_check(steps)
            self._add_weekly_performance_review(steps)
            self._add_database_review(steps)
            self._add_cache_review(steps)
            self._add_security_patch_review(steps)
            self._add_access_review(steps)
        with self._family("Continuity", "backups, disaster recovery and maintenance"):
            self._add_backup_verification(steps)
            self._add_dr_test(steps)
            self._add_maintenance_window(steps)
        self._release_abandoned_leases(steps["ReleaseAbandoned"])
        for construct in self.node.find_all():  # every step, the approval functions included
            if isinstance(construct, StepFunction):
                self.settings_parameter.grant_read(construct.role)
        self._watch_itself()
        self._accept_agent_patterns()

    def _runbook(self, name: str, steps: dict[str, StepFunction]) -> RunbookStateMachine:
        """Runbook `name`: state_machines/<name with underscores>.asl.json, state machine acso-<env>-<name>."""
        construct_id = "".join(part.title() for part in name.split("-"))
        self.runbooks[name] = RunbookStateMachine(
            self.family,
            construct_id,
            name=f"acso-{self.config.name}-{name}",
            asl_file=f"{name.replace('-', '_')}.asl.json",
            steps=steps,
        )
        return self.runbooks[name]

    @contextmanager
    def _family(self, construct_id: str, description: str) -> Iterator[NestedStack]:
        """The runbooks created inside go into their own nested stack, with their steps, rules and alarms.

        A CloudFormation stack holds 500 resources and a 1 MB template; one stack for every runbook was at 487.
        Shared resources (state table, topics, settings, shared steps, approval, dashboard) stay in this stack;
        CDK passes what a family references as nested-stack parameters."""
        family = NestedStack(self, construct_id, description=f"ACSO {self.config.name}: {description}")
        previous, self.family = self.family, family
        try:
            yield family
        finally:
            self.family = previous

    # -- Evidence the runbooks read ------------------------------------------------------------------
    def _agent_log_metrics(self) -> None:
        """Error rate = ERROR lines / all lines of the agents' log group, read with the CPU metrics."""
        agents_logs = logs.LogGroup.from_log_group_name(self, "AgentsLogGroup", self.config.agents_log_group)
        for construct_id, metric, pattern in (
            ("ErrorLogEventsFilter", ERROR_EVENTS_METRIC, logs.FilterPattern.literal("ERROR")),
            ("LogEventsFilter", ALL_EVENTS_METRIC, logs.FilterPattern.all_events()),
        ):
            logs.MetricFilter(
                self,
                construct_id,
                log_group=agents_logs,
                filter_pattern=pattern,
                metric_namespace=AGENT_LOG_NAMESPACE,
                metric_name=metric,
                metric_value="1",
                default_value=0,
            )

    # -- Lambda steps ----------------------------------------------------------------------------------
    def cpu_alarm_name(self, agent: str) -> str:
        return f"acso-{self.config.name}-{agent}-high-cpu"

    def unavailable_alarm_name(self, agent: str) -> str:
        return f"acso-{self.config.name}-{agent}-unavailable"

    @property
    def outage_alarm_name(self) -> str:
        return f"acso-{self.config.name}-complete-outage"

    def _settings_json(self) -> str:
        config, guard = self.config, self.config.guard
        return self.to_json_string(
            {
                "environment": config.name,
                "clusterName": config.cluster_name,
                # Per-agent names follow from the agents' names (settings.py derives them): the document stays
                # under SSM's 8 KB with hundreds of agents.
                "agents": list(config.agents),
                "serviceNamePrefix": config.service_name_prefix,
                "agentsLogGroup": config.agents_log_group,
                "health": {
                    "cpuPercent": config.health.cpu_percent,
                    "memoryPercent": config.health.memory_percent,
                    "errorRatePercent": config.health.error_rate_percent,
                },
                "cpuAlarm": self.cpu_alarm_name("{agent}"),
                "highCpu": {
                    "alarmThresholdPercent": config.high_cpu.alarm_threshold_percent,
                    "scaleOutStep": config.high_cpu.scale_out_step,
                    "maxDesiredCount": config.high_cpu.max_desired_count,
                    "verifyAfterSeconds": config.high_cpu.verify_after_seconds,
                    "recoveryMarginPercent": config.high_cpu.recovery_margin_percent,
                },
                "memoryLeak": {
                    "alarmThresholdPercent": config.memory_leak.alarm_threshold_percent,
                    "trendHours": config.memory_leak.trend_hours,
                    "minRisePercentPerHour": config.memory_leak.min_rise_percent_per_hour,
                    "verifyAfterSeconds": config.memory_leak.verify_after_seconds,
                },
                "guard": {
                    "dryRun": guard.dry_run,
                    "lockSeconds": guard.lock_seconds,
                    "cooldownSeconds": guard.cooldown_seconds,
                    "minDesiredCount": guard.min_desired_count,
                    "actionsPerHour": guard.actions_per_hour,
                    "blastRadiusPercent": guard.blast_radius_percent,
                    "breakerFailures": guard.breaker_failures,
                    "breakerWindowSeconds": guard.breaker_window_seconds,
                    "approvalTimeoutSeconds": guard.approval_timeout_seconds,
                    "flagsParameter": guard.flags_parameter,
                    "maintenanceWindows": [
                        {"weekday": w.weekday, "start": w.start, "end": w.end, "weekOfMonth": w.week_of_month}
                        for w in guard.maintenance_windows
                    ],
                },
                "stateTable": self.state_table.table_name,
                "reportsBucket": self.reports_bucket.bucket_name,
                "approval": {
                    "functionName": decide_function_name(f"acso-{config.name}"),
                    "secretArn": self.approval_key.secret_arn,
                },
                "availability": {
                    "unavailableAlarm": self.unavailable_alarm_name("{agent}"),
                    "outageAlarm": self.outage_alarm_name,
                    "outageMinServicesDown": config.availability.outage_min_services_down,
                },
                "dr": {
                    "region": config.dr.region,
                    "clusterName": config.dr.cluster_name,
                    "activeRegionParameter": config.dr.active_region_parameter,
                    "approverLevel": config.dr.approver_level,
                    "approvalTimeoutSeconds": config.dr.approval_timeout_seconds,
                    "readyChecks": config.dr.ready_checks,
                    "readyPollSeconds": config.dr.ready_poll_seconds,
                    "restoreBucket": config.dr.restore_bucket,
                    "rtoMinutes": config.dr.rto_minutes,
                    "rpoMinutes": config.dr.rpo_minutes,
                },
                "backups": {
                    "bucket": config.backups.bucket,
                    "vault": config.backups.vault,
                    "maxAgeHours": config.backups.max_age_hours,
                },
                "maintenanceWindow": {
                    "durationMinutes": config.maintenance_window.duration_minutes,
                    "monitorMinutes": config.maintenance_window.monitor_minutes,
                    "backupResources": self.maintenance_backup_resources,
                    "backupRoleArn": self.maintenance_backup_role_arn,
                    "backupChecks": config.maintenance_window.backup_checks,
                    "backupPollSeconds": config.maintenance_window.backup_poll_seconds,
                },
                "weeklyPerformanceReview": {
                    "days": config.weekly_review.days,
                    "anomalyPercent": config.weekly_review.anomaly_percent,
                    "anomalySigma": config.weekly_review.anomaly_sigma,
                    "forecastDays": config.weekly_review.forecast_days,
                    "loadBalancer": config.weekly_review.load_balancer,
                },
                "database": {
                    "instanceId": config.database.instance_id,
                    "slowQueryLogGroup": config.database.slow_query_log_group,
                    "maxConnections": config.database.max_connections,
                    "connectionsAlarmPercent": config.database.connections_alarm_percent,
                    "cpuPercent": config.database.cpu_percent,
                    "freeMemoryPercent": config.database.free_memory_percent,
                    "latencyMs": config.database.latency_ms,
                    "reviewHours": config.database.review_hours,
                    "topQueries": config.database.top_queries,
                    "alarmName": f"acso-{config.name}-{DATABASE_REVIEW_ALARM}",
                },
                "cache": {
                    "clusterId": config.cache.cluster_id,
                    "hitRateTargetPercent": config.cache.hit_rate_target_percent,
                    "memoryPercent": config.cache.memory_percent,
                    "engineCpuPercent": config.cache.engine_cpu_percent,
                    "reviewHours": config.cache.review_hours,
                    "alarmName": f"acso-{config.name}-{CACHE_REVIEW_ALARM}",
                },
                "securityPatchReview": {
                    "topFindings": config.security_patch_review.top_findings,
                    "maxScanAgeDays": config.security_patch_review.max_scan_age_days,
                },
                "accessReview": {
                    "roleNameContains": config.access_review.role_name_contains,
                    "unusedAfterDays": config.access_review.unused_after_days,
                    "lastAccessedPollSeconds": config.access_review.last_accessed_poll_seconds,
                    "lastAccessedChecks": config.access_review.last_accessed_checks,
                },
                "agentConfigParameter": config.agent_config_parameter,
                "configUpdate": {
                    "maxConfigBytes": config.config_update.max_config_bytes,
                    "loadedPattern": config.config_update.loaded_pattern,
                    "loadedChecks": config.config_update.loaded_checks,
                    "loadedPollSeconds": config.config_update.loaded_poll_seconds,
                },
                "dataBreach": {
                    "evidenceBucket": self.evidence_bucket.bucket_name,
                    "evidenceRetentionMode": config.data_breach.evidence_retention_mode,
                    "evidenceRetentionDays": config.data_breach.evidence_retention_days,
                    "logWindowMinutes": config.data_breach.log_window_minutes,
                    "audiences": {audience: topic.topic_arn for audience, topic in self.audience_topics.items()},
                },
                "escalation": {
                    level.level: {
                        "role": level.role,
                        "severity": level.severity,
                        "responseMinutes": level.response_minutes,
                        "topicArn": self.topics[level.level].topic_arn,
                    }
                    for level in config.escalation
                },
            }
        )

    def _steps(self, powertools_version: str) -> dict[str, StepFunction]:
        # Powertools publishes its layer ARN per version in public SSM parameters; resolved at deploy time.
        layer_arn = ssm.StringParameter.value_for_string_parameter(
            self, f"/aws/service/powertools/python/x86_64/python3.11/{powertools_version}"
        )
        layer = lambda_.LayerVersion.from_layer_version_arn(self, "PowertoolsLayer", layer_arn)
        code = self.code
        # Identical environment for every step: one settings document, parsed once per container.
        # The settings document lives once, in an SSM parameter: copied into every function's environment it
        # exceeded Lambda's 4 KB environment limit and made up half of the template. Its digest in the
        # environment gives every function a new configuration, and so fresh containers, when it changes.
        self.settings_parameter = ssm.StringParameter(
            self,
            "RunbookSettings",
            parameter_name=f"/acso/{self.config.name}/runbooks/settings",
            string_value=self._settings_json(),
            tier=ssm.ParameterTier.ADVANCED,  # up to 8 KB; the document is over the standard tier's 4 KB
            description=f"ACSO {self.config.name} runbook settings, read once per Lambda container",
        )
        environment = {
            "ACSO_SETTINGS_PARAMETER": f"/acso/{self.config.name}/runbooks/settings",  # the name, not a Ref
            "ACSO_SETTINGS_DIGEST": hashlib.sha256(repr(self.config).encode()).hexdigest()[:16],
            "POWERTOOLS_SERVICE_NAME": f"acso-{self.config.name}-runbooks",
            "POWERTOOLS_METRICS_NAMESPACE": "ACSO/Remediation",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            # No pydantic plugin is used: spares scanning every installed distribution's entry points at cold start.
            "PYDANTIC_DISABLE_PLUGINS": "__all__",
        }

        self._layer, self._environment = layer, environment
        step = self.step

        steps = {
            "NormalizeHighCpu": step("NormalizeHighCpu", "high_cpu.normalize", "high-cpu: validate the input"),
            "AcquireGuard": step("AcquireGuard", "guard.acquire", "shared guard in front of every write"),
            "ScaleOut": step("ScaleOut", "high_cpu.scale_out", "high-cpu: scale the service out by a step"),
            "VerifyScaling": step("VerifyScaling", "high_cpu.verify_scaling", "high-cpu: verify the scale-out"),
            "RestorePriorCount": step(
                "RestorePriorCount", "high_cpu.restore_prior_count", "high-cpu: undo a scale-out that made it worse"
            ),
            "PlanResize": step("PlanResize", "high_cpu.plan_resize", "high-cpu: next task size at the cap"),
            "RollBackResize": step(
                "RollBackResize",
                "high_cpu.roll_back_resize",
                "high-cpu: the prior task definition after a failed resize",
            ),
            "ResizeTask": step("ResizeTask", "high_cpu.resize_task", "high-cpu: deploy the approved bigger task"),
            "ReleaseAbandoned": step(
                "ReleaseAbandoned", "abandoned.release_leases", "release leases of timed-out or aborted executions"
            ),
            "NormalizeRestart": step(
                "NormalizeRestart", "restart_agent.normalize", "restart-agent: validate the input"
            ),
            "ForceNewDeployment": step(
                "ForceNewDeployment", "restart_agent.force_new_deployment", "restart-agent: force a new deployment"
            ),
            "CheckRollout": step("CheckRollout", "restart_agent.check_rollout", "restart-agent: is it stable again"),
            "NormalizeScale": step("NormalizeScale", "scale_agent.normalize", "scale-agent: validate the input"),
            "SetDesiredCount": step(
                "SetDesiredCount", "scale_agent.set_desired_count", "scale-agent: set the desired count (guarded)"
            ),
            "VerifyStable": step("VerifyStable", "scale_agent.verify_stable", "scale-agent: verify stable"),
            "ApplyScalingPolicy": step(
                "ApplyScalingPolicy", "scale_agent.apply_scaling_policy", "scale-agent: the seed's step-scaling policy"
            ),
            "NormalizeHealthCheck": step(
                "NormalizeHealthCheck", "daily_health_check.normalize", "daily-health-check: validate the input"
            ),
            "AssessHealth": step("AssessHealth", "daily_health_check.assess", "daily-health-check: criteria, report"),
            "CollectUtilization": step(
                "CollectUtilization",
                "investigate.collect_utilization",
                "investigate: CPU, memory and log volume in one GetMetricData call",
            ),
            "SearchLogs": step("SearchLogs", "investigate.search_logs", "investigate: agents' log search"),
            "DescribeServices": step(
                "DescribeServices", "investigate.describe_services", "investigate: ECS service state"
            ),
            "RecordDecision": step("RecordDecision", "record.record_decision", "record: audit, release, notify"),
        }
        self._grant(steps)
        self.approval = HumanApproval(
            self,
            "Approval",
            decide_function_name=decide_function_name(f"acso-{self.config.name}"),
            secret=self.approval_key,
            code=code,
            layers=[layer],
            environment=environment,
            state_table=self.state_table,
            topics=list(self.topics.values()),
        )
        return steps

    @property
    def code(self) -> lambda_.Code:
        """The handlers' code (functions/), one Code per stack (CDK binds an asset to one stack); the same asset."""
        stack = Stack.of(self.family)
        if stack not in self._code_by_stack:
            self._code_by_stack[stack] = lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=_ASSET_EXCLUDES)
        return self._code_by_stack[stack]

    def step(self, construct_id: str, handler: str, description: str) -> StepFunction:
        """One Lambda step: handler `remediation.handlers.<handler>`, the shared code, layer and settings."""
        return StepFunction(
            self.family,
            construct_id,
            handler=f"remediation.handlers.{handler}",
            description=description,
            code=self.code,
            layers=[self._layer],
            environment=self._environment,
        )

    @property
    def service_arns(self) -> list[str]:
        """The agents' ECS services: the only services any step may write to."""
        config = self.config
        return self.agent_arns(lambda agent: f"{config.cluster_name}/{config.service_name(agent)}", service="ecs")

    def agent_arns(self, name_of: Callable[[str], str], *, service: str, region: str | None = None) -> list[str]:
        """ARNs of one kind of per-agent resource (`name_of(agent)` its name): every agent's while the fleet is small
        enough for IAM, else the one name pattern `name_of("*")` (e.g. `service/<cluster>/acso-<env>-*`): hundreds of
        ARNs exceed IAM's policy size limits (10,240 characters inline per role, 10 managed policies). The pattern is
        accepted by cdk-nag only for exactly these names (`_accept_agent_patterns`)."""
        resource, arn_format = {
            "ecs": ("service", ArnFormat.SLASH_RESOURCE_NAME),
            "cloudwatch": ("alarm", ArnFormat.COLON_RESOURCE_NAME),
            "ssm": ("parameter", ArnFormat.SLASH_RESOURCE_NAME),
        }[service]
        if len(self.config.agents) <= EXACT_ARNS_UP_TO_AGENTS:
            names = [name_of(agent) for agent in self.config.agents]
        else:
            names = [name_of("*")]
            self._agent_name_patterns.add(
                f"{resource}{':' if arn_format == ArnFormat.COLON_RESOURCE_NAME else '/'}{names[0]}"
            )
        return [
            self.format_arn(
                service=service, region=region, resource=resource, resource_name=name, arn_format=arn_format
            )
            for name in names
        ]

    def _accept_agent_patterns(self) -> None:
        """cdk-nag AwsSolutions-IAM5 accepts the agent name patterns `agent_arns` used, in every stack, and nothing
        else: each finding must end with exactly one of these resource names."""
        if not self._agent_name_patterns:
            return
        findings = [
            RegexAppliesTo(regex=f"/^Resource::arn:.*:{re.escape(pattern).replace('/', chr(92) + '/')}$/g")
            for pattern in sorted(self._agent_name_patterns)
        ]
        reason = (
            f"{len(self.config.agents)} agents: a list of every agent's ARN exceeds IAM's policy size limits, so "
            "grants name the agents' resources by their name pattern (cluster, environment prefix, kind suffix)."
        )
        for stack in [self, *(child for child in self.node.children if isinstance(child, NestedStack))]:
            NagSuppressions.add_stack_suppressions(
                stack, [NagPackSuppression(id="AwsSolutions-IAM5", reason=reason, applies_to=findings)]
            )

    def state_machine_arn(self, runbook: str) -> str:
        """Built from the name, so a step may refer to a state machine that is defined after it (no cycle)."""
        return self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=f"acso-{self.config.name}-{runbook}",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    @property
    def trigger_delivery(self) -> dict:
        """How every EventBridge target delivers: retried for a day, then the dead-letter queue (paged)."""
        return {"dead_letter_queue": self.dead_letters, "retry_attempts": 185, "max_event_age": Duration.hours(24)}

    def _grant(self, steps: dict[str, StepFunction]) -> None:
        config, service_arns = self.config, self.service_arns
        agents_log_group_arn = self.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{config.agents_log_group}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        for name in (
            "DescribeServices",
            "ScaleOut",
            "VerifyScaling",
            "RestorePriorCount",
            "SetDesiredCount",
            "VerifyStable",
            "ForceNewDeployment",
            "CheckRollout",
            "RollBackResize",
        ):
            steps[name].grant(["ecs:DescribeServices"], service_arns)
        for name in ("PlanResize", "ResizeTask"):
            steps[name].grant(["ecs:DescribeServices"], service_arns)
            steps[name].grant(["ecs:DescribeTaskDefinition"], ["*"])
        # RegisterTaskDefinition supports no resource-level permission; PassRole is limited to the agents'
        # own task roles, and only towards ECS tasks.
        steps["ResizeTask"].grant(["ecs:RegisterTaskDefinition"], ["*"])
        steps["ResizeTask"].role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[
                    self.format_arn(service="iam", region="", resource="role", resource_name=f"acso-{config.name}-*")
                ],
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            )
        )
        for name in ("PlanResize", "ResizeTask"):
            suppress_wildcards(
                steps[name].role,
                "ecs:DescribeTaskDefinition and ecs:RegisterTaskDefinition support no resource-level permissions; "
                "iam:PassRole is limited to the agents' acso-<env>-* task roles passed to ECS tasks.",
                ["Resource::*", RegexAppliesTo(regex=r"/^Resource::arn:<AWS::Partition>:iam::.*:role\/acso-.*-\*$/g")],
            )
        for name in (
            "ScaleOut",
            "RestorePriorCount",
            "SetDesiredCount",
            "ResizeTask",
            "RollBackResize",
            "ForceNewDeployment",
        ):
            steps[name].grant(["ecs:UpdateService"], service_arns)
        alarm_arns = self.agent_arns(self.cpu_alarm_name, service="cloudwatch")
        for name in ("AcquireGuard", "ScaleOut", "ResizeTask", "SetDesiredCount", "ForceNewDeployment"):
            steps[name].grant(["cloudwatch:DescribeAlarms"], alarm_arns)
        self.flags.grant_read(steps["AcquireGuard"].role)
        self._grant_autoscaling(steps)
        for name in ("CollectUtilization", "VerifyScaling"):
            steps[name].grant(["cloudwatch:GetMetricData"], ["*"])
            suppress_wildcards(
                steps[name].role,
                "cloudwatch:GetMetricData supports no resource-level permissions (read only).",
                ["Resource::*"],
            )
        steps["SearchLogs"].grant(["logs:FilterLogEvents"], [agents_log_group_arn])
        suppress_wildcards(
            steps["SearchLogs"].role,
            "logs:FilterLogEvents is granted on the agents' log group ARN, which IAM spells with a ':*' suffix.",
            [RegexAppliesTo(regex=r"/^Resource::arn:<AWS::Partition>:logs:.*:log-group:.*:\*$/g")],
        )
        for name in (
            "AcquireGuard",
            "ScaleOut",
            "SetDesiredCount",
            "ResizeTask",
            "ForceNewDeployment",
            "VerifyScaling",
            "RecordDecision",
        ):
            self.state_table.grant_read_write_data(steps[name].role)
        for topic in self.topics.values():
            topic.grant_publish(steps["RecordDecision"].role)
        suppress_wildcards(
            steps["RecordDecision"].role,
            "Publishing to the KMS-encrypted escalation topics needs kms:GenerateDataKey* on their one key.",
            ["Action::kms:GenerateDataKey*"],
        )
        steps["AssessHealth"].grant(["s3:PutObject"], [self.reports_bucket.arn_for_objects("daily-health-check/*")])
        suppress_wildcards(
            steps["AssessHealth"].role,
            "Reports are written under the daily-health-check/ prefix of the reports bucket, one key per run.",
            [objects_under("ReportsBucket", "daily-health-check/")],
        )

    def _grant_autoscaling(self, steps: dict[str, StepFunction]) -> None:
        """A run that changes a desired count suspends the autoscaler's scale-in while it holds the service, and
        its lease release resumes it (functions/remediation/logic/scale_in_hold.py); scale-agent may apply the
        seed's step-scaling policy."""
        reason = (
            "Application Auto Scaling's Describe/RegisterScalableTarget and PutScalingPolicy support no "
            "resource-level permissions for a target that is identified by its service resource id."
        )
        holders = ("ScaleOut", "SetDesiredCount", "ApplyScalingPolicy", "RecordDecision", "ReleaseAbandoned")
        for name in holders:
            steps[name].grant(
                ["application-autoscaling:DescribeScalableTargets", "application-autoscaling:RegisterScalableTarget"],
                ["*"],
            )
        steps["ApplyScalingPolicy"].grant(["application-autoscaling:PutScalingPolicy"], ["*"])
        steps["ApplyScalingPolicy"].grant(
            ["cloudwatch:PutMetricAlarm"],
            self.agent_arns(lambda agent: f"acso-{agent}-scale-up", service="cloudwatch"),
        )
        # Registering the first scalable target creates Application Auto Scaling's ECS service-linked role.
        steps["ApplyScalingPolicy"].role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:CreateServiceLinkedRole"],
                resources=[
                    self.format_arn(
                        service="iam",
                        region="",
                        resource="role",
                        resource_name="aws-service-role/ecs.application-autoscaling.amazonaws.com/"
                        "AWSServiceRoleForApplicationAutoScaling_ECSService",
                    )
                ],
                conditions={"StringLike": {"iam:AWSServiceName": "ecs.application-autoscaling.amazonaws.com"}},
            )
        )
        for name in holders:
            suppress_wildcards(steps[name].role, reason, ["Resource::*"])

    # -- Runbooks -------------------------------------------------------------------------------------
    def memory_alarm_name(self, agent: str) -> str:
        return f"acso-{self.config.name}-{agent}-memory-leak"

    def _add_memory_leak(self, steps: dict[str, StepFunction]) -> None:
        """memory-leak: the seed's memory alarm per agent (average > 85 % for 3 hours) starts it; it restarts a
        service only when its 24-hour memory trend rises steadily, then verifies memory fell."""
        step = self.step
        normalize = step("NormalizeMemoryLeak", "memory_leak.normalize", "memory-leak: validate the input")
        trend = step("MemoryTrend", "memory_leak.memory_trend", "memory-leak: 24-hour memory trend of the service")
        restart = step("RestartLeakingService", "memory_leak.restart", "memory-leak: force a new deployment")
        verify = step("VerifyMemory", "memory_leak.verify_memory", "memory-leak: did memory fall after the restart")
        memory_alarm_arns = self.agent_arns(self.memory_alarm_name, service="cloudwatch")
        for reader in (trend, verify):
            reader.grant(["cloudwatch:GetMetricData"], ["*"])
            suppress_wildcards(
                reader.role,
                "cloudwatch:GetMetricData supports no resource-level permissions (read only).",
                ["Resource::*"],
            )
        for ecs_step in (restart, verify):
            ecs_step.grant(["ecs:DescribeServices"], self.service_arns)
            self.state_table.grant_read_write_data(ecs_step.role)  # plan, budget, cooldown / circuit breaker
        restart.grant(["ecs:UpdateService"], self.service_arns)
        restart.grant(["cloudwatch:DescribeAlarms"], memory_alarm_arns)  # still in ALARM right before the write
        machine = self._runbook(
            "memory-leak",
            {
                "NormalizeFunctionArn": normalize,
                "GuardFunctionArn": steps["AcquireGuard"],
                "MemoryTrendFunctionArn": trend,
                "SearchLogsFunctionArn": steps["SearchLogs"],
                "DescribeServicesFunctionArn": steps["DescribeServices"],
                "RestartFunctionArn": restart,
                "VerifyMemoryFunctionArn": verify,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        self._start_on_agent_alarms(
            "MemoryLeakAlarmRule",
            machine,
            self.memory_alarm_name,
            "Start memory-leak when an agent memory alarm goes INTO ALARM (not OK or INSUFFICIENT_DATA).",
        )

    def _add_rollback(self, steps: dict[str, StepFunction]) -> None:
        """rollback, started by hand: the previous (or a given) revision of the service's own task-definition
        family, deployed through the guard, then stable on it and clean logs (smoke checks)."""
        step = self.step
        normalize = step(
            "NormalizeRollback", "rollback.normalize", "rollback: validate the input and the target revision"
        )
        roll_back = step(
            "DeployRollbackRevision", "rollback.roll_back", "rollback: deploy the target revision (guarded)"
        )
        check = step("CheckRollbackRollout", "rollback.check_rollout", "rollback: stable on the target revision")
        for reader in (normalize, roll_back, check):
            reader.grant(["ecs:DescribeServices"], self.service_arns)
        normalize.grant(["ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions"], ["*"])
        suppress_wildcards(
            normalize.role,
            "ecs:DescribeTaskDefinition and ecs:ListTaskDefinitions support no resource-level permissions (read "
            "only: the running and the target revision of the service's own family).",
            ["Resource::*"],
        )
        roll_back.grant(["ecs:UpdateService"], self.service_arns)
        self.state_table.grant_read_write_data(roll_back.role)  # plan, hourly budget, cooldown
        self._runbook(
            "rollback",
            {
                "NormalizeFunctionArn": normalize,
                "GuardFunctionArn": steps["AcquireGuard"],
                "RollBackFunctionArn": roll_back,
                "CheckRolloutFunctionArn": check,
                "SearchLogsFunctionArn": steps["SearchLogs"],
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )

    def _add_config_update(self, steps: dict[str, StepFunction]) -> None:
        """config-update, started by hand: the agent's SSM config parameter (the platform's; this stack never
        creates it) overwritten through the guard, a forced deployment, restart-agent's rollout check, then the
        new tasks' "Configuration loaded" line; otherwise the previous version's value back and a redeploy."""
        config, step = self.config, self.step
        normalize = step("NormalizeConfigUpdate", "config_update.normalize", "config-update: validate the input")
        apply = step("ApplyConfig", "config_update.apply_config", "config-update: write the config, redeploy (guarded)")
        loaded = step(
            "CheckConfigLoaded", "config_update.check_config_loaded", "config-update: 'Configuration loaded' since"
        )
        restore = step(
            "RestoreConfig", "config_update.restore_previous_config", "config-update: restore the previous config"
        )
        parameter_arns = self.agent_arns(
            lambda agent: config.agent_config_parameter.replace("{agent}", agent).lstrip("/"), service="ssm"
        )
        apply.grant(["ssm:GetParameter", "ssm:PutParameter"], parameter_arns)
        restore.grant(["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:PutParameter"], parameter_arns)
        for writer in (apply, restore):
            writer.grant(["ecs:DescribeServices", "ecs:UpdateService"], self.service_arns)
            self.state_table.grant_read_write_data(writer.role)  # plan, hourly budget, cooldown
        loaded.grant(
            ["logs:FilterLogEvents"],
            [
                self.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=f"{config.agents_log_group}:*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
        suppress_wildcards(
            loaded.role,
            "logs:FilterLogEvents is granted on the agents' log group ARN, which IAM spells with a ':*' suffix.",
            [RegexAppliesTo(regex=r"/^Resource::arn:<AWS::Partition>:logs:.*:log-group:.*:\*$/g")],
        )
        self._runbook(
            "config-update",
            {
                "NormalizeFunctionArn": normalize,
                "GuardFunctionArn": steps["AcquireGuard"],
                "ApplyConfigFunctionArn": apply,
                "CheckRolloutFunctionArn": steps["CheckRollout"],
                "CheckConfigLoadedFunctionArn": loaded,
                "RestoreConfigFunctionArn": restore,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )

    def _unavailable_alarm(self, scope: Construct, agent: str) -> cloudwatch.Alarm:
        """`acso-<env>-<agent>-unavailable`: fewer tasks running than desired (ECS Container Insights,
        `desired - running > 0`) for `availability.evaluationPeriods` periods. The complete-outage composite alarm
        counts them; each can also start a single-service runbook. Needs Container Insights on the cluster; without
        its data an alarm stays INSUFFICIENT_DATA (unknown is not "down")."""
        config, policy = self.config, self.config.availability
        period = Duration.seconds(policy.period_seconds)
        dimensions = {"ClusterName": config.cluster_name, "ServiceName": config.service_name(agent)}
        counts = {
            key: cloudwatch.Metric(
                namespace="ECS/ContainerInsights",
                metric_name=metric_name,
                dimensions_map=dimensions,
                statistic="Average",
                period=period,
            )
            for key, metric_name in (("desired", "DesiredTaskCount"), ("running", "RunningTaskCount"))
        }
        return cloudwatch.Alarm(
            scope,
            f"UnavailableAlarm-{agent}",
            alarm_name=self.unavailable_alarm_name(agent),
            alarm_description=f"ACSO {agent}: fewer tasks running than desired for "
            f"{policy.period_seconds * policy.evaluation_periods // 60} minutes (service unavailable or "
            "degraded); counted by the complete-outage alarm.",
            metric=cloudwatch.MathExpression(
                expression="desired - running",
                using_metrics=counts,
                label=f"{agent} tasks missing (desired - running)",
                period=period,
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=policy.evaluation_periods,
            datapoints_to_alarm=policy.evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
        )

    def _add_service_unavailable(self, steps: dict[str, StepFunction]) -> None:
        """service-unavailable (seed: Incident Response -> Service Unavailable, severity High): an agent's
        unavailable alarm going INTO ALARM (or an operator) starts it. It reads the service, its stopped tasks and
        the agents' startup errors, rolls back when the newest deployment is the cause (else forces a new
        deployment), both through the guard's last check, and waits until the service is available again."""
        config, step = self.config, self.step
        normalize = step(
            "NormalizeServiceUnavailable", "service_unavailable.normalize", "service-unavailable: validate the input"
        )
        inspect = step(
            "InspectUnavailableService",
            "service_unavailable.inspect_service",
            "service-unavailable: the service, its revisions, the agents down",
        )
        stopped = step(
            "ListStoppedTasks", "service_unavailable.stopped_tasks", "service-unavailable: stopped tasks and why"
        )
        recover = step(
            "RecoverService",
            "service_unavailable.recover",
            "service-unavailable: decide, then roll back or restart (guarded)",
        )
        check = step("CheckRecovery", "service_unavailable.check_recovery", "service-unavailable: available again?")
        alarm_arns = self.agent_arns(self.unavailable_alarm_name, service="cloudwatch")
        for reader in (inspect, recover, check):
            reader.grant(["ecs:DescribeServices"], self.service_arns)
        # Which agents are down (complete outage: stand down); the alarm still in ALARM right before the write.
        for reader in (inspect, recover):
            reader.grant(["cloudwatch:DescribeAlarms"], alarm_arns)
        inspect.grant(["ecs:ListTaskDefinitions"], ["*"])
        suppress_wildcards(
            inspect.role,
            "ecs:ListTaskDefinitions supports no resource-level permissions (read only: the ACTIVE revisions of the "
            "service's own family).",
            ["Resource::*"],
        )
        cluster_arn = self.format_arn(service="ecs", resource="cluster", resource_name=config.cluster_name)
        stopped.role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecs:ListTasks"], resources=["*"], conditions={"ArnEquals": {"ecs:cluster": cluster_arn}}
            )
        )
        stopped.grant(
            ["ecs:DescribeTasks"],
            [self.format_arn(service="ecs", resource="task", resource_name=f"{config.cluster_name}/*")],
        )
        suppress_wildcards(
            stopped.role,
            "ecs:ListTasks is authorized on container instances, so it is granted on '*' under the condition "
            "ecs:cluster = the agents' cluster; ecs:DescribeTasks on that cluster's tasks (read only).",
            ["Resource::*", RegexAppliesTo(regex=r"/^Resource::arn:<AWS::Partition>:ecs:.*:task\/.*\/\*$/g")],
        )
        recover.grant(["ecs:UpdateService"], self.service_arns)
        for stateful in (recover, check):
            self.state_table.grant_read_write_data(stateful.role)  # plan, budget, cooldown / circuit breaker
        machine = self._runbook(
            "service-unavailable",
            {
                "NormalizeFunctionArn": normalize,
                "GuardFunctionArn": steps["AcquireGuard"],
                "InspectServiceFunctionArn": inspect,
                "StoppedTasksFunctionArn": stopped,
                "SearchLogsFunctionArn": steps["SearchLogs"],
                "RecoverFunctionArn": recover,
                "CheckRecoveryFunctionArn": check,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        self._start_on_agent_alarms(
            "ServiceUnavailableAlarmRule",
            machine,
            self.unavailable_alarm_name,
            "Start service-unavailable when an agent's unavailable alarm goes INTO ALARM (running < desired), not on "
            "OK or INSUFFICIENT_DATA.",
        )

    def _add_complete_outage(self, steps: dict[str, StepFunction]) -> None:
        """complete-outage (seed: Emergency Procedures): most agents unavailable at once (a composite alarm over
        the unavailable alarms) or an operator starts it. It assesses every service, pages L3 and L4, and offers a
        failover to the DR region that runs only after a person approves: the DR services are scaled to
        production's desired counts, and once they run, the active-region parameter is switched to the DR region."""
        config, dr, step = self.config, self.config.dr, self.step
        normalize = step("NormalizeOutage", "complete_outage.normalize", "complete-outage: validate the input")
        guard = step("OutageGuard", "complete_outage.acquire_guard", "complete-outage: duplicate, fleet lease, flags")
        assess = step("AssessOutage", "complete_outage.assess", "complete-outage: every service in one call")
        plan = step("PlanFailover", "complete_outage.plan_failover", "complete-outage: what failover would do")
        page = step("PageOnCall", "complete_outage.page_on_call", "complete-outage: page L3 and L4")
        fail_over = step("FailOver", "complete_outage.fail_over", "complete-outage: scale up the DR services")
        check = step("CheckDrReady", "complete_outage.check_dr_ready", "complete-outage: DR services running?")
        switch = step("SwitchActiveRegion", "complete_outage.switch_active_region", "complete-outage: route to DR")
        self.dr_active_region = ssm.StringParameter(
            self.family,
            "DrActiveRegion",
            parameter_name=dr.active_region_parameter,
            string_value=self.region,
            description=f"ACSO {config.name}: the region serving traffic (read by the routing layer); the "
            f"complete-outage runbook sets it to {dr.region} after an approved failover.",
        )
        dr_service_arns = self.agent_arns(
            lambda agent: f"{dr.cluster_name}/{config.service_name(agent)}", service="ecs", region=dr.region
        )
        for reader in (assess, fail_over):
            reader.grant(["ecs:DescribeServices"], self.service_arns)
        for reader in (plan, fail_over, check):
            reader.grant(["ecs:DescribeServices"], dr_service_arns)
        fail_over.grant(["ecs:UpdateService"], dr_service_arns)
        for stateful in (guard, page, fail_over, switch):
            self.state_table.grant_read_write_data(stateful.role)  # event claim, fleet lease, plan, pages sent
        for reader in (guard, fail_over, switch):
            self.flags.grant_read(reader.role)  # the kill switch is re-read right before each write
        self.dr_active_region.grant_read(switch.role)
        self.dr_active_region.grant_write(switch.role)
        for level in ("L3", "L4"):
            self.topics[level].grant_publish(page.role)
        suppress_wildcards(
            page.role,
            "Publishing to the KMS-encrypted escalation topics needs kms:GenerateDataKey* on their one key.",
            ["Action::kms:GenerateDataKey*"],
        )
        self._runbook(
            "complete-outage",
            {
                "NormalizeFunctionArn": normalize,
                "GuardFunctionArn": guard,
                "AssessFunctionArn": assess,
                "PlanFailoverFunctionArn": plan,
                "PageOnCallFunctionArn": page,
                "RequestApprovalFunctionArn": self.approval.request,
                "FailOverFunctionArn": fail_over,
                "CheckDrReadyFunctionArn": check,
                "SwitchActiveRegionFunctionArn": switch,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        self.approval.allow_decisions_for(self.state_machine_arn("complete-outage"))
        outage_alarms = self._outage_alarms()
        events.Rule(
            self.family,
            "CompleteOutageAlarmRule",
            description="Start complete-outage when the complete-outage composite alarm goes INTO ALARM.",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[outage_alarms[-1].alarm_arn],
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[targets.SfnStateMachine(self.runbooks["complete-outage"].state_machine, **self.trigger_delivery)],
        )

    def _outage_alarms(self) -> list[cloudwatch.CompositeAlarm]:
        """`acso-<env>-complete-outage`: at least `outageMinServicesDown` agents unavailable at once; with more than
        100 agents, over per-group composite alarms (stacks/outage_alarm.py). Children are named, not referenced:
        they live in the agent-alarm stacks, which this family depends on."""
        config = self.config
        children = [self.unavailable_alarm_name(agent) for agent in config.agents]
        threshold = config.availability.outage_min_services_down
        alarms: list[cloudwatch.CompositeAlarm] = []
        for name, rule in outage_rules(self.outage_alarm_name, children, threshold).items():
            is_top = name == self.outage_alarm_name
            alarm = cloudwatch.CompositeAlarm(
                self.family,
                "CompleteOutageAlarm" if is_top else f"OutageGroupAlarm-{name.removeprefix(self.outage_alarm_name)}",
                composite_alarm_name=name,
                alarm_description=f"ACSO {config.name}: at least {threshold} of {len(config.agents)} agents "
                "unavailable at once (complete system outage); starts the complete-outage runbook."
                if is_top
                else f"ACSO {config.name}: part of the complete-outage alarm (one group of agents).",
                alarm_rule=cloudwatch.AlarmRule.from_string(rule),
            )
            for earlier in alarms:  # a composite alarm is created after the composite alarms it names
                alarm.node.add_dependency(earlier)
            alarms.append(alarm)
        return alarms

    def _add_data_breach_storage(self) -> None:
        """data-breach's forensic evidence bucket and its audiences' topics (created before the settings).

        The bucket cannot lose evidence: Object Lock with a default retention (COMPLIANCE: nobody, not even the
        account root, can delete a version or shorten its retention before it ends), versioning (which Object Lock
        requires), and a policy that refuses any PutObject without `If-None-Match: *`, so a key is written once and
        never gets a newer version over it. Encrypted, private, TLS only, its access logged to the reports bucket.
        """
        config, prefix = self.config, f"acso-{self.config.name}"
        policy = config.data_breach
        days = Duration.days(policy.evidence_retention_days)
        retention = (
            s3.ObjectLockRetention.compliance(days)
            if policy.evidence_retention_mode == "COMPLIANCE"
            else s3.ObjectLockRetention.governance(days)
        )
        self.evidence_bucket = s3.Bucket(
            self,
            "EvidenceBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            object_lock_enabled=True,
            object_lock_default_retention=retention,
            server_access_logs_bucket=self.reports_bucket,
            server_access_logs_prefix="access-logs/evidence-bucket/",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.evidence_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EvidenceIsWrittenOnce",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.evidence_bucket.arn_for_objects("*")],
                conditions={"Null": {"s3:if-none-match": "true"}},
            )
        )
        self.audience_topics = {
            audience: sns.Topic(
                self,
                f"Audience{audience.title()}",
                topic_name=f"{prefix}-{audience}",
                display_name=f"ACSO {config.name} {audience}",
                master_key=self.key,
                enforce_ssl=True,
            )
            for audience in DATA_BREACH_AUDIENCES
        }

    def _add_data_breach(self, steps: dict[str, StepFunction]) -> None:
        """data-breach (seed: Emergency Procedures, Data Breach Response): started by hand or by a High/Critical
        GuardDuty finding about a task of the agents' cluster. It investigates (read only), then only after a
        person approves it isolates the service (desired 0, the prior count recorded), copies the forensic evidence
        into the Object Lock bucket and tells security, legal and compliance. `"restore": true` is a separate run
        that asks again and sets the recorded count back."""
        config, step = self.config, self.step
        normalize = step("NormalizeDataBreach", "data_breach.normalize", "data-breach: validate the input or finding")
        describe_task = step(
            "DescribeBreachTaskDefinition", "data_breach.describe_task_definition", "data-breach: the task definition"
        )
        read_logs = step("ReadServiceLogs", "data_breach.read_service_logs", "data-breach: the service's recent logs")
        plan = step("PlanBreachResponse", "data_breach.plan", "data-breach: what a person is asked to approve")
        isolate = step("IsolateService", "data_breach.isolate_service", "data-breach: approved isolation (desired 0)")
        preserve = StepFunction(
            self.family,
            "PreserveEvidence",
            handler="remediation.handlers.data_breach.preserve_evidence",
            description="data-breach: copy configuration, task definitions and logs into the locked bucket",
            code=self.code,
            layers=[self._layer],
            environment=self._environment,
            timeout=Duration.seconds(120),  # a day of logs; the state's TimeoutSeconds is 180
        )
        notify = step(
            "NotifyStakeholders", "data_breach.notify_stakeholders", "data-breach: security, legal, compliance"
        )
        restore = step("RestoreService", "data_breach.restore_service", "data-breach: approved restore of the count")

        for reader in (describe_task, plan, isolate, preserve, restore):
            reader.grant(["ecs:DescribeServices"], self.service_arns)
        for writer in (isolate, restore):
            writer.grant(["ecs:UpdateService"], self.service_arns)
        for reader in (describe_task, preserve):
            reader.grant(["ecs:DescribeTaskDefinition"], ["*"])
            suppress_wildcards(
                reader.role, "ecs:DescribeTaskDefinition supports no resource-level permissions.", ["Resource::*"]
            )
        agents_log_group_arn = self.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{config.agents_log_group}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        for reader in (read_logs, preserve):
            reader.grant(["logs:FilterLogEvents"], [agents_log_group_arn])
            suppress_wildcards(
                reader.role,
                "logs:FilterLogEvents is granted on the agents' log group ARN, which IAM spells with a ':*' suffix.",
                [RegexAppliesTo(regex=r"/^Resource::arn:<AWS::Partition>:logs:.*:log-group:.*:\*$/g")],
            )
        self.state_table.grant_read_data(plan.role)  # the isolation record a restore needs
        for stateful in (isolate, restore, notify):
            self.state_table.grant_read_write_data(stateful.role)  # lease, plan, budget, isolation, notified
        # Write once and read back the checksum and lock of what was written; never delete, never overwrite.
        preserve.grant(
            ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention"],
            [self.evidence_bucket.arn_for_objects(f"{EVIDENCE_PREFIX}*")],
        )
        suppress_wildcards(
            preserve.role,
            "Evidence is written under the data-breach/ prefix of the evidence bucket, one folder per execution.",
            [objects_under("EvidenceBucket", "data-breach/")],
        )
        for topic in self.audience_topics.values():
            topic.grant_publish(notify.role)
        suppress_wildcards(
            notify.role,
            "Publishing to the KMS-encrypted audience topics needs kms:GenerateDataKey* on their one key.",
            ["Action::kms:GenerateDataKey*"],
        )
        machine = self._runbook(
            "data-breach",
            {
                "NormalizeFunctionArn": normalize,
                "GuardFunctionArn": steps["AcquireGuard"],
                "DescribeServicesFunctionArn": steps["DescribeServices"],
                "DescribeTaskDefinitionFunctionArn": describe_task,
                "ReadServiceLogsFunctionArn": read_logs,
                "PlanFunctionArn": plan,
                "RequestApprovalFunctionArn": self.approval.request,
                "IsolateServiceFunctionArn": isolate,
                "PreserveEvidenceFunctionArn": preserve,
                "NotifyStakeholdersFunctionArn": notify,
                "RestoreServiceFunctionArn": restore,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        self.approval.allow_decisions_for(self.state_machine_arn("data-breach"))
        events.Rule(
            self.family,
            "DataBreachFindingRule",
            description="Start data-breach on a High or Critical GuardDuty finding about a task of the agents' "
            "cluster in this account (the runbook still asks a person before it changes anything).",
            event_pattern=events.EventPattern(
                source=["aws.guardduty"],
                detail_type=["GuardDuty Finding"],
                account=[self.account],
                region=[self.region],
                detail={
                    "severity": [{"numeric": [">=", 7]}],
                    "resource": {"resourceType": ["ECSCluster"], "ecsClusterDetails": {"name": [config.cluster_name]}},
                },
            ),
            targets=[targets.SfnStateMachine(machine.state_machine, **self.trigger_delivery)],
        )

    def _bucket_arn(self, bucket: str, objects: str | None = None) -> str:
        """ARN of a bucket this stack does not own (the platform's backups, the DR restore bucket), or of its
        objects matching `objects` (e.g. `dr-test/*`)."""
        name = bucket if objects is None else f"{bucket}/{objects}"
        return self.format_arn(service="s3", region="", account="", resource=name)

    @property
    def maintenance_backup_resources(self) -> list[str]:
        """The resources maintenance-window backs up, `{region}` and `{account}` replaced by the stack's own."""
        return [
            arn.replace("{region}", self.region).replace("{account}", self.account)
            for arn in self.config.maintenance_window.backup_resources
        ]

    @property
    def maintenance_backup_role_arn(self) -> str:
        """The role AWS Backup assumes for maintenance-window's on-demand backups (the platform's)."""
        name = self.config.maintenance_window.backup_role_name
        return self.format_arn(service="iam", region="", resource="role", resource_name=name)

    def _add_maintenance_window(self, steps: dict[str, StepFunction]) -> None:
        """maintenance-window (seed: Scheduled Maintenance Window), monthly (schedules.maintenanceWindow, first Sunday
        02:00 UTC) and by hand: pre-checklist, an on-demand AWS Backup job of each configured resource, auto-remediation
        suppressed for the window (the automation flags' suppressedUntil), the health criteria validated and checked
        again after the monitoring, the previous flags put back (also on the failure path and for an abandoned run),
        a report. Its only writes: the backup jobs, the automation flags parameter, its report."""
        config, step, handlers = self.config, self.step, "maintenance_window"
        normalize = step(
            "NormalizeMaintenanceWindow", f"{handlers}.normalize", "maintenance-window: validate the input"
        )
        guard = step("MaintenanceGuard", f"{handlers}.acquire_guard", "maintenance-window: duplicate event, lease")
        checklist = step("MaintenancePreChecklist", f"{handlers}.pre_checklist", "maintenance-window: pre-checklist")
        start_backup = step(
            "StartMaintenanceBackup", f"{handlers}.start_backup", "maintenance-window: on-demand backup"
        )
        check_backup = step("CheckMaintenanceBackup", f"{handlers}.check_backup", "maintenance-window: backup done?")
        suppress = step(
            "SuppressAutoRemediation", f"{handlers}.suppress_auto_remediation", "maintenance-window: suppress"
        )
        assess = step("AssessMaintenanceHealth", f"{handlers}.assess_health", "maintenance-window: health criteria")
        switch_back = step("SwitchBackAutoRemediation", f"{handlers}.switch_back", "maintenance-window: switch back")
        report = step("ReportMaintenance", f"{handlers}.report", "maintenance-window: report to S3")
        record = step(
            "RecordMaintenanceDecision", f"{handlers}.record_decision", "maintenance-window: restore on failure, record"
        )
        checklist.grant(["ecs:DescribeServices"], self.service_arns)
        self.state_table.grant_read_data(checklist.role)  # the runbooks' leases
        for stateful in (guard, suppress, record):
            self.state_table.grant_read_write_data(stateful.role)  # event claim, the lease and its note
        self.state_table.grant_read_data(switch_back.role)  # the note on the lease
        # The flags parameter: read by the checklist; written by the suppression and by whatever puts it back (the
        # switch-back step, the failure path's record step, the abandoned-run rule releasing the lease).
        self.flags.grant_read(checklist.role)
        for writer in (suppress, switch_back, record, steps["ReleaseAbandoned"]):
            self.flags.grant_read(writer.role)
            self.flags.grant_write(writer.role)
        vault_arn = self.format_arn(
            service="backup",
            resource="backup-vault",
            resource_name=config.backups.vault,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        start_backup.grant(["backup:StartBackupJob"], [vault_arn])
        start_backup.role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.maintenance_backup_role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}},
            )
        )
        check_backup.grant(["backup:DescribeBackupJob"], ["*"])
        suppress_wildcards(
            check_backup.role,
            "backup:DescribeBackupJob supports no resource-level permissions (read only: the run's own jobs).",
            ["Resource::*"],
        )
        report.grant(["s3:PutObject"], [self.reports_bucket.arn_for_objects("maintenance-window/*")])
        suppress_wildcards(
            report.role,
            "Reports are written under the maintenance-window/ prefix of the reports bucket, one key per run.",
            [objects_under("ReportsBucket", "maintenance-window/")],
        )
        for topic in self.topics.values():
            topic.grant_publish(record.role)
        suppress_wildcards(
            record.role,
            "Publishing to the KMS-encrypted escalation topics needs kms:GenerateDataKey* on their one key.",
            ["Action::kms:GenerateDataKey*"],
        )
        machine = self._runbook(
            "maintenance-window",
            {
                "NormalizeFunctionArn": normalize,
                "GuardFunctionArn": guard,
                "PreChecklistFunctionArn": checklist,
                "StartBackupFunctionArn": start_backup,
                "CheckBackupFunctionArn": check_backup,
                "SuppressFunctionArn": suppress,
                "DescribeServicesFunctionArn": steps["DescribeServices"],
                "CollectUtilizationFunctionArn": steps["CollectUtilization"],
                "AssessHealthFunctionArn": assess,
                "SwitchBackFunctionArn": switch_back,
                "ReportFunctionArn": report,
                "RecordDecisionFunctionArn": record,
            },
        )
        events.Rule(
            self.family,
            "MaintenanceWindowSchedule",
            description="Start the monthly maintenance window (first Sunday 02:00 UTC).",
            schedule=events.Schedule.expression(config.schedules.maintenance_window),
            targets=[targets.SfnStateMachine(machine.state_machine, **self.trigger_delivery)],
        )

    def _add_backup_verification(self, steps: dict[str, StepFunction]) -> None:
        """backup-verification (seed: Daily Backup Verification), daily and by hand: the AWS Backup jobs of the
        last `backups.maxAgeHours` all COMPLETED, and the day's `YYYY/MM/DD/` prefix of the backup bucket not
        empty. Read only; verified -> audit only, otherwise L2 with what is missing."""
        config, step = self.config, self.step
        normalize = step(
            "NormalizeBackupVerification", "backup_verification.normalize", "backup-verification: validate the input"
        )
        jobs = step("ListBackupJobs", "backup_verification.list_backup_jobs", "backup-verification: AWS Backup jobs")
        objects = step(
            "ListBackupObjects", "backup_verification.list_backup_objects", "backup-verification: the day's prefix"
        )
        assess = step("AssessBackups", "backup_verification.assess", "backup-verification: verified or not")
        jobs.grant(["backup:ListBackupJobs"], ["*"])
        suppress_wildcards(
            jobs.role, "backup:ListBackupJobs supports no resource-level permissions (read only).", ["Resource::*"]
        )
        objects.grant(["s3:ListBucket"], [self._bucket_arn(config.backups.bucket)])
        machine = self._runbook(
            "backup-verification",
            {
                "NormalizeFunctionArn": normalize,
                "ListBackupJobsFunctionArn": jobs,
                "ListBackupObjectsFunctionArn": objects,
                "AssessBackupsFunctionArn": assess,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        events.Rule(
            self.family,
            "BackupVerificationSchedule",
            description="Start the daily backup verification.",
            schedule=events.Schedule.expression(config.schedules.backup_verification),
            targets=[targets.SfnStateMachine(machine.state_machine, **self.trigger_delivery)],
        )

    def _add_dr_test(self, steps: dict[str, StepFunction]) -> None:
        """dr-test (seed: Disaster Recovery Test), quarterly and by hand: the newest backup copied into the DR
        region's restore bucket under a per-run `dr-test/` prefix, validated (count, checksums), RTO and RPO measured
        against `dr.rtoMinutes` / `dr.rpoMinutes` and reported under `dr-test/` of the reports bucket; the validated
        copy is then deleted. Reads the backup bucket only; writes only under `dr-test/` of the restore bucket and
        of the reports bucket."""
        config, dr, step = self.config, self.config.dr, self.step

        def long_step(construct_id: str, handler: str, description: str) -> StepFunction:
            # A batch stops taking objects 4 minutes before this timeout (logic/dr_test.py TIME_MARGIN_MS).
            return StepFunction(
                self.family,
                construct_id,
                handler=f"remediation.handlers.{handler}",
                description=description,
                code=self.code,
                layers=[self._layer],
                environment=self._environment,
                timeout=Duration.seconds(900),
            )

        normalize = step("NormalizeDrTest", "dr_test.normalize", "dr-test: validate the input")
        guard = step("DrTestGuard", "dr_test.acquire_guard", "dr-test: duplicate event and automation flags")
        find = step("FindLatestBackup", "dr_test.find_latest_backup", "dr-test: the newest backup and its RPO")
        restore = long_step("RestoreBackup", "dr_test.restore_backup", "dr-test: copy a batch into the DR region")
        validate = long_step("ValidateRestore", "dr_test.validate_restore", "dr-test: compare a batch of copies")
        report = step("ReportDrTest", "dr_test.report", "dr-test: RTO and RPO against objectives, report to S3")
        clean_up = long_step("CleanUpRestore", "dr_test.clean_up", "dr-test: delete the drill's validated copy")

        backup_bucket, restore_bucket = config.backups.bucket, dr.restore_bucket
        restored = "dr-test/*"  # the drill's prefix in the restore bucket and in the reports bucket

        def _object_finding(bucket: str, objects: str) -> str:
            return f"Resource::arn:<AWS::Partition>:s3:::{bucket}/{objects}"

        for lister in (find, restore, validate):
            lister.grant(["s3:ListBucket"], [self._bucket_arn(backup_bucket)])
        for reader in (restore, validate):  # CopyObject's source and HeadObject need s3:GetObject
            reader.grant(["s3:GetObject"], [self._bucket_arn(backup_bucket, "*")])
        restore.grant(["s3:PutObject"], [self._bucket_arn(restore_bucket, restored)])
        validate.grant(["s3:GetObject"], [self._bucket_arn(restore_bucket, restored)])
        clean_up.grant(["s3:DeleteObject"], [self._bucket_arn(restore_bucket, restored)])
        for lister in (validate, clean_up):
            lister.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[self._bucket_arn(restore_bucket)],
                    conditions={"StringLike": {"s3:prefix": [restored]}},
                )
            )
        report.grant(["s3:PutObject"], [self.reports_bucket.arn_for_objects(restored)])
        self.state_table.grant_read_write_data(guard.role)  # the schedule event's claim; flags' breaker
        self.state_table.grant_read_data(restore.role)  # the breaker, re-read before each batch
        for reader in (guard, restore):
            self.flags.grant_read(reader.role)  # kill switch and maintenance, re-read before each batch
        for role, reason, findings in (
            (
                restore.role,
                "Reads the backup bucket's objects (any key: the newest day's prefix is found at run time) and "
                "writes only under dr-test/ of the DR restore bucket.",
                [_object_finding(backup_bucket, "*"), _object_finding(restore_bucket, restored)],
            ),
            (
                validate.role,
                "Reads the backup bucket's objects and the drill's copies under dr-test/ of the DR restore bucket.",
                [_object_finding(backup_bucket, "*"), _object_finding(restore_bucket, restored)],
            ),
            (
                clean_up.role,
                "Deletes only the drill's own copies, under dr-test/ of the DR restore bucket.",
                [_object_finding(restore_bucket, restored)],
            ),
            (
                report.role,
                "Reports are written under the dr-test/ prefix of the reports bucket, one key per run.",
                [objects_under("ReportsBucket", "dr-test/")],
            ),
        ):
            suppress_wildcards(role, reason, findings)
        machine = self._runbook(
            "dr-test",
            {
                "NormalizeFunctionArn": normalize,
                "GuardFunctionArn": guard,
                "FindLatestBackupFunctionArn": find,
                "RestoreBackupFunctionArn": restore,
                "ValidateRestoreFunctionArn": validate,
                "ReportDrTestFunctionArn": report,
                "CleanUpRestoreFunctionArn": clean_up,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        events.Rule(
            self.family,
            "DrTestSchedule",
            description="Start the quarterly disaster recovery test.",
            schedule=events.Schedule.expression(config.schedules.dr_test),
            targets=[targets.SfnStateMachine(machine.state_machine, **self.trigger_delivery)],
        )

    def _add_weekly_performance_review(self, steps: dict[str, StepFunction]) -> None:
        """weekly-performance-review (seed: Weekly Performance Review): every Monday (schedules.
        weeklyPerformanceReview) or by hand, a week of hourly metrics of every agent in one GetMetricData call and
        the scaling policies in force, compared with the baseline stored in the reports bucket, forecast against the
        health thresholds; a report with graphs (CloudWatch GetMetricWidgetImage) and the updated baseline in S3,
        an L1 summary. Read only towards production: it writes under weekly-performance-review/ only."""
        config, prefix = self.config, "weekly-performance-review"
        handlers, step = "weekly_performance_review", self.step
        normalize = step("NormalizeWeeklyReview", f"{handlers}.normalize", f"{prefix}: validate the input")
        collect = step("CollectWeeklyMetrics", f"{handlers}.collect_metrics", f"{prefix}: metrics, one GetMetricData")
        scaling = step("DescribeScalingPolicies", f"{handlers}.describe_scaling", f"{prefix}: scaling policies")
        analyze = step("AnalyzePerformance", f"{handlers}.analyze", f"{prefix}: baseline, anomalies, forecast")
        publish = StepFunction(
            self.family,
            "PublishPerformanceReport",
            handler=f"remediation.handlers.{handlers}.publish_report",
            description=f"{prefix}: graphs (GetMetricWidgetImage), report and baseline to S3",
            code=self.code,
            layers=[self._layer],
            environment=self._environment,
            timeout=Duration.seconds(120),  # a few graphs rendered by CloudWatch; the state's TimeoutSeconds is 180
        )
        collect.grant(["cloudwatch:GetMetricData"], ["*"])
        publish.grant(["cloudwatch:GetMetricWidgetImage"], ["*"])
        scaling.grant(
            ["application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies"],
            ["*"],
        )
        for reader, reason in (
            (collect, "cloudwatch:GetMetricData supports no resource-level permissions (read only)."),
            (publish, "cloudwatch:GetMetricWidgetImage supports no resource-level permissions (read only)."),
            (scaling, "Application Auto Scaling's Describe* actions support no resource-level permissions."),
        ):
            suppress_wildcards(reader.role, reason, ["Resource::*"])
        baseline = self.reports_bucket.arn_for_objects(f"{prefix}/baseline.json")
        analyze.grant(["s3:GetObject"], [baseline])
        # Without s3:ListBucket, S3 answers a missing baseline (the first run) with AccessDenied, not NoSuchKey.
        analyze.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.reports_bucket.bucket_arn],
                conditions={"StringEquals": {"s3:prefix": f"{prefix}/baseline.json"}},
            )
        )
        publish.grant(["s3:PutObject"], [self.reports_bucket.arn_for_objects(f"{prefix}/*")])
        suppress_wildcards(
            publish.role,
            "The report, its graphs and the baseline are written under the weekly-performance-review/ prefix of the "
            "reports bucket, one folder per week.",
            [objects_under("ReportsBucket", "weekly-performance-review/")],
        )
        machine = self._runbook(
            "weekly-performance-review",
            {
                "NormalizeFunctionArn": normalize,
                "CollectMetricsFunctionArn": collect,
                "DescribeServicesFunctionArn": steps["DescribeServices"],
                "DescribeScalingFunctionArn": scaling,
                "AnalyzeFunctionArn": analyze,
                "PublishReportFunctionArn": publish,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        events.Rule(
            self.family,
            "WeeklyPerformanceReviewSchedule",
            description="Start the weekly performance review.",
            schedule=events.Schedule.expression(config.schedules.weekly_performance_review),
            targets=[targets.SfnStateMachine(machine.state_machine, **self.trigger_delivery)],
        )

    def _add_database_review(self, steps: dict[str, StepFunction]) -> None:
        """database-review (seed: Database Query Optimization): its alarm (DatabaseConnections at least
        `database.connectionsAlarmPercent` % of `maxConnections`) going into ALARM, or a console run, reads the
        slow-query log, the agents' timeouts, the instance's metrics (one GetMetricData call) and description, and
        leaves recommendations in a report under database-review/ of the reports bucket, linked from an L1 message.
        Read only: no step may change RDS."""
        policy, name, step = self.config.database, "database-review", self.step
        normalize = step("NormalizeDatabaseReview", "database_review.normalize", f"{name}: validate the input")
        slow = StepFunction(
            self.family,
            "FindSlowQueries",
            handler="remediation.handlers.database_review.find_slow_queries",
            description=f"{name}: slow-query log entries, grouped by query",
            code=self.code,
            layers=[self._layer],
            environment=self._environment,
            timeout=Duration.seconds(60),  # up to 20 000 log entries; the state's TimeoutSeconds is 90
        )
        collect = step("CollectDatabaseMetrics", "database_review.collect_metrics", f"{name}: one GetMetricData")
        describe = step("DescribeDatabase", "database_review.describe_instance", f"{name}: DescribeDBInstances")
        recommend = step("RecommendDatabase", "database_review.recommend", f"{name}: recommendations and report")
        slow.grant(
            ["logs:FilterLogEvents"],
            [
                self.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=f"{policy.slow_query_log_group}:*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
        collect.grant(["cloudwatch:GetMetricData"], ["*"])
        describe.grant(
            ["rds:DescribeDBInstances"],
            [
                self.format_arn(
                    service="rds",
                    resource="db",
                    resource_name=policy.instance_id,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
        recommend.grant(["s3:PutObject"], [self.reports_bucket.arn_for_objects(f"{name}/*")])
        for role, reason, findings in (
            (
                slow.role,
                "logs:FilterLogEvents is granted on the database's slow-query log group ARN, which IAM spells with a "
                "':*' suffix.",
                [RegexAppliesTo(regex=r"/^Resource::arn:<AWS::Partition>:logs:.*:log-group:.*:\*$/g")],
            ),
            (
                collect.role,
                "cloudwatch:GetMetricData supports no resource-level permissions (read only).",
                ["Resource::*"],
            ),
            (
                recommend.role,
                "Reports are written under the database-review/ prefix of the reports bucket, one key per run.",
                [objects_under("ReportsBucket", "database-review/")],
            ),
        ):
            suppress_wildcards(role, reason, findings)
        machine = self._runbook(
            name,
            {
                "NormalizeFunctionArn": normalize,
                "FindSlowQueriesFunctionArn": slow,
                "SearchLogsFunctionArn": steps["SearchLogs"],
                "CollectDatabaseMetricsFunctionArn": collect,
                "DescribeDatabaseFunctionArn": describe,
                "RecommendDatabaseFunctionArn": recommend,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        alarm = cloudwatch.Alarm(
            self.family,
            "DatabaseConnectionsAlarm",
            alarm_name=f"acso-{self.config.name}-{DATABASE_REVIEW_ALARM}",
            alarm_description=f"ACSO database {policy.instance_id}: connections above "
            f"{policy.connections_alarm_percent:g} % of max_connections ({policy.max_connections}) for "
            f"{policy.alarm_evaluation_periods} periods of {policy.alarm_period_seconds // 60} minutes; starts the "
            f"{name} runbook.",
            metric=cloudwatch.Metric(
                namespace="AWS/RDS",
                metric_name="DatabaseConnections",
                statistic="Maximum",
                period=Duration.seconds(policy.alarm_period_seconds),
                dimensions_map={"DBInstanceIdentifier": policy.instance_id},
            ),
            threshold=policy.connections_alarm_threshold,
            evaluation_periods=policy.alarm_evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        events.Rule(
            self.family,
            "DatabaseReviewAlarmRule",
            description=f"Start {name} when the database connections alarm goes INTO ALARM.",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[alarm.alarm_arn],
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[targets.SfnStateMachine(machine.state_machine, **self.trigger_delivery)],
        )

    def _add_cache_review(self, steps: dict[str, StepFunction]) -> None:
        """cache-review (seed: Cache Optimization): its alarm (hit rate = CacheHits / (CacheHits + CacheMisses)
        below `cache.hitRateTargetPercent`, metric math) going into ALARM, or a console run, reads the node's metrics
        (one GetMetricData call) and node type, and leaves recommendations in a report under cache-review/ of the
        reports bucket, linked from an L1 message. Read only: no step may change ElastiCache."""
        policy, name, step = self.config.cache, "cache-review", self.step
        normalize = step("NormalizeCacheReview", "cache_review.normalize", f"{name}: validate the input")
        collect = step("CollectCacheMetrics", "cache_review.collect_metrics", f"{name}: one GetMetricData")
        describe = step("DescribeCache", "cache_review.describe_cluster", f"{name}: DescribeCacheClusters")
        recommend = step("RecommendCache", "cache_review.recommend", f"{name}: recommendations and report")
        collect.grant(["cloudwatch:GetMetricData"], ["*"])
        describe.grant(
            ["elasticache:DescribeCacheClusters"],
            [
                self.format_arn(
                    service="elasticache",
                    resource="cluster",
                    resource_name=policy.cluster_id,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
        recommend.grant(["s3:PutObject"], [self.reports_bucket.arn_for_objects(f"{name}/*")])
        suppress_wildcards(
            collect.role,
            "cloudwatch:GetMetricData supports no resource-level permissions (read only).",
            ["Resource::*"],
        )
        suppress_wildcards(
            recommend.role,
            "Reports are written under the cache-review/ prefix of the reports bucket, one key per run.",
            [objects_under("ReportsBucket", "cache-review/")],
        )
        machine = self._runbook(
            name,
            {
                "NormalizeFunctionArn": normalize,
                "CollectCacheMetricsFunctionArn": collect,
                "DescribeCacheFunctionArn": describe,
                "RecommendCacheFunctionArn": recommend,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        period = Duration.seconds(policy.alarm_period_seconds)

        def cache_metric(metric_name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/ElastiCache",
                metric_name=metric_name,
                statistic="Sum",
                period=period,
                dimensions_map={"CacheClusterId": policy.cluster_id},
            )

        alarm = cloudwatch.Alarm(
            self.family,
            "CacheHitRateAlarm",
            alarm_name=f"acso-{self.config.name}-{CACHE_REVIEW_ALARM}",
            alarm_description=f"ACSO cache {policy.cluster_id}: hit rate below {policy.hit_rate_target_percent:g} % "
            f"for {policy.alarm_evaluation_periods} periods of {policy.alarm_period_seconds // 60} minutes; starts the "
            f"{name} runbook.",
            metric=cloudwatch.MathExpression(
                expression="100 * hits / (hits + misses)",
                using_metrics={"hits": cache_metric("CacheHits"), "misses": cache_metric("CacheMisses")},
                label="Cache hit rate (%)",
                period=period,
            ),
            threshold=policy.hit_rate_target_percent,
            evaluation_periods=policy.alarm_evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,  # no traffic: no hit rate, no alarm
        )
        events.Rule(
            self.family,
            "CacheReviewAlarmRule",
            description=f"Start {name} when the cache hit-rate alarm goes INTO ALARM.",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[alarm.alarm_arn],
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[targets.SfnStateMachine(machine.state_machine, **self.trigger_delivery)],
        )

    def _add_security_patch_review(self, steps: dict[str, StepFunction]) -> None:
        """security-patch-review (seed: Security Patch Management), monthly (schedules.securityPatchReview) or by hand:
        the serverless form of the seed's pip-audit step. Each agent's running task definition -> its images -> their
        ECR scan findings (basic or enhanced/Inspector, both through ecr:DescribeImageScanFindings); a report
        (Markdown + JSON) under security-patch-review/ of the reports bucket, an L1 summary, and security paged for
        a CRITICAL finding. Read only: patching and redeploying (the seed's steps 2-3) stay with people."""
        config, prefix, handlers = self.config, "security-patch-review", "security_patch_review"

        def long_step(construct_id: str, handler: str, description: str) -> StepFunction:
            # Many images: more than the default 30 s; the state's TimeoutSeconds is above this.
            return StepFunction(
                self.family,
                construct_id,
                handler=f"remediation.handlers.{handlers}.{handler}",
                description=f"{prefix}: {description}",
                code=self.code,
                layers=[self._layer],
                environment=self._environment,
                timeout=Duration.seconds(120),
            )

        normalize = self.step("NormalizePatchReview", f"{handlers}.normalize", f"{prefix}: validate the input")
        scan = long_step("ScanAgentImages", "scan_images", "images and their ECR scan findings")
        publish = self.step("PublishPatchReport", f"{handlers}.publish_report", f"{prefix}: report to S3")
        repositories = self.format_arn(
            service="ecr", resource="repository", resource_name=config.security_patch_review.ecr_repositories
        )
        scan.grant(["ecs:DescribeTaskDefinition"], ["*"])
        scan.grant(["ecr:DescribeImageScanFindings"], [repositories])
        publish.grant(["s3:PutObject"], [self.reports_bucket.arn_for_objects(f"{prefix}/*")])
        suppress_wildcards(
            scan.role,
            "ecs:DescribeTaskDefinition supports no resource-level permissions (read only); "
            "ecr:DescribeImageScanFindings is limited to the agents' repositories "
            "(securityPatchReview.ecrRepositories).",
            ["Resource::*", RegexAppliesTo(regex=r"/^Resource::arn:<AWS::Partition>:ecr:.*:repository\/.*\*.*$/g")],
        )
        suppress_wildcards(
            publish.role,
            "Reports are written under the security-patch-review/ prefix of the reports bucket, one key per run.",
            [objects_under("ReportsBucket", "security-patch-review/")],
        )
        # The record step pages security (its audience topic) for a CRITICAL finding (logic/record.py).
        self.audience_topics["security"].grant_publish(steps["RecordDecision"].role)
        machine = self._runbook(
            prefix,
            {
                "NormalizeFunctionArn": normalize,
                "DescribeServicesFunctionArn": steps["DescribeServices"],
                "ScanImagesFunctionArn": scan,
                "PublishReportFunctionArn": publish,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        events.Rule(
            self.family,
            "SecurityPatchReviewSchedule",
            description="Start the monthly security patch review.",
            schedule=events.Schedule.expression(config.schedules.security_patch_review),
            targets=[targets.SfnStateMachine(machine.state_machine, **self.trigger_delivery)],
        )

    def _add_access_review(self, steps: dict[str, StepFunction]) -> None:
        """access-review (seed: Access Review), quarterly (schedules.accessReview) or by hand: the IAM roles whose name
        contains accessReview.roleNameContains, their attached and inline policies, RoleLastUsed and IAM's
        last-accessed information (an asynchronous job per role, polled with a Wait loop); unused roles and
        permissions with recommendations in a report under access-review/ of the reports bucket, an L1 summary, and
        security told of an unused admin-like grant. Read only: every IAM action granted here is a List/Get/Read one
        (GenerateServiceLastAccessedDetails only starts a report), limited to role/*<roleNameContains>* where IAM
        supports resource-level permissions."""
        config, prefix, handlers = self.config, "access-review", "access_review"

        def long_step(construct_id: str, handler: str, description: str) -> StepFunction:
            # Many roles: more than the default 30 s; the state's TimeoutSeconds is above this.
            return StepFunction(
                self.family,
                construct_id,
                handler=f"remediation.handlers.{handlers}.{handler}",
                description=f"{prefix}: {description}",
                code=self.code,
                layers=[self._layer],
                environment=self._environment,
                timeout=Duration.seconds(240),
            )

        normalize = self.step("NormalizeAccessReview", f"{handlers}.normalize", f"{prefix}: validate the input")
        list_roles = long_step("ListAcsoRoles", "list_roles", "the roles, their policies and last use")
        start = long_step("StartLastAccessed", "start_last_accessed", "start the last-accessed jobs")
        collect = long_step("CollectLastAccessed", "collect_last_accessed", "last-accessed per role")
        publish = self.step("PublishAccessReport", f"{handlers}.publish_report", f"{prefix}: report to S3")
        roles = self.format_arn(
            service="iam", region="", resource="role", resource_name=f"*{config.access_review.role_name_contains}*"
        )
        list_roles.grant(["iam:ListRoles"], ["*"])
        list_roles.grant(["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies"], [roles])
        start.grant(["iam:GenerateServiceLastAccessedDetails"], [roles])
        collect.grant(["iam:GetServiceLastAccessedDetails"], ["*"])
        collect.grant(["iam:ListPoliciesGrantingServiceAccess"], [roles])
        publish.grant(["s3:PutObject"], [self.reports_bucket.arn_for_objects(f"{prefix}/*")])
        roles_finding = RegexAppliesTo(regex=r"/^Resource::arn:<AWS::Partition>:iam::.*:role\/\*.*\*$/g")
        for step, reason, findings in (
            (
                list_roles,
                "iam:ListRoles supports no resource-level permissions (read only); GetRole and the policy listings are "
                "limited to the roles named like accessReview.roleNameContains.",
                ["Resource::*", roles_finding],
            ),
            (
                start,
                "GenerateServiceLastAccessedDetails (a read-only report job) is limited to the roles named like "
                "accessReview.roleNameContains.",
                [roles_finding],
            ),
            (
                collect,
                "iam:GetServiceLastAccessedDetails supports no resource-level permissions (it reads a job by its id); "
                "ListPoliciesGrantingServiceAccess is limited to the roles named like accessReview.roleNameContains.",
                ["Resource::*", roles_finding],
            ),
            (
                publish,
                "Reports are written under the access-review/ prefix of the reports bucket, one key per run.",
                [objects_under("ReportsBucket", "access-review/")],
            ),
        ):
            suppress_wildcards(step.role, reason, findings)
        # The record step tells security (its audience topic) of an unused admin-like grant (logic/record.py).
        self.audience_topics["security"].grant_publish(steps["RecordDecision"].role)
        machine = self._runbook(
            prefix,
            {
                "NormalizeFunctionArn": normalize,
                "ListRolesFunctionArn": list_roles,
                "StartLastAccessedFunctionArn": start,
                "CollectLastAccessedFunctionArn": collect,
                "PublishReportFunctionArn": publish,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        events.Rule(
            self.family,
            "AccessReviewSchedule",
            description="Start the quarterly access review.",
            schedule=events.Schedule.expression(config.schedules.access_review),
            targets=[targets.SfnStateMachine(machine.state_machine, **self.trigger_delivery)],
        )

    # -- Triggers ------------------------------------------------------------------------------------
    def _release_abandoned_leases(self, step: StepFunction) -> None:
        """A run that times out or is stopped skips its record step: free its lease and audit it anyway."""
        self.state_table.grant_read_write_data(step.role)
        # Every runbook of this environment by its name prefix: the pattern stays the same size as runbooks are added.
        machines = self.state_machine_arn("")
        events.Rule(
            self,
            "AbandonedExecutionsRule",
            description="Release the leases of runbook executions that timed out, were aborted or failed unrecorded.",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"status": ["TIMED_OUT", "ABORTED", "FAILED"], "stateMachineArn": events.Match.prefix(machines)},
            ),
            targets=[targets.LambdaFunction(step.function, **self.trigger_delivery)],
        )

    def _watch_itself(self) -> None:
        """Nothing fails silently: failed or timed-out runbooks and undeliverable trigger events page L2."""
        # CloudWatch publishes alarm actions to the encrypted topic with the topic's key.
        self.key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        page_l2 = cw_actions.SnsAction(self.topics["L2"])
        machine_name_prefix = f"acso-{self.config.name}-runbooks"
        own_alarms: list[cloudwatch.IAlarm] = []
        for runbook in self.runbooks.values():
            machine, name = runbook.state_machine, runbook.node.id
            for kind, metric in (("Failed", machine.metric_failed()), ("TimedOut", machine.metric_timed_out())):
                alarm = cloudwatch.Alarm(
                    self,
                    f"{name}Executions{kind}",
                    alarm_name=f"{machine_name_prefix}-{name}-executions-{kind}".lower(),
                    alarm_description=f"A {name} runbook execution {kind.lower()}: its lease, audit and page may "
                    "be missing; read the execution history.",
                    metric=metric.with_(period=Duration.minutes(5), statistic="Sum"),
                    threshold=0,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
                alarm.add_alarm_action(page_l2)
                own_alarms.append(alarm)
        undelivered = cloudwatch.Alarm(
            self,
            "TriggerDeadLettersNotEmpty",
            alarm_name=f"{machine_name_prefix}-trigger-dead-letters",
            alarm_description="An alarm or schedule event could not start its runbook (see the dead-letter queue).",
            metric=self.dead_letters.metric_approximate_number_of_messages_visible(period=Duration.minutes(5)),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        undelivered.add_alarm_action(page_l2)
        self._dashboard([*own_alarms, undelivered])

    def _dashboard(self, own_alarms: list[cloudwatch.IAlarm]) -> cloudwatch.Dashboard:
        """One CloudWatch dashboard `acso-<env>-runbooks`: the self-watching alarms; every runbook's executions by
        outcome next to its decisions (the record step's Powertools metric `Decisions`, dimensions runbook and
        decision); the guard's actions let through and suppressed; the agents' CPU and memory."""
        config, hour = self.config, Duration.hours(1)
        namespace = self._environment["POWERTOOLS_METRICS_NAMESPACE"]
        service = self._environment["POWERTOOLS_SERVICE_NAME"]

        def search(
            schema: str, metric: str, statistic: str, period: Duration, label: str, **filters: str
        ) -> cloudwatch.MathExpression:
            terms = " ".join(f'{key}="{value}"' for key, value in {"MetricName": metric, **filters}.items())
            return cloudwatch.MathExpression(
                expression=f"SEARCH('{{{schema}}} {terms}', '{statistic}', {int(period.to_seconds())})",
                using_metrics={},
                label=label,
                period=period,
            )

        def decisions(**runbook: str) -> cloudwatch.MathExpression:
            schema = f"{namespace},decision,runbook,service"
            # Dynamic labels: one line per decision (and per runbook when not filtered to one).
            label = "${PROP('Dim.decision')}" if runbook else "${PROP('Dim.runbook')} ${PROP('Dim.decision')}"
            return search(schema, "Decisions", "Sum", hour, label, service=service, **runbook)

        dashboard = cloudwatch.Dashboard(
            self, "RunbooksDashboard", dashboard_name=f"acso-{config.name}-runbooks", default_interval=Duration.days(7)
        )
        dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# ACSO {config.name}: the runbooks watching themselves\n"
                "Executions by outcome per runbook (Step Functions), the decision each run recorded (`Decisions`, "
                f"namespace `{namespace}`), the guard's verdicts and the agents' utilization. Failed or timed-out "
                "executions and undelivered trigger events page L2 (alarms below).",
                width=24,
                height=2,
            ),
            cloudwatch.AlarmStatusWidget(title="Self-watching alarms (page L2)", alarms=own_alarms, width=24, height=3),
            cloudwatch.GraphWidget(
                title="Decisions by runbook and decision",
                left=[decisions()],
                width=12,
                stacked=True,
            ),
            cloudwatch.GraphWidget(
                title="Guard: actions let through and suppressed, by runbook",
                left=[
                    search(f"{namespace},runbook,service", name, "Sum", hour, label, service=service)
                    for name, label in (
                        ("GuardProceeded", "${PROP('Dim.runbook')} let through"),
                        ("GuardSuppressed", "${PROP('Dim.runbook')} suppressed"),
                    )
                ],
                width=12,
            ),
            *(
                cloudwatch.GraphWidget(
                    title=f"Agents: {name} (%)",
                    left=[
                        search(
                            "AWS/ECS,ClusterName,ServiceName",
                            metric,
                            "Average",
                            Duration.minutes(5),
                            "${PROP('Dim.ServiceName')}",
                            ClusterName=config.cluster_name,
                        )
                    ],
                    left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                    width=12,
                )
                for name, metric in (("CPU", "CPUUtilization"), ("memory", "MemoryUtilization"))
            ),
        )
        for name, runbook in self.runbooks.items():
            machine = runbook.state_machine
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{name}: executions and decisions",
                    left=[
                        metric.with_(statistic="Sum", period=hour, label=label)
                        for label, metric in (
                            ("started", machine.metric_started()),
                            ("succeeded", machine.metric_succeeded()),
                            ("failed", machine.metric_failed()),
                            ("timed out", machine.metric_timed_out()),
                        )
                    ],
                    right=[decisions(runbook=name)],
                    left_y_axis=cloudwatch.YAxisProps(label="executions", min=0, show_units=False),
                    right_y_axis=cloudwatch.YAxisProps(label="decisions", min=0, show_units=False),
                    width=12,
                )
            )
        return dashboard

    def _trigger_dead_letters(self) -> sqs.Queue:
        dead_letters = sqs.Queue(
            self,
            "TriggerDeadLetters",
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        NagSuppressions.add_resource_suppressions(
            dead_letters,
            [{"id": "AwsSolutions-SQS3", "reason": "This queue is the dead-letter queue of the runbook triggers."}],
        )
        # EventBridge must be able to use the queue's key, or undeliverable events are lost (aws-cdk#33169).
        self.key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey")
        return dead_letters

    def _add_daily_health_check(self, steps: dict[str, StepFunction]) -> None:
        """daily-health-check (seed: Daily Operations): every service against the four health criteria, daily."""
        machine = self._runbook(
            "daily-health-check",
            {
                "NormalizeFunctionArn": steps["NormalizeHealthCheck"],
                "DescribeServicesFunctionArn": steps["DescribeServices"],
                "CollectUtilizationFunctionArn": steps["CollectUtilization"],
                "AssessHealthFunctionArn": steps["AssessHealth"],
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        events.Rule(
            self.family,
            "DailyHealthCheckSchedule",
            description="Start the daily health check.",
            schedule=events.Schedule.expression(self.config.schedules.daily_health_check),
            targets=[targets.SfnStateMachine(machine.state_machine, **self.trigger_delivery)],
        )

    def _add_high_cpu(self, steps: dict[str, StepFunction]) -> None:
        """high-cpu (seed: Incident Response -> High CPU): an agent's CPU alarm starts it; it scales out by a step
        up to the cap, verifies, and at the cap asks a person for the next task size."""
        machine = self._runbook(
            "high-cpu",
            {
                "NormalizeFunctionArn": steps["NormalizeHighCpu"],
                "GuardFunctionArn": steps["AcquireGuard"],
                "CollectUtilizationFunctionArn": steps["CollectUtilization"],
                "SearchLogsFunctionArn": steps["SearchLogs"],
                "DescribeServicesFunctionArn": steps["DescribeServices"],
                "ScaleOutFunctionArn": steps["ScaleOut"],
                "VerifyFunctionArn": steps["VerifyScaling"],
                "RestoreFunctionArn": steps["RestorePriorCount"],
                "RollBackResizeFunctionArn": steps["RollBackResize"],
                "PlanResizeFunctionArn": steps["PlanResize"],
                "ResizeTaskFunctionArn": steps["ResizeTask"],
                "RequestApprovalFunctionArn": self.approval.request,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        self.approval.allow_decisions_for(self.state_machine_arn("high-cpu"))
        self._start_on_agent_alarms(
            "HighCpuAlarmRule",
            machine,
            self.cpu_alarm_name,
            "Start high-cpu when an agent CPU alarm goes INTO ALARM (not on OK or INSUFFICIENT_DATA).",
        )

    def _add_restart_agent(self, steps: dict[str, StepFunction]) -> None:
        """restart-agent (seed: Agent Management), by hand: a forced new deployment, rollout and logs checked."""
        self._runbook(
            "restart-agent",
            {
                "NormalizeFunctionArn": steps["NormalizeRestart"],
                "GuardFunctionArn": steps["AcquireGuard"],
                "ForceDeploymentFunctionArn": steps["ForceNewDeployment"],
                "CheckRolloutFunctionArn": steps["CheckRollout"],
                "SearchLogsFunctionArn": steps["SearchLogs"],
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )

    def _add_scale_agent(self, steps: dict[str, StepFunction]) -> None:
        """scale-agent (seed: Scaling Procedures), by hand: a desired count within floor and cap, optionally the
        seed's step-scaling policy, then stable."""
        self._runbook(
            "scale-agent",
            {
                "NormalizeFunctionArn": steps["NormalizeScale"],
                "GuardFunctionArn": steps["AcquireGuard"],
                "SetDesiredCountFunctionArn": steps["SetDesiredCount"],
                "ApplyScalingPolicyFunctionArn": steps["ApplyScalingPolicy"],
                "VerifyStableFunctionArn": steps["VerifyStable"],
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )

    # -- The agents' alarms ----------------------------------------------------------------------------
    def _add_agent_alarms(self) -> list[NestedStack]:
        """Per agent: its CPU, memory and unavailable alarms, in nested stacks of AGENTS_PER_ALARM_STACK agents (3
        alarms each), so the number of agents is never bounded by a stack's 500 resources. Rules find them by
        name pattern (`_start_on_agent_alarms`), so nothing else grows with the fleet."""
        agents = self.config.agents
        size = AGENTS_PER_ALARM_STACK
        chunks = [agents[start : start + size] for start in range(0, len(agents), size)]
        alarm_stacks = []
        for number, chunk in enumerate(chunks, start=1):
            alarm_stack = NestedStack(
                self,
                f"AgentAlarms{number}",
                description=f"ACSO {self.config.name}: CPU, memory and availability alarms of agents {chunk[0]} to "
                f"{chunk[-1]}",
            )
            for agent in chunk:
                self._cpu_alarm(alarm_stack, agent)
                self._memory_alarm(alarm_stack, agent)
                self._unavailable_alarm(alarm_stack, agent)
            alarm_stacks.append(alarm_stack)
        return alarm_stacks

    def _start_on_agent_alarms(
        self, construct_id: str, runbook: RunbookStateMachine, alarm_name: Callable[[str], str], description: str
    ) -> events.Rule:
        """A rule starting `runbook` when any agent's alarm of one kind goes INTO ALARM. It matches the alarms' ARN
        pattern (this account and region, `alarm:acso-<env>-*-<kind>`), not a list of ARNs: EventBridge patterns are
        limited to 2,048 characters, which a list of 200 alarm ARNs exceeds. The runbook's first state refuses an
        alarm of an agent that is not configured."""
        return events.Rule(
            self.family,
            construct_id,
            description=description,
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=events.Match.wildcard(
                    self.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=alarm_name("*"),
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ),
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[targets.SfnStateMachine(runbook.state_machine, **self.trigger_delivery)],
        )

    def _cpu_alarm(self, scope: Construct, agent: str) -> cloudwatch.Alarm:
        config = self.config
        return cloudwatch.Alarm(
            scope,
            f"HighCpuAlarm-{agent}",
            alarm_name=self.cpu_alarm_name(agent),
            alarm_description=f"ACSO {agent}: CPU > {config.high_cpu.alarm_threshold_percent:g} % for "
            f"{config.high_cpu.alarm_period_seconds * config.high_cpu.alarm_evaluation_periods // 60} "
            "minutes; starts the high-cpu runbook.",
            metric=cloudwatch.Metric(
                namespace="AWS/ECS",
                metric_name="CPUUtilization",
                statistic="Average",
                period=Duration.seconds(config.high_cpu.alarm_period_seconds),
                dimensions_map={"ClusterName": config.cluster_name, "ServiceName": config.service_name(agent)},
            ),
            threshold=config.high_cpu.alarm_threshold_percent,
            evaluation_periods=config.high_cpu.alarm_evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _memory_alarm(self, scope: Construct, agent: str) -> cloudwatch.Alarm:
        config, policy = self.config, self.config.memory_leak
        return cloudwatch.Alarm(
            scope,
            f"MemoryLeakAlarm-{agent}",
            alarm_name=self.memory_alarm_name(agent),
            alarm_description=f"ACSO {agent}: potential memory leak, average memory > "
            f"{policy.alarm_threshold_percent:g} % for {policy.evaluation_periods} periods of "
            f"{policy.period_seconds // 60} minutes; starts the memory-leak runbook.",
            metric=cloudwatch.Metric(
                namespace="AWS/ECS",
                metric_name="MemoryUtilization",
                statistic="Average",
                period=Duration.seconds(policy.period_seconds),
                dimensions_map={"ClusterName": config.cluster_name, "ServiceName": config.service_name(agent)},
            ),
            threshold=policy.alarm_threshold_percent,
            evaluation_periods=policy.evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
