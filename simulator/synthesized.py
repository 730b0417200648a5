"""The CDK app's synthesized template, read as CloudFormation would read it, and deployed into the
embedded emulator: the same state machine definitions, handlers and environment, never a copy.

Only the resource types the stack uses are deployed; CloudFormation itself is not emulated
(moto's CloudFormation skips alarms and needs assets uploaded first).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = "production"
ACCOUNT_ID = "123456789012"
REGION = "eu-west-1"


@dataclass(frozen=True)
class Synthesized:
    template: dict
    """The top-level stack with its nested stacks inlined (`flatten`): one template, one namespace."""
    assets: dict[str, Path]
    """S3 object key (as the template references it) -> the asset file (a copy kept in the synth cache)."""


@cache
def synthesize(environment: str = ENVIRONMENT) -> Synthesized:
    """Synthesize the app (no AWS calls): the environment's template and its file assets (the ASL files).

    Synthesis takes 15-30 s; its result is kept on disk under `SYNTH_CACHE`, keyed by a digest of everything the
    template is made of (`synth_inputs_digest`), so parallel scenario workers and later runs reuse it while none
    of those files changed. ACSO_SYNTH_CACHE=0 synthesizes anyway, outside the cache."""
    if os.environ.get("ACSO_SYNTH_CACHE", "1") == "0":
        entry = Path(tempfile.mkdtemp(prefix="acso-synth-"))
        _synthesize_into(environment, entry)
        return _load_entry(entry)
    entry = SYNTH_CACHE / f"{environment}-{synth_inputs_digest()}"
    if not (entry / "template.json").is_file():
        SYNTH_CACHE.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=".staging-", dir=SYNTH_CACHE))
        try:
            _synthesize_into(environment, staged)
            with contextlib.suppress(OSError):  # another process stored the same entry first: keep theirs
                staged.rename(entry)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        _prune_synth_cache(keep=entry)
    return _load_entry(entry)


def synth_cached(environment: str = ENVIRONMENT) -> bool:
    """Whether `synthesize` will load the template from the synth cache (no synthesis, no Node.js process)."""
    if os.environ.get("ACSO_SYNTH_CACHE", "1") == "0":
        return False
    return (SYNTH_CACHE / f"{environment}-{synth_inputs_digest()}" / "template.json").is_file()


def synthesize_into_cache(environment: str = ENVIRONMENT) -> None:
    """`synthesize`, for a separate process that only fills the cache."""
    synthesize(environment)


SYNTH_CACHE = PROJECT_ROOT / "simulation-output" / "synth-cache"
"""One directory per environment and inputs digest: template.json and assets/<S3 object key>."""
_SYNTH_CACHE_KEEP = 8
_SYNTH_CACHE_FORMAT = "1"
_SYNTH_INPUT_FILES = ("app.py", "cdk.json", "requirements.txt", "requirements-dev.txt", "package-lock.json")
_SYNTH_INPUT_DIRS = ("stacks", "state_machines", "functions")


def synth_inputs_digest() -> str:
    """SHA-256 of what the synthesized template depends on: the CDK app and its config, the stacks, the ASL files,
    the Lambda code (its asset hash is in the template), the pinned package versions and the Python version."""
    digest = hashlib.sha256(f"{_SYNTH_CACHE_FORMAT}|{sys.version_info[:2]}".encode())
    files = [PROJECT_ROOT / name for name in _SYNTH_INPUT_FILES]
    for folder in _SYNTH_INPUT_DIRS:
        files += sorted(
            path
            for path in (PROJECT_ROOT / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        )
    for path in files:
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0")
        digest.update((path.read_bytes() if path.is_file() else b"<missing>") + b"\0")
    return digest.hexdigest()[:24]


def _synthesize_into(environment: str, entry: Path) -> None:
    """Synthesize in this process into `entry`: template.json and the file assets. aws_cdk is imported only here:
    it takes seconds and starts a Node.js (jsii) process, which a cache hit never needs."""
    import aws_cdk as cdk  # noqa: PLC0415

    from app import build_app  # noqa: PLC0415

    outdir = entry / "cdk.out"
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"] | {"acso:only": environment}
    assembly = build_app(cdk.App(context=context, outdir=str(outdir))).synth()
    stack_name = f"AcsoRunbooks-{environment}"
    manifest = json.loads((outdir / f"{stack_name}.assets.json").read_text())
    for asset in manifest.get("files", {}).values():
        source = outdir / asset["source"]["path"]
        if not source.is_file():  # the Lambda code directory: the emulator runs the handlers from functions/
            continue
        for destination in asset["destinations"].values():
            target = entry / "assets" / destination["objectKey"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    (entry / "template.json").write_text(json.dumps(assembly.get_stack_by_name(stack_name).template))
    shutil.rmtree(outdir, ignore_errors=True)


def _load_entry(entry: Path) -> Synthesized:
    folder = entry / "assets"
    assets = {path.relative_to(folder).as_posix(): path for path in folder.rglob("*") if path.is_file()}
    return Synthesized(flatten(json.loads((entry / "template.json").read_text()), assets), assets)


_NESTED_TEMPLATE_KEY = re.compile(r"/([0-9a-f]{64}\.json)")


def flatten(template: dict, assets: dict[str, Path]) -> dict:
    """The template with every nested stack (AWS::CloudFormation::Stack) inlined, as one deployment creates them:
    a nested template's parameters replaced by the values its parent passes, the parent's `Fn::GetAtt [stack,
    Outputs.X]` by the output's value, so every reference is a Ref or Fn::GetAtt of a resource in one namespace.
    The nested template is the file asset its TemplateURL names. Logical ids must be unique across the stacks."""
    resources: dict[str, dict] = {}
    outputs: dict[tuple[str, str], Any] = {}
    inlined: dict[str, list[str]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::CloudFormation::Stack":
            _add_resource(resources, logical_id, resource)
            continue
        props = resource["Properties"]
        key = _NESTED_TEMPLATE_KEY.search(json.dumps(props["TemplateURL"]))
        if key is None or key.group(1) not in assets:
            raise ValueError(f"{logical_id}: nested template not found among the assets ({props['TemplateURL']})")
        nested = flatten(json.loads(assets[key.group(1)].read_text()), assets)
        passed = props.get("Parameters", {})
        declared = nested.get("Parameters", {})
        unset = [name for name, spec in declared.items() if name not in passed and "Default" not in spec]
        if unset or set(passed) - set(declared):
            raise ValueError(
                f"{logical_id}: parameters not passed {unset}, unknown {sorted(set(passed) - set(declared))}"
            )
        values = {name: passed.get(name, spec.get("Default")) for name, spec in declared.items()}
        inlined[logical_id] = []
        for nested_id, nested_resource in nested["Resources"].items():
            _add_resource(resources, nested_id, _substitute(nested_resource, values))
            inlined[logical_id].append(nested_id)
        for name, output in nested.get("Outputs", {}).items():
            outputs[(logical_id, f"Outputs.{name}")] = _substitute(output["Value"], values)
    flat = template | {"Resources": resources}
    for _ in range(len(inlined) + 1):  # an output may name another nested stack's output
        flat = _substitute(flat, {}, outputs)
    if '"Outputs.' in json.dumps(flat["Resources"]):
        raise ValueError("a nested stack output is left unresolved (an output of a stack that is not inlined)")
    for resource in flat["Resources"].values():  # DependsOn a nested stack: on everything it held
        if "DependsOn" in resource:
            depends = resource["DependsOn"] if isinstance(resource["DependsOn"], list) else [resource["DependsOn"]]
            resource["DependsOn"] = [held for name in depends for held in inlined.get(name, [name])]
    return flat


def _add_resource(resources: dict[str, dict], logical_id: str, resource: dict) -> None:
    if logical_id in resources:
        raise ValueError(f"logical id {logical_id} is in two stacks; the emulator needs one namespace")
    resources[logical_id] = resource


def _substitute(value: Any, parameters: dict[str, Any], outputs: dict[tuple[str, str], Any] | None = None) -> Any:
    """`value` with Refs to `parameters` (and `${name}` in Fn::Sub) and Fn::GetAtt of `outputs` replaced."""
    if isinstance(value, list):
        return [_substitute(item, parameters, outputs) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref" and argument in parameters:
            return parameters[argument]
        if key == "Fn::GetAtt" and outputs:
            target = tuple(argument) if isinstance(argument, list) else tuple(argument.split(".", 1))
            if target in outputs:
                return outputs[target]  # type: ignore[index]
        if key == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            used = {name: parameters[name] for name in parameters if "${" + name + "}" in text}
            variables = _substitute(variables, parameters, outputs)
            return {"Fn::Sub": [text, variables | used] if used or variables else text}
    return {key: _substitute(item, parameters, outputs) for key, item in value.items()}


def _prune_synth_cache(keep: Path) -> None:
    """Keep the newest entries only (every edit of an input makes a new one), and no abandoned staging folder."""
    now, entries = time.time(), []
    for path in SYNTH_CACHE.iterdir():
        if path.name.startswith(".staging-"):
            if now - path.stat().st_mtime > 3600:
                shutil.rmtree(path, ignore_errors=True)
        elif path.is_dir() and path != keep:
            entries.append(path)
    entries.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    for stale in entries[_SYNTH_CACHE_KEEP - 1 :]:
        shutil.rmtree(stale, ignore_errors=True)


class Resolver:
    """Resolves the intrinsic functions CDK emits (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select)."""

    def __init__(self, template: dict, account: str, region: str) -> None:
        self.template = template
        self.refs: dict[str, str] = {}
        self.attributes: dict[tuple[str, str], str] = {}
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "AcsoRunbooks",
        }
        for name, spec in template.get("Parameters", {}).items():
            if "Default" in spec:
                self.refs[name] = spec["Default"]
            elif spec.get("Type", "").startswith("AWS::SSM::Parameter::Value"):
                self.refs[name] = f"resolved-at-deploy:{spec.get('Default', name)}"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self._lookup(self.attributes, (logical_id, attribute), f"{logical_id}.{attribute}")
            if key == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(part)) for part in parts)
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
            if key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                for name, replacement in variables.items():
                    text = text.replace("${" + name + "}", str(self.resolve(replacement)))
                for name in list(self.pseudo) + list(self.refs):
                    text = text.replace("${" + name + "}", self._ref(name))
                return text
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        return self._lookup(self.refs, name, name)

    @staticmethod
    def _lookup(table: dict, key: Any, label: str) -> str:
        if key not in table:
            raise KeyError(f"The emulator has not deployed {label} yet (deploy order) or does not support it")
        return table[key]


@dataclass
class DeployedStack:
    """What the scenarios need to find in the emulated account, by role rather than logical id."""

    state_machines: dict[str, str] = field(default_factory=dict)
    """State machine name -> ARN."""
    state_table: str = ""
    reports_bucket: str = ""
    topics: dict[str, str] = field(default_factory=dict)
    """Escalation level (L1..L4) -> topic ARN."""
    rules: list[dict] = field(default_factory=list)
    """[{"name", "pattern" | "schedule", "target" (state machine ARN)}]"""
    alarms: dict[str, dict] = field(default_factory=dict)
    """Alarm name -> resolved AWS::CloudWatch::Alarm properties."""
    composite_alarms: dict[str, dict] = field(default_factory=dict)
    """Composite alarm name -> resolved AWS::CloudWatch::CompositeAlarm properties (not in moto, see below)."""
    metric_filters: list[dict] = field(default_factory=list)
    function_environment: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    """Handler (e.g. remediation.handlers.high_cpu.scale_out) -> Lambda function name."""
    parameters: dict[str, str] = field(default_factory=dict)
    """SSM parameter name -> initial value."""


def _resources(template: dict, resource_type: str) -> list[tuple[str, dict]]:
    return [
        (logical_id, resource.get("Properties", {}))
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    ]


def load_handler(handler_path: str) -> Callable[[dict, Any], Any]:
    """`remediation.handlers.high_cpu.normalize` -> the function Lambda would call."""
    module_name, function_name = handler_path.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), function_name)


def state_machine_definition(props: dict, resolver: Resolver, assets: dict[str, Path]) -> str:
    """The definition CloudFormation would create: the uploaded ASL asset, DefinitionSubstitutions applied."""
    if "DefinitionString" in props:
        definition = resolver.resolve(props["DefinitionString"])
    else:
        definition = assets[props["DefinitionS3Location"]["Key"]].read_text()
    for name, value in resolver.resolve(props.get("DefinitionSubstitutions", {})).items():
        definition = definition.replace("${" + name + "}", str(value))
    leftover = re.findall(r"\$\{\w+\}", definition)
    if leftover:
        raise ValueError(f"{props['StateMachineName']}: unsubstituted placeholders {sorted(set(leftover))}")
    return definition


def deploy(synthesized: Synthesized, aws: Any, account: str = ACCOUNT_ID, region: str = REGION) -> DeployedStack:
    """Create the template's resources in the emulator, in dependency order."""
    template, resolver, stack = synthesized.template, Resolver(synthesized.template, account, region), DeployedStack()
    _deploy_storage(template, resolver, stack, aws, account, region)
    _deploy_secrets(template, resolver, aws)
    _deploy_parameters(template, resolver, stack, aws)
    _deploy_functions(template, resolver, stack, aws)
    for logical_id, props in _resources(template, "AWS::StepFunctions::StateMachine"):
        definition = state_machine_definition(props, resolver, synthesized.assets)
        arn = aws.deploy_state_machine(props["StateMachineName"], definition)
        resolver.refs[logical_id] = arn
        resolver.attributes[(logical_id, "Arn")] = arn
        stack.state_machines[props["StateMachineName"]] = arn
    _deploy_monitoring(template, resolver, stack, aws, account, region)  # alarms watch state machines too
    _deploy_rules(template, resolver, stack)
    return stack


