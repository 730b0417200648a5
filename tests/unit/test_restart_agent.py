"""restart-agent's act step: one forced deployment per run, even when the step is retried; cooldown recorded."""

from __future__ import annotations

from dataclasses import replace

from remediation.adapters import ecs, state_store
from remediation.domain.requests.common import ServiceRequest
from remediation.logic import restart_agent
from remediation.settings import load_settings
from tests.unit.conftest import CLUSTER, execution_arn

RUN = execution_arn("restart")


def _request() -> ServiceRequest:
    return ServiceRequest(
        runbook="restart-agent",
        trigger="console",
        dry_run=False,
        idempotency_key="console:restart-1#restart",
        reason="agent unresponsive",
        agent="supervisor",
        service_name="acso-production-supervisor",
        cluster_name=CLUSTER,
    )


def test_given_a_restart_when_it_succeeds_then_the_restart_cooldown_starts(aws, virtual_clock):
    aws.create_service("supervisor", 2)

    result = restart_agent.restart(_request(), RUN, load_settings())

    assert result["outcome"] == "restarted"
    resource = f"{CLUSTER}/acso-production-supervisor"
    assert state_store.last_action_at(load_settings().state_table, resource, restart_agent.ACTION) is not None


def test_given_the_step_retried_after_the_deployment_was_forced_when_it_runs_again_then_it_does_not_force_twice(
    aws, virtual_clock, monkeypatch
):
    aws.create_service("supervisor", 2)
    forced: list[str] = []
    real_force, real_describe = ecs.force_new_deployment, ecs.describe_services

    def force(cluster: str, service: str) -> ecs.ServiceState:
        forced.append(service)
        return real_force(cluster, service)

    def describe(cluster: str, services: list[str]) -> dict[str, ecs.ServiceState]:
        # What ECS shows once a deployment was forced: a second deployment rolling out (moto shows none).
        states = real_describe(cluster, services)
        if forced:
            states = {
                name: replace(state, deployments=2, rollout_state="IN_PROGRESS") for name, state in states.items()
            }
        return states

    monkeypatch.setattr(ecs, "force_new_deployment", force)
    monkeypatch.setattr(ecs, "describe_services", describe)
    restart_agent.restart(_request(), RUN, load_settings())

    again = restart_agent.restart(_request(), RUN, load_settings())

    assert again["outcome"] == "restarted"
    assert forced == ["acso-production-supervisor"]
