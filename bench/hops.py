"""P3: sequential Lambda hops from the trigger to the first write call, per remediating runbook.

Read from the synthesized state machines (the ASL asset with its substitutions, as CloudFormation creates it): the
shortest path from StartAt to the first Task whose function may write to production (its role allows one of
`WRITE_ACTIONS`), following Next, Choice branches and Defaults (not Catch: a failure path never acts). A Task that
invokes Lambda is one hop; a Parallel state is one hop however many branches it runs side by side (they run at
once); Choice, Pass and Wait states are none. The act step itself is not counted.
"""

from __future__ import annotations

import heapq
import json
import time
from typing import Any

from bench.common import ProbeResult, Row
from simulator.synthesized import synthesize

TARGET_HOPS = 3
WRITE_ACTIONS = {
    "ecs:updateservice",
    "ssm:putparameter",
    "application-autoscaling:registerscalabletarget",
    "application-autoscaling:putscalingpolicy",
}
"""What changes the running platform: a service's count, task definition or deployment, an agent's configuration
or the routing flag, the autoscaling policy."""
_NOT_ACTS = {"remediation.handlers.record.record_decision"}
_TAIL = {"RecordDecision", "RecordFailure"}
"""The record step every path ends in (it may resume a scale-in it held, or end a maintenance suppression):
bookkeeping after the decision, not the remediation."""


def run() -> ProbeResult:
    started = time.perf_counter()
    synthesized = synthesize()
    template = synthesized.template
    writers = _writing_functions(template)
    rows, details = [], {}
    for _, resource in sorted(template["Resources"].items()):
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        props = resource["Properties"]
        runbook = props["StateMachineName"].split("-", 2)[-1]
        definition = json.loads(synthesized.assets[props["DefinitionS3Location"]["Key"]].read_text())
        placeholders = {
            name: value["Fn::GetAtt"][0]
            for name, value in props.get("DefinitionSubstitutions", {}).items()
            if isinstance(value, dict) and "Fn::GetAtt" in value
        }
        found = _hops_to_first_write(definition, placeholders, writers)
        if found is None:
            details[runbook] = {"remediating": False}
            continue
        hops, path, act = found
        approval = [name for name in path if ".waitForTaskToken" in str(definition["States"][name].get("Resource"))]
        details[runbook] = {"remediating": True, "hops": hops, "path": path, "act": act, "humanApproval": approval}
        rows.append(
            Row(
                "P3",
                f"hops before the first write: {runbook}",
                str(hops),
                f"<= {TARGET_HOPS}",
                hops <= TARGET_HOPS,
                f"{' -> '.join(path)} -> {act}" + (f" (waits for a person at {approval[0]})" if approval else ""),
            )
        )
    return ProbeResult(
        "P3", "Sequential Lambda hops, trigger to first write", rows, details, time.perf_counter() - started
    )


def _writing_functions(template: dict) -> set[str]:
    """Logical ids of the Lambda functions whose role may make a write call (WRITE_ACTIONS)."""
    resources = template["Resources"]
    writing_roles = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        statements = resource["Properties"]["PolicyDocument"]["Statement"]
        actions = {
            action.lower()
            for statement in statements
            if statement.get("Effect") == "Allow"
            for action in _as_list(statement.get("Action"))
        }
        if actions & WRITE_ACTIONS:
            writing_roles |= {role["Ref"] for role in resource["Properties"].get("Roles", []) if "Ref" in role}
    return {
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Role", {}).get("Fn::GetAtt", [None])[0] in writing_roles
        and resource["Properties"]["Handler"] not in _NOT_ACTS
    }


def _hops_to_first_write(
    definition: dict, placeholders: dict[str, str], writers: set[str]
) -> tuple[int, list[str], str] | None:
    states = definition["States"]

    def function_of(state: dict) -> str | None:
        resource = state.get("Parameters", {}).get("FunctionName") or state.get("Resource", "")
        for name, logical_id in placeholders.items():
            if f"${{{name}}}" in str(resource):
                return logical_id
        return None

    def is_lambda(state: dict) -> bool:
        return state.get("Type") == "Task" and ("lambda" in str(state.get("Resource", "")) or function_of(state))

    def weight(state: dict) -> int:
        if state.get("Type") == "Parallel":
            return int(any(is_lambda(s) for branch in state["Branches"] for s in branch["States"].values()))
        return int(bool(is_lambda(state)))

    # Dijkstra over states; the cost of a path is the hops of the states entered before the act.
    queue: list[tuple[int, int, str, list[str]]] = [(0, 0, definition["StartAt"], [])]
    seen, order = set(), 0
    while queue:
        cost, _, name, path = heapq.heappop(queue)
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        if state.get("Type") == "Task" and name not in _TAIL and function_of(state) in writers:
            return cost, path, name
        hop = weight(state)
        for following in _next_states(state):
            order += 1
            heapq.heappush(queue, (cost + hop, order, following, [*path, name] if hop else path))
    return None


def _next_states(state: dict) -> list[str]:
    following = [choice["Next"] for choice in state.get("Choices", [])]
    following += [state[key] for key in ("Next", "Default") if key in state]
    return following


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value] if value is not None else []
