"""Each environment deploys within CloudFormation's per-stack quotas, in every template: the top-level stack and
the nested stacks it is split into (a family of runbooks each, and the agents' alarms by groups of agents). CDK
itself refuses more than 500 resources at synth, but not a template body over 1,000,000 bytes (the file `cdk
deploy` uploads), nor too many parameters or outputs: those only fail at deploy time. `make bench` (P6) measures a
200-service configuration."""

from __future__ import annotations

import json

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
