"""CloudWatch alarm states: re-check before acting, and count how many agents alarm at once."""

from __future__ import annotations

from remediation.adapters.aws import aws_errors, client


def states(alarm_names: list[str]) -> dict[str, str]:
    """Alarm name -> ALARM | OK | INSUFFICIENT_DATA (missing alarms are left out)."""
    found: dict[str, str] = {}
    paginator = client("cloudwatch").get_paginator("describe_alarms")
    with aws_errors("cloudwatch.DescribeAlarms"):
        for start in range(0, len(alarm_names), 100):
            for page in paginator.paginate(AlarmNames=alarm_names[start : start + 100], AlarmTypes=["MetricAlarm"]):
                found |= {alarm["AlarmName"]: alarm["StateValue"] for alarm in page.get("MetricAlarms", [])}
    return found


def put_cpu_step_alarm(
    name: str, cluster: str, service_name: str, above_percent: float, period_seconds: int, periods: int, action: str
) -> None:
    """The CPU alarm that drives a step-scaling policy (PutMetricAlarm is an upsert by name)."""
    with aws_errors("cloudwatch.PutMetricAlarm"):
        client("cloudwatch").put_metric_alarm(
            AlarmName=name,
            AlarmDescription=f"{service_name}: CPU >= {above_percent:g} % drives its step-scaling policy.",
            Namespace="AWS/ECS",
            MetricName="CPUUtilization",
            Dimensions=[{"Name": "ClusterName", "Value": cluster}, {"Name": "ServiceName", "Value": service_name}],
            Statistic="Average",
            Period=period_seconds,
            EvaluationPeriods=periods,
            Threshold=above_percent,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=[action],
        )
