"""Run scenarios, print a readable timeline for each, and write simulation-report.json."""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TextIO

import boto3
from moto.moto_api._internal import mock_random

from simulator import synthesized
from simulator.emulator import EmbeddedAws, VirtualClock
from simulator.harness import START, Harness, Outcome
from simulator.scenarios import SCENARIOS, SCENARIOS_BY_NAME, Scenario

REPORT_PATH = Path("simulation-report.json")
LAMBDA_LOG_PATH = Path("simulation-output/lambda-logs.jsonl")
SECONDS_PATH = synthesized.PROJECT_ROOT / "simulation-output" / "scenario-seconds.json"
"""Scenario -> CPU seconds of its last run, wherever it ran: the longest scenarios start first (`DeployedAccount`)."""


def run_scenario(
    scenario: Scenario, lambda_logs: TextIO | None = None, deployed: Harness | None = None
) -> dict[str, Any]:
    """The scenario in a fresh emulated account: a new Harness, or `deployed`, a harness whose account has the stack
    deployed and nothing else (in a process forked from a `DeployedAccount`)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    logs = _CountingStream(lambda_logs or sys.stderr)
    if deployed is None:
        harness = Harness(scenario.profiles, logs, scenario.start, history_days=scenario.history_days)
    else:
        harness = deployed.for_scenario(scenario.profiles, logs, scenario.start, scenario.history_days)
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


def run_or_report_crash(
    scenario: Scenario, lambda_logs: TextIO | None = None, deployed: Harness | None = None
) -> dict[str, Any]:
    """`run_scenario`; a scenario that raises (e.g. waits in vain for a notification) is reported as failed, with
    its traceback on stderr (and in the report's `traceback`), and the other scenarios still run."""
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        return run_scenario(scenario, lambda_logs, deployed)
    except Exception as error:  # any crash of one scenario is that scenario's failure, not the run's
        traceback.print_exc()
        return _crash_report(
            scenario,
            f"{type(error).__name__}: {error}",
            time.perf_counter() - started,
            time.process_time() - cpu_started,
            traceback.format_exc(),
        )


def _crash_report(
    scenario: Scenario, what: str, seconds: float, cpu_seconds: float, trace: str | None = None
) -> dict[str, Any]:
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
        "expectations": [{"expectation": f"the scenario ran to its end ({what})", "met": False}],
        "wall_seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "notification_texts": [],
        "traceback": trace,
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
        if not FORKS:  # no os.fork (Windows): one process, one fresh account deployed per scenario
            reports = [run_or_report_crash(scenario, lambda_logs) for scenario in selected]
        else:
            with DeployedAccount() as account:
                results = account.run_all(selected, jobs)
            reports = []
            for report, logs in results:
                lambda_logs.write(logs)
                reports.append(report)
    _remember_seconds(reports)
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


def _expected_seconds() -> dict[str, float]:
    """Scenario -> CPU seconds it took when it last ran here, if it did (only the order of work depends on it)."""
    try:
        seconds = json.loads(SECONDS_PATH.read_text())
        return {str(name): float(value) for name, value in seconds.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _remember_seconds(reports: list[dict[str, Any]]) -> None:
    """Keep each scenario's CPU seconds for the next run's order of work (`_expected_seconds`), whatever directory it
    runs in (the bench runs the suite in a scratch directory). Written atomically: runs may overlap."""
    seconds = _expected_seconds() | {report["name"]: report["cpu_seconds"] for report in reports}
    with contextlib.suppress(OSError):
        SECONDS_PATH.parent.mkdir(parents=True, exist_ok=True)
        staged = SECONDS_PATH.with_name(f".{SECONDS_PATH.name}.{os.getpid()}")
        staged.write_text(json.dumps(seconds, indent=1, sort_keys=True) + "\n")
        staged.replace(SECONDS_PATH)


def prepare_process() -> None:
    """Synthesize (or load from the synth cache) and deploy the stack once into a throwaway emulated account, so
    this process holds the template and every state machine's parse tree (simulator/emulator.py PATCH 16)."""
    prepare_synth_cache()
    with EmbeddedAws(VirtualClock(), region=synthesized.REGION, account_id=synthesized.ACCOUNT_ID) as aws:
        synthesized.deploy(synthesized.synthesize(), aws)


FORKS = hasattr(os, "fork")
"""Whether scenarios can run in processes forked from a `DeployedAccount` (POSIX)."""
_DEPLOYED_AT = datetime(2000, 1, 1, tzinfo=UTC)
"""The deployed account's virtual time: before every scenario's start (a forked scenario moves it to its start)."""


class DeployedAccount:
    """Context manager: this process holds an emulated account with the synthesized stack deployed and nothing else
    (`Harness.deploy`); every scenario runs in a process forked from it, so the stack is deployed once per run rather
    than once per scenario (~0.5 s of CPU each). Scenarios whose simulated production is the same (profiles, start,
    history: a third of them have the default one) share its seeding the same way: a process forked from the deployed
    account seeds that world (`Harness.seed`), then forks one process per scenario from there. Each scenario thus
    starts from exactly the account and world a fresh Harness would give it (a copy-on-write copy of its parent:
    moto's backends, the virtual clock at the scenario's start, the handlers' modules); nothing it does reaches any
    other process. Its report comes back through a file."""

    def __enter__(self) -> DeployedAccount:
        prepare_synth_cache()
        leftovers = set(threading.enumerate())
        # Its stdout stays this process's (each scenario sends its own to its scenario's handler log).
        self._harness = Harness(lambda_logs=sys.stdout, clock=VirtualClock(_DEPLOYED_AT))
        self._harness.deploy()
        try:
            _create_handler_clients(synthesized.synthesize().template)
            _wait_until_single_threaded(leftovers)
            self._scratch = Path(tempfile.mkdtemp(prefix="acso-scenarios-"))
        except BaseException:
            self._harness.__exit__(None, None, None)
            raise
        gc.freeze()  # what every child inherits is never garbage: the collector skips it (and keeps it shared)
        self._worlds: dict[int, tuple[list[int], list[Scenario], float]] = {}
        """pid of a world's process -> (its scenarios' numbers, the scenarios, when it started)."""
        self._numbered = 0
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            for pid in list(self._worlds):  # worlds still running: this process is being interrupted
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGTERM)
                    os.waitpid(pid, 0)
            self._worlds.clear()
        finally:
            gc.unfreeze()
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._harness.__exit__(*exc_info)

    def run(self, scenario: Scenario) -> tuple[dict[str, Any], str]:
        """The scenario in a forked process: its report and its handlers' log lines."""
        return self.run_all([scenario], jobs=1)[0]

    def run_all(
        self, scenarios: list[Scenario], jobs: int, expected: dict[str, float] | None = None
    ) -> list[tuple[dict[str, Any], str]]:
        """Every scenario (reports in the order given), one world at a time in each of `jobs` processes, the longest
        first by `expected` (CPU seconds per scenario; default: as they last ran here; unknown: 1 s): a long one
        started last would end the run alone."""
        expected = _expected_seconds() if expected is None else expected
        worlds: list[list[int]] = []
        for index, scenario in enumerate(scenarios):
            same = next((world for world in worlds if _world(scenarios[world[0]]) == _world(scenario)), None)
            if same is None:
                worlds.append([index])
            else:
                same.append(index)
        worlds.sort(key=lambda world: -sum(expected.get(scenarios[index].name, 1.0) for index in world))
        results: dict[int, tuple[dict[str, Any], str]] = {}
        running: dict[int, list[int]] = {}
        while worlds or running:
            while worlds and len(running) < jobs:
                world = worlds.pop(0)
                running[self._fork_world([scenarios[index] for index in world])] = world
            pid, world_results = self._wait()
            results.update(zip(running.pop(pid), world_results, strict=True))
        return [results[index] for index in range(len(scenarios))]

    def _fork_world(self, scenarios: list[Scenario]) -> int:
        numbers = list(range(self._numbered, self._numbered + len(scenarios)))
        self._numbered += len(scenarios)
        sys.stdout.flush()  # what is buffered now would be written again by the child
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # never returns
            _exit_after(self._seed_and_run, scenarios, numbers)
        self._worlds[pid] = (numbers, scenarios, time.perf_counter())
        return pid

    def _seed_and_run(self, scenarios: list[Scenario], numbers: list[int]) -> None:
        """In a world's process: its world seeded once, then each of its scenarios in a process forked from here."""
        os.setpgid(0, 0)  # its scenarios' processes end with it (`__exit__`)
        first, started, cpu_started = scenarios[0], time.perf_counter(), time.process_time()
        try:
            mock_random.seed()  # moto's ids (task ids, message ids...): not the same ones in every world
            harness = self._harness.for_scenario(first.profiles, io.StringIO(), first.start, first.history_days)
            harness.seed()
        except Exception as error:  # the world cannot be seeded: each of its scenarios crashed
            trace = traceback.format_exc()
            print(trace, file=sys.stderr)
            for scenario, number in zip(scenarios, numbers, strict=True):
                seconds = (time.perf_counter() - started, time.process_time() - cpu_started)
                report = _crash_report(scenario, f"seeding its world: {type(error).__name__}: {error}", *seconds, trace)
                self._result(number).write_text(json.dumps({"report": report, "logs": ""}))
            return
        gc.freeze()
        for scenario, number in zip(scenarios, numbers, strict=True):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # never returns
                _exit_after(self._run_forked, scenario, harness, self._result(number))
            scenario_started = time.perf_counter()
            _, status = os.waitpid(pid, 0)
            if not self._result(number).exists():  # it died (a signal, os._exit): its crash, not the world's
                what = f"its process ended with {_wait_status(status)} and no report"
                report = _crash_report(scenario, what, time.perf_counter() - scenario_started, 0.0)
                self._result(number).write_text(json.dumps({"report": report, "logs": ""}))

    @staticmethod
    def _run_forked(scenario: Scenario, harness: Harness, result: Path) -> None:
        mock_random.seed()
        logs = io.StringIO()
        report = run_or_report_crash(scenario, logs, deployed=harness)
        result.write_text(json.dumps({"report": report, "logs": logs.getvalue()}))

    def _result(self, number: int) -> Path:
        return self._scratch / f"{number}.json"

    def _wait(self) -> tuple[int, list[tuple[dict[str, Any], str]]]:
        """The next world's process to end (pid) and its scenarios' results (a crash report for one that left none)."""
        while True:
            pid, status = os.wait()
            if pid in self._worlds:
                break
        numbers, scenarios, started = self._worlds.pop(pid)
        results = []
        for number, scenario in zip(numbers, scenarios, strict=True):
            try:
                result = json.loads(self._result(number).read_text())
                self._result(number).unlink()
                results.append((result["report"], result["logs"]))
            except (OSError, ValueError, KeyError):
                what = f"its world's process ended with {_wait_status(status)} and no report"
                results.append((_crash_report(scenario, what, time.perf_counter() - started, 0.0), ""))
        return pid, results


def _world(scenario: Scenario) -> tuple:
    """What a scenario's simulated production is seeded from: two scenarios with the same world share its seeding."""
    return (scenario.profiles, scenario.start or START, scenario.history_days)


def _exit_after(function: Callable[..., None], *args: Any) -> NoReturn:
    """In a forked process: `function(*args)`, then end the process (never back into the caller's code)."""
    status = 1
    try:
        function(*args)
        status = 0
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)


