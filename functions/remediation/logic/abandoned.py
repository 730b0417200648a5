"""An execution that ended without reaching its own record step (timed out, aborted, failed outside any
Catch) must not keep a service's lease until it expires, and still leaves its one audit record."""

from __future__ import annotations

from remediation.adapters import state_store
from remediation.clock import utc_now
from remediation.domain.leases import failover_lease, maintenance_lease
from remediation.logic.guard import release_resource
from remediation.settings import Settings


def release_abandoned(execution_arn: str, status: str, state_machine_arn: str, settings: Settings) -> dict:
    resources = [f"{settings.cluster_name}/{service}" for service in settings.services.values()]
    resources.append(failover_lease(settings))  # complete-outage holds the fleet, not a service
    # maintenance-window holds its own lease; releasing it puts back the automation flags it suppressed.
    resources.append(maintenance_lease(settings))
    released = [
        resource
        for resource in resources
        if state_store.lease_owner(settings.state_table, resource) == execution_arn
        and release_resource(resource, execution_arn, settings)
    ]
    runbook = state_machine_arn.rsplit(":", 1)[-1].removeprefix(f"acso-{settings.environment}-")
    if not state_store.has_audit_record(settings.state_table, runbook, execution_arn):
        state_store.put_audit_record(
            settings.state_table,
            runbook,
            utc_now(),
            execution_arn,
            {
                "runbook": runbook,
                "decision": "abandoned",
                "why": f"execution ended {status} before recording",
                "leasesReleased": released,
            },
        )
    return {"released": released, "status": status}
