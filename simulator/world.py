"""A simulated ACSO production inside the emulator: the cluster, five agent services, their
metrics and logs, and how they react to what the runbooks do.

Load model: each service carries a CPU load measured in "task-percent"; its CPU utilization is
load / running tasks. So scaling out lowers CPU the way it does for a CPU-bound service, and a
service at its cap stays hot. Memory does not depend on the task count.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulator.emulator import log_filter_matches
from simulator.synthesized import DeployedStack

LOG_STREAM = "agents"
_MAX_DATUMS_PER_CALL = 1000  # PutMetricData's limit
_LATENCY_SPREAD = (0.7, 0.85, 1.0, 1.15, 1.3, 1.7)
"""An hour of an agent's latency samples, as multiples of its median."""


@dataclass(frozen=True)
class ImageFinding:
    """A vulnerability Amazon Inspector (ECR enhanced scanning) reports in an agent's running image."""

    cve: str
    severity: str
    package: str
    installed: str
    fixed: str | None
    """The version that fixes it; None: no fix available yet."""
    score: float
    package_manager: str = "PYTHONPKG"


BASELINE_IMAGE_FINDINGS = (
    ImageFinding("CVE-2023-5752", "MEDIUM", "pip", "23.0.1", "23.3", 5.5),
    ImageFinding("CVE-2024-22365", "LOW", "libpam-modules", "1.5.2-6", "1.5.2-6+deb12u1", 5.5, "OS"),
)
"""What every agent's python:3.11-slim based image carries: nothing above MEDIUM."""


def _matching(pattern: str, messages: Counter[str]) -> int:
    """How many of the log lines (message -> times it occurs) a metric filter pattern matches."""
    return sum(count for message, count in messages.items() if log_filter_matches(pattern, message))


def _policy_document(actions: list[str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})


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
    image_findings: tuple[ImageFinding, ...] = BASELINE_IMAGE_FINDINGS
    """What ECR enhanced scanning (Amazon Inspector) reports for the image the service runs (`_seed_images`)."""
    image_scanned: bool = True
    """False: the running image was pushed but never scanned (ECR answers ScanNotFoundException)."""


