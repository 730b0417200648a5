"""Run scenarios, print a readable timeline for each, and write simulation-report.json."""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from simulator import synthesized
from simulator.emulator import EmbeddedAws, VirtualClock
from simulator.harness import Harness, Outcome
from simulator.scenarios import SCENARIOS, SCENARIOS_BY_NAME, Scenario

REPORT_PATH = Path("simulation-report.json")
LAMBDA_LOG_PATH = Path("simulation-output/lambda-logs.jsonl")


def run_scenario(scenario: Scenario, lambda_logs: TextIO | None = None) -> dict[str, Any]:
    started, cpu_started = time.perf_counter(), time.process_time()
    logs = _CountingStream(lambda_logs or sys.stderr)
    harness = Harness(scenario.profiles, logs, scenario.start, history_days=scenario.history_days)
    with harness, _metric_queries_counted() as metric_queries:  # the handlers' client exists once AWS is emulated
        scenario.act(harness)
        outcome = harness.outcome()
    try:
        outcome.expectations = scenario.expect(outcome)
    except (IndexError, KeyError, TypeError) as error:
        outcome.expectations = [(f"expectations could be evaluated ({type(error).__name__}: {error})", False)]
    report = _report(scenario, outcome, time.perf_counter() - started, time.process_time() - cpu_started)
    # What the bench prices (bench/cost.py): CloudWatch bills GetMetricData per metric, Logs per byte ingested.
    report["metrics_requested"], report["lambda_log_bytes"] = metric_queries[0], logs.written
    return report


class _CountingStream:
    """The handlers' log stream, counting the bytes they write (what CloudWatch Logs would ingest)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream, self.written = stream, 0

    def write(self, text: str) -> int:
        self.written += len(text.encode())
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _metric_queries_counted() -> Iterator[list[int]]:
    """Metrics requested by the handlers' GetMetricData calls (their shared, once-per-container CloudWatch client)."""
    from remediation.adapters.aws import client  # noqa: PLC0415 - the handlers' package, importable once deployed

    counted, events = [0], client("cloudwatch").meta.events

    def count(params: dict, **_: Any) -> None:
        counted[0] += len(params.get("MetricDataQueries", []))

    events.register("provide-client-params.cloudwatch.GetMetricData", count, unique_id="runner-metric-queries")
    try:
        yield counted
    finally:
        events.unregister("provide-client-params.cloudwatch.GetMetricData", unique_id="runner-metric-queries")


def run_or_report_crash(scenario: Scenario, lambda_logs: TextIO | None = None) -> dict[str, Any]:
    """`run_scenario`; a scenario that raises (e.g. waits in vain for a notification) is reported as failed, with
    its traceback on stderr, and the other scenarios still run."""
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        return run_scenario(scenario, lambda_logs)
    except Exception as error:  # any crash of one scenario is that scenario's failure, not the run's
        traceback.print_exc()
        return {
            "name": scenario.name,
            "summary": scenario.summary,
            "passed": False,
            "status": "CRASHED",
            "executions": [],
            "actions": [],
            "notifications": [],
            "api_calls": {},
            "state_transitions": 0,
            "audit_records": [],
            "expectations": [
                {"expectation": f"the scenario ran to its end ({type(error).__name__}: {error})", "met": False}
            ],
            "wall_seconds": round(time.perf_counter() - started, 2),
            "cpu_seconds": round(time.process_time() - cpu_started, 2),
            "notification_texts": [],
        }


def _report(scenario: Scenario, outcome: Outcome, seconds: float, cpu_seconds: float) -> dict[str, Any]:
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
                "runbook": execution.execution_arn.split(":")[6].split("-", 2)[-1],  # acso-<env>-<runbook>
                "lambda_invocations": _lambda_invocations(execution.history),
                "task_states": sum(event["type"] == "TaskStateEntered" for event in execution.history),
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
        "cpu_seconds": round(cpu_seconds, 2),
        "notification_texts": [n["message"] for n in outcome.notifications],
    }


def _lambda_invocations(history: list[dict]) -> int:
    """Lambda invocations of an execution, retries included (Lambda bills each): Lambda Tasks (`arn:aws:lambda:...`)
    and `lambda:invoke` integrations."""
    return sum(
        event["type"] == "LambdaFunctionScheduled"
        or (
            event["type"] == "TaskScheduled"
            and event.get("taskScheduledEventDetails", {}).get("resourceType") == "lambda"
        )
        for event in history
    )


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


