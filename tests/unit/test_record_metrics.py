"""The record step reports each decision as one Powertools metric (`Decisions`, dimensions runbook and decision),
which the stack's dashboard graphs per runbook; read here from the embedded metric format Lambda prints."""

from __future__ import annotations

import json
import os

from remediation.handlers import record
from tests.unit.conftest import execution_arn

RUN = execution_arn("run-1")


def _emitted_metrics(capsys) -> list[dict]:
    """The EMF documents the handler printed (CloudWatch turns each into metrics); log lines are skipped."""
    documents = []
    for line in capsys.readouterr().out.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            documents.append(document)
    return documents


def _record(state: dict, lambda_context, runbook: str = "high-cpu") -> dict:
    return record.record_decision({"runbook": runbook, "state": state, "executionArn": RUN}, lambda_context)


def test_given_a_recorded_decision_when_the_step_ends_then_one_decisions_metric_carries_its_runbook_and_decision(
    aws, virtual_clock, lambda_context, capsys
):
    cause = {"errorMessage": "Unknown service 'billing'.", "errorType": "InvalidInput"}

    result = _record({"error": {"Error": "InvalidInput", "Cause": json.dumps(cause)}}, lambda_context)

    [document] = _emitted_metrics(capsys)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == os.environ["POWERTOOLS_METRICS_NAMESPACE"]
    assert directive["Metrics"] == [{"Name": "Decisions", "Unit": "Count"}]
    assert sorted(directive["Dimensions"][0]) == ["decision", "runbook", "service"]
    assert (document["runbook"], document["decision"]) == ("high-cpu", result["decision"]) == ("high-cpu", "rejected")
    assert document["service"] == os.environ["POWERTOOLS_SERVICE_NAME"]
    assert document["Decisions"] in (1, 1.0, [1], [1.0])


def test_given_two_runs_of_different_runbooks_when_recorded_then_each_reports_its_own_dimensions_once(
    aws, virtual_clock, lambda_context, capsys
):
    failed = {"error": {"Error": "AwsThrottled", "Cause": json.dumps({"errorMessage": "ecs throttled"})}}

    _record(failed, lambda_context, runbook="restart-agent")
    _record({"error": {"Error": "InvalidInput", "Cause": "{}"}}, lambda_context, runbook="scale-agent")

    documents = _emitted_metrics(capsys)
    assert [(d["runbook"], d["decision"]) for d in documents] == [
        ("restart-agent", "failed"),
        ("scale-agent", "rejected"),
    ]
    assert all(
        sorted(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["decision", "runbook", "service"]
        for d in documents
    )
