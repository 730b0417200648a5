"""While a remediation holds a service (its lease), the autoscaler must not scale it back in.

A run that changes a service's desired count suspends Application Auto Scaling's dynamic scale-in for that
service and notes it on its lease; releasing the lease (the record step, or the abandoned-run rule) resumes
it. Scale-out stays allowed: the autoscaler may still add tasks. A suspension someone else made (an
operator) is left as it is. Services without a scalable target are untouched.
"""

from __future__ import annotations

from remediation.adapters import autoscaling, state_store
from remediation.settings import Settings

LEASE_FLAG = "scaleInSuspended"


def hold(cluster: str, service_name: str, execution_arn: str, settings: Settings) -> dict | None:
    """Call right before the write, after the guard authorized it; None when no autoscaler manages it."""
    target = autoscaling.scalable_target(cluster, service_name)
    if target is None:
        return None
    if target.scale_in_suspended:
        return {"scaleInSuspended": True, "suspendedByThisRun": False}
    state_store.mark_lease(settings.state_table, f"{cluster}/{service_name}", execution_arn, LEASE_FLAG)
    autoscaling.suspend_scale_in(cluster, service_name, True)
    return {"scaleInSuspended": True, "suspendedByThisRun": True}


def let_go(resource: str, released_lease: dict | None) -> bool:
    """After the lease is released: resume the scale-in this run suspended. True when it did."""
    if not released_lease or not released_lease.get(LEASE_FLAG, {}).get("BOOL"):
        return False
    cluster, service_name = resource.split("/", 1)
    autoscaling.suspend_scale_in(cluster, service_name, False)
    return True