def _create_handler_clients(template: dict) -> None:
    """The handlers' boto3 clients (`remediation.adapters.aws.client`, created once per Lambda container and kept),
    created here for every service the stack's roles may call, so that no forked scenario creates them again (boto3's
    default session and a client per service: ~0.2 s of every scenario's CPU otherwise). As in the sequential run,
    where a process creates them for its first scenario and the next ones reuse them."""
    from remediation.adapters.aws import client  # noqa: PLC0415 - the handlers' package, importable once deployed

    prefixes = set()
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::IAM::Policy":
            for statement in resource.get("Properties", {}).get("PolicyDocument", {}).get("Statement", []):
                actions = statement.get("Action", [])
                prefixes |= {action.split(":", 1)[0] for action in ([actions] if isinstance(actions, str) else actions)}
    available = set(boto3.session.Session().get_available_services())
    for prefix in sorted(prefixes):
        name = {"states": "stepfunctions"}.get(prefix, prefix)  # IAM's prefix -> boto3's service name
        if name in available:
            client(name)


def _wait_until_single_threaded(leftovers: set[threading.Thread], timeout_s: float = 5.0) -> None:
    """Forking copies only the calling thread: another one would be missing in the children, and any lock it holds
    held forever there. So no thread may run but this one, except `leftovers`: daemon threads that were already there
    before the account was deployed, left by an earlier EmbeddedAws that has ended (in a test session: an execution
    moto never ends, e.g. a callback task that timed out still waiting for its token); they hold nothing of this
    account. `python -m simulator run` has none."""
    deadline = time.monotonic() + timeout_s
    while others := [
        thread
        for thread in threading.enumerate()
        if thread is not threading.current_thread() and not (thread in leftovers and thread.daemon)
    ]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"cannot fork scenarios while other threads run: {[t.name for t in others]}")
        time.sleep(0.01)


def _wait_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def prepare_synth_cache() -> None:
    """A synth cache miss synthesizes in a separate process: this one never starts the CDK's Node.js runtime, so it
    can be forked safely."""
    if os.environ.get("ACSO_SYNTH_CACHE", "1") != "0" and not synthesized.synth_cached():
        subprocess.run(
            [sys.executable, "-c", "from simulator import synthesized; synthesized.synthesize_into_cache()"],
            cwd=synthesized.PROJECT_ROOT,
            check=True,
        )
