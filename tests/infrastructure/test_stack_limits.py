"""Each environment deploys within CloudFormation's per-stack quotas, in every template: the top-level stack and
the nested stacks it is split into (a family of runbooks each, and the agents' alarms by groups of agents). CDK
itself refuses more than 500 resources at synth, but not a template body over 1,000,000 bytes (the file `cdk
deploy` uploads), nor too many parameters or outputs: those only fail at deploy time. `make bench` (P6) measures a
200-service configuration."""

from __future__ import annotations

import copy
import json

import pytest
from aws_cdk.assertions import Annotations, Match

from simulator.alarm_rules import referenced_alarms
from tests.infrastructure.support import (
    CONTEXT,
    SynthesizedStack,
    actions_cover,
    ecs_service_arn,
    policy_statements,
    synthesize,
)

TEMPLATE_BYTES, RESOURCES, PARAMETERS, OUTPUTS, MAPPINGS = 1_000_000, 500, 200, 200, 200


def test_every_template_of_the_environment_fits_cloudformations_per_stack_quotas(synthesized):
    files = [synthesized.template_file, *synthesized.nested_template_files]

    assert len(files) > 1, "the runbooks are split into nested stacks"
    for path in files:
        body = path.read_bytes()
        template = json.loads(body)
        assert len(body) <= TEMPLATE_BYTES, f"{path.name}: {len(body):,} bytes"
        assert len(template["Resources"]) <= RESOURCES, path.name
        assert len(template.get("Parameters", {})) <= PARAMETERS, path.name
        assert len(template.get("Outputs", {})) <= OUTPUTS, path.name
        assert len(template.get("Mappings", {})) <= MAPPINGS, path.name


def test_every_state_machine_lives_in_a_nested_stack_so_adding_runbooks_never_fills_the_top_level_stack(synthesized):
    top_level = json.loads(synthesized.template_file.read_text())["Resources"]

    assert [r for r in top_level.values() if r["Type"] == "AWS::StepFunctions::StateMachine"] == []
    assert len(synthesized.of_type("AWS::StepFunctions::StateMachine")) == len(synthesized.stack.runbooks)


# -- A 200-agent fleet (issue 7, P6) ------------------------------------------------------------------------------

FLEET = [f"agent-{index:03d}" for index in range(1, 201)]
EVENT_PATTERN_CHARS, COMPOSITE_RULE_CHARS, COMPOSITE_CHILDREN = 2048, 10_240, 100
SSM_ADVANCED_VALUE_BYTES, LAMBDA_ENVIRONMENT_BYTES = 8192, 4096


@pytest.fixture(scope="module")
def fleet_of_200(tmp_path_factory) -> SynthesizedStack:
    context = copy.deepcopy(CONTEXT)
    context["acso:defaults"]["agents"] = FLEET
    context["acso:only"] = "production"
    return synthesize(context, tmp_path_factory.mktemp("cdk.out-200-agents"))["production"]


def test_given_200_agents_every_template_fits_cloudformations_per_stack_quotas(fleet_of_200):
    test_every_template_of_the_environment_fits_cloudformations_per_stack_quotas(fleet_of_200)
    alarms = [props["AlarmName"] for props in fleet_of_200.of_type("AWS::CloudWatch::Alarm").values()]
    assert {
        f"acso-production-{agent}-{kind}" for agent in FLEET for kind in ("high-cpu", "memory-leak", "unavailable")
    } <= set(alarms)


def test_given_200_agents_the_patterns_rules_settings_and_environments_fit_their_service_limits(fleet_of_200):
    """What CloudFormation would only find at deploy time: EventBridge patterns (2,048 characters), composite alarm
    rules (10,240 characters, 100 alarms), the settings parameter (advanced tier, 8 KB), Lambda environments (4 KB)."""
    resolver = fleet_of_200.resolver()
    for logical_id, rule in fleet_of_200.of_type("AWS::Events::Rule").items():
        if "EventPattern" in rule:
            pattern = json.dumps(resolver.resolve(rule["EventPattern"]), separators=(",", ":"))
            assert len(pattern) <= EVENT_PATTERN_CHARS, f"{logical_id}: {len(pattern):,} characters"
    composites = fleet_of_200.of_type("AWS::CloudWatch::CompositeAlarm").values()
    assert len(composites) > 1, "200 agents are counted through per-group composite alarms"
    for composite in composites:
        rule = resolver.resolve(composite["AlarmRule"])
        assert len(rule) <= COMPOSITE_RULE_CHARS, composite["AlarmName"]
        assert len(referenced_alarms(rule)) <= COMPOSITE_CHILDREN, composite["AlarmName"]
    settings = fleet_of_200.settings_json()
    assert len(settings.encode()) <= SSM_ADVANCED_VALUE_BYTES, f"settings: {len(settings.encode()):,} bytes"
    assert len(json.loads(settings)["agents"]) == len(FLEET)
    for function in fleet_of_200.of_type("AWS::Lambda::Function").values():
        environment = json.dumps(function.get("Environment", {}).get("Variables", {}), separators=(",", ":"))
        assert len(environment.encode()) <= LAMBDA_ENVIRONMENT_BYTES


def test_given_200_agents_cdk_nag_accepts_only_the_agents_name_patterns_in_place_of_their_arns(fleet_of_200):
    errors = Annotations.from_stack(fleet_of_200.stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    updates = {
        json.dumps(fleet_of_200.resolver().resolve(resource))
        for statement in policy_statements(fleet_of_200)
        if actions_cover(statement.actions, "ecs:UpdateService")
        for resource in statement.resources
    }

    assert [(error.id, error.entry.data) for error in errors] == []
    assert updates == {
        json.dumps(ecs_service_arn("acso-production-cluster", "acso-production-*")),
        json.dumps(ecs_service_arn("acso-production-cluster", "acso-production-*", region="us-west-2")),
    }, "grants name the agents' services by pattern, in their own cluster only"
