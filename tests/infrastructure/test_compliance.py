"""Static checks of both synthesized templates: cdk-nag (AwsSolutions, applied by app.py) and cfn-lint."""

from __future__ import annotations

import csv

from aws_cdk.assertions import Annotations, Match
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from tests.infrastructure.support import REGION

MIN_REASON_LENGTH = 20


def test_cdk_nag_aws_solutions_reports_no_unsuppressed_error_in_either_stack(synthesized):
    errors = Annotations.from_stack(synthesized.stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))

    assert [(error.id, error.entry.data) for error in errors] == []


def test_cdk_nag_aws_solutions_really_ran_over_every_resource_of_the_stack(synthesized):
    """Guards the test above against passing vacuously (e.g. if app.py stopped adding the checks)."""
    reports = list(synthesized.template_file.parent.glob(f"AwsSolutions-*{synthesized.stack.stack_name}-NagReport.csv"))
    assert len(reports) == 1, "app.py must apply AwsSolutionsChecks"
    nested_reports = [
        path.with_name(f"AwsSolutions--{path.name.removesuffix('.nested.template.json')}-NagReport.csv")
        for path in synthesized.nested_template_files
    ]
    rows = []
    for report in [reports[0], *nested_reports]:
        with report.open(newline="") as handle:
            rows += list(csv.DictReader(handle))

    assert rows
    assert {row["Compliance"] for row in rows} <= {"Compliant", "Suppressed"}, [
        row for row in rows if row["Compliance"] not in {"Compliant", "Suppressed"}
    ]


def test_every_cdk_nag_suppression_names_an_aws_solutions_rule_and_says_why(synthesized):
    suppressions = [
        (logical_id, rule)
        for logical_id, resource in synthesized.resources.items()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]

    assert suppressions, "the stack documents its suppressions in template metadata"
    weak = [
        (logical_id, rule)
        for logical_id, rule in suppressions
        if not str(rule.get("id", "")).startswith("AwsSolutions-")
        or len(str(rule.get("reason", "")).strip()) < MIN_REASON_LENGTH
    ]
    assert weak == []


def test_cfn_lint_finds_no_error_in_the_synthesized_templates(synthesized):
    region = synthesized.config.region or REGION
    matches = [
        match
        for path in (synthesized.template_file, *synthesized.nested_template_files)
        for match in lint_file(path, config=ManualArgs(regions=[region]))
    ]
    errors = [match for match in matches if match.rule.id.startswith("E")]

    for warning in (match for match in matches if not match.rule.id.startswith("E")):
        print(f"cfn-lint {synthesized.environment}: {warning}")
    assert [str(error) for error in errors] == []
