"""A simulated ACSO production inside the emulator: the cluster, five agent services, their
metrics and logs, and how they react to what the runbooks do.

Load model: each service carries a CPU load measured in "task-percent"; its CPU utilization is
load / running tasks. So scaling out lowers CPU the way it does for a CPU-bound service, and a
service at its cap stays hot. Memory does not depend on the task count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulator.emulator import log_filter_matches
from simulator.synthesized import DeployedStack

LOG_STREAM = "agents"


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


class SimulatedProduction:
    def __init__(self, aws: Any, clock: Any, stack: DeployedStack, settings: dict) -> None:
        self.aws, self.clock, self.stack = aws, clock, stack
        self.cluster = settings["clusterName"]
        self.services: dict[str, str] = settings["services"]
        self.log_group = settings["agentsLogGroup"]
        self.profiles: dict[str, ServiceProfile] = {}
        self.load: dict[str, float] = {}
        self.last_sample: datetime | None = None
        self._next_sequence = 0

    # -- setup -----------------------------------------------------------------------------------
    def seed(self, profiles: dict[str, ServiceProfile]) -> None:
        ecs, logs = self.aws.client("ecs"), self.aws.client("logs")
        ecs.create_cluster(clusterName=self.cluster)
        for agent, service_name in self.services.items():
            profile = profiles.get(agent, ServiceProfile())
            self.profiles[agent] = profile
            self.load[agent] = profile.cpu_percent * profile.desired
            ecs.register_task_definition(
                family=service_name,
                cpu=str(profile.task_cpu),
                memory=str(profile.task_memory),
                requiresCompatibilities=["FARGATE"],
                networkMode="awsvpc",
                containerDefinitions=[{"name": "agent", "image": f"acso/{agent}:1.0", "essential": True}],
            )
            ecs.create_service(
                cluster=self.cluster,
                serviceName=service_name,
                taskDefinition=service_name,
                desiredCount=profile.desired,
                launchType="FARGATE",
            )
        self.aws.complete_ecs_deployments(self.cluster)
        logs.create_log_group(logGroupName=self.log_group)
        logs.create_log_stream(logGroupName=self.log_group, logStreamName=LOG_STREAM)
        self._history(hours=24)

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
        desired, running = self.desired_counts(), self.running_counts()
        for agent, service_name in self.services.items():
            starts = self.profiles[agent].new_tasks_start or desired[agent] < running[agent]  # stopping always works
            if starts:  # the rollout (a new count, a restart, a new revision) completes
                self.aws.set_running_count(self.cluster, service_name, desired[agent])
        self._sample(self._last_minute())

    def _last_minute(self) -> datetime:
        """CloudWatch stamps a datapoint with the start of its minute, and queries exclude their end time."""
        return self.clock.now().replace(second=0, microsecond=0) - timedelta(minutes=1)

    def _history(self, hours: int) -> None:
        """Two hours of 5-minute utilization samples and a day of logs, ending just before now."""
        now = self._last_minute()
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
            profile = self.profiles[agent]
            data.append(
                {
                    "MetricName": "CPUUtilization",
                    "Dimensions": dimensions,
                    "Timestamp": at,
                    "Value": self.cpu_percent(agent, running[agent], sizes[agent]),
                    "Unit": "Percent",
                }
            )
            data.append(
                {
                    "MetricName": "MemoryUtilization",
                    "Dimensions": dimensions,
                    "Timestamp": at,
                    "Value": profile.memory_percent,
                    "Unit": "Percent",
                }
            )
        self.aws.client("cloudwatch").put_metric_data(Namespace="AWS/ECS", MetricData=data)
        self.last_sample = at

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

    # -- faults ------------------------------------------------------------------------------------
    def set_cpu(self, agent: str, percent: float) -> None:
        """From now on the service needs this much CPU at its current task count."""
        self.load[agent] = percent * self.running_counts()[agent]
        self._sample(self._last_minute())

    def stop_tasks(self, agent: str, running: int) -> None:
        self.aws.set_running_count(self.cluster, self.services[agent], running)
