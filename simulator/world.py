"""A simulated ACSO production inside the emulator: the cluster, five agent services, their
metrics and logs, and how they react to what the runbooks do.

Load model: each service carries a CPU load measured in "task-percent"; its CPU utilization is
load / running tasks. So scaling out lowers CPU the way it does for a CPU-bound service, and a
service at its cap stays hot. Memory does not depend on the task count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulator.emulator import log_filter_matches
from simulator.synthesized import DeployedStack

LOG_STREAM = "agents"
_MAX_DATUMS_PER_CALL = 1000  # PutMetricData's limit
_LATENCY_SPREAD = (0.7, 0.85, 1.0, 1.15, 1.3, 1.7)
"""An hour of an agent's latency samples, as multiples of its median."""


@dataclass
class ServiceProfile:
    desired: int = 2
    cpu_percent: float = 35.0
    memory_percent: float = 45.0
    log_lines_per_hour: int = 60
    error_share: float = 0.002
    slow_lines_per_hour: int = 0
    scaling_helps: bool = True
    """False: the load grows with the capacity (a hot loop, a retry storm), CPU stays where it is."""
    task_cpu: int = 512
    task_memory: int = 1024
    new_tasks_start: bool = True
    """False: new tasks crash at start (a bad image or config), running never reaches desired."""
    revisions: int = 1
    """Revisions of the service's task-definition family registered at seed (images 1.0, 1.1, ...); it runs
    the last one, so there is something to roll back to."""
    bad_from_revision: int | None = None
    """A bad release: tasks of this revision and later crash at start while older revisions start (like
    `new_tasks_start=False`, for those revisions only); seeded on such a revision, the service runs no task."""
    memory_growth_per_hour: float = 0.0
    """A leak: memory rises this many points per hour since the tasks started (a day before the scenario
    starts); a completed new deployment starts fresh tasks at `memory_percent` again."""
    memory_spike_percent: float | None = None
    """A spike: memory this high in the last sample before the scenario starts only."""
    cpu_growth_per_hour: float = 0.0
    """A growing load: over the seeded history CPU rose this many points per hour (at the seeded task count) up to
    `cpu_percent` at the start; before the history and after the start it is flat."""
    daily_swing: float = 0.0
    """The day's rhythm: CPU and agent latency swing by this share around their level (highest at 15:00 UTC)."""
    latency_ms: float = 40.0
    """Median time for a message to another agent to be acknowledged (ACSO/Agents CommunicationLatency, published
    with a history of more than a day only)."""
    autoscaling: tuple[int, int] | None = None
    """(min, max) of an Application Auto Scaling target the platform registered for the service."""
    scale_in_below_percent: float = 0.0
    """The autoscaler's scale-in policy: one task less (down to min) whenever CPU is below this, unless
    dynamic scale-in is suspended."""
    config_loads: bool = True
    """False: a bad configuration: the agent's tasks reject any value of its config parameter but the seeded one
    (after a deployment they log an error, never "Configuration loaded")."""