def _deploy_storage(
    template: dict, resolver: Resolver, stack: DeployedStack, aws: Any, account: str, region: str
) -> None:
    client = aws.client
    for logical_id, props in _resources(template, "AWS::KMS::Key"):
        key_id = client("kms").create_key(Description=props.get("Description", logical_id))["KeyMetadata"]["KeyId"]
        resolver.refs[logical_id] = key_id
        resolver.attributes[(logical_id, "Arn")] = f"arn:aws:kms:{region}:{account}:key/{key_id}"
    for logical_id, props in _resources(template, "AWS::DynamoDB::GlobalTable"):
        name = f"acso-state-{logical_id.lower()}"
        client("dynamodb").create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )
        ttl = props.get("TimeToLiveSpecification", {})
        if ttl.get("Enabled"):
            client("dynamodb").update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
            )
        resolver.refs[logical_id] = stack.state_table = name
        resolver.attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
    for logical_id, props in _resources(template, "AWS::S3::Bucket"):
        name = f"acso-{logical_id.lower()}"
        # Object Lock (moto enforces it: default retention on put, locked versions refuse deletion) needs versioning.
        locked = bool(props.get("ObjectLockEnabled"))
        client("s3").create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": region}, ObjectLockEnabledForBucket=locked
        )
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            client("s3").put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if locked and "ObjectLockConfiguration" in props:
            client("s3").put_object_lock_configuration(
                Bucket=name, ObjectLockConfiguration=props["ObjectLockConfiguration"]
            )
        resolver.refs[logical_id] = name
        if logical_id.startswith("ReportsBucket"):
            stack.reports_bucket = name
        resolver.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
    for logical_id, _props in _resources(template, "AWS::SQS::Queue"):
        name = f"acso-{logical_id.lower()}"
        url = client("sqs").create_queue(QueueName=name)["QueueUrl"]
        resolver.refs[logical_id] = url
        resolver.attributes[(logical_id, "QueueName")] = name
        resolver.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{region}:{account}:{name}"
    for logical_id, props in _resources(template, "AWS::SNS::Topic"):
        arn = client("sns").create_topic(Name=props["TopicName"])["TopicArn"]
        resolver.refs[logical_id] = arn
        resolver.attributes[(logical_id, "TopicArn")] = arn
        stack.topics[props["TopicName"].rsplit("-", 1)[-1].upper()] = arn