def run(names: list[str], jobs: int | None = None) -> int:
    """Run the scenarios (all, or the named ones) in `jobs` worker processes (default: one per CPU), print their
    timelines in the order given and write the report."""
    unknown = [name for name in names if name not in SCENARIOS_BY_NAME]
    if unknown:
        print(f"Unknown scenario(s): {', '.join(unknown)}. Known: {', '.join(SCENARIOS_BY_NAME)}")
        return 2
    selected = [SCENARIOS_BY_NAME[name] for name in names] if names else SCENARIOS
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(selected)))
    LAMBDA_LOG_PATH.parent.mkdir(exist_ok=True)
    logging.getLogger("moto").setLevel(logging.CRITICAL)  # failed executions are reported below, not traced
    # moto and botocore allocate many short-lived cyclic objects per API call: collect less often (~25 % less CPU).
    gc.set_threshold(20_000, 20, 20)
    started = time.perf_counter()
    with LAMBDA_LOG_PATH.open("w") as lambda_logs:
        if jobs == 1:
            reports = [run_or_report_crash(scenario, lambda_logs) for scenario in selected]
        else:
            reports = []
            for report, logs in _run_in_workers(selected, jobs):
                lambda_logs.write(logs)
                reports.append(report)
    for report in reports:
        print_timeline(report)
    passed = sum(report["passed"] for report in reports)
    elapsed = time.perf_counter() - started
    print(
        f"\n{passed}/{len(reports)} scenarios passed in {elapsed:.1f} s ({jobs} worker process{'es' * (jobs > 1)}); "
        f"report: {REPORT_PATH}; handler logs: {LAMBDA_LOG_PATH}"
    )
    REPORT_PATH.write_text(
        json.dumps(
            {
                "scenarios": reports,
                "passed": passed,
                "total": len(reports),
                "wall_seconds": round(elapsed, 2),
                "jobs": jobs,
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if passed == len(reports) else 1


def _run_in_workers(selected: list[Scenario], jobs: int) -> list[tuple[dict[str, Any], str]]:
    """Scenarios are independent (each gets a fresh emulated account), so they run in worker processes, each
    scenario exactly as in one process. The workers are forked from this one once it holds what every scenario
    needs and that never changes during a run: the synthesized stack and the parsed state machines
    (`prepare_process`), so no worker synthesizes or parses them again."""
    prepare_process()
    gc.freeze()  # what every worker inherits is never garbage: the collector skips it (and keeps it shared)
    context = multiprocessing.get_context("fork")
    expected = _expected_seconds()
    longest_first = sorted(selected, key=lambda scenario: -expected.get(scenario.name, 0.0))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        # Longest first (by the last report's timings): a long scenario started last would end the run alone.
        futures = {scenario.name: pool.submit(_run_named, scenario.name) for scenario in longest_first}
        return [futures[scenario.name].result() for scenario in selected]


def _expected_seconds() -> dict[str, float]:
    """Scenario -> CPU seconds it took in the last report, if there is one (only the order of work depends on it)."""
    try:
        scenarios = json.loads(REPORT_PATH.read_text())["scenarios"]
        return {
            scenario["name"]: float(scenario.get("cpu_seconds", scenario["wall_seconds"])) for scenario in scenarios
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _run_named(name: str) -> tuple[dict[str, Any], str]:
    logs = io.StringIO()
    report = run_or_report_crash(SCENARIOS_BY_NAME[name], logs)
    return report, logs.getvalue()


def prepare_process() -> None:
    """Synthesize (or load from the synth cache) and deploy the stack once into a throwaway emulated account, so
    this process holds the template and every state machine's parse tree (simulator/emulator.py PATCH 16).
    A cache miss synthesizes in a separate process: this one never starts the CDK's Node.js runtime, so it can
    be forked safely."""
    if os.environ.get("ACSO_SYNTH_CACHE", "1") != "0" and not synthesized.synth_cached():
        subprocess.run(
            [sys.executable, "-c", "from simulator import synthesized; synthesized.synthesize_into_cache()"],
            cwd=synthesized.PROJECT_ROOT,
            check=True,
        )
    with EmbeddedAws(VirtualClock(), region=synthesized.REGION, account_id=synthesized.ACCOUNT_ID) as aws:
        synthesized.deploy(synthesized.synthesize(), aws)
