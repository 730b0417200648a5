"""The remediator watches itself: one dashboard with every runbook's executions by outcome and the decisions the
record step reports (Powertools metric `Decisions`), the guard's verdicts and the agents' utilization."""

from __future__ import annotations

import json
import re


def _dashboard(synthesized) -> tuple[dict, dict]:
    [(logical_id, props)] = synthesized.of_type("AWS::CloudWatch::Dashboard").items()
    body = json.loads(synthesized.resolver().resolve(props["DashboardBody"]))
    return props | {"LogicalId": logical_id}, body


def _graphs(body: dict) -> dict[str, dict]:
    return {
        widget["properties"]["title"]: widget["properties"] for widget in body["widgets"] if widget["type"] == "metric"
    }


def _function_environment(synthesized) -> dict:
    function = next(iter(synthesized.of_type("AWS::Lambda::Function").values()))
    return synthesized.resolver().resolve(function["Environment"]["Variables"])


def test_the_dashboard_shows_every_runbooks_executions_by_outcome_next_to_its_recorded_decisions(synthesized):
    props, body = _dashboard(synthesized)
    resolver = synthesized.resolver()
    machines = {
        props["StateMachineName"].removeprefix(f"acso-{synthesized.config.name}-"): resolver.resolve(
            {"Ref": logical_id}
        )
        for logical_id, props in synthesized.of_type("AWS::StepFunctions::StateMachine").items()
    }
    graphs = _graphs(body)

    assert resolver.resolve(props["DashboardName"]) == f"acso-{synthesized.config.name}-runbooks"
    for runbook, arn in machines.items():
        graph = graphs[f"{runbook}: executions and decisions"]
        outcomes = {
            metric[1]
            for metric in graph["metrics"]
            if metric[0] == "AWS/States" and metric[metric.index("StateMachineArn") + 1] == arn
        }
        assert outcomes == {"ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"}, (
            runbook
        )
        searches = [metric[0]["expression"] for metric in graph["metrics"] if isinstance(metric[0], dict)]
        assert any('MetricName="Decisions"' in search and f'runbook="{runbook}"' in search for search in searches)
    assert len([title for title in graphs if title.endswith(": executions and decisions")]) == len(machines)


def test_the_dashboard_graphs_the_decisions_metric_in_the_namespace_and_service_the_handlers_emit_it_under(
    synthesized,
):
    _, body = _dashboard(synthesized)
    environment = _function_environment(synthesized)
    namespace, service = environment["POWERTOOLS_METRICS_NAMESPACE"], environment["POWERTOOLS_SERVICE_NAME"]
    graph = _graphs(body)["Decisions by runbook and decision"]
    [expression] = [metric[0]["expression"] for metric in graph["metrics"]]

    # Powertools emits the record step's metric with the dimension set {service, runbook, decision}.
    schema = re.search(r"\{([^}]*)\}", expression).group(1).split(",")
    assert schema[0] == namespace and sorted(schema[1:]) == ["decision", "runbook", "service"]
    assert 'MetricName="Decisions"' in expression and f'service="{service}"' in expression


def test_the_dashboard_shows_the_self_watching_alarms_and_the_agents_cpu_and_memory(synthesized):
    _, body = _dashboard(synthesized)
    resolver = synthesized.resolver()
    own_alarms = {
        resolver.resolve({"Fn::GetAtt": [logical_id, "Arn"]})
        for logical_id, props in synthesized.of_type("AWS::CloudWatch::Alarm").items()
        if props.get("Namespace") in ("AWS/States", "AWS/SQS")
    }
    [status] = [widget["properties"] for widget in body["widgets"] if widget["type"] == "alarm"]
    graphs = _graphs(body)

    assert own_alarms and set(status["alarms"]) == own_alarms
    for title, metric in (("Agents: CPU (%)", "CPUUtilization"), ("Agents: memory (%)", "MemoryUtilization")):
        [expression] = [entry[0]["expression"] for entry in graphs[title]["metrics"]]
        assert f'MetricName="{metric}"' in expression
        assert f'ClusterName="{synthesized.config.cluster_name}"' in expression
