"""The remediation stack of one ACSO environment: alarms and schedules start runbooks (Step Functions)
whose Lambda steps investigate and act on the agents' ECS services, under one shared guard."""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
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
from cdk_nag import NagSuppressions, RegexAppliesTo
from constructs import Construct

from stacks.approval import HumanApproval, decide_function_name, signing_secret
from stacks.config import ESCALATION_LEVELS, EnvironmentConfig
from stacks.runbook import FUNCTIONS_DIR, RunbookStateMachine, StepFunction, suppress_wildcards

# Names of the metric filters' metrics; the handlers read them (functions/remediation/logic/investigate.py).
AGENT_LOG_NAMESPACE = "ACSO/Agents"
ERROR_EVENTS_METRIC = "ErrorLogEvents"
ALL_EVENTS_METRIC = "LogEvents"
# Lambda asset: the handler package only, never caches or tests.
_ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc"]


class RemediationStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, powertools_version: str, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
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
        # Before the settings, which carry its ARN and the decide function's fixed name (see stacks/approval.py).
        self.approval_key = signing_secret(
            self, "ApprovalSigningKey", description=f"HMAC key of the {prefix} approval links"
        )
        self.dead_letters = self._trigger_dead_letters()
        steps = self._steps(powertools_version)
        # Every runbook by its name; the abandoned-lease rule and the self-watching alarms cover all of them.
        self.runbooks: dict[str, RunbookStateMachine] = {}
        self.daily_health_check = self._runbook(
            "daily-health-check",
            {
                "NormalizeFunctionArn": steps["NormalizeHealthCheck"],
                "DescribeServicesFunctionArn": steps["DescribeServices"],
                "CollectUtilizationFunctionArn": steps["CollectUtilization"],
                "AssessHealthFunctionArn": steps["AssessHealth"],
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        self.high_cpu = self._runbook(
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
                "PlanResizeFunctionArn": steps["PlanResize"],
                "ResizeTaskFunctionArn": steps["ResizeTask"],
                "RequestApprovalFunctionArn": self.approval.request,
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        self._triggers()
        self.restart_agent = self._runbook(
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
        self.approval.allow_decisions_for(self.state_machine_arn("high-cpu"))
        self.scale_agent = self._runbook(
            "scale-agent",
            {
                "NormalizeFunctionArn": steps["NormalizeScale"],
                "GuardFunctionArn": steps["AcquireGuard"],
                "SetDesiredCountFunctionArn": steps["SetDesiredCount"],
                "VerifyStableFunctionArn": steps["VerifyStable"],
                "RecordDecisionFunctionArn": steps["RecordDecision"],
            },
        )
        self._release_abandoned_leases(steps["ReleaseAbandoned"])
        self._watch_itself()

    def _runbook(self, name: str, steps: dict[str, StepFunction]) -> RunbookStateMachine:
        """Runbook `name`: state_machines/<name with underscores>.asl.json, state machine acso-<env>-<name>."""
        construct_id = "".join(part.title() for part in name.split("-"))
        self.runbooks[name] = RunbookStateMachine(
            self,
            construct_id,
            name=f"acso-{self.config.name}-{name}",
            asl_file=f"{name.replace('-', '_')}.asl.json",
            steps=steps,
        )
        return self.runbooks[name]

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

    def _settings_json(self) -> str:
        config, guard = self.config, self.config.guard
        return self.to_json_string(
            {
                "environment": config.name,
                "clusterName": config.cluster_name,
                "services": {agent: config.service_name(agent) for agent in config.agents},
                "agentsLogGroup": config.agents_log_group,
                "health": {
                    "cpuPercent": config.health.cpu_percent,
                    "memoryPercent": config.health.memory_percent,
                    "errorRatePercent": config.health.error_rate_percent,
                },
                "cpuAlarms": {agent: self.cpu_alarm_name(agent) for agent in config.agents},
                "highCpu": {
                    "alarmThresholdPercent": config.high_cpu.alarm_threshold_percent,
                    "scaleOutStep": config.high_cpu.scale_out_step,
                    "maxDesiredCount": config.high_cpu.max_desired_count,
                    "verifyAfterSeconds": config.high_cpu.verify_after_seconds,
                    "recoveryMarginPercent": config.high_cpu.recovery_margin_percent,
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
        code = lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=_ASSET_EXCLUDES)
        # Identical environment for every step: one settings document, parsed once per container.
        environment = {
            "ACSO_SETTINGS": self._settings_json(),
            "POWERTOOLS_SERVICE_NAME": f"acso-{self.config.name}-runbooks",
            "POWERTOOLS_METRICS_NAMESPACE": "ACSO/Remediation",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }

        self._code, self._layer, self._environment = code, layer, environment
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

    def step(self, construct_id: str, handler: str, description: str) -> StepFunction:
        """One Lambda step: handler `remediation.handlers.<handler>`, the shared code, layer and settings."""
        return StepFunction(
            self,
            construct_id,
            handler=f"remediation.handlers.{handler}",
            description=description,
            code=self._code,
            layers=[self._layer],
            environment=self._environment,
        )

    @property
    def service_arns(self) -> list[str]:
        """The agents' ECS services: the only services any step may write to."""
        config = self.config
        return [
            self.format_arn(
                service="ecs", resource="service", resource_name=f"{config.cluster_name}/{config.service_name(agent)}"
            )
            for agent in config.agents
        ]

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
        for name in ("ScaleOut", "RestorePriorCount", "SetDesiredCount", "ResizeTask", "ForceNewDeployment"):
            steps[name].grant(["ecs:UpdateService"], service_arns)
        alarm_arns = [
            self.format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name=self.cpu_alarm_name(agent),
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for agent in config.agents
        ]
        for name in ("AcquireGuard", "ScaleOut", "ResizeTask", "SetDesiredCount", "ForceNewDeployment"):
            steps[name].grant(["cloudwatch:DescribeAlarms"], alarm_arns)
        self.flags.grant_read(steps["AcquireGuard"].role)
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
            [RegexAppliesTo(regex=r"/^Resource::<ReportsBucket[A-Za-z0-9]+\.Arn>\/daily-health-check\/\*$/g")],
        )

    # -- Triggers ------------------------------------------------------------------------------------
    def _release_abandoned_leases(self, step: StepFunction) -> None:
        """A run that times out or is stopped skips its record step: free its lease and audit it anyway."""
        self.state_table.grant_read_write_data(step.role)
        machines = list(self.runbooks.values())
        events.Rule(
            self,
            "AbandonedExecutionsRule",
            description="Release the leases of runbook executions that timed out, were aborted or failed unrecorded.",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": ["TIMED_OUT", "ABORTED", "FAILED"],
                    "stateMachineArn": [machine.arn for machine in machines],
                },
            ),
            targets=[targets.LambdaFunction(step.function, **self.trigger_delivery)],
        )

    def _watch_itself(self) -> None:
        """Nothing fails silently: failed or timed-out runbooks and undeliverable trigger events page L2."""
        # CloudWatch publishes alarm actions to the encrypted topic with the topic's key.
        self.key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        page_l2 = cw_actions.SnsAction(self.topics["L2"])
        machine_name_prefix = f"acso-{self.config.name}-runbooks"
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

    def _triggers(self) -> None:
        config, delivery = self.config, self.trigger_delivery

        alarms = []
        for agent in config.agents:
            metric = cloudwatch.Metric(
                namespace="AWS/ECS",
                metric_name="CPUUtilization",
                statistic="Average",
                period=Duration.seconds(config.high_cpu.alarm_period_seconds),
                dimensions_map={"ClusterName": config.cluster_name, "ServiceName": config.service_name(agent)},
            )
            alarms.append(
                cloudwatch.Alarm(
                    self,
                    f"HighCpuAlarm-{agent}",
                    alarm_name=self.cpu_alarm_name(agent),
                    alarm_description=f"ACSO {agent}: CPU > {config.high_cpu.alarm_threshold_percent:g} % for "
                    f"{config.high_cpu.alarm_period_seconds * config.high_cpu.alarm_evaluation_periods // 60} "
                    "minutes; starts the high-cpu runbook.",
                    metric=metric,
                    threshold=config.high_cpu.alarm_threshold_percent,
                    evaluation_periods=config.high_cpu.alarm_evaluation_periods,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        events.Rule(
            self,
            "HighCpuAlarmRule",
            description="Start high-cpu when an agent CPU alarm goes INTO ALARM (not on OK or INSUFFICIENT_DATA).",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[alarm.alarm_arn for alarm in alarms],
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[targets.SfnStateMachine(self.high_cpu.state_machine, **delivery)],
        )
        events.Rule(
            self,
            "DailyHealthCheckSchedule",
            description="Start the daily health check.",
            schedule=events.Schedule.expression(config.schedules.daily_health_check),
            targets=[targets.SfnStateMachine(self.daily_health_check.state_machine, **delivery)],
        )
