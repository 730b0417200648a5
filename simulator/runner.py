"""Run scenarios, print a readable timeline for each, and write simulation-report.json."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any, TextIO

from simulator.harness import Harness, Outcome
from simulator.scenarios import SCENARIOS, SCENARIOS_BY_NAME, Scenario

REPORT_PATH = Path("simulation-report.json")
LAMBDA_LOG_PATH = Path("simulation-output/lambda-logs.jsonl")


def run_scenario(scenario: Scenario, lambda_logs: TextIO | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    with Harness(scenario.profiles, lambda_logs, scenario.start, history_days=scenario.history_days) as harness:
        scenario.act(harness)
        outcome = harness.outcome()
    try:
        outcome.expectations = scenario.expect(outcome)
    except (IndexError, KeyError, TypeError) as error:
        outcome.expectations = [(f"expectations could be evaluated ({type(error).__name__}: {error})", False)]
    return _report(scenario, outcome, time.perf_counter() - started)


def _report(scenario: Scenario, outcome: Outcome, seconds: float) -> dict[str, Any]:
    return {
        "name": scenario.name,
        "summary": scenario.summary,
        "passed": outcome.passed,
        "status": _overall_status(outcome),
        "executions": [
            {
                "status": execution.status,
                "error": execution.error,
                "cause": execution.cause,
                "states": execution.state_transitions,
            }
            for execution in outcome.executions
        ],
        "actions": outcome.actions,
        "notifications": [{"level": n["level"], "subject": n["subject"]} for n in outcome.notifications],
        "api_calls": dict(sorted(outcome.api_calls.items())),
        "state_transitions": sum(len(execution.state_transitions) for execution in outcome.executions),
        "audit_records": [{"decision": r["decision"], "why": r.get("why", "")} for r in outcome.audit_records],
        "expectations": [{"expectation": text, "met": ok} for text, ok in outcome.expectations],
        "wall_seconds": round(seconds, 2),
        "notification_texts": [n["message"] for n in outcome.notifications],
    }


def _overall_status(outcome: Outcome) -> str:
    statuses = set(outcome.statuses)
    if not statuses:
        return "NO_EXECUTION"
    return statuses.pop() if len(statuses) == 1 else "MIXED"


def print_timeline(report: dict[str, Any]) -> None:
    verdict = "PASS" if report["passed"] else "FAIL"
    print(f"\n=== {verdict}  {report['name']}  ({report['wall_seconds']} s)")
    print(f"    {report['summary']}")
    for index, execution in enumerate(report["executions"], 1):
        line = f"    execution {index}: {execution['status']}"
        if execution["error"]:
            line += f"  {execution['error']}: {_short(execution['cause'])}"
        print(line)
        print(f"      states: {' -> '.join(execution['states'])}")
    for action in report["actions"]:
        print(f"    action: {action['service']} {action['action']} {action['before']} -> {action['after']}")
    for notification in report["notifications"]:
        print(f"    notify {notification['level']}: {notification['subject']}")
    for record in report["audit_records"]:
        print(f"    audit: {record['decision']} - {_short(record['why'])}")
    calls = ", ".join(f"{name} x{count}" for name, count in report["api_calls"].items()) or "none"
    print(f"    api calls: {calls}")
    for expectation in report["expectations"]:
        print(f"    [{'x' if expectation['met'] else ' '}] {expectation['expectation']}")


def _short(text: str | None, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    with contextlib.suppress(ValueError, AttributeError):  # a Lambda error's Cause is JSON; others are text
        text = json.loads(text).get("errorMessage", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run(names: list[str]) -> int:
    unknown = [name for name in names if name not in SCENARIOS_BY_NAME]
    if unknown:
        print(f"Unknown scenario(s): {', '.join(unknown)}. Known: {', '.join(SCENARIOS_BY_NAME)}")
        return 2
    selected = [SCENARIOS_BY_NAME[name] for name in names] if names else SCENARIOS
    LAMBDA_LOG_PATH.parent.mkdir(exist_ok=True)
    logging.getLogger("moto").setLevel(logging.CRITICAL)  # failed executions are reported below, not traced
    started = time.perf_counter()
    with LAMBDA_LOG_PATH.open("w") as lambda_logs:
        reports = [run_scenario(scenario, lambda_logs) for scenario in selected]
    for report in reports:
        print_timeline(report)
    passed = sum(report["passed"] for report in reports)
    elapsed = time.perf_counter() - started
    print(
        f"\n{passed}/{len(reports)} scenarios passed in {elapsed:.1f} s; report: {REPORT_PATH}; "
        f"handler logs: {LAMBDA_LOG_PATH}"
    )
    REPORT_PATH.write_text(
        json.dumps(
            {"scenarios": reports, "passed": passed, "total": len(reports), "wall_seconds": round(elapsed, 2)}, indent=2
        )
        + "\n"
    )
    return 0 if passed == len(reports) else 1