class SimulatedProduction:
    def __init__(self, aws: Any, clock: Any, stack: DeployedStack, settings: dict) -> None:
        self.aws, self.clock, self.stack = aws, clock, stack
        self.cluster = settings["clusterName"]
        self.services: dict[str, str] = settings["services"]
        self.log_group = settings["agentsLogGroup"]
        self.profiles: dict[str, ServiceProfile] = {}
        self.load: dict[str, float] = {}
        self.last_sample: datetime | None = None
        self.tasks_started: dict[str, datetime] = {}
        """When each service's current tasks started (memory of a leaking service grows from then)."""
        self._deployments: dict[str, tuple[str, str]] = {}
        self._spike_at: datetime | None = None
        self._history_end: datetime | None = None
        """The newest instant of the seeded history (a growing load grew up to then)."""
        self.scale_ins: list[tuple[str, int, int]] = []
        """(agent, desired before, after) of every scale-in the simulated autoscaler made."""
        self._next_sequence = 0
        self.dr: tuple[str, str, bool] | None = None
        """(region, cluster, new tasks start) of the agents' copy in the DR region, once seeded (seed_dr_region)."""
        self.config_parameter: str = settings["agentConfigParameter"]
        """The agents' SSM config parameter, `{agent}` standing for the agent (the platform's, seeded here)."""
        self._config_read: dict[str, str] = {}
        self.backups: dict = settings["backups"]
        """The platform's nightly backup: bucket, AWS Backup vault (seeded by `_seed_backups`)."""
        self.dr_restore: tuple[str, str] = (settings["dr"]["region"], settings["dr"]["restoreBucket"])
        """(region, bucket) of the DR restore bucket the dr-test runbook restores into."""

    # -- setup -----------------------------------------------------------------------------------
    def seed(self, profiles: dict[str, ServiceProfile], history_days: int = 1) -> None:
        """The cluster, services and config, and `history_days` of metrics and logs before now."""
        ecs, logs = self.aws.client("ecs"), self.aws.client("logs")
        ecs.create_cluster(clusterName=self.cluster)
        for agent, service_name in self.services.items():
            profile = profiles.get(agent, ServiceProfile())
            self.profiles[agent] = profile
            self.load[agent] = profile.cpu_percent * profile.desired
            for release in range(profile.revisions):  # revision release + 1 runs image 1.<release>
                ecs.register_task_definition(
                    family=service_name,
                    cpu=str(profile.task_cpu),
                    memory=str(profile.task_memory),
                    requiresCompatibilities=["FARGATE"],
                    networkMode="awsvpc",
                    containerDefinitions=[{"name": "agent", "image": f"acso/{agent}:1.{release}", "essential": True}],
                )
            ecs.create_service(
                cluster=self.cluster,
                serviceName=service_name,
                taskDefinition=service_name,
                desiredCount=profile.desired,
                launchType="FARGATE",
            )
        self.aws.complete_ecs_deployments(self.cluster)
        revisions = self.task_definitions()
        for agent, service_name in self.services.items():
            if self.bad_release(agent, revisions[agent]):  # a bad release is running: its tasks crash at start
                self.aws.set_running_count(self.cluster, service_name, 0)
        for agent, service_name in self.services.items():
            bounds = self.profiles[agent].autoscaling
            if bounds:
                self.aws.client("application-autoscaling").register_scalable_target(
                    ServiceNamespace="ecs",
                    ResourceId=f"service/{self.cluster}/{service_name}",
                    ScalableDimension="ecs:service:DesiredCount",
                    MinCapacity=bounds[0],
                    MaxCapacity=bounds[1],
                )
        logs.create_log_group(logGroupName=self.log_group)
        logs.create_log_stream(logGroupName=self.log_group, logStreamName=LOG_STREAM)
        self._seed_agent_config()
        self._seed_backups()
        self._history(hours=24 * history_days)

    # -- what the world looks like ------------------------------------------------------------------
    def desired_counts(self) -> dict[str, int]:
        response = self.aws.client("ecs").describe_services(cluster=self.cluster, services=list(self.services.values()))
        by_name = {service["serviceName"]: service["desiredCount"] for service in response["services"]}
        return {agent: by_name[name] for agent, name in self.services.items()}

    def running_counts(self) -> dict[str, int]:
        response = self.aws.client("ecs").describe_services(cluster=self.cluster, services=list(self.services.values()))
        by_name = {service["serviceName"]: service["runningCount"] for service in response["services"]}
        return {agent: by_name[name] for agent, name in self.services.items()}

    def cpu_percent(self, agent: str, running: int, task_cpu: int | None = None) -> float:
        """Load spread over the running tasks; a bigger task (more CPU units) takes proportionally more."""
        profile = self.profiles[agent]
        if not profile.scaling_helps:
            return profile.cpu_percent
        size = (task_cpu or profile.task_cpu) / profile.task_cpu
        return min(100.0, self.load[agent] / max(running, 1) / size)

    def task_definitions(self) -> dict[str, str]:
        """The task definition each service runs (an ARN, or `family:revision` once the emulator deployed one)."""
        response = self.aws.client("ecs").describe_services(cluster=self.cluster, services=list(self.services.values()))
        by_name = {service["serviceName"]: service["taskDefinition"] for service in response["services"]}
        return {agent: by_name[name] for agent, name in self.services.items()}

    def bad_release(self, agent: str, task_definition: str) -> bool:
        """Tasks of this revision crash at start (`ServiceProfile.bad_from_revision`)."""
        bad = self.profiles[agent].bad_from_revision
        return bad is not None and int(task_definition.rsplit(":", 1)[-1]) >= bad

    def task_cpu(self) -> dict[str, int]:
        ecs = self.aws.client("ecs")
        services = ecs.describe_services(cluster=self.cluster, services=list(self.services.values()))["services"]
        by_name = {s["serviceName"]: s["taskDefinition"] for s in services}
        return {
            agent: int(ecs.describe_task_definition(taskDefinition=by_name[name])["taskDefinition"]["cpu"])
            for agent, name in self.services.items()
        }

    # -- time passing ------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Virtual time passes (a Wait state): deployments finish and new samples are published."""
        self._autoscale()
        desired, running, revisions = self.desired_counts(), self.running_counts(), self.task_definitions()
        for agent, service_name in self.services.items():
            new_start = self.profiles[agent].new_tasks_start and not self.bad_release(agent, revisions[agent])
            starts = new_start or desired[agent] < running[agent]  # stopping always works
            if starts:  # the rollout (a new count, a restart, a new revision) completes
                self.aws.set_running_count(self.cluster, service_name, desired[agent])
        self._note_restarts()
        self._read_agent_config(seconds)
        self._advance_dr_region()
        self._sample(self._last_minute())

    def _note_restarts(self) -> None:
        """A completed new deployment (forced, or a new revision) runs fresh tasks: a leak starts over."""
        response = self.aws.client("ecs").describe_services(cluster=self.cluster, services=list(self.services.values()))
        for service in response["services"]:
            agent = next(agent for agent, name in self.services.items() if name == service["serviceName"])
            primary = next(
                (d for d in service["deployments"] if d.get("status") == "PRIMARY"), service["deployments"][0]
            )
            deployment = (primary["id"], service["taskDefinition"])
            if primary.get("rolloutState", "COMPLETED") == "COMPLETED" and deployment != self._deployments.get(agent):
                if agent in self._deployments:
                    self.tasks_started[agent] = self.clock.now()
                self._deployments[agent] = deployment

    def memory_percent(self, agent: str, at: datetime) -> float:
        """Flat at the profile's level; a leak adds its growth per hour since the tasks started."""
        profile = self.profiles[agent]
        if profile.memory_spike_percent is not None and at == self._spike_at:
            return profile.memory_spike_percent
        started = self.tasks_started.get(agent, at)
        hours = max((at - started).total_seconds(), 0.0) / 3600
        return min(100.0, profile.memory_percent + profile.memory_growth_per_hour * hours)

    def _autoscale(self) -> None:
        """Application Auto Scaling's scale-in policy acting on the last CPU sample (moto does not scale)."""
        autoscaling, ecs = self.aws.client("application-autoscaling"), self.aws.client("ecs")
        running, sizes, desired = self.running_counts(), self.task_cpu(), self.desired_counts()
        for agent, service_name in self.services.items():
            profile = self.profiles[agent]
            if not profile.autoscaling or not profile.scale_in_below_percent:
                continue
            target = autoscaling.describe_scalable_targets(
                ServiceNamespace="ecs", ResourceIds=[f"service/{self.cluster}/{service_name}"]
            )["ScalableTargets"][0]
            if target.get("SuspendedState", {}).get("DynamicScalingInSuspended"):
                continue
            cpu = self.cpu_percent(agent, running[agent], sizes[agent])
            if cpu < profile.scale_in_below_percent and desired[agent] > target["MinCapacity"]:
                ecs.update_service(cluster=self.cluster, service=service_name, desiredCount=desired[agent] - 1)
                self.scale_ins.append((agent, desired[agent], desired[agent] - 1))

    def _last_minute(self) -> datetime:
        """CloudWatch stamps a datapoint with the start of its minute, and queries exclude their end time."""
        return self.clock.now().replace(second=0, microsecond=0) - timedelta(minutes=1)

    def _history(self, hours: int) -> None:
        """Two hours of 5-minute utilization samples (before them, hourly memory), a day of logs, ending just
        before now."""
        now = self._last_minute()
        self._note_restarts()
        self.tasks_started = {agent: now - timedelta(hours=hours) for agent in self.services}
        self._spike_at = self._history_end = now
        self._hourly_memory(now, range(hours, 2, -1))
        if hours > 24:  # a long history (the weekly review reads a week): hourly CPU and the agents' latency too
            self._hourly_cpu(now, range(hours, 2, -1))
            self._hourly_latency(now, range(hours, 0, -1))
        for minutes_ago in range(120, 0, -5):
            self._sample(now - timedelta(minutes=minutes_ago))
        for hours_ago in range(hours, 0, -1):
            self._hour_of_logs(now - timedelta(hours=hours_ago - 1))
        self._sample(now)

    def _sample(self, at: datetime) -> None:
        running, sizes = self.running_counts(), self.task_cpu()
        data = []
        for agent, service_name in self.services.items():
            dimensions = [
                {"Name": "ClusterName", "Value": self.cluster},
                {"Name": "ServiceName", "Value": service_name},
            ]
            data.append(
                {
                    "MetricName": "CPUUtilization",
                    "Dimensions": dimensions,
                    "Timestamp": at,
                    "Value": self._cpu_at(agent, at, self.cpu_percent(agent, running[agent], sizes[agent])),
                    "Unit": "Percent",
                }
            )
            data.append(
                {
                    "MetricName": "MemoryUtilization",
                    "Dimensions": dimensions,
                    "Timestamp": at,
                    "Value": self.memory_percent(agent, at),
                    "Unit": "Percent",
                }
            )
        self.aws.client("cloudwatch").put_metric_data(Namespace="AWS/ECS", MetricData=data)
        self.last_sample = at

    def _cpu_at(self, agent: str, at: datetime, cpu: float) -> float:
        """A sample's CPU: lower by the load's growth between `at` and the end of the history, and the day's swing
        (both 0 unless the profile asks for them)."""
        profile = self.profiles[agent]
        end = self._history_end or at
        grown = cpu - profile.cpu_growth_per_hour * max((end - at).total_seconds(), 0.0) / 3600
        return min(100.0, max(0.0, grown * self._swing(agent, at)))

    def _swing(self, agent: str, at: datetime) -> float:
        """The day's rhythm (highest at 15:00 UTC) and a deterministic hour-to-hour wobble, scaled by the swing."""
        hours, phase = at.timestamp() / 3600, sum(map(ord, agent))
        daily = math.sin(2 * math.pi * (at.hour + at.minute / 60 - 9) / 24)
        wobble = math.sin(hours * 1.7 + phase) * math.sin(hours * 0.31 + phase / 7)
        return 1.0 + self.profiles[agent].daily_swing * (daily + 0.35 * wobble)

    def _hourly_cpu(self, now: datetime, hours_ago: range) -> None:
        """CPU, one datapoint an hour, at the current task counts (a long history only)."""
        running, sizes = self.running_counts(), self.task_cpu()
        data = [
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [
                    {"Name": "ClusterName", "Value": self.cluster},
                    {"Name": "ServiceName", "Value": service_name},
                ],
                "Timestamp": now - timedelta(hours=hours),
                "Value": self._cpu_at(
                    agent, now - timedelta(hours=hours), self.cpu_percent(agent, running[agent], sizes[agent])
                ),
                "Unit": "Percent",
            }
            for agent, service_name in self.services.items()
            for hours in hours_ago
        ]
        for start in range(0, len(data), _MAX_DATUMS_PER_CALL):
            self.aws.client("cloudwatch").put_metric_data(
                Namespace="AWS/ECS", MetricData=data[start : start + _MAX_DATUMS_PER_CALL]
            )

    def _hourly_latency(self, now: datetime, hours_ago: range) -> None:
        """Each agent's communication latency (ACSO/Agents CommunicationLatency, dimension Agent): a spread of
        samples an hour around its median, so a percentile means something."""
        data = [
            {
                "MetricName": "CommunicationLatency",
                "Dimensions": [{"Name": "Agent", "Value": agent}],
                "Timestamp": now - timedelta(hours=hours),
                "Values": [
                    round(self.profiles[agent].latency_ms * self._swing(agent, now - timedelta(hours=hours)) * f, 1)
                    for f in _LATENCY_SPREAD
                ],
                "Unit": "Milliseconds",
            }
            for agent in self.services
            for hours in hours_ago
        ]
        for start in range(0, len(data), _MAX_DATUMS_PER_CALL):
            self.aws.client("cloudwatch").put_metric_data(
                Namespace="ACSO/Agents", MetricData=data[start : start + _MAX_DATUMS_PER_CALL]
            )

    def _hourly_memory(self, now: datetime, hours_ago: range) -> None:
        """Memory only, one datapoint an hour (the memory-leak runbook reads a day of it), in one call."""
        data = [
            {
                "MetricName": "MemoryUtilization",
                "Dimensions": [
                    {"Name": "ClusterName", "Value": self.cluster},
                    {"Name": "ServiceName", "Value": service_name},
                ],
                "Timestamp": now - timedelta(hours=hours),
                "Value": self.memory_percent(agent, now - timedelta(hours=hours)),
                "Unit": "Percent",
            }
            for agent, service_name in self.services.items()
            for hours in hours_ago
        ]
        self.aws.client("cloudwatch").put_metric_data(Namespace="AWS/ECS", MetricData=data)

    def _hour_of_logs(self, at: datetime) -> None:
        """One hour of agent log lines ending at `at`, and what the stack's metric filters make of them."""
        lines: list[tuple[datetime, str]] = []
        for agent, profile in self.profiles.items():
            error_every = int(1 / profile.error_share) if profile.error_share else 0
            for index in range(profile.log_lines_per_hour):
                stamp = at - timedelta(seconds=3600 * (profile.log_lines_per_hour - index) / profile.log_lines_per_hour)
                if error_every and index % error_every == error_every - 1:
                    lines.append((stamp, f"ERROR [{agent}] task failed: upstream returned 500"))
                else:
                    lines.append((stamp, f"INFO [{agent}] heartbeat ok"))
            for index in range(profile.slow_lines_per_hour):
                stamp = at - timedelta(seconds=60 * (index + 1))
                lines.append((stamp, f"WARN [{agent}] request timeout after 30s, agent performance degraded"))
            heap = self.memory_percent(agent, at) if profile.memory_growth_per_hour else 0.0
            for index in range(3 if heap >= 80 else 0):  # a leaking agent's runtime complains as memory fills
                stamp = at - timedelta(seconds=1200 * index + 30)
                lines.append((stamp, f"WARN [{agent}] heap usage {heap:.0f} %, garbage collection took 2.3 s"))
        lines.sort()
        self.put_logs(lines, at)

    def put_logs(self, lines: list[tuple[datetime, str]], at: datetime) -> None:
        if not lines:
            return
        self.aws.client("logs").put_log_events(
            logGroupName=self.log_group,
            logStreamName=LOG_STREAM,
            logEvents=[{"timestamp": int(stamp.timestamp() * 1000), "message": message} for stamp, message in lines],
        )
        # CloudWatch turns log lines into metrics through the stack's metric filters; so does the world.
        for metric_filter in self.stack.metric_filters:
            transformation = metric_filter["MetricTransformations"][0]
            count = sum(1 for _, message in lines if log_filter_matches(metric_filter["FilterPattern"], message))
            self.aws.client("cloudwatch").put_metric_data(
                Namespace=transformation["MetricNamespace"],
                MetricData=[
                    {
                        "MetricName": transformation["MetricName"],
                        "Timestamp": at,
                        "Value": float(count),
                        "Unit": "Count",
                    }
                ],
            )

    # -- agent configuration ---------------------------------------------------------------------------
    SEEDED_CONFIG = '{"logLevel": "INFO", "maxParallelHunts": 4}'

    def _seed_agent_config(self) -> None:
        """Each agent's SSM config parameter (Parameter Store keeps every version in its history)."""
        for agent in self.services:
            name = self.config_parameter.replace("{agent}", agent)
            self.aws.client("ssm").put_parameter(Name=name, Value=self.SEEDED_CONFIG, Type="String")
        self._config_read = self._primary_deployments()

    def _primary_deployments(self) -> dict[str, str]:
        """Agent -> id of its primary deployment once that deployment has completed (rolled out)."""
        response = self.aws.client("ecs").describe_services(cluster=self.cluster, services=list(self.services.values()))
        completed = {}
        for service in response["services"]:
            agent = next(agent for agent, name in self.services.items() if name == service["serviceName"])
            primary = next((d for d in service["deployments"] if d.get("status") == "PRIMARY"), None)
            if primary and primary.get("rolloutState", "COMPLETED") == "COMPLETED":
                completed[agent] = primary["id"]
        return completed

    def _read_agent_config(self, seconds: float) -> None:
        """The tasks of a deployment that completed during these seconds read the agent's config parameter and
        log "Configuration loaded (version N)", or, for a bad configuration, an error."""
        at, lines = self.clock.now() - timedelta(seconds=min(seconds, 60) / 2), []
        for agent, deployment in self._primary_deployments().items():
            if self._config_read.get(agent) == deployment:
                continue
            self._config_read[agent] = deployment
            name = self.config_parameter.replace("{agent}", agent)
            parameter = self.aws.client("ssm").get_parameter(Name=name)["Parameter"]
            if self.profiles[agent].config_loads or parameter["Value"] == self.SEEDED_CONFIG:
                lines.append((at, f"INFO [{agent}] Configuration loaded (version {parameter['Version']})"))
            else:
                lines.append(
                    (at, f"ERROR [{agent}] Invalid configuration (version {parameter['Version']}): rejected at start")
                )
        self.put_logs(lines, at)

    # -- faults ------------------------------------------------------------------------------------
    def set_cpu(self, agent: str, percent: float) -> None:
        """From now on the service needs this much CPU at its current task count."""
        self.load[agent] = percent * self.running_counts()[agent]
        self._sample(self._last_minute())

    def stop_tasks(self, agent: str, running: int) -> None:
        self.aws.set_running_count(self.cluster, self.services[agent], running)

    # -- the DR region ------------------------------------------------------------------------------
    def seed_dr_region(self, region: str, cluster: str, desired: int = 0, tasks_start: bool = True) -> None:
        """A pilot-light copy of the agents in the DR region: the same cluster and service names, `desired` tasks
        each (0: nothing runs until a failover scales them up). `tasks_start=False`: DR tasks never start."""
        ecs = self.aws.client("ecs", region)
        ecs.create_cluster(clusterName=cluster)
        for agent, service_name in self.services.items():
            profile = self.profiles[agent]
            ecs.register_task_definition(
                family=service_name,
                cpu=str(profile.task_cpu),
                memory=str(profile.task_memory),
                requiresCompatibilities=["FARGATE"],
                networkMode="awsvpc",
                containerDefinitions=[{"name": "agent", "image": f"acso/{agent}:1.0", "essential": True}],
            )
            ecs.create_service(
                cluster=cluster,
                serviceName=service_name,
                taskDefinition=service_name,
                desiredCount=desired,
                launchType="FARGATE",
            )
        self.aws.complete_ecs_deployments(cluster, region)
        self.dr = (region, cluster, tasks_start)

    def dr_counts(self) -> dict[str, tuple[int, int]]:
        """Agent -> (desired, running) in the DR region."""
        region, cluster, _ = self.dr or ("", "", False)
        response = self.aws.client("ecs", region).describe_services(
            cluster=cluster, services=list(self.services.values())
        )
        by_name = {s["serviceName"]: (s["desiredCount"], s["runningCount"]) for s in response["services"]}
        return {agent: by_name[name] for agent, name in self.services.items()}

    def _advance_dr_region(self) -> None:
        if self.dr and self.dr[2]:
            self.aws.complete_ecs_deployments(self.dr[1], self.dr[0])

    # -- the nightly backup (AWS Backup jobs and the backup bucket) -----------------------------------------
    BACKUP_DAYS = 3
    """Nights of backups seeded, today's included once its backup has run (02:00-02:30 UTC)."""
    BACKUP_FILES = {
        "postgres/acso.dump": 48_000,
        "dynamodb/agents-state.json": 12_000,
        "config/agents.tar.gz": 6_000,
        "MANIFEST.json": 300,
    }
    """Each night's objects under YYYY/MM/DD/ and their sizes; all but the manifest written with a SHA-256 checksum."""

    def _seed_backups(self) -> None:
        """The platform's backup bucket (this region), its AWS Backup vault and jobs, the DR restore bucket (DR
        region), and the last nights' backups: the jobs of each night and the objects under its day's prefix."""
        s3, bucket = self.aws.client("s3"), self.backups["bucket"]
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.aws.region})
        self.aws.client("backup").create_backup_vault(BackupVaultName=self.backups["vault"])
        region, restore_bucket = self.dr_restore
        self.aws.client("s3", region).create_bucket(
            Bucket=restore_bucket, CreateBucketConfiguration={"LocationConstraint": region}
        )
        today = self.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        for nights_ago in range(self.BACKUP_DAYS - 1, -1, -1):
            night = today - timedelta(days=nights_ago)
            if night + timedelta(minutes=30) <= self.clock.now():
                self._run_nightly_backup(night)

    def _run_nightly_backup(self, day: datetime) -> None:
        started = day + timedelta(hours=2)
        account, region = self.aws.account_id, self.aws.region
        resources = {
            "RDS": f"arn:aws:rds:{region}:{account}:db:{self.cluster.removesuffix('-cluster')}-db",
            "DynamoDB": f"arn:aws:dynamodb:{region}:{account}:table/{self.cluster.removesuffix('-cluster')}-agents",
        }
        for index, (kind, arn) in enumerate(resources.items()):
            self.aws.put_backup_job(
                {
                    "AccountId": account,
                    "BackupJobId": f"{day:%Y%m%d}-{kind.lower()}",
                    "BackupVaultName": self.backups["vault"],
                    "BackupVaultArn": f"arn:aws:backup:{region}:{account}:backup-vault:{self.backups['vault']}",
                    "ResourceArn": arn,
                    "ResourceName": arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1],
                    "ResourceType": kind,
                    "CreationDate": started,
                    "CompletionDate": started + timedelta(minutes=15 + 5 * index),
                    "State": "COMPLETED",
                    "PercentDone": "100.0",
                    "BackupSizeInBytes": 1_000_000 * (index + 1),
                }
            )
        s3, bucket = self.aws.client("s3"), self.backups["bucket"]
        for index, (name, size) in enumerate(self.BACKUP_FILES.items()):
            key = f"{day:%Y/%m/%d}/{name}"
            body = (f"{key}\n".encode() * (size // len(key) + 1))[:size]
            checksum = {} if name == "MANIFEST.json" else {"ChecksumAlgorithm": "SHA256"}
            s3.put_object(Bucket=bucket, Key=key, Body=body, **checksum)
            self.aws.set_s3_last_modified(bucket, key, started + timedelta(minutes=10 + 5 * index))

    def lose_backups(self, nights: int = 1, objects: bool = True, job_state: str = "FAILED") -> None:
        """A fault: the last `nights` backups (tonight's first) did not happen: their jobs ended in `job_state`
        and, with `objects`, nothing was written under their day's prefix."""
        s3, bucket = self.aws.client("s3"), self.backups["bucket"]
        today = self.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        lost = [today - timedelta(days=n) for n in range(nights)]
        for day in lost if objects else []:
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{day:%Y/%m/%d}/").get("Contents", [])
            if listed:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": item["Key"]} for item in listed]})
        ids = {f"{day:%Y%m%d}" for day in lost}
        for job in self.aws.backup_jobs():
            if job["BackupJobId"].split("-", 1)[0] in ids:
                kept = {key: value for key, value in job.items() if key != "CompletionDate"}
                message = "Insufficient privileges to perform this action." if job_state == "FAILED" else ""
                self.aws.put_backup_job(kept | {"State": job_state, "StatusMessage": message, "PercentDone": "0.0"})
