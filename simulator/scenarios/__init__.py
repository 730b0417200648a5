"""Every scenario: the fault injected into simulated production, the trigger, the expected outcome.

One module per runbook (named like it) plus `safety` for the shared guard. A scenario passes only when
each of its expectations holds; expectations look at effects (ECS desired counts, API calls,
notifications, audit records, leases), never at log text.
"""

from simulator.scenarios import daily_health_check, high_cpu, restart_agent, safety, scale_agent
from simulator.scenarios.common import Scenario

SCENARIOS: list[Scenario] = [
    *daily_health_check.SCENARIOS,
    *high_cpu.SCENARIOS,
    *scale_agent.SCENARIOS,
    *restart_agent.SCENARIOS,
    *safety.SCENARIOS,
]
SCENARIOS_BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
