"""`python -m bench [--only P1,P3] [--rounds N] [--jobs N]`: run the probes, print the table, write bench-report.json.

Each figure is measured in this run (nothing is read from an earlier one). P4 prices the executions of P7's
suite run, so `--only P4` runs the suite too. Plain timers, no pass/fail: the table says which targets are met.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import cold_start, cost, hops, metric_calls, scale, storm, suite
from bench.common import PROJECT_ROOT, ProbeResult, Row

REPORT_PATH = PROJECT_ROOT / "bench-report.json"
PROBES = ("P1", "P2", "P3", "P4", "P5", "P6", "P7")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(PROBES), help="comma-separated probes (default: all)")
    parser.add_argument("--rounds", type=int, default=9, help="P1: imports per module (least CPU counts)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="P7: scenario worker processes")
    parser.add_argument("--report", type=Path, default=REPORT_PATH, help="where to write the JSON report")
    args = parser.parse_args(argv)
    selected = {probe.strip().upper() for probe in args.only.split(",") if probe.strip()}
    unknown = selected - set(PROBES)
    if unknown:
        parser.error(f"unknown probe(s) {sorted(unknown)}; known: {', '.join(PROBES)}")

    started = time.perf_counter()
    results: list[ProbeResult] = []
    plan = [
        ("P3", hops.run),
        ("P2", metric_calls.run),
        ("P1", lambda: cold_start.run(rounds=args.rounds)),
        ("P5", storm.run),
    ]
    for probe, probe_run in plan:
        if probe in selected:
            results.append(_announce(probe_run()))
    if selected & {"P4", "P7"}:
        suite_result, report, logs = suite.run(jobs=args.jobs)
        if "P7" in selected:
            results.append(_announce(suite_result))
        if "P4" in selected:
            results.append(_announce(cost.run(report, logs)))
    if "P6" in selected:
        results.append(_announce(scale.run()))

    results.sort(key=lambda result: PROBES.index(result.probe))
    print_table([row for result in results for row in result.rows])
    report = {
        "measuredAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadAverage": _load()},
        "seconds": round(time.perf_counter() - started, 1),
        "probes": [result.to_json() for result in results],
    }
    args.report.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\n{len(results)} probe(s) in {report['seconds']} s; report: {args.report}")
    return 0


def print_table(rows: list[Row]) -> None:
    headers = ("", "measure", "value", "target", "met")
    lines = [(row.probe, row.measure, row.value, row.target, _met(row.met)) for row in rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *lines, strict=True)]
    print()
    for line in (headers, tuple("-" * width for width in widths), *lines):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    notes = [(row.probe, row.measure, row.note) for row in rows if row.note]
    if notes:
        print()
        for probe, measure, note in notes:
            print(f"{probe} {measure}: {note}")


def _announce(result: ProbeResult) -> ProbeResult:
    print(f"{result.probe} {result.title}: {result.seconds:.1f} s", file=sys.stderr)
    return result


def _met(met: bool | None) -> str:
    return "" if met is None else "yes" if met else "NO"


def _load() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
