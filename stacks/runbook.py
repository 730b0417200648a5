"""Constructs shared by every runbook: a Lambda step with least privilege, and a state machine
loaded from `state_machines/<name>.asl.json` with its `${Placeholder}` substitutions."""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = PROJECT_ROOT / "functions"
STATE_MACHINES_DIR = PROJECT_ROOT / "state_machines"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def asl_placeholders(runbook_file: str) -> set[str]:
    return set(_PLACEHOLDER.findall((STATE_MACHINES_DIR / runbook_file).read_text()))


def shared_log_group(scope: Construct, construct_id: str, retention: logs.RetentionDays) -> logs.LogGroup:
    """One log group per environment for all constructs of a kind (each its own would cost a resource per step, and a
    stack holds 500), in the top-level stack even for constructs of a nested stack; Lambda names a step's streams
    after its function in a shared group, Powertools logs the name too."""
    stack = Stack.of(scope)
    while stack.nested_stack_parent is not None:
        stack = stack.nested_stack_parent
    existing = stack.node.try_find_child(construct_id)
    if isinstance(existing, logs.LogGroup):
        return existing
    return logs.LogGroup(stack, construct_id, retention=retention, removal_policy=RemovalPolicy.DESTROY)


def suppress_wildcards(construct: Construct, reason: str, findings: list[str | RegexAppliesTo]) -> None:
    """Accept exactly these AwsSolutions-IAM5 wildcard findings, so any new wildcard still fails cdk-nag."""
    NagSuppressions.add_resource_suppressions(
        construct,
        [NagPackSuppression(id="AwsSolutions-IAM5", reason=reason, applies_to=findings)],
        apply_to_children=True,
    )


def objects_under(bucket_construct_id: str, prefix: str) -> RegexAppliesTo:
    """The IAM5 finding of a grant on the objects under `prefix` of this stack's bucket: `<Bucket.Arn>/prefix/*`, or,
    from a nested stack, the parameter CDK passes the bucket's ARN in (`<referenceto...BucketArn>/prefix/*`)."""
    bucket = f"{bucket_construct_id}[A-Za-z0-9]+"
    path = re.escape(prefix).replace("/", "\\/")
    return RegexAppliesTo(regex=f"/^Resource::<({bucket}\\.|referenceto[A-Za-z0-9]+{bucket})Arn>\\/{path}\\*$/g")


class StepFunction(Construct):
    """One runbook step: a Python handler in `functions/`, its own role, log group and X-Ray tracing."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        code: lambda_.Code,
        layers: list[lambda_.ILayerVersion],
        environment: dict[str, str],
        timeout: Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = shared_log_group(self, "RunbookStepLogs", logs.RetentionDays.THREE_MONTHS)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runbook step {construct_id}",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler=handler,
            code=code,
            layers=layers,
            description=description,
            environment=environment,
            timeout=timeout or Duration.seconds(30),
            memory_size=256,
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
        )
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                {
                    "id": "AwsSolutions-L1",
                    "reason": "Pinned to Python 3.11, the interpreter the handlers are tested on "
                    "offline (unit tests and the embedded emulator run them in-process); upgrade both together.",
                }
            ],
        )
        suppress_wildcards(
            self.role,
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
            ["Resource::*"],
        )

    def grant(self, actions: list[str], resources: list[str]) -> None:
        self.role.add_to_policy(iam.PolicyStatement(actions=actions, resources=resources))


class RunbookStateMachine(Construct):
    """A state machine whose definition is the checked-in ASL file, every placeholder substituted."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        asl_file: str,
        steps: dict[str, StepFunction],
    ) -> None:
        """The execution time limit is the ASL file's TimeoutSeconds (CDK ignores `timeout` for a file body)."""
        super().__init__(scope, construct_id)
        missing = asl_placeholders(asl_file) - set(steps)
        unused = set(steps) - asl_placeholders(asl_file)
        if missing or unused:
            raise ValueError(
                f"{asl_file}: placeholders without substitution {sorted(missing)}, "
                f"substitutions never used {sorted(unused)}"
            )
        self.log_group = shared_log_group(self, "RunbookExecutionLogs", logs.RetentionDays.SIX_MONTHS)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            definition_body=sfn.DefinitionBody.from_file(str(STATE_MACHINES_DIR / asl_file)),
            definition_substitutions={key: step.function.function_arn for key, step in steps.items()},
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        for step in steps.values():
            step.function.grant_invoke(self.state_machine)
        suppress_wildcards(
            self.state_machine,
            "Log delivery and X-Ray actions support no resource-level permissions; lambda:InvokeFunction on "
            "'<function arn>:*' covers the versions of this runbook's own functions only.",
            [
                "Resource::*",
                RegexAppliesTo(regex=r"/^Resource::<([A-Za-z0-9]+\.|referenceto[A-Za-z0-9]+)Arn>:\*$/g"),
            ],
        )

    @property
    def arn(self) -> str:
        return self.state_machine.state_machine_arn
