"""The HumanApproval construct, synthesized alone in a minimal stack (dummy table, KMS-encrypted topics, an
imported state machine) with cdk-nag's AwsSolutions checks applied to that app."""

from __future__ import annotations

import csv
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

from stacks.approval import DECIDE_HANDLER, REQUEST_HANDLER, HumanApproval, decide_function_name, signing_secret
from stacks.runbook import FUNCTIONS_DIR
from tests.infrastructure.support import Statement, actions_cover, policy_statements

PREFIX = "acso-test"
STATE_MACHINE = f"{PREFIX}-high-cpu"


@dataclass
class Synthesized:
    stack: cdk.Stack
    template: Template
    resources: dict[str, dict]
    outdir: Path
    state_machine_arn: object
    """The waiting state machine's ARN as the template spells it."""

    def function(self, handler: str) -> tuple[str, dict]:
        (match,) = [
            (logical_id, resource["Properties"])
            for logical_id, resource in self.resources.items()
            if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"]["Handler"] == handler
        ]
        return match

    def role(self, handler: str) -> str:
        return self.function(handler)[1]["Role"]["Fn::GetAtt"][0]

    def statements(self) -> list[Statement]:
        return list(policy_statements(SimpleNamespace(resources=self.resources)))  # type: ignore[arg-type]

    def identity_statements(self, handler: str) -> list[Statement]:
        role = self.role(handler)
        return [s for s in self.statements() if s.kind == "identity" and role in s.roles and s.effect == "Allow"]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("approval.out")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "ApprovalConstruct", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    key = kms.Key(stack, "NotificationsKey", enable_key_rotation=True)
    topics = [sns.Topic(stack, f"Escalation{level}", master_key=key, enforce_ssl=True) for level in ("L1", "L2")]
    table = dynamodb.TableV2(
        stack,
        "StateTable",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
        time_to_live_attribute="expiresAt",
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
    )
    layer = lambda_.LayerVersion.from_layer_version_arn(
        stack,
        "Powertools",
        "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:1",
    )
    approval = HumanApproval(
        stack,
        "Approval",
        decide_function_name=decide_function_name(PREFIX),
        secret=signing_secret(stack, "ApprovalSigningKey", description="HMAC key of the approval links"),
        code=lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=["**/__pycache__", "**/*.pyc"]),
        layers=[layer],
        environment={"ACSO_SETTINGS": "{}", "POWERTOOLS_SERVICE_NAME": "acso-test-runbooks"},
        state_table=table,
        topics=topics,
    )
    high_cpu = sfn.StateMachine.from_state_machine_name(stack, "HighCpu", STATE_MACHINE)
    approval.allow_decisions_for(high_cpu.state_machine_arn)
    url_id = stack.get_logical_id(approval.function_url.node.default_child)
    assert stack.resolve(approval.url) == {"Fn::GetAtt": [url_id, "FunctionUrl"]}
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    app.synth()
    template = Template.from_stack(stack)
    return Synthesized(
        stack, template, template.to_json()["Resources"], outdir, stack.resolve(high_cpu.state_machine_arn)
    )


def test_given_the_construct_when_synthesized_then_the_decide_function_has_a_public_url_whose_signature_is_the_auth(
    synthesized,
):
    decide_id, decide = synthesized.function(DECIDE_HANDLER)
    urls = [r["Properties"] for r in synthesized.resources.values() if r["Type"] == "AWS::Lambda::Url"]

    assert urls == [{"AuthType": "NONE", "TargetFunctionArn": {"Fn::GetAtt": [decide_id, "Arn"]}}]
    assert decide["FunctionName"] == "acso-test-approval-decide"  # what the settings and the CLI command name


def test_given_the_public_url_when_synthesized_then_anyone_may_invoke_only_the_decide_function_and_only_through_it(
    synthesized,
):
    decide_id, _ = synthesized.function(DECIDE_HANDLER)
    public = [
        r["Properties"]
        for r in synthesized.resources.values()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "*"
    ]

    assert sorted(public, key=lambda p: p["Action"]) == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [decide_id, "Arn"]},
            "InvokedViaFunctionUrl": True,
            "Principal": "*",
        },
        {
            "Action": "lambda:InvokeFunctionUrl",
            "FunctionName": {"Fn::GetAtt": [decide_id, "Arn"]},
            "FunctionUrlAuthType": "NONE",
            "Principal": "*",
        },
    ]