class SimulatedProduction:
    def __init__(self, aws: Any, clock: Any, stack: DeployedStack, settings: dict) -> None:
        self.aws, self.clock, self.stack = aws, clock, stack
        self.cluster = settings["clusterName"]
        self.services: dict[str, str] = {agent: settings["serviceNamePrefix"] + agent for agent in settings["agents"]}
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
        self._cpu_by_revision: dict[str, int] = {}
        """Task definition revision -> CPU units (a revision never changes; read once)."""
        self.dr: tuple[str, str, bool] | None = None
        """(region, cluster, new tasks start) of the agents' copy in the DR region, once seeded (seed_dr_region)."""
        self.config_parameter: str = settings["agentConfigParameter"]
        """The agents' SSM config parameter, `{agent}` standing for the agent (the platform's, seeded here)."""
        self._config_read: dict[str, str] = {}
        self.backups: dict = settings["backups"]
        """The platform's nightly backup: bucket, AWS Backup vault (seeded by `_seed_backups`)."""
        self.dr_restore: tuple[str, str] = (settings["dr"]["region"], settings["dr"]["restoreBucket"])
        """(region, bucket) of the DR restore bucket the dr-test runbook restores into."""
        self.on_demand_backup_failure: str | None = None
        """A fault: on-demand backup jobs (StartBackupJob) end FAILED with this message (`fail_on_demand_backups`)."""
        self.crash_held: dict[str, str] = {}
        """Agent -> id of the deployment whose tasks crashed and stay down until a new deployment (crash_tasks)."""
        self._start_failures_seen: set[tuple[str, str, str]] = set()
        """(agent, deployment id, task definition) whose failed starts were recorded (a bad release)."""

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
        self._seed_images()
        self._seed_roles()
        self._history(hours=24 * history_days)
        self._record_start_failures()

    # -- what the world looks like ------------------------------------------------------------------
    def _counts_and_revisions(self) -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
        """(desired_counts, running_counts, task_definitions) from one DescribeServices call."""
        response = self.aws.client("ecs").describe_services(cluster=self.cluster, services=list(self.services.values()))
        by_name = {service["serviceName"]: service for service in response["services"]}
        services = {agent: by_name[name] for agent, name in self.services.items()}
        return (
            {agent: service["desiredCount"] for agent, service in services.items()},
            {agent: service["runningCount"] for agent, service in services.items()},
            {agent: service["taskDefinition"] for agent, service in services.items()},
        )

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
        return {agent: self._revision_cpu(by_name[name]) for agent, name in self.services.items()}

    def _revision_cpu(self, task_definition: str) -> int:
        """CPU units of a task definition; a revision (`...:<n>`) never changes, so it is read once (speed)."""
        cache = self._cpu_by_revision
        if task_definition not in cache or not task_definition.rsplit(":", 1)[-1].isdigit():
            described = self.aws.client("ecs").describe_task_definition(taskDefinition=task_definition)
            cache[task_definition] = int(described["taskDefinition"]["cpu"])
        return cache[task_definition]

    # -- time passing ------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Virtual time passes (a Wait state): deployments finish and new samples are published."""
        self._autoscale()
        desired, running, revisions = self._counts_and_revisions()  # one DescribeServices for the three
        for agent, service_name in self.services.items():
            new_start = self.profiles[agent].new_tasks_start and not self.bad_release(agent, revisions[agent])
            new_start = new_start and not self._crash_holds(agent)
            starts = new_start or desired[agent] < running[agent]  # stopping always works
            if starts:  # the rollout (a new count, a restart, a new revision) completes
                self.aws.set_running_count(self.cluster, service_name, desired[agent])
        self._record_start_failures()
        self._note_restarts()
        self._read_agent_config(seconds)
        self._advance_dr_region()
        self._run_on_demand_backups()
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
        if not any(profile.autoscaling and profile.scale_in_below_percent for profile in self.profiles.values()):
            return  # no scale-in policy anywhere: nothing to read
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
        counts = self.running_counts(), self.task_cpu()  # nothing changes them while the history is written
        ends = [now - timedelta(hours=hours_ago - 1) for hours_ago in range(hours, 0, -1)]
        self._put_log_history([(at, self._hour_of_logs(at, put=False)) for at in ends])
        self._samples([*(now - timedelta(minutes=minutes_ago) for minutes_ago in range(120, 0, -5)), now], counts)

    def _sample(self, at: datetime, counts: tuple[dict[str, int], dict[str, int]] | None = None) -> None:
        """CPU and memory of every service at `at`; `counts` = (running tasks, task CPU units) when known."""
        self._samples([at], counts)

    def _samples(self, instants: list[datetime], counts: tuple[dict[str, int], dict[str, int]] | None = None) -> None:
        """`_sample` at each instant, in as few PutMetricData calls as its limit allows (the history has 25)."""
        running, sizes = counts or (self.running_counts(), self.task_cpu())
        data = []
        for at in instants:
            data += self._sample_data(at, running, sizes)
        for start in range(0, len(data), _MAX_DATUMS_PER_CALL):
            self.aws.put_metric_data(Namespace="AWS/ECS", MetricData=data[start : start + _MAX_DATUMS_PER_CALL])
        self.last_sample = instants[-1]

    def _sample_data(self, at: datetime, running: dict[str, int], sizes: dict[str, int]) -> list[dict]:
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
        return data

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
            self.aws.put_metric_data(Namespace="AWS/ECS", MetricData=data[start : start + _MAX_DATUMS_PER_CALL])

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
            self.aws.put_metric_data(Namespace="ACSO/Agents", MetricData=data[start : start + _MAX_DATUMS_PER_CALL])

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
        self.aws.put_metric_data(Namespace="AWS/ECS", MetricData=data)

    def _hour_of_logs(self, at: datetime, put: bool = True) -> list[tuple[datetime, str]]:
        """One hour of agent log lines ending at `at`, and what the stack's metric filters make of them (written
        now unless `put` is False: the history writes many hours in a few calls, `_put_log_history`)."""
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
        if put:
            self.put_logs(lines, at)
        return lines

    def put_logs(self, lines: list[tuple[datetime, str]], at: datetime) -> None:
        if not lines:
            return
        self.aws.put_log_events(
            logGroupName=self.log_group,
            logStreamName=LOG_STREAM,
            logEvents=[{"timestamp": int(stamp.timestamp() * 1000), "message": message} for stamp, message in lines],
        )
        # CloudWatch turns log lines into metrics through the stack's metric filters; so does the world.
        messages = Counter(message for _, message in lines)  # an hour repeats a few messages hundreds of times
        for metric_filter in self.stack.metric_filters:
            transformation = metric_filter["MetricTransformations"][0]
            count = _matching(metric_filter["FilterPattern"], messages)
            self.aws.put_metric_data(
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

    def _put_log_history(self, hours: list[tuple[datetime, list[tuple[datetime, str]]]]) -> None:
        """What `put_logs` writes for each (hour end, lines), in as few calls as the APIs take: PutLogEvents at
        most 10,000 events, 1 MiB (message + 26 bytes each) and 24 hours per call; PutMetricData 1,000 datums."""
        events = sorted((int(stamp.timestamp() * 1000), message) for _, lines in hours for stamp, message in lines)
        batch: list[dict] = []
        size = 0
        for stamp, message in events:
            event_size = len(message.encode()) + 26
            if batch and (
                len(batch) == 10_000 or size + event_size > 1_048_576 or stamp - batch[0]["timestamp"] >= 86_400_000
            ):
                self.aws.put_log_events(logGroupName=self.log_group, logStreamName=LOG_STREAM, logEvents=batch)
                batch, size = [], 0
            batch.append({"timestamp": stamp, "message": message})
            size += event_size
        if batch:
            self.aws.put_log_events(logGroupName=self.log_group, logStreamName=LOG_STREAM, logEvents=batch)
        by_namespace: dict[str, list[dict]] = {}
        for at, lines in hours:
            if not lines:  # put_logs writes nothing for an hour without lines
                continue
            messages = Counter(message for _, message in lines)
            for metric_filter in self.stack.metric_filters:
                transformation = metric_filter["MetricTransformations"][0]
                count = _matching(metric_filter["FilterPattern"], messages)
                by_namespace.setdefault(transformation["MetricNamespace"], []).append(
                    {
                        "MetricName": transformation["MetricName"],
                        "Timestamp": at,
                        "Value": float(count),
                        "Unit": "Count",
                    }
                )
        for namespace, data in by_namespace.items():
            for start in range(0, len(data), _MAX_DATUMS_PER_CALL):
                self.aws.put_metric_data(Namespace=namespace, MetricData=data[start : start + _MAX_DATUMS_PER_CALL])

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

    def crash_tasks(
        self,
        agent: str,
        running: int = 0,
        reason: str = "OutOfMemoryError: Container killed due to memory usage",
        exit_code: int = 137,
    ) -> None:
        """A fault: tasks of the service's current, healthy deployment crash after hours of running, and no
        replacement comes up until a new deployment (a stuck local state that fresh tasks do not have). The
        deployment stays COMPLETED (the release is not the cause); ECS keeps the stopped tasks with their stop code,
        reason and exit code and writes a service event; the agent logs a CRITICAL line per crash."""
        service_name, now = self.services[agent], self.clock.now()
        service = self._service(agent)
        deployment = self._primary(service)["id"]
        lost = max(service["runningCount"] - running, 0)
        started = self.tasks_started.get(agent, now - timedelta(hours=6)) + timedelta(seconds=40)
        lines = []
        for index in range(lost):
            stopped = now - timedelta(seconds=30 * (lost - index))
            self.aws.add_stopped_task(
                self.cluster,
                service_name,
                service["taskDefinition"],
                started_by=deployment,
                stop_code="EssentialContainerExited",
                stopped_reason="Essential container in task exited",
                exit_code=exit_code,
                container_reason=reason,
                created_at=started - timedelta(seconds=40),
                started_at=started,
                stopped_at=stopped,
            )
            lines.append((stopped - timedelta(seconds=1), f"CRITICAL [{agent}] worker crashed: {reason}"))
        self.aws.set_running_count(self.cluster, service_name, running)
        self.aws.update_primary_deployment(self.cluster, service_name, rolloutState="COMPLETED")
        self.aws.add_service_event(
            self.cluster,
            service_name,
            f"(service {service_name}) has {lost} tasks stopped: essential container exited.",
            now,
        )
        self.crash_held[agent] = deployment
        self.put_logs(lines, now)

    def _service(self, agent: str) -> dict:
        ecs = self.aws.client("ecs")
        return ecs.describe_services(cluster=self.cluster, services=[self.services[agent]])["services"][0]

    @staticmethod
    def _primary(service: dict) -> dict:
        return next((d for d in service["deployments"] if d.get("status") == "PRIMARY"), service["deployments"][0])

    def _crash_holds(self, agent: str) -> bool:
        """Crashed tasks stay down while the deployment they crashed in is the service's primary one."""
        held = self.crash_held.get(agent)
        if held is None:
            return False
        if self._primary(self._service(agent))["id"] == held:
            return True
        del self.crash_held[agent]
        return False

    def _record_start_failures(self) -> None:
        """A bad release's tasks crash at start: each deployment onto a bad revision leaves its desired count of
        stopped tasks (exit code 1 seconds after starting), its failed-task count, a service event and the agent's
        FATAL startup lines, once per deployment (ECS would keep retrying)."""
        response = self.aws.client("ecs").describe_services(cluster=self.cluster, services=list(self.services.values()))
        now = self.clock.now()
        for service in response["services"]:
            agent = next(agent for agent, name in self.services.items() if name == service["serviceName"])
            primary, revision = self._primary(service), service["taskDefinition"]
            key = (agent, primary["id"], revision)
            if not self.bad_release(agent, revision) or not service["desiredCount"] or key in self._start_failures_seen:
                continue
            self._start_failures_seen.add(key)
            name, lines = service["serviceName"], []
            for index in range(service["desiredCount"]):
                started = now - timedelta(seconds=20 * (index + 1))
                self.aws.add_stopped_task(
                    self.cluster,
                    name,
                    revision,
                    started_by=primary["id"],
                    stop_code="EssentialContainerExited",
                    stopped_reason="Essential container in task exited",
                    exit_code=1,
                    container_reason="",
                    created_at=started - timedelta(seconds=25),
                    started_at=started,
                    stopped_at=started + timedelta(seconds=4),
                )
                lines.append(
                    (started + timedelta(seconds=3), f"FATAL [{agent}] startup failed: {revision.rsplit('/', 1)[-1]}")
                )
            self.aws.update_primary_deployment(
                self.cluster, name, failedTasks=primary.get("failedTasks", 0) + service["desiredCount"]
            )
            self.aws.add_service_event(
                self.cluster, name, f"(service {name}) is unable to consistently start tasks successfully.", now
            )
            self.put_logs(sorted(lines), now)

    # -- the agents' images in ECR and their scan findings ------------------------------------------------------
    def _seed_images(self) -> None:
        """Each agent's ECR repository `acso/<agent>` with an image per release (the task definitions name them
        `acso/<agent>:1.<release>`), and what enhanced scanning (Amazon Inspector) found in the one that runs."""
        ecr = self.aws.client("ecr")
        for agent, profile in self.profiles.items():
            repository = f"acso/{agent}"
            ecr.create_repository(repositoryName=repository, imageScanningConfiguration={"scanOnPush": True})
            digest = ""
            for release in range(profile.revisions):
                manifest = {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {
                        "mediaType": "application/vnd.docker.container.image.v1+json",
                        "size": 1500,
                        "digest": "sha256:" + f"{agent}-1.{release}".encode().hex().ljust(64, "0")[:64],
                    },
                    "layers": [],
                }
                image = ecr.put_image(
                    repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=f"1.{release}"
                )
                digest = image["image"]["imageId"]["imageDigest"]
            tag = f"1.{profile.revisions - 1}"  # the running revision's image
            if profile.image_scanned:
                ecr.start_image_scan(repositoryName=repository, imageId={"imageTag": tag})
                self.aws.put_image_scan_findings(repository, tag, self._scan_findings(profile, tag, digest))

    def _scan_findings(self, profile: ServiceProfile, tag: str, digest: str) -> dict:
        """DescribeImageScanFindings' answer for an image under enhanced scanning, as Amazon Inspector fills it."""
        now, account, region = self.clock.now(), self.aws.account_id, self.aws.region
        counts: dict[str, int] = {}
        findings = []
        for index, finding in enumerate(profile.image_findings):
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
            package = {"name": finding.package, "version": finding.installed, "packageManager": finding.package_manager}
            package["fixedInVersion"] = finding.fixed or "NotAvailable"
            findings.append(
                {
                    "awsAccountId": account,
                    "description": f"{finding.cve} in {finding.package} {finding.installed}.",
                    "findingArn": f"arn:aws:inspector2:{region}:{account}:finding/{digest[7:23]}{index:04d}",
                    "firstObservedAt": (now - timedelta(days=3)).timestamp(),
                    "lastObservedAt": (now - timedelta(hours=2)).timestamp(),
                    "updatedAt": (now - timedelta(hours=2)).timestamp(),
                    "packageVulnerabilityDetails": {
                        "vulnerabilityId": finding.cve,
                        "source": "NVD",
                        "sourceUrl": f"https://nvd.nist.gov/vuln/detail/{finding.cve}",
                        "vulnerablePackages": [package],
                        "cvss": [
                            {"baseScore": finding.score, "scoringVector": "CVSS:3.1", "source": "NVD", "version": "3.1"}
                        ],
                        "referenceUrls": [f"https://nvd.nist.gov/vuln/detail/{finding.cve}"],
                    },
                    "remediation": {"recommendation": {"text": f"Upgrade {finding.package}"}},
                    "score": finding.score,
                    "severity": finding.severity,
                    "status": "ACTIVE",
                    "title": f"{finding.cve} - {finding.package}",
                    "type": "PACKAGE_VULNERABILITY",
                    "fixAvailable": "YES" if finding.fixed else "NO",
                    "exploitAvailable": "NO",
                }
            )
        return {
            "registryId": account,
            "imageId": {"imageTag": tag, "imageDigest": digest},
            "imageScanStatus": {"status": "ACTIVE", "description": "Continuous scan is selected for image."},
            "imageScanFindings": {
                "imageScanCompletedAt": (now - timedelta(hours=2)).timestamp(),
                "vulnerabilitySourceUpdatedAt": (now - timedelta(hours=1)).timestamp(),
                "findingSeverityCounts": counts,
                "enhancedFindings": findings,
            },
        }

    # -- the platform's IAM roles and what they used -------------------------------------------------------------
    ROLE_AGE_DAYS = 400

    def _seed_roles(self) -> None:
        """The platform's roles: the agents' task execution role and one task role per agent (all in use), and a CI
        role without `acso` in its name that never ran (the access review must ignore it)."""
        prefix, now = self.cluster.removesuffix("-cluster"), self.clock.now()
        self.add_role(
            f"{prefix}-execution-role",
            {"ecr": now - timedelta(minutes=10), "logs": now - timedelta(minutes=5)},
            managed={
                f"{prefix}-task-execution": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "logs:PutLogEvents"]
            },
        )
        for agent in self.services:
            self.add_role(
                f"{prefix}-{agent}-task-role",
                {
                    "logs": now - timedelta(minutes=5),
                    "ssm": now - timedelta(days=1),
                    "cloudwatch": now - timedelta(minutes=5),
                },
                inline={"agent-runtime": ["logs:PutLogEvents", "ssm:GetParameter", "cloudwatch:PutMetricData"]},
            )
        self.add_role("platform-ci-deployer", {}, inline={"deploy": ["ecs:UpdateService", "ecr:PutImage"]})

    def add_role(
        self,
        name: str,
        used: dict[str, datetime],
        managed: dict[str, list[str]] | None = None,
        inline: dict[str, list[str]] | None = None,
        created_days_ago: int | None = None,
    ) -> None:
        """A role with its policies (customer managed and inline, each allowing `actions` on `*`), and when it last
        used each service (IAM's last-accessed information; the newest is its RoleLastUsed)."""
        iam = self.aws.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        for policy, actions in (inline or {}).items():
            iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=_policy_document(actions))
        for policy, actions in (managed or {}).items():
            self.attach_policy(name, policy, actions)
        for namespace, when in used.items():
            self.aws.record_service_access(name, namespace, when)
        created = self.clock.now() - timedelta(days=created_days_ago or self.ROLE_AGE_DAYS)
        self.aws.set_role_activity(name, created=created, last_used=max(used.values()) if used else None)

    def attach_policy(self, role: str, policy: str, actions: list[str]) -> None:
        """A customer managed policy allowing `actions`, attached to the role (a grant nobody uses, as a fault)."""
        iam = self.aws.client("iam")
        arn = iam.create_policy(PolicyName=policy, PolicyDocument=_policy_document(actions))["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)

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

    ON_DEMAND_BACKUP_MINUTES = 8
    """How long an on-demand backup job (StartBackupJob, emulator PATCH 17) runs before it completes."""

    def fail_on_demand_backups(self, message: str = "Insufficient privileges to perform this action.") -> None:
        """A fault: from now on, on-demand backup jobs end FAILED with `message` instead of completing."""
        self.on_demand_backup_failure = message

    def _run_on_demand_backups(self) -> None:
        """AWS Backup running the on-demand jobs: RUNNING once started, COMPLETED (or FAILED) after a few minutes."""
        now = self.clock.now()
        for job in self.aws.on_demand_backup_jobs():
            if job["State"] not in ("CREATED", "PENDING", "RUNNING"):
                continue
            done = job["CreationDate"] + timedelta(minutes=self.ON_DEMAND_BACKUP_MINUTES)
            if now < done:
                self.aws.put_backup_job(job | {"State": "RUNNING", "PercentDone": "50.0"})
            elif self.on_demand_backup_failure:
                self.aws.put_backup_job(
                    job | {"State": "FAILED", "StatusMessage": self.on_demand_backup_failure, "PercentDone": "0.0"}
                )
            else:
                self.aws.put_backup_job(
                    job
                    | {"State": "COMPLETED", "PercentDone": "100.0", "CompletionDate": done, "BackupSizeInBytes": 2**20}
                )

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
