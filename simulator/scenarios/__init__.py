"""Every scenario: the fault injected into simulated production, the trigger, the expected outcome.

One module per runbook (named like it) plus `safety` for the shared guard. A scenario passes only when
each of its expectations holds; expectations look at effects (ECS desired counts, API calls,
notifications, audit records, leases), never at log text.
"""

from simulator.scenarios import access_review as access_review_scenarios
from simulator.scenarios import backup_verification as backup_verification_scenarios
from simulator.scenarios import cache_review as cache_review_scenarios
from simulator.scenarios import complete_outage as complete_outage_scenarios
from simulator.scenarios import config_update as config_update_scenarios
from simulator.scenarios import daily_health_check, high_cpu, memory_leak, restart_agent, safety, scale_agent
from simulator.scenarios import data_breach as data_breach_scenarios
from simulator.scenarios import database_review as database_review_scenarios
from simulator.scenarios import dr_test as dr_test_scenarios
from simulator.scenarios import maintenance_window as maintenance_window_scenarios
from simulator.scenarios import rollback as rollback_scenarios
from simulator.scenarios import security_patch_review as security_patch_review_scenarios
from simulator.scenarios import service_unavailable as service_unavailable_scenarios
from simulator.scenarios import weekly_performance_review as weekly_performance_review_scenarios
from simulator.scenarios.common import Scenario

SCENARIOS: list[Scenario] = [
    *daily_health_check.SCENARIOS,
    *high_cpu.SCENARIOS,
    *scale_agent.SCENARIOS,
    *restart_agent.SCENARIOS,
    *memory_leak.SCENARIOS,
    *rollback_scenarios.SCENARIOS,
    *service_unavailable_scenarios.SCENARIOS,
    *config_update_scenarios.SCENARIOS,
    *complete_outage_scenarios.SCENARIOS,
    *data_breach_scenarios.SCENARIOS,
    *backup_verification_scenarios.SCENARIOS,
    *dr_test_scenarios.SCENARIOS,
    *maintenance_window_scenarios.SCENARIOS,
    *weekly_performance_review_scenarios.SCENARIOS,
    *database_review_scenarios.SCENARIOS,
    *cache_review_scenarios.SCENARIOS,
    *security_patch_review_scenarios.SCENARIOS,
    *access_review_scenarios.SCENARIOS,
    *safety.SCENARIOS,
]
SCENARIOS_BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