def _deploy_parameters(template: dict, resolver: Resolver, stack: DeployedStack, aws: Any) -> None:
    """After storage and secrets: the settings document names the table, buckets, topics and the signing key."""
    for logical_id, props in _resources(template, "AWS::SSM::Parameter"):
        resolved = resolver.resolve(props)
        tier = {"Tier": resolved["Tier"]} if "Tier" in resolved else {}
        aws.client("ssm").put_parameter(Name=resolved["Name"], Value=resolved["Value"], Type=resolved["Type"], **tier)
        resolver.refs[logical_id] = resolved["Name"]
        stack.parameters[resolved["Name"]] = resolved["Value"]


def _deploy_secrets(template: dict, resolver: Resolver, aws: Any) -> None:
    """Generated secrets get a random value, as Secrets Manager would generate one."""
    for logical_id, props in _resources(template, "AWS::SecretsManager::Secret"):
        length = props.get("GenerateSecretString", {}).get("PasswordLength", 32)
        arn = aws.client("secretsmanager").create_secret(
            Name=f"acso-{logical_id.lower()}", SecretString=secrets.token_urlsafe(length)
        )["ARN"]
        resolver.refs[logical_id] = arn


def _deploy_monitoring(
    template: dict, resolver: Resolver, stack: DeployedStack, aws: Any, account: str, region: str
) -> None:
    for logical_id, props in _resources(template, "AWS::CloudWatch::Alarm"):
        resolved = resolver.resolve(props)
        # Metric-math alarms (`Metrics`) deploy as they are: moto stores them (it does not evaluate the math).
        aws.client("cloudwatch").put_metric_alarm(**resolved)
        name = resolved["AlarmName"]
        resolver.refs[logical_id] = name
        resolver.attributes[(logical_id, "Arn")] = f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
        stack.alarms[name] = resolved
    # moto 5.2.5 has no PutCompositeAlarm: composite alarms are recorded for the harness, which evaluates their
    # AT_LEAST rule over the child alarms' states in moto and builds their state-change events.
    for logical_id, props in _resources(template, "AWS::CloudWatch::CompositeAlarm"):
        resolved = resolver.resolve(props)
        name = resolved["AlarmName"]
        resolver.refs[logical_id] = name
        resolver.attributes[(logical_id, "Arn")] = f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
        stack.composite_alarms[name] = resolved
    for logical_id, props in _resources(template, "AWS::Logs::MetricFilter"):
        stack.metric_filters.append(resolver.resolve(props) | {"LogicalId": logical_id})


