"""P7: the whole scenario suite's wall time, `python -m simulator run` as a developer runs it (one worker process
per CPU), in a scratch directory so the developer's simulation-report.json stays as it was. Its report also feeds
P4 (transitions, Lambda invocations, API calls, metrics requested and log bytes of every execution)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import PROJECT_ROOT, ProbeResult, Row

TARGET_SECONDS = 60.0


def run(jobs: int | None = None) -> tuple[ProbeResult, dict, str]:
    """The probe, the suite's report and the handlers' log lines (EMF metrics included)."""
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="acso-bench-suite-") as scratch:
        started, used_before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        completed = subprocess.run(  # noqa: S603 - this virtualenv's Python running the project's simulator
            [sys.executable, "-m", "simulator", "run", "--jobs", str(jobs)],
            cwd=scratch,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        used = resource.getrusage(resource.RUSAGE_CHILDREN)  # the whole run: deploy, seeding, scenarios, every process
        run_cpu = used.ru_utime + used.ru_stime - used_before.ru_utime - used_before.ru_stime
        report_file = Path(scratch) / "simulation-report.json"
        if not report_file.is_file():
            raise RuntimeError(f"the scenario suite wrote no report:\n{completed.stderr[-4000:]}")
        report = json.loads(report_file.read_text())
        logs = (Path(scratch) / "simulation-output" / "lambda-logs.jsonl").read_text()
    scenarios = report["scenarios"]
    cpu = sum(scenario.get("cpu_seconds", 0.0) for scenario in scenarios)
    slowest = sorted(scenarios, key=lambda scenario: -scenario["wall_seconds"])[:5]
    failed = [scenario["name"] for scenario in scenarios if not scenario["passed"]]
    rows = [
        Row(
            "P7",
            f"scenario suite wall time, {report['total']} scenarios, {jobs} worker processes",
            f"{wall:.1f} s",
            f"<= {TARGET_SECONDS:.0f} s",
            wall <= TARGET_SECONDS,
            f"{report['passed']}/{report['total']} passed; {run_cpu:.0f} s CPU in all ({cpu:.0f} s in scenarios); "
            f"slowest {slowest[0]['name']} {slowest[0]['wall_seconds']} s",
        )
    ]
    details = {
        "jobs": jobs,
        "wallSeconds": wall,
        "runnerWallSeconds": report["wall_seconds"],
        "scenarios": report["total"],
        "passed": report["passed"],
        "failed": failed,
        "scenarioCpuSeconds": cpu,
        "runCpuSeconds": run_cpu,
        "slowest": [{"name": s["name"], "wall": s["wall_seconds"], "cpu": s.get("cpu_seconds")} for s in slowest],
        "exitCode": completed.returncode,
    }
    return ProbeResult("P7", "Scenario suite wall time", rows, details, wall), report, logs
