"""Reading the synthesized app: one synthesis of the real app (app.build_app) from cdk.json context, and the
helpers the infrastructure tests share (resolving tokens to fake ARNs, walking policies and ASL states)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from aws_cdk.assertions import Template

from app import build_app
from simulator.synthesized import Resolver, flatten, state_machine_definition
from stacks.config import EnvironmentConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTEXT: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
ENVIRONMENTS = ("production", "staging")
ACCOUNT = "123456789012"
REGION = "eu-west-1"
STATE_MACHINES_DIR = PROJECT_ROOT / "state_machines"


@dataclass
class SynthesizedStack:
    """One environment's stack as synthesized, with its config and its cloud-assembly files."""

    environment: str
    stack: cdk.Stack
    config: EnvironmentConfig
    template: Template
    raw: dict
    """The top-level template with its nested stacks inlined (simulator.synthesized.flatten)."""
    template_file: Path
    nested_template_files: list[Path]
    assets: dict[str, Path]
    _definitions: dict[str, dict] | None = field(default=None, repr=False)

    @property
    def resources(self) -> dict[str, dict]:
        return self.raw["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict]:
        """Logical id -> Properties of every resource of that type."""
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def resolver(self) -> Resolver:
        """Resolves every Ref and Fn::GetAtt of this template to a fake but well-formed name or ARN."""
        resolver = Resolver(self.raw, ACCOUNT, REGION)
        for logical_id, resource in self.resources.items():
            ref, arn = fake_identity(logical_id, resource)
            resolver.refs[logical_id] = ref
            resolver.attributes[(logical_id, "Arn")] = arn
            if resource["Type"] == "AWS::SNS::Topic":
                resolver.attributes[(logical_id, "TopicArn")] = arn
        return resolver

    def settings_json(self) -> str:
        """The settings document every handler loads (the SSM parameter its ACSO_SETTINGS_PARAMETER names),
        resolved."""
        resolver = self.resolver()
        function = next(iter(self.of_type("AWS::Lambda::Function").values()))
        name = function["Environment"]["Variables"]["ACSO_SETTINGS_PARAMETER"]
        parameter = next(props for props in self.of_type("AWS::SSM::Parameter").values() if props.get("Name") == name)
        return resolver.resolve(parameter["Value"])

    def definitions(self) -> dict[str, dict]:
        """State machine logical id -> its definition as CloudFormation would create it, parsed."""
        if self._definitions is None:
            resolver = self.resolver()
            self._definitions = {
                logical_id: json.loads(state_machine_definition(props, resolver, self.assets))
                for logical_id, props in self.of_type("AWS::StepFunctions::StateMachine").items()
            }
        return self._definitions

    def state_machine_named(self, suffix: str) -> str:
        """Logical id of the state machine named `acso-<env>-<suffix>`."""
        name = f"acso-{self.environment}-{suffix}"
        matches = [
            logical_id
            for logical_id, props in self.of_type("AWS::StepFunctions::StateMachine").items()
            if props["StateMachineName"] == name
        ]
        assert len(matches) == 1, f"expected one state machine named {name}, found {matches}"
        return matches[0]

    def cpu_alarms(self) -> dict[str, dict]:
        """The per-agent CPU alarms (the stack also has alarms on its own failures)."""
        return {
            logical_id: props
            for logical_id, props in self.of_type("AWS::CloudWatch::Alarm").items()
            if props.get("MetricName") == "CPUUtilization"
        }

    def function_of_role(self, role_logical_id: str) -> str | None:
        """Handler of the Lambda function that runs with this role (None for non-Lambda roles)."""
        for props in self.of_type("AWS::Lambda::Function").values():
            if props["Role"] == {"Fn::GetAtt": [role_logical_id, "Arn"]}:
                return props["Handler"]
        return None


def fake_identity(logical_id: str, resource: dict) -> tuple[str, str]:
    """(Ref value, Arn attribute) of a resource, shaped like the real ones where the shape matters."""
    resource_type, props = resource["Type"], resource.get("Properties", {})
    service = resource_type.split("::")[1].lower()
    prefix = f"arn:aws:{service}:{REGION}:{ACCOUNT}"
    if resource_type == "AWS::Lambda::Function":
        return logical_id, f"{prefix}:function:{logical_id}"
    if resource_type in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
        return props["AlarmName"], alarm_arn(props["AlarmName"])
    if resource_type == "AWS::StepFunctions::StateMachine":
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{props['StateMachineName']}"
        return arn, arn
    if resource_type == "AWS::SNS::Topic":
        arn = f"{prefix}:{props['TopicName']}"
        return arn, arn
    if resource_type == "AWS::S3::Bucket":
        return logical_id.lower(), f"arn:aws:s3:::{logical_id.lower()}"
    return logical_id, f"{prefix}:{logical_id}"


def alarm_arn(alarm_name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm_name}"


def ecs_service_arn(cluster: str, service: str, region: str = REGION) -> str:
    return f"arn:aws:ecs:{region}:{ACCOUNT}:service/{cluster}/{service}"


def synthesize(context: dict[str, Any], outdir: Path) -> dict[str, SynthesizedStack]:
    """Synthesize the real app once from `context`; environment name -> its synthesized stack."""
    app = build_app(cdk.App(context=context, outdir=str(outdir)))
    assembly = app.synth()
    stacks: dict[str, SynthesizedStack] = {}
    for child in app.node.children:
        if not isinstance(child, cdk.Stack):
            continue
        artifact = assembly.get_stack_by_name(child.stack_name)
        manifest = json.loads((outdir / f"{child.stack_name}.assets.json").read_text())
        assets = {
            destination["objectKey"]: outdir / entry["source"]["path"]
            for entry in manifest.get("files", {}).values()
            for destination in entry["destinations"].values()
        }
        config: EnvironmentConfig = child.config  # type: ignore[attr-defined]
        raw = flatten(artifact.template, assets)
        stacks[config.name] = SynthesizedStack(
            environment=config.name,
            stack=child,
            config=config,
            template=Template.from_json(raw),
            raw=raw,
            template_file=Path(artifact.template_full_path),
            nested_template_files=[
                outdir / entry["source"]["path"]
                for entry in manifest.get("files", {}).values()
                if entry["source"]["path"].endswith(".nested.template.json")
            ],
            assets=assets,
        )
    return stacks


# -- IAM ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    source: str
    """Logical id of the resource holding the policy document."""
    kind: str
    """identity, trust or resource."""
    effect: str
    actions: tuple[str, ...]
    resources: tuple[Any, ...]
    principal: Any
    condition: dict
    roles: tuple[str, ...]
    """Logical ids of the roles an identity policy is attached to."""


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def policy_statements(synthesized: SynthesizedStack) -> Iterator[Statement]:
    """Every statement of every policy document in the template: identity, trust and resource policies."""
    for logical_id, resource in synthesized.resources.items():
        props = resource.get("Properties", {})
        documents: list[tuple[str, dict, tuple[str, ...]]] = []
        resource_type = resource["Type"]
        if resource_type in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            roles = tuple(role["Ref"] for role in props.get("Roles", []) if isinstance(role, dict))
            documents.append(("identity", props["PolicyDocument"], roles))
        elif resource_type == "AWS::IAM::Role":
            documents.append(("trust", props["AssumeRolePolicyDocument"], (logical_id,)))
            documents += [("identity", policy["PolicyDocument"], (logical_id,)) for policy in props.get("Policies", [])]
        elif resource_type == "AWS::KMS::Key":
            documents.append(("resource", props["KeyPolicy"], ()))
        elif "PolicyDocument" in props:
            documents.append(("resource", props["PolicyDocument"], ()))
        for kind, document, roles in documents:
            for statement in document["Statement"]:
                yield Statement(
                    source=logical_id,
                    kind=kind,
                    effect=statement["Effect"],
                    actions=tuple(_as_list(statement.get("Action", []))),
                    resources=tuple(_as_list(statement.get("Resource", []))),
                    principal=statement.get("Principal"),
                    condition=statement.get("Condition", {}),
                    roles=roles,
                )


def actions_cover(granted: tuple[str, ...] | list[str], action: str) -> bool:
    """Whether IAM action patterns (with * wildcards, case-insensitive) allow `action`."""
    return any(fnmatchcase(action.lower(), pattern.lower()) for pattern in granted)


# -- ASL ------------------------------------------------------------------------------------------------


def iter_states(definition: dict, scope: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str, dict, dict]]:
    """(scope path, state name, state, the States object it lives in) for every state, nested ones too."""
    for name, state in definition["States"].items():
        yield scope, name, state, definition["States"]
        for index, branch in enumerate(state.get("Branches", [])):
            yield from iter_states(branch, (*scope, name, f"Branches[{index}]"))
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from iter_states(state[key], (*scope, name, key))


def transitions(state: dict) -> list[str]:
    """Every state name this state can move to: Next, Default, each Choice and each Catch."""
    targets = [state[key] for key in ("Next", "Default") if key in state]
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    targets += [catcher["Next"] for catcher in state.get("Catch", [])]
    return targets
