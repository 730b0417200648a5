"""Another cluster or another set of agents needs only config: it flows from cdk.json context to every
alarm, rule and permission; a wrong value fails synth naming its key."""

from __future__ import annotations

import copy

import aws_cdk as cdk
import pytest

from app import build_app
from stacks.config import ConfigError
from tests.infrastructure.support import (
    CONTEXT,
    SynthesizedStack,
    actions_cover,
    ecs_service_arn,
    policy_statements,
    synthesize,
)
from tests.infrastructure.test_triggers import alarms_starting

AGENTS = ["alpha", "beta"]


@pytest.fixture(scope="module")
def two_agent_production(tmp_path_factory) -> dict[str, SynthesizedStack]:
    context = copy.deepcopy(CONTEXT)
    context["acso:defaults"] |= {"agents": AGENTS, "clusterName": "ops-{env}"}
    # "Most services down" cannot exceed the number of agents.
    context["acso:defaults"]["availability"] = context["acso:defaults"]["availability"] | {"outageMinServicesDown": 2}
    context["acso:only"] = "production"
    return synthesize(context, tmp_path_factory.mktemp("cdk.out-two-agents"))


def test_given_only_production_selected_when_synthesized_then_no_other_environment_is_built(two_agent_production):
    assert sorted(two_agent_production) == ["production"]


def test_given_two_agents_on_another_cluster_then_each_gets_a_cpu_alarm_on_that_cluster(two_agent_production):
    synthesized = two_agent_production["production"]
    alarms = synthesized.cpu_alarms().values()

    assert sorted(
        (alarm["AlarmName"], tuple(sorted((d["Name"], d["Value"]) for d in alarm["Dimensions"]))) for alarm in alarms
    ) == [
        (
            f"acso-production-{agent}-high-cpu",
            (("ClusterName", "ops-production"), ("ServiceName", f"acso-production-{agent}")),
        )
        for agent in AGENTS
    ]


def test_given_two_agents_then_the_high_cpu_rule_listens_to_exactly_their_alarms(two_agent_production):
    synthesized = two_agent_production["production"]
    assert alarms_starting(synthesized, "high-cpu") == sorted(f"acso-production-{agent}-high-cpu" for agent in AGENTS)


def test_given_two_agents_on_another_cluster_then_update_service_is_scoped_to_those_two_services(two_agent_production):
    synthesized = two_agent_production["production"]
    resolver = synthesized.resolver()
    updates = [
        s
        for s in policy_statements(synthesized)
        if s.effect == "Allow" and actions_cover(s.actions, "ecs:UpdateService")
    ]

    dr = synthesized.config.dr
    here = sorted(ecs_service_arn("ops-production", f"acso-production-{agent}") for agent in AGENTS)
    # complete-outage's approved failover: the same two services in the DR region
    there = sorted(ecs_service_arn(dr.cluster_name, f"acso-production-{agent}", region=dr.region) for agent in AGENTS)

    assert updates
    for statement in updates:
        assert sorted(resolver.resolve(list(statement.resources))) in (here, there)


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (
            lambda c: c["acso:environments"]["production"].update(highCpu={"maxDesiredCount": 0}),
            "acso:environments.production.highCpu.maxDesiredCount",
        ),
        (
            lambda c: c["acso:environments"]["staging"].update(guard={"minDesiredCount": 9}),
            "acso:environments.staging.guard.minDesiredCount",
        ),
        (
            lambda c: c["acso:environments"]["production"].update(schedules={"dailyHealthCheck": "daily at six"}),
            "acso:environments.production.schedules.dailyHealthCheck",
        ),
        (lambda c: c.pop("acso:powertoolsVersion"), "acso:powertoolsVersion"),
    ],
    ids=["max-desired-count-zero", "min-above-max", "bad-schedule", "no-powertools-version"],
)
def test_given_a_wrong_config_value_when_the_app_is_built_then_synth_fails_naming_the_key(tmp_path, mutate, key):
    context = copy.deepcopy(CONTEXT)
    mutate(context)

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_app(cdk.App(context=context, outdir=str(tmp_path)))
