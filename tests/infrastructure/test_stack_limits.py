"""Each environment's stack deploys within CloudFormation's per-stack quotas. CDK itself refuses more than 500
resources at synth, but not a template body over 1,000,000 bytes (the file `cdk deploy` uploads), nor too many
parameters or outputs: those only fail at deploy time. `make bench` (P6) measures a 200-service configuration."""

from __future__ import annotations

import json

TEMPLATE_BYTES, RESOURCES, PARAMETERS, OUTPUTS, MAPPINGS = 1_000_000, 500, 200, 200, 200


def test_the_stack_template_fits_cloudformations_per_stack_quotas(synthesized):
    body = synthesized.template_file.read_bytes()
    template = json.loads(body)

    assert len(body) <= TEMPLATE_BYTES, f"{synthesized.template_file.name}: {len(body):,} bytes"
    assert len(template["Resources"]) <= RESOURCES
    assert len(template.get("Parameters", {})) <= PARAMETERS
    assert len(template.get("Outputs", {})) <= OUTPUTS
    assert len(template.get("Mappings", {})) <= MAPPINGS
