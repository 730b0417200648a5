"""Every scenario end to end: the synthesized state machines, the real handlers, emulated AWS."""

import json
import os

import pytest

from simulator import runner
from simulator.scenarios import SCENARIOS


@pytest.fixture(scope="class")
def reports(request):
    """Each scenario the session selected in the requesting class, run as `python -m simulator run` runs them: all at
    once when the class starts (one process per CPU, each scenario in a process forked from one deployed account, in
    its own fresh account). Without os.fork, none: each test runs its scenario in a Harness of its own."""
    selected = [item.callspec.params["scenario"] for item in request.session.items if item.cls is request.cls]
    if not runner.FORKS:
        yield {}
        return
    with runner.DeployedAccount() as account:
        results = account.run_all(selected, jobs=os.cpu_count() or 1)
    yield {scenario.name: report for scenario, (report, _) in zip(selected, results, strict=True)}


class TestEveryScenario:
    """Every scenario meets each of its expectations (its report comes from the class's `reports`)."""

    @pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
    def test_scenario_meets_every_expectation(self, reports, scenario):
        report = reports[scenario.name] if scenario.name in reports else runner.run_scenario(scenario)
        unmet = [item["expectation"] for item in report["expectations"] if not item["met"]]
        assert report["expectations"], "a scenario without expectations proves nothing"
        assert unmet == [], f"{scenario.name}: unmet {unmet}\n{report.get('traceback') or ''}{_shown(report)}"
        assert _no_service_stopped_without_approval(report), f"{scenario.name}: desired 0 without a recorded approval"


def _shown(report: dict) -> str:
    return json.dumps({key: value for key, value in report.items() if key != "traceback"}, indent=2)[:4000]


def _no_service_stopped_without_approval(report: dict) -> bool:
    """Desired count 0 (a stopped service) only ever follows a person's approval recorded in the audit."""
    stopped = [action for action in report["actions"] if action["after"] == 0]
    approved = any("approved by" in record["why"] for record in report["audit_records"])
    return not stopped or approved


def test_simulate_writes_the_report_with_the_documented_fields(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner.run(["high-cpu", "high-cpu-alarm-ok"]) == 0
    report = json.loads((tmp_path / "simulation-report.json").read_text())
    high_cpu = report["scenarios"][0]
    assert {"name", "passed", "status", "actions", "notifications", "api_calls", "state_transitions"} <= set(high_cpu)
    assert high_cpu["actions"] == [
        {"service": "acso-production-supervisor", "action": "desiredCount", "before": 2, "after": 3}
    ]
    assert high_cpu["api_calls"]["ecs.UpdateService"] == 1
    assert high_cpu["notifications"][0]["level"] == "L1"
    assert high_cpu["state_transitions"] > 0


def test_an_unknown_scenario_name_is_refused_with_the_list_of_known_ones(capsys):
    assert runner.run(["no-such-scenario"]) == 2
    assert "high-cpu-at-cap" in capsys.readouterr().out
