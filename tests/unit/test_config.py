"""Configuration is parsed once from cdk.json; a wrong value names its key."""

import copy
import json
from pathlib import Path

import pytest

from stacks.config import ConfigError, load_environments

CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


def _context(**overrides):
    context = copy.deepcopy(CONTEXT)
    context["acso:environments"]["production"].update(overrides)
    return context


def test_checked_in_config_has_both_environments_with_the_seed_thresholds():
    environments = {config.name: config for config in load_environments(CONTEXT)}
    production = environments["production"]
    assert set(environments) == {"staging", "production"}
    assert production.cluster_name == "acso-production-cluster"
    assert production.agents_log_group == "/aws/acso/production/agents"
    assert production.service_names == (
        "acso-production-supervisor",
        "acso-production-threat-hunter",
        "acso-production-incident-response",
        "acso-production-service-orchestration",
        "acso-production-financial-intelligence",
    )
    assert (production.health.cpu_percent, production.health.memory_percent, production.health.error_rate_percent) == (
        70,
        80,
        1,
    )
    assert production.high_cpu.alarm_threshold_percent == 80
    assert production.high_cpu.alarm_period_seconds * production.high_cpu.alarm_evaluation_periods == 600
    assert [level.level for level in production.escalation] == ["L1", "L2", "L3", "L4"]
    assert environments["staging"].cluster_name == "acso-staging-cluster"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"agents": []}, "acso:environments.production.agents: expected a non-empty list"),
        ({"agents": ["supervisor", "Bad Name"]}, "acso:environments.production.agents[1]"),
        ({"agents": ["supervisor", "supervisor"]}, "names must be unique"),
        ({"highCpu": {"maxDesiredCount": 0}}, "acso:environments.production.highCpu.maxDesiredCount"),
        ({"health": {"cpuPercent": 170}}, "acso:environments.production.health.cpuPercent"),
        ({"guard": {"dryRun": "no"}}, "acso:environments.production.guard.dryRun: expected true or false"),
        ({"schedules": {"dailyHealthCheck": "every day"}}, "acso:environments.production.schedules.dailyHealthCheck"),
        ({"schedules": {"accessReview": "quarterly"}}, "acso:environments.production.schedules.accessReview"),
        ({"accessReview": {"unusedAfterDays": 500}}, "acso:environments.production.accessReview.unusedAfterDays"),
        (
            {"accessReview": {"lastAccessedChecks": 120, "lastAccessedPollSeconds": 60}},
            "acso:environments.production.accessReview.lastAccessedChecks",
        ),
        ({"securityPatchReview": {"ecrRepositories": "Acso Repos"}}, "securityPatchReview.ecrRepositories"),
        ({"account": "12345"}, "acso:environments.production.account"),
        (
            {"escalation": {"L3": {"responseMinutes": "soon"}}},
            "acso:environments.production.escalation.L3.responseMinutes: expected an integer",
        ),
    ],
)
def test_a_wrong_value_fails_with_a_message_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_environments(_context(**override))


def test_a_missing_defaults_block_is_named():
    context = copy.deepcopy(CONTEXT)
    del context["acso:defaults"]
    with pytest.raises(ConfigError, match="acso:defaults"):
        load_environments(context)


def test_another_cluster_and_service_list_need_only_config():
    config = next(
        c
        # A two-agent fleet also says how many down agents make a complete outage (default 3 of 5).
        for c in load_environments(
            _context(clusterName="ops-{env}", agents=["alpha", "beta"], availability={"outageMinServicesDown": 2})
        )
        if c.name == "production"
    )
    assert config.cluster_name == "ops-production"
    assert config.service_names == ("acso-production-alpha", "acso-production-beta")
