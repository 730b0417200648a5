"""Daily health check: evaluate every criterion of the runbook and keep a report people can open."""

from __future__ import annotations

import json

from remediation.adapters import reports
from remediation.clock import utc_now
from remediation.domain.health import Criterion, ServiceObservation, evaluate
from remediation.settings import Settings


def assess(agents: list[str], evidence: dict, settings: Settings) -> dict:
    observations, criteria = evaluate_evidence(agents, evidence, settings)
    now = utc_now()
    key = f"daily-health-check/{now:%Y/%m/%d}/{now:%H%M%S}.md"
    body = _markdown(settings.environment, now.isoformat(timespec="seconds"), observations, criteria)
    reports.put_report(settings.reports_bucket, key, body, "text/markdown")
    reports.put_report(
        settings.reports_bucket,
        key.replace(".md", ".json"),
        json.dumps({"criteria": [c.to_dict() for c in criteria]}, indent=2),
        "application/json",
    )
    return {
        "healthy": all(criterion.passed for criterion in criteria),
        "criteria": [criterion.to_dict() for criterion in criteria],
        "report": {"bucket": settings.reports_bucket, "key": key},
    }


def evaluate_evidence(
    agents: list[str], evidence: dict, settings: Settings
) -> tuple[list[ServiceObservation], list[Criterion]]:
    """Every criterion of the runbook for the agents, from the Investigate state's evidence (DescribeServices and
    CollectUtilization with the day's log volume); maintenance-window validates with the same criteria."""
    services, utilization = evidence["services"], evidence["utilization"]
    observations = [
        ServiceObservation(
            agent=agent,
            service_name=settings.services[agent],
            desired_count=services[agent]["desired_count"],
            running_count=services[agent]["running_count"],
            cpu_max_percent=utilization["services"][agent]["cpuMaxPercent"],
            memory_max_percent=utilization["services"][agent]["memoryMaxPercent"],
        )
        for agent in agents
    ]
    volume = utilization["logVolume24h"]
    limits = settings.health
    criteria = evaluate(
        observations,
        volume["errorEvents"],
        volume["events"],
        limits.cpu_percent,
        limits.memory_percent,
        limits.error_rate_percent,
    )
    return observations, criteria


def _markdown(environment: str, at: str, observations: list[ServiceObservation], criteria: list) -> str:
    failed = [c for c in criteria if not c.passed]
    verdict = "HEALTHY" if not failed else f"DEGRADED ({len(failed)} failed)"
    rows = [
        f"| {o.agent} | {o.running_count}/{o.desired_count} | {_cell(o.cpu_max_percent)} | "
        f"{_cell(o.memory_max_percent)} |"
        for o in observations
    ]
    checks = [
        f"| {'pass' if c.passed else '**FAIL**'} | {c.scope} | {c.criterion} | {c.observed} | {c.expected} | "
        f"{'' if c.passed else c.handled_by} |"
        for c in criteria
    ]
    return "\n".join(
        [
            f"# ACSO {environment} daily health check: {verdict}",
            "",
            f"Checked at {at} UTC.",
            "",
            "| Agent | Running/Desired | CPU max 1 h | Memory max 1 h |",
            "|---|---|---|---|",
            *rows,
            "",
            "| Result | Scope | Criterion | Observed | Expected | Handled by |",
            "|---|---|---|---|---|---|",
            *checks,
            "",
        ]
    )


def _cell(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f} %"
