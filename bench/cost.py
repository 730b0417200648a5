"""P4: state transitions and Lambda invocations per execution of every runbook (from the scenario suite's runs),
and what a month costs: every schedule of the stack plus 100 incident remediations, at published prices.

Per runbook, the figures are means over every execution of it in the suite (happy paths, refusals, escalations
alike), read from the execution histories: states entered (Step Functions bills each transition; a retried task
enters again), Lambda invocations (retries included), and, per execution, the scenario's API calls, metrics
requested (GetMetricData) and handler log bytes divided by its executions. Schedules come from the synthesized
EventBridge rules (runs a month from their cron expressions). The 100 remediations are priced at the dearest
alarm-triggered runbook's mean (an upper bound). Prices and assumptions are in the report (`PRICES`, `ASSUMPTIONS`).
Standing costs that do not depend on executions (alarms, the dashboard, custom metrics) are reported apart.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from statistics import mean

from bench.common import ProbeResult, Row, money
from simulator.synthesized import synthesize

TARGET_DOLLARS = 0.50
INCIDENTS_PER_MONTH = 100
DAYS_PER_MONTH = 365.25 / 12
PRICES = {
    "stepFunctionsPerTransition": 0.025 / 1000,
    "lambdaPerRequest": 0.20 / 1_000_000,
    "lambdaPerGbSecond": 0.0000166667,
    "snsPerPublish": 0.50 / 1_000_000,
    "dynamodbPerWriteRequest": 0.625 / 1_000_000,
    "dynamodbPerReadRequest": 0.125 / 1_000_000,
    "getMetricDataPerMetric": 0.01 / 1000,
    "logsPerGbIngested": 0.50,
    "s3PerPut": 0.005 / 1000,
    "s3PerGet": 0.0004 / 1000,
    "ssmGetParameter": 0.0,
    "alarmPerMetricMonth": 0.10,
    "compositeAlarmMonth": 0.50,
    "dashboardMonth": 3.00,
    "customMetricMonth": 0.30,
}
ASSUMPTIONS = {
    "lambdaSecondsPerInvocation": 1.0,
    "stepFunctionsLogBytesPerTransition": 1000,
    "freeTiers": "ignored (4,000 transitions, 1M Lambda requests and 400,000 GB-s, 1M SNS publishes, 1M GetMetricData "
    "metrics... a month are free per account; the figures are what this stack would add on top)",
    "region": "us-east-1 list prices (eu-west-1 is within a few %)",
    "dynamodb": "on-demand, 1 request unit per item call (items < 1 KB)",
}
_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
_READS = ("GetItem", "Query", "Scan", "BatchGetItem")


def run(suite_report: dict, handler_logs: str) -> ProbeResult:
    started = time.perf_counter()
    template = synthesize().template
    memory_gb = _function_memory_gb(template)
    per_runbook = _per_runbook(suite_report)
    schedules = _schedules(template)
    rows, details = [], {"prices": PRICES, "assumptions": ASSUMPTIONS, "functionMemoryGb": memory_gb}

    for runbook, figures in sorted(per_runbook.items()):
        figures["costPerExecution"] = _execution_cost(figures, memory_gb)
        rows.append(
            Row(
                "P4",
                f"per execution: {runbook}",
                f"{figures['transitions']:.1f} transitions, {figures['invocations']:.1f} invocations",
                note=f"{figures['executions']} executions in the suite; {money(figures['costPerExecution'])} each",
            )
        )
    month: dict[str, float] = {}
    for runbook, runs in schedules.items():
        if runbook in per_runbook:
            month[f"schedule {runbook} ({runs:.2f} runs)"] = runs * per_runbook[runbook]["costPerExecution"]
    alarm_triggered = _alarm_triggered(template)
    dearest = max(
        (runbook for runbook in per_runbook if runbook in alarm_triggered),
        key=lambda runbook: per_runbook[runbook]["costPerExecution"],
    )
    month[f"{INCIDENTS_PER_MONTH} remediations (priced as {dearest})"] = (
        INCIDENTS_PER_MONTH * per_runbook[dearest]["costPerExecution"]
    )
    total = sum(month.values())
    standing = _standing_costs(template, handler_logs)
    rows.append(
        Row(
            "P4",
            f"monthly execution cost: schedules + {INCIDENTS_PER_MONTH} remediations",
            money(total),
            f"< {money(TARGET_DOLLARS)}",
            total < TARGET_DOLLARS,
            "; ".join(f"{name} {money(value)}" for name, value in month.items()),
        )
    )
    rows.append(
        Row(
            "P4",
            "standing monthly cost: alarms, dashboard, custom metrics",
            money(standing["total"]),
            note="; ".join(f"{name} {money(value)}" for name, value in standing["items"].items()),
        )
    )
    details |= {
        "perRunbook": per_runbook,
        "schedulesPerMonth": schedules,
        "month": month,
        "monthTotal": total,
        "standing": standing,
    }
    return ProbeResult("P4", "Transitions, invocations and monthly cost", rows, details, time.perf_counter() - started)


def _per_runbook(report: dict) -> dict[str, dict]:
    executions: dict[str, list[dict]] = defaultdict(list)
    for scenario in report["scenarios"]:
        runs = scenario["executions"]
        if not runs:
            continue
        share = 1 / len(runs)  # a scenario's API calls, metrics and logs, shared among its executions
        for execution in runs:
            runbook = execution.get("runbook")
            if runbook is None:
                continue
            executions[runbook].append(
                {
                    "transitions": len(execution["states"]) + _retries(execution),
                    "invocations": execution.get("lambda_invocations", 0),
                    "apiCalls": {name: count * share for name, count in scenario["api_calls"].items()},
                    "metrics": scenario.get("metrics_requested", 0) * share,
                    "logBytes": scenario.get("lambda_log_bytes", 0) * share,
                }
            )
    figures = {}
    for runbook, runs in executions.items():
        calls: Counter[str] = Counter()
        for run in runs:
            calls.update(run["apiCalls"])
        figures[runbook] = {
            "executions": len(runs),
            "transitions": mean(run["transitions"] for run in runs),
            "transitionsMax": max(run["transitions"] for run in runs),
            "invocations": mean(run["invocations"] for run in runs),
            "invocationsMax": max(run["invocations"] for run in runs),
            "metrics": mean(run["metrics"] for run in runs),
            "logBytes": mean(run["logBytes"] for run in runs),
            "apiCalls": {name: count / len(runs) for name, count in calls.items()},
        }
    return figures


def _retries(execution: dict) -> int:
    """Transitions a retried task adds (Step Functions bills each attempt): Lambda invocations beyond one per Task
    state entered (an approval's callback task invokes Lambda once too)."""
    return max(0, execution.get("lambda_invocations", 0) - execution.get("task_states", 0))


def _execution_cost(figures: dict, memory_gb: float) -> float:
    calls = figures["apiCalls"]

    def count(prefix: str, operations: tuple[str, ...] = ()) -> float:
        return sum(
            value
            for name, value in calls.items()
            if name.startswith(prefix) and (not operations or name.split(".", 1)[1] in operations)
        )

    invocations = figures["invocations"]
    return (
        figures["transitions"] * PRICES["stepFunctionsPerTransition"]
        + invocations * PRICES["lambdaPerRequest"]
        + invocations * ASSUMPTIONS["lambdaSecondsPerInvocation"] * memory_gb * PRICES["lambdaPerGbSecond"]
        + count("sns.", ("Publish",)) * PRICES["snsPerPublish"]
        + count("dynamodb.", _WRITES) * PRICES["dynamodbPerWriteRequest"]
        + count("dynamodb.", _READS) * PRICES["dynamodbPerReadRequest"]
        + figures["metrics"] * PRICES["getMetricDataPerMetric"]
        + count("s3.", ("PutObject", "CopyObject")) * PRICES["s3PerPut"]
        + count("s3.", ("GetObject", "ListObjectsV2", "HeadObject")) * PRICES["s3PerGet"]
        + (figures["logBytes"] + figures["transitions"] * ASSUMPTIONS["stepFunctionsLogBytesPerTransition"])
        / 1e9
        * PRICES["logsPerGbIngested"]
    )


def _function_memory_gb(template: dict) -> float:
    sizes = [
        resource["Properties"].get("MemorySize", 128)
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    ]
    return max(sizes) / 1024


def _schedules(template: dict) -> dict[str, float]:
    """Runbook -> runs a month, from the rules with a ScheduleExpression that start a state machine."""
    names = {
        logical_id: resource["Properties"]["StateMachineName"].split("-", 2)[-1]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    }
    runs: dict[str, float] = defaultdict(float)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::Events::Rule" or "ScheduleExpression" not in props:
            continue
        for target in props.get("Targets", []):
            machine = target.get("Arn", {}).get("Ref")
            if machine in names:
                runs[names[machine]] += runs_per_month(props["ScheduleExpression"])
    return dict(runs)


def runs_per_month(expression: str) -> float:
    """Runs a month of an EventBridge `cron(...)` or `rate(...)` expression (calendar average)."""
    if expression.startswith("rate("):
        amount, unit = expression[5:-1].split()
        seconds = int(amount) * {"minute": 60, "hour": 3600, "day": 86400}[unit.rstrip("s")]
        return DAYS_PER_MONTH * 86400 / seconds
    minutes, hours, day_of_month, month, day_of_week, _year = expression[5:-1].split()
    per_day = _count(minutes, 60) * _count(hours, 24)
    months = _count(month, 12) / 12
    if day_of_week not in ("?", "*"):
        if "#" in day_of_week or day_of_week.endswith("L"):
            days = 12.0  # the n-th (or last) given weekday: once a month
        else:
            days = 52.18 * _count(day_of_week, 7, names=("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
    elif day_of_month in ("?", "*"):
        days = 365.25
    else:
        days = 12.0 * _count(day_of_month, 31)
    return days * months / 12 * per_day


def _count(field: str, size: int, names: tuple[str, ...] = ()) -> int:
    if field in ("*", "?"):
        return size
    total = 0
    for part in field.split(","):
        values, _, step_text = part.partition("/")
        step = int(step_text or 1)
        if values in ("*", ""):
            total += len(range(0, size, step))
        elif "-" in values:
            low, high = (_value(bound, names) for bound in values.split("-"))
            total += len(range(low, high + 1, step))
        else:
            total += len(range(_value(values, names), size, step)) if "/" in part else 1
    return total


def _value(text: str, names: tuple[str, ...]) -> int:
    return names.index(text.upper()) if text.upper() in names else int(text)


def _alarm_triggered(template: dict) -> set[str]:
    """Runbooks an alarm state change starts (their rule matches CloudWatch Alarm State Change events)."""
    names = {
        logical_id: resource["Properties"]["StateMachineName"].split("-", 2)[-1]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    }
    triggered = set()
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        pattern = json.dumps(props.get("EventPattern", {}))
        if resource["Type"] == "AWS::Events::Rule" and "CloudWatch Alarm State Change" in pattern:
            triggered |= {
                names[t["Arn"]["Ref"]] for t in props.get("Targets", []) if t.get("Arn", {}).get("Ref") in names
            }
    return triggered


def _standing_costs(template: dict, handler_logs: str) -> dict:
    """What the stack costs a month whatever runs: its alarms (a metric-math alarm is priced per metric it reads),
    its dashboard, and the custom metrics: the two log metric filters and each distinct Powertools metric series
    (name and dimension values) the suite's handlers emitted (a lower bound: more decisions, more series)."""
    alarms = metric_alarms = 0.0
    composite = dashboards = filters = 0
    for resource in template["Resources"].values():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::CloudWatch::Alarm":
            alarms += 1
            metric_alarms += max(1, sum(1 for query in props.get("Metrics", []) if "MetricStat" in query))
        composite += kind == "AWS::CloudWatch::CompositeAlarm"
        dashboards += kind == "AWS::CloudWatch::Dashboard"
        filters += kind == "AWS::Logs::MetricFilter"
    series = set()
    for line in handler_logs.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                key = tuple((name, document.get(name)) for name in sorted(dimensions))
                for metric in directive["Metrics"]:
                    series.add((directive["Namespace"], metric["Name"], key))
    items = {
        f"{int(alarms)} alarms ({int(metric_alarms)} metrics)": metric_alarms * PRICES["alarmPerMetricMonth"],
        f"{composite} composite alarm(s)": composite * PRICES["compositeAlarmMonth"],
        f"{dashboards} dashboard(s)": dashboards * PRICES["dashboardMonth"],
        f"{len(series) + filters} custom metrics ({len(series)} Powertools series seen, {filters} log filters)": (
            len(series) + filters
        )
        * PRICES["customMetricMonth"],
    }
    return {"items": items, "total": sum(items.values()), "powertoolsSeries": sorted(map(str, series))}
