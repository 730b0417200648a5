"""The leases that span the platform rather than one service (a service's lease is `<cluster>/<service>`,
logic/guard.py `lease_resource`). Named here so that what releases them (logic/abandoned.py) needs neither runbook."""

from __future__ import annotations

from remediation.settings import Settings

FAILOVER = "dr-failover"
MAINTENANCE = "maintenance-window"


def failover_lease(settings: Settings) -> str:
    """The lease every complete-outage run (and anything else that may fail the platform over) must hold."""
    return f"{settings.cluster_name}/{FAILOVER}"


def maintenance_lease(settings: Settings) -> str:
    """The lease a maintenance window holds for its whole run (and on which it notes the flags it replaced)."""
    return f"{settings.cluster_name}/{MAINTENANCE}"