def _deploy_functions(template: dict, resolver: Resolver, stack: DeployedStack, aws: Any) -> None:
    """Handlers run in this process, so they share one environment, set before their modules are imported
    (Powertools reads POWERTOOLS_* when Logger and Metrics are created)."""
    functions = _resources(template, "AWS::Lambda::Function")
    environments = [resolver.resolve(props.get("Environment", {}).get("Variables", {})) for _, props in functions]
    if any(environment != environments[0] for environment in environments):
        raise ValueError(
            "The emulator runs every handler in one process: the stack must give every function the same environment"
        )
    stack.function_environment = environments[0] if environments else {}
    aws.set_environment(stack.function_environment)
    for logical_id, props in functions:
        name = props.get("FunctionName", logical_id)
        arn = aws.register_function(
            name,
            load_handler(props["Handler"]),
            timeout_s=props.get("Timeout", 3),
            memory_mb=props.get("MemorySize", 128),
        )
        resolver.refs[logical_id] = name
        resolver.attributes[(logical_id, "Arn")] = arn
        stack.functions[props["Handler"]] = name
    for _logical_id, props in _resources(template, "AWS::Lambda::Url"):
        aws.client("lambda").create_function_url_config(
            FunctionName=resolver.resolve(props["TargetFunctionArn"]), AuthType=props["AuthType"]
        )


def _deploy_rules(template: dict, resolver: Resolver, stack: DeployedStack) -> None:
    """EventBridge is not emulated (moto does not deliver to Step Functions): the harness matches patterns."""
    for logical_id, props in _resources(template, "AWS::Events::Rule"):
        for target in props.get("Targets", []):
            if "Input" in target or "InputPath" in target or "InputTransformer" in target:
                raise ValueError(f"{logical_id}: target input shaping is not emulated yet")
            rule = {"name": logical_id, "target": resolver.resolve(target["Arn"])}
            if "EventPattern" in props:
                rule["pattern"] = resolver.resolve(props["EventPattern"])
            if "ScheduleExpression" in props:
                rule["schedule"] = props["ScheduleExpression"]
            stack.rules.append(rule)
