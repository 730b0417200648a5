"""Application Auto Scaling of the agents' ECS services: the scalable target, its step-scaling policy, and
the scale-in suspension a remediation holds while it owns a service."""

from __future__ import annotations

from dataclasses import dataclass

from remediation.adapters.aws import aws_errors, client

_NAMESPACE = "ecs"
_DIMENSION = "ecs:service:DesiredCount"


def resource_id(cluster: str, service_name: str) -> str:
    return f"service/{cluster}/{service_name}"


@dataclass(frozen=True)
class ScalableTarget:
    min_capacity: int
    max_capacity: int
    scale_in_suspended: bool


def scalable_target(cluster: str, service_name: str) -> ScalableTarget | None:
    """The service's scalable target, or None when Application Auto Scaling does not manage it."""
    with aws_errors("application-autoscaling.DescribeScalableTargets"):
        targets = client("application-autoscaling").describe_scalable_targets(
            ServiceNamespace=_NAMESPACE, ResourceIds=[resource_id(cluster, service_name)], ScalableDimension=_DIMENSION
        )["ScalableTargets"]
    if not targets:
        return None
    target = targets[0]
    return ScalableTarget(
        min_capacity=target["MinCapacity"],
        max_capacity=target["MaxCapacity"],
        scale_in_suspended=bool(target.get("SuspendedState", {}).get("DynamicScalingInSuspended")),
    )


def suspend_scale_in(cluster: str, service_name: str, suspended: bool) -> None:
    """Only dynamic scale-in: the autoscaler may still add tasks while a remediation holds the service."""
    with aws_errors("application-autoscaling.RegisterScalableTarget"):
        client("application-autoscaling").register_scalable_target(
            ServiceNamespace=_NAMESPACE,
            ResourceId=resource_id(cluster, service_name),
            ScalableDimension=_DIMENSION,
            SuspendedState={"DynamicScalingInSuspended": suspended},
        )


def register_target(cluster: str, service_name: str, min_capacity: int, max_capacity: int) -> None:
    with aws_errors("application-autoscaling.RegisterScalableTarget"):
        client("application-autoscaling").register_scalable_target(
            ServiceNamespace=_NAMESPACE,
            ResourceId=resource_id(cluster, service_name),
            ScalableDimension=_DIMENSION,
            MinCapacity=min_capacity,
            MaxCapacity=max_capacity,
        )


def put_step_scaling_policy(cluster: str, service_name: str, policy_name: str, configuration: dict) -> str:
    """Create or replace the policy (PutScalingPolicy is an upsert by name); returns its ARN."""
    with aws_errors("application-autoscaling.PutScalingPolicy"):
        response = client("application-autoscaling").put_scaling_policy(
            PolicyName=policy_name,
            ServiceNamespace=_NAMESPACE,
            ResourceId=resource_id(cluster, service_name),
            ScalableDimension=_DIMENSION,
            PolicyType="StepScaling",
            StepScalingPolicyConfiguration=configuration,
        )
    return response["PolicyARN"]


def scalable_targets(cluster: str, service_names: list[str]) -> dict[str, ScalableTarget]:
    """The scalable targets of these services (one call for up to 50), by service name; absent: not managed."""
    ids = {resource_id(cluster, name): name for name in service_names}
    found: dict[str, ScalableTarget] = {}
    paginator = client("application-autoscaling").get_paginator("describe_scalable_targets")
    with aws_errors("application-autoscaling.DescribeScalableTargets"):
        for page in paginator.paginate(
            ServiceNamespace=_NAMESPACE, ResourceIds=list(ids), ScalableDimension=_DIMENSION
        ):
            for target in page["ScalableTargets"]:
                found[ids[target["ResourceId"]]] = ScalableTarget(
                    min_capacity=target["MinCapacity"],
                    max_capacity=target["MaxCapacity"],
                    scale_in_suspended=bool(target.get("SuspendedState", {}).get("DynamicScalingInSuspended")),
                )
    return found


def scaling_policies(cluster: str, service_names: list[str]) -> dict[str, list[dict]]:
    """Every scaling policy of these services' desired counts, by service name (the ECS namespace is listed in one
    call and filtered here: the API takes one ResourceId at a time)."""
    ids = {resource_id(cluster, name): name for name in service_names}
    found: dict[str, list[dict]] = {name: [] for name in service_names}
    paginator = client("application-autoscaling").get_paginator("describe_scaling_policies")
    with aws_errors("application-autoscaling.DescribeScalingPolicies"):
        for page in paginator.paginate(ServiceNamespace=_NAMESPACE):
            for policy in page["ScalingPolicies"]:
                name = ids.get(policy["ResourceId"])
                if name and policy.get("ScalableDimension", _DIMENSION) == _DIMENSION:
                    found[name].append(policy)
    return found
