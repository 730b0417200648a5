"""simulator/runner.py DeployedAccount: every scenario in a process forked from one deployed account (and, for
scenarios with the same world, from one seeded world), each as fresh as in a Harness of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from simulator import runner
from simulator.harness import START, Harness, Outcome
from simulator.scenarios import SCENARIOS_BY_NAME
from simulator.scenarios.common import Scenario
from simulator.world import ServiceProfile

EARLIER = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
HOT = {"supervisor": ServiceProfile(cpu_percent=92.0)}
LEFT_BEHIND = "/acso/test/left-behind"


@pytest.fixture(scope="module")
def account() -> Iterator[runner.DeployedAccount]:
    with runner.DeployedAccount() as deployed:
        yield deployed


def _observe(h: Harness) -> None:
    """What an earlier scenario would have left behind, had it run in this account: a parameter, a lease, time."""
    try:
        h.aws.client("ssm").get_parameter(Name=LEFT_BEHIND)
        h.observed["parameter"] = True
    except ClientError:
        h.observed["parameter"] = False
    h.observed |= {"leases": len(h.leases()), "now": h.clock.now(), "desired": h.world.desired_counts()["supervisor"]}


def _leave_things_behind(h: Harness) -> None:
    _observe(h)
    h.aws.client("ssm").put_parameter(Name=LEFT_BEHIND, Value="x", Type="String")
    h.hold_lease("supervisor", owner="test", seconds=600)
    h.aws.client("ecs").update_service(
        cluster=h.settings["clusterName"], service=h.service_name("supervisor"), desiredCount=5
    )
    h.later(600)


def _found_fresh(start: datetime, desired: int) -> object:
    def expect(o: Outcome) -> list[tuple[str, bool]]:
        return [
            ("nothing left behind", o.observed["parameter"] is False and o.observed["leases"] == 0),
            ("its own start", o.observed["now"] == start),
            ("its own world", o.observed["desired"] == desired),
        ]

    return expect


def _scenario(name: str, act: object, profiles: dict, start: datetime | None = None, desired: int = 2) -> Scenario:
    return Scenario(name, name, profiles, act, _found_fresh(start or START, desired), start=start)


def test_scenarios_forked_from_one_account_and_one_world_never_see_each_other(
    account: runner.DeployedAccount,
) -> None:
    hot = ServiceProfile(cpu_percent=92.0, desired=3)
    scenarios = [
        _scenario("writes", _leave_things_behind, {"supervisor": hot}, desired=3),
        _scenario("same-world-after-it", _observe, {"supervisor": hot}, desired=3),
        _scenario("another-world-earlier", _observe, {}, start=EARLIER),
        _scenario("writes-again", _leave_things_behind, {"supervisor": hot}, desired=3),
    ]

    reports = [report for report, _ in account.run_all(scenarios, jobs=1)]

    assert [report["name"] for report in reports] == [scenario.name for scenario in scenarios]
    assert [report["expectations"] for report in reports if not report["passed"]] == []


def test_reports_come_back_in_the_order_given_whichever_runs_first(account: runner.DeployedAccount) -> None:
    scenarios = [_scenario(f"s{index}", _observe, {} if index % 2 else HOT) for index in range(4)]
    expected = {"s0": 0.1, "s1": 0.2, "s2": 0.3, "s3": 5.0}  # s3's world first, then s2's

    reports = [report for report, _ in account.run_all(scenarios, jobs=2, expected=expected)]

    assert [(report["name"], report["passed"]) for report in reports] == [(f"s{i}", True) for i in range(4)]


def test_a_forked_scenario_reports_what_it_reports_in_a_harness_of_its_own(account: runner.DeployedAccount) -> None:
    scenario = SCENARIOS_BY_NAME["high-cpu"]

    forked, logs = account.run(scenario)

    assert forked["passed"], forked["expectations"]
    assert forked["actions"] == [
        {"service": "acso-production-supervisor", "action": "desiredCount", "before": 2, "after": 3}
    ]
    assert forked["api_calls"]["ecs.UpdateService"] == 1
    assert [n["level"] for n in forked["notifications"]] == ["L1"]
    assert forked["lambda_log_bytes"] == len(logs.encode()) > 0  # its handlers' log lines, and only theirs


def test_a_scenario_that_raises_or_dies_is_reported_crashed_and_the_others_still_run(
    account: runner.DeployedAccount,
) -> None:
    def raises(h: Harness) -> None:
        raise RuntimeError("the scenario broke")

    def dies(h: Harness) -> None:
        os._exit(3)

    scenarios = [
        _scenario("raises", raises, {}),
        _scenario("dies", dies, {}),
        _scenario("runs", _observe, {}),
    ]

    raised, died, ran = (report for report, _ in account.run_all(scenarios, jobs=2))

    assert raised["status"] == "CRASHED" and "RuntimeError: the scenario broke" in raised["traceback"]
    assert died["status"] == "CRASHED" and "exit status 3" in died["expectations"][0]["expectation"]
    assert ran["passed"]


def test_a_world_that_cannot_be_seeded_crashes_each_of_its_scenarios(account: runner.DeployedAccount) -> None:
    broken = {"supervisor": ServiceProfile(revisions=0)}  # no task definition to create the service from
    scenarios = [_scenario("first", _observe, broken), _scenario("second", _observe, broken)]

    reports = [report for report, _ in account.run_all(scenarios, jobs=1)]

    assert [report["status"] for report in reports] == ["CRASHED", "CRASHED"]
    assert all("seeding its world" in report["expectations"][0]["expectation"] for report in reports)
