"""Daily health criteria of the runbook: running = desired, CPU < 70 %, memory < 80 %, errors < 1 %."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Which runbook handles a failed criterion (the seed: "follow Incident Response procedures").
HANDLED_BY = {
    "running-equals-desired": "service-unavailable",
    "cpu-below-threshold": "high-cpu",
    "memory-below-threshold": "memory-leak",
    "error-rate-below-threshold": "service-unavailable (log triage)",
}


@dataclass(frozen=True)
class Criterion:
    criterion: str
    scope: str
    passed: bool
    observed: str
    expected: str

    @property
    def handled_by(self) -> str:
        return HANDLED_BY[self.criterion]

    def to_dict(self) -> dict:
        return asdict(self) | ({} if self.passed else {"handled_by": self.handled_by})


@dataclass(frozen=True)
class ServiceObservation:
    agent: str
    service_name: str
    desired_count: int
    running_count: int
    cpu_max_percent: float | None
    memory_max_percent: float | None


def evaluate(
    services: list[ServiceObservation],
    error_events: float,
    log_events: float,
    cpu_limit: float,
    memory_limit: float,
    error_rate_limit: float,
) -> list[Criterion]:
    """Every criterion for every service; missing data fails the criterion rather than passing it."""
    results: list[Criterion] = []
    for service in services:
        results.append(
            Criterion(
                "running-equals-desired",
                service.agent,
                service.running_count == service.desired_count and service.desired_count > 0,
                f"{service.running_count} running / {service.desired_count} desired",
                "running = desired (> 0)",
            )
        )
        results.append(_below("cpu-below-threshold", service.agent, "CPU", service.cpu_max_percent, cpu_limit))
        results.append(
            _below("memory-below-threshold", service.agent, "memory", service.memory_max_percent, memory_limit)
        )
    if log_events > 0:
        rate = 100.0 * error_events / log_events
        results.append(
            Criterion(
                "error-rate-below-threshold",
                "all agents",
                rate < error_rate_limit,
                f"{rate:.2f} % ({int(error_events)} ERROR of {int(log_events)} log events, 24 h)",
                f"< {error_rate_limit:g} %",
            )
        )
    else:
        results.append(
            Criterion(
                "error-rate-below-threshold",
                "all agents",
                False,
                "no log events in 24 h (agents silent or logging broken)",
                f"< {error_rate_limit:g} %",
            )
        )
    return results


def _below(criterion: str, agent: str, label: str, observed: float | None, limit: float) -> Criterion:
    if observed is None:
        return Criterion(criterion, agent, False, f"no {label} datapoints in the last hour", f"< {limit:g} %")
    return Criterion(criterion, agent, observed < limit, f"{label} max {observed:.1f} %", f"< {limit:g} %")
