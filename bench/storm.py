"""P5: alarm storms in the emulator, each alone on the machine's cores: the suite's `alarm-storm` scenario (100
deliveries for the two hot services, duplicates mixed in) and the same 100 deliveries spread over all five agents
(20 each, every agent hot: the blast-radius guard's case). Actions taken, executions ended, wall time."""

from __future__ import annotations

import io
import time
from collections import Counter

from bench.common import ProbeResult, Row
from simulator import runner
from simulator.harness import Harness, Outcome
from simulator.scenarios import SCENARIOS_BY_NAME
from simulator.scenarios.common import Scenario
from simulator.world import ServiceProfile


def run() -> ProbeResult:
    started = time.perf_counter()
    runner.prepare_process()
    rows, details = [], {}
    for scenario in (SCENARIOS_BY_NAME["alarm-storm"], _five_agent_storm()):
        report = runner.run_or_report_crash(scenario, io.StringIO())
        statuses = Counter(execution["status"] for execution in report["executions"])
        ended = sum(count for status, count in statuses.items() if status != "RUNNING")
        decisions = Counter(record["decision"] for record in report["audit_records"])
        details[scenario.name] = {
            "wallSeconds": report["wall_seconds"],
            "cpuSeconds": report.get("cpu_seconds"),
            "executions": len(report["executions"]),
            "ended": ended,
            "statuses": dict(statuses),
            "actions": report["actions"],
            "decisions": dict(decisions),
            "notifications": [n["level"] for n in report["notifications"]],
            "passed": report["passed"],
        }
        acted = ", ".join(f"{a['service']} {a['before']}->{a['after']}" for a in report["actions"]) or "none"
        rows.append(
            Row(
                "P5",
                f"{scenario.name}: executions ended / actions / wall",
                f"{ended}/{len(report['executions'])} / {len(report['actions'])} / {report['wall_seconds']:.1f} s",
                "all ended, <= 1 action per service",
                ended == len(report["executions"]) and report["passed"],
                f"actions: {acted}; decisions {dict(decisions)}",
            )
        )
    return ProbeResult("P5", "Alarm storm", rows, details, time.perf_counter() - started)


def _five_agent_storm() -> Scenario:
    agents = ("supervisor", "threat-hunter", "incident-response", "service-orchestration", "financial-intelligence")

    def act(h: Harness) -> None:
        events = {agent: [h.alarm_event(agent)] for agent in agents}
        for _ in range(3):
            h.later(1)
            for agent in agents:
                events[agent].append(h.alarm_event(agent))
        for index in range(20):
            for agent in agents:
                h.deliver(events[agent][index % len(events[agent])])

    def expect(o: Outcome) -> list[tuple[str, bool]]:
        per_service = Counter(action["service"] for action in o.actions)
        return [
            ("100 executions", len(o.executions) == 100),
            ("every execution ended", all(status != "RUNNING" for status in o.statuses)),
            ("every execution audited", len(o.audit_records) == len(o.executions)),
            ("at most one action per service", all(count <= 1 for count in per_service.values())),
            ("no lease left", not o.leases),
        ]

    return Scenario(
        "alarm-storm-five-agents",
        "100 alarm deliveries spread over all five agents, every one of them hot.",
        {agent: ServiceProfile(cpu_percent=92.0) for agent in agents},
        act,
        expect,
    )