def test_given_the_decide_role_when_synthesized_then_it_may_answer_task_tokens_of_the_given_state_machine_only(
    synthesized,
):
    granted = [
        s for s in synthesized.identity_statements(DECIDE_HANDLER) if actions_cover(s.actions, "states:SendTaskSuccess")
    ]

    assert len(granted) == 1
    assert set(granted[0].actions) == {"states:SendTaskSuccess", "states:SendTaskFailure"}
    assert granted[0].resources == (synthesized.state_machine_arn,)
    assert STATE_MACHINE in str(synthesized.state_machine_arn)


def test_given_every_role_when_synthesized_then_only_the_decide_role_can_answer_task_tokens(synthesized):
    decide_role = synthesized.role(DECIDE_HANDLER)
    answering = {
        role
        for s in synthesized.statements()
        if s.kind == "identity"
        for action in ("states:SendTaskSuccess", "states:SendTaskFailure")
        if actions_cover(s.actions, action)
        for role in s.roles
    }

    assert answering == {decide_role}


def test_given_the_construct_roles_when_synthesized_then_no_statement_grants_all_actions_of_a_service(synthesized):
    roles = {synthesized.role(REQUEST_HANDLER), synthesized.role(DECIDE_HANDLER)}
    broad = [
        (s.source, action)
        for s in synthesized.statements()
        if s.kind == "identity" and roles & set(s.roles)
        for action in s.actions
        if action == "*" or action.endswith(":*")
    ]

    assert broad == []


@pytest.mark.parametrize(
    ("handler", "actions", "keys"),
    [
        (
            REQUEST_HANDLER,
            {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
            ["APPROVAL#*", "APPROVALTASK#*"],
        ),
        (DECIDE_HANDLER, {"dynamodb:GetItem", "dynamodb:UpdateItem"}, ["APPROVAL#*"]),
    ],
)
def test_given_a_function_role_when_synthesized_then_it_reaches_only_approval_items_of_the_state_table(
    synthesized, handler, actions, keys
):
    table = [s for s in synthesized.identity_statements(handler) if any(a.startswith("dynamodb:") for a in s.actions)]

    assert len(table) == 1
    assert set(table[0].actions) == actions
    assert table[0].condition == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys}}


def test_given_the_request_role_when_synthesized_then_it_reads_the_key_publishes_and_finds_the_decide_url(synthesized):
    decide_id, _ = synthesized.function(DECIDE_HANDLER)
    statements = synthesized.identity_statements(REQUEST_HANDLER)

    def allowed(action: str) -> list:
        return [resource for s in statements if actions_cover(s.actions, action) for resource in s.resources]

    secret_id = next(k for k, r in synthesized.resources.items() if r["Type"] == "AWS::SecretsManager::Secret")
    assert allowed("lambda:GetFunctionUrlConfig") == [{"Fn::GetAtt": [decide_id, "Arn"]}]
    assert allowed("secretsmanager:GetSecretValue") == [{"Ref": secret_id}]
    assert len(allowed("sns:Publish")) == 2
    assert allowed("states:SendTaskSuccess") == []
    decide_reads = [
        r
        for s in synthesized.identity_statements(DECIDE_HANDLER)
        if actions_cover(s.actions, "secretsmanager:GetSecretValue")
        for r in s.resources
    ]
    assert decide_reads == [{"Ref": secret_id}]


def test_given_the_handlers_named_in_the_template_when_imported_then_they_exist():
    for handler in (REQUEST_HANDLER, DECIDE_HANDLER):
        module, name = handler.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name))


def test_cdk_nag_aws_solutions_reports_no_unsuppressed_error_for_the_construct(synthesized):
    errors = Annotations.from_stack(synthesized.stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))

    assert [(error.id, error.entry.data) for error in errors] == []


def test_cdk_nag_really_checked_the_construct_and_every_finding_is_compliant_or_suppressed(synthesized):
    (report,) = synthesized.outdir.glob("AwsSolutions-*ApprovalConstruct-NagReport.csv")
    with report.open(newline="") as handle:
        rows = list(csv.DictReader(handle))

    assert {row["Compliance"] for row in rows} <= {"Compliant", "Suppressed"}
    assert ("AwsSolutions-SMG4", "Suppressed") in {(row["Rule ID"], row["Compliance"]) for row in rows}
