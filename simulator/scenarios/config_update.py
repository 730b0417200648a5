"""Scenarios of the config-update runbook (Agent Configuration Updates, started by hand)."""

from __future__ import annotations

import json

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, levels, tells_what_to_fix
from simulator.world import ServiceProfile, SimulatedProduction

NEW_CONFIG = {"logLevel": "DEBUG", "maxParallelHunts": 8}
REQUEST = {"service": "supervisor", "config": NEW_CONFIG, "reason": "enable debug"}
OVERSIZE = {"service": "supervisor", "config": {"rules": "x" * 5000}, "reason": "paste the whole rule set"}


def _start(h: Harness, execution_input: dict) -> None:
    h.start_console("config-update", execution_input)
    h.settle()


def _observe_parameter(h: Harness) -> None:
    """The supervisor's config parameter as Parameter Store keeps it: every version, oldest first."""
    name = h.world.config_parameter.replace("{agent}", "supervisor")
    pages = h.aws.client("ssm").get_paginator("get_parameter_history").paginate(Name=name)
    h.observed["history"] = [
        (entry["Version"], json.loads(entry["Value"])) for page in pages for entry in page["Parameters"]
    ]


def _update(h: Harness) -> None:
    _start(h, OVERSIZE)  # a typo'd paste first: refused at the first state, nothing written
    _start(h, REQUEST)
    _observe_parameter(h)


def _updated_and_restored(h: Harness) -> None:
    _start(h, REQUEST)
    _observe_parameter(h)


SEEDED = json.loads(SimulatedProduction.SEEDED_CONFIG)


def _expect_updated(o: Outcome) -> list[tuple[str, bool]]:
    rejected, updated = [*o.executions, None, None][:2]
    states = updated.state_transitions if updated else []
    return [
        (
            "the oversize config fails at NormalizeRequest with InvalidInput, saying what to fix",
            rejected is not None
            and (rejected.status, rejected.error) == ("FAILED", "InvalidInput")
            and rejected.state_transitions[:1] == ["NormalizeRequest"]
            and "AcquireGuard" not in rejected.state_transitions
            and tells_what_to_fix(rejected.cause),
        ),
        ("the good request succeeds", updated is not None and updated.status == "SUCCEEDED"),
        (
            "parameter updated with a new version, the previous one kept in its history",
            o.observed.get("history") == [(1, SEEDED), (2, NEW_CONFIG)],
        ),
        (
            "exactly one parameter write and one forced deployment, desired count unchanged",
            o.api_calls.get("ssm.PutParameter") == 1 and o.api_calls.get("ecs.UpdateService") == 1 and not o.actions,
        ),
        (
            "waited for the rollout, then saw Configuration loaded (no restore)",
            "CheckRollout" in states and "CheckConfigLoaded" in states and "RestorePreviousConfig" not in states,
        ),
        (
            "audited as rejected, then acted; L1 told once",
            decisions(o) == ["rejected", "acted"] and levels(o) == ["L1"],
        ),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


def _expect_restored(o: Outcome) -> list[tuple[str, bool]]:
    states = o.executions[0].state_transitions if o.executions else []
    return [
        ("execution succeeded (an escalation is a decision)", o.statuses == ["SUCCEEDED"]),
        (
            "looked for Configuration loaded a bounded number of times (5), then restored",
            states.count("CheckConfigLoaded") == 5
            and states[-3:] == ["RestorePreviousConfig", "RecordDecision", "Done"],
        ),
        (
            "parameter value restored to the previous one (as a new version; the bad one stays in the history)",
            o.observed.get("history") == [(1, SEEDED), (2, NEW_CONFIG), (3, SEEDED)],
        ),
        (
            "two writes (update, restore) and a second forced deployment, desired count unchanged",
            o.api_calls.get("ssm.PutParameter") == 2 and o.api_calls.get("ecs.UpdateService") == 2 and not o.actions,
        ),
        (
            "escalated to L2: not loaded, previous configuration restored",
            decisions(o) == ["escalated"]
            and levels(o) == ["L2"]
            and o.notifications[0]["subject"].endswith("config not loaded, previous config restored"),
        ),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


SCENARIOS = [
    Scenario(
        "config-update",
        "An operator sets supervisor's config (after an oversize paste is rejected): new version, one deployment, "
        "Configuration loaded, L1.",
        {},
        _update,
        _expect_updated,
    ),
    Scenario(
        "config-update-not-loaded-restores",
        "supervisor's new tasks reject the new config: never 'Configuration loaded', previous value restored, "
        "redeployed, L2.",
        {"supervisor": ServiceProfile(config_loads=False)},
        _updated_and_restored,
        _expect_restored,
    ),
]
