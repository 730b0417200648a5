#!/usr/bin/env python3
"""CDK app: one remediation stack per environment in cdk.json (`acso:environments`).

Synthesis makes no AWS calls. Select environments with `-c acso:only=production`.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import ConfigError, load_environments
from stacks.remediation_stack import RemediationStack


def build_app(app: cdk.App) -> cdk.App:
    context = {key: app.node.try_get_context(key) for key in ("acso:defaults", "acso:environments")}
    powertools_version = app.node.try_get_context("acso:powertoolsVersion")
    if not isinstance(powertools_version, str):
        raise ConfigError("acso:powertoolsVersion: missing; the Powertools layer version to deploy, e.g. 3.37.0")
    only = app.node.try_get_context("acso:only")
    for config in load_environments(context):
        if only and config.name != only:
            continue
        env = cdk.Environment(account=config.account, region=config.region) if config.account else None
        RemediationStack(
            app,
            f"AcsoRunbooks-{config.name}",
            config=config,
            env=env,
            powertools_version=powertools_version,
            description=f"ACSO {config.name}: automated runbooks (alarms, schedules, remediation)",
        )
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app


if __name__ == "__main__":
    build_app(cdk.App()).synth()
