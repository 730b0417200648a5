"""One scenario's emulated world: the synthesized stack deployed into moto, simulated production
seeded, events delivered through the synthesized rules, and everything observable collected."""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from remediation import clock
from remediation.settings import load_settings
from simulator.alarm_rules import evaluate as evaluate_alarm_rule
from simulator.alarm_rules import referenced_alarms
from simulator.emulator import EmbeddedAws, VirtualClock, event_pattern_matches
from simulator.synthesized import ACCOUNT_ID, REGION, DeployedStack, deploy, synthesize
from simulator.world import ServiceProfile, SimulatedProduction

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
WRITE_OPERATIONS = ("ecs.UpdateService", "ecs.RegisterTaskDefinition", "application-autoscaling.", "ssm.PutParameter")


@dataclass
class Outcome:
    executions: list[Any]
    api_calls: dict[str, int]
    actions: list[dict]
    notifications: list[dict]
    audit_records: list[dict]
    leases: list[dict] = field(default_factory=list)
    answers: list[dict] = field(default_factory=list)
    """What the approval endpoint answered the people in the scenario."""
    """Leases still held when every execution has ended (should be none)."""
    expectations: list[tuple[str, bool]] = field(default_factory=list)
    observed: dict[str, Any] = field(default_factory=dict)
    """What the scenario itself read from the emulated account (`Harness.observed`)."""

    @property
    def statuses(self) -> list[str]:
        return [execution.status for execution in self.executions]

    @property
    def write_calls(self) -> int:
        return sum(count for name, count in self.api_calls.items() if name.startswith(WRITE_OPERATIONS))

    @property
    def passed(self) -> bool:
        return bool(self.expectations) and all(ok for _, ok in self.expectations)


class Harness:
    """Context manager: a fresh emulated account per scenario, so scenarios never leak into each other."""

    def __init__(
        self,
        profiles: dict[str, ServiceProfile] | None = None,
        lambda_logs: TextIO | None = None,
        start: datetime | None = None,
        clock: VirtualClock | None = None,
        history_days: int = 1,
    ) -> None:
        self.clock = clock or VirtualClock(start or START)
        """Virtual time (`start` is its first instant); `python -m simulator serve` passes a live clock."""
        self.history_days = history_days
        """Days of metric and log history the world is seeded with (SimulatedProduction.seed)."""
        self.answers: list[dict] = []
        self.lambda_logs = lambda_logs or sys.stderr
        self.profiles = profiles or {}
        self._executions: list[str] = []
        self.observed: dict[str, Any] = {}
        """Whatever a scenario reads from the emulated account for its expectations (Outcome.observed)."""
        self._deployed = self._seeded = False
        self._world: tuple = (self.profiles, start or START, history_days)
        """(profiles, start, history days) of the world `seed` seeds (`for_scenario`)."""

    def __enter__(self) -> Harness:
        if not self._deployed:  # a harness taken over in a forked process may be deployed (`for_scenario`)
            self.deploy()
        if not self._seeded:  # ... or seeded already
            self.seed()
        return self

    def deploy(self) -> None:
        """The scenario-independent half of `__enter__`: a fresh emulated account with the synthesized stack deployed
        and the topics' inboxes subscribed. `python -m simulator run` does it once, then forks the processes that run
        the scenarios from here (simulator/runner.py `DeployedAccount`)."""
        self.aws = EmbeddedAws(self.clock, region=REGION, account_id=ACCOUNT_ID).__enter__()
        clock.use_source(self.clock.now)
        load_settings.cache_clear()
        self._stdout = contextlib.redirect_stdout(self.lambda_logs)
        self._stdout.__enter__()  # Lambda's stdout (Powertools logs and EMF metrics) goes to CloudWatch Logs
        self.stack: DeployedStack = deploy(synthesize(), self.aws)
        # Imported only now: Powertools reads POWERTOOLS_* when the handlers' Logger and Metrics are created.
        importlib.import_module("remediation.observability").logger.registered_handler.stream = self.lambda_logs
        self.settings = json.loads(self.stack.parameters[self.stack.function_environment["ACSO_SETTINGS_PARAMETER"]])
        self._subscribe_to_topics()
        self._deployed = True

    def for_scenario(
        self,
        profiles: dict[str, ServiceProfile] | None,
        lambda_logs: TextIO,
        start: datetime | None = None,
        history_days: int = 1,
    ) -> Harness:
        """This deployed harness (`deploy`), taken over by a scenario in a process forked from it (simulator/runner.py):
        the scenario's log stream and its world, seeded on entering (`with`), or already seeded (`seed`, in the process
        this one was forked from) for the same profiles, start and history. Either way the account, its clock and its
        world are exactly what a fresh Harness would have: the clock must not be past `start` yet."""
        if not self._deployed:
            raise RuntimeError("for_scenario takes over a deployed harness (Harness.deploy)")
        world = (profiles or {}, start or START, history_days)
        if self._seeded and world != self._world:
            raise ValueError("this harness's world is seeded for other profiles, start or history")
        if not self._seeded:
            if self.clock.now() > world[1]:
                raise ValueError(f"the deployed account's clock ({self.clock.now()}) is already past {world[1]}")
            self.clock.advance_to(world[1])  # no listener yet: nothing happens but the time
            self.profiles, self.history_days = world[0], history_days
        self._world, self.lambda_logs = world, lambda_logs
        self._stdout.__exit__(None, None, None)
        self._stdout = contextlib.redirect_stdout(lambda_logs)
        self._stdout.__enter__()
        importlib.import_module("remediation.observability").logger.registered_handler.stream = lambda_logs
        return self

    def seed(self) -> None:
        """The scenario's half of `__enter__`: simulated production seeded at the scenario's start (once)."""
        self.world = SimulatedProduction(self.aws, self.clock, self.stack, self.settings)
        self.world.seed(self.profiles, history_days=self.history_days)
        self.clock.on_advance(self.world.advance)
        self.aws.reset_api_calls()
        self._desired_before = self.world.desired_counts()
        self._seeded = True

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self.aws.__exit__(*exc_info)
        finally:
            clock.use_source(None)
            load_settings.cache_clear()
            self._stdout.__exit__(*exc_info)

    # -- triggers ----------------------------------------------------------------------------------
    def service_name(self, agent: str) -> str:
        """The agent's ECS service (the settings document names services by prefix + agent)."""
        return self.settings["serviceNamePrefix"] + agent

    def state_machine(self, runbook: str) -> str:
        return self.stack.state_machines[f"acso-{self.settings['environment']}-{runbook}"]

    def alarm_event(
        self,
        agent: str,
        state: str = "ALARM",
        previous: str = "OK",
        account: str = ACCOUNT_ID,
        kind: str = "high-cpu",
    ) -> dict:
        """The 'CloudWatch Alarm State Change' event EventBridge delivers, built from the synthesized alarm
        named `acso-<env>-<agent>-<kind>` (a single-metric or a metric-math alarm)."""
        name = next(name for name in self.stack.alarms if name.endswith(f"-{agent}-{kind}"))
        alarm = self.stack.alarms[name]
        now = self.clock.now()
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
        reason = (
            f"Threshold Crossed: {alarm['EvaluationPeriods']} datapoints were greater than the threshold "
            f"({alarm['Threshold']})."
            if state == "ALARM"
            else "Threshold Crossed: datapoints back under."
        )
        self.aws.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
        return {
            "version": "0",
            "id": f"evt-{agent}-{state}-{int(now.timestamp())}",
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": account,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{name}"],
            "detail": {
                "alarmName": name,
                "state": {"value": state, "reason": reason, "timestamp": stamp},
                "previousState": {"value": previous, "reason": "", "timestamp": stamp},
                "configuration": {"description": alarm.get("AlarmDescription", ""), "metrics": _event_metrics(alarm)},
            },
        }

    def composite_alarm_event(self, name: str, previous: str = "OK") -> dict:
        """The 'CloudWatch Alarm State Change' event of a synthesized composite alarm (moto has none): its rule
        evaluated over its child alarms' states in moto right now (simulator/alarm_rules.py). Like
        CloudWatch's, the event has no metrics: the rule, and the children that triggered it in `reasonData`."""
        alarm = self.stack.composite_alarms[name]
        rule = alarm["AlarmRule"]
        composites = self.stack.composite_alarms

        def metric_alarms(composite: str) -> list[str]:  # the metric alarms a composite counts, through composites
            named = referenced_alarms(composites[composite]["AlarmRule"])
            return [leaf for child in named for leaf in (metric_alarms(child) if child in composites else [child])]

        children = list(dict.fromkeys(metric_alarms(name)))
        described = self.aws.client("cloudwatch").describe_alarms(AlarmNames=children)["MetricAlarms"]
        states = {child["AlarmName"]: child["StateValue"] for child in described}

        def state_of(child: str) -> str:
            if child in composites:
                return "ALARM" if evaluate_alarm_rule(composites[child]["AlarmRule"], state_of) else "OK"
            return states[child]

        alarming = [child for child in children if states[child] == "ALARM"]
        state = "ALARM" if evaluate_alarm_rule(rule, state_of) else "OK"
        now = self.clock.now()
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
        arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{name}"
        triggering = [
            {"arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{child}", "state": {"value": "ALARM"}}
            for child in alarming
        ]
        reason = f"{len(alarming)} of {len(children)} alarms in ALARM: {', '.join(alarming) or 'none'}"
        return {
            "version": "0",
            "id": f"evt-{name}-{state}-{int(now.timestamp())}",
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": ACCOUNT_ID,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [arn],
            "detail": {
                "alarmName": name,
                "state": {
                    "value": state,
                    "reason": reason,
                    "reasonData": json.dumps({"triggeringAlarms": triggering}),
                    "timestamp": stamp,
                },
                "previousState": {"value": previous, "reason": "", "timestamp": stamp},
                "configuration": {"alarmRule": rule, "description": alarm.get("AlarmDescription", "")},
            },
        }

    def deliver(self, event: dict) -> list[str]:
        """EventBridge: every synthesized rule whose pattern matches starts its target with the event."""
        started = []
        for rule in self.stack.rules:
            if "pattern" not in rule or not event_pattern_matches(rule["pattern"], event):
                continue
            if ":lambda:" in rule["target"]:  # a Lambda target: EventBridge invokes it asynchronously
                self.aws.client("lambda").invoke(FunctionName=rule["target"], Payload=json.dumps(event))
            else:
                started.append(self.aws.start_execution(rule["target"], event))
        self._executions += started
        return started

    def status_change_event(self, execution_arn: str) -> dict:
        """The "Step Functions Execution Status Change" event EventBridge emits when an execution ends."""
        description = self.aws.client("stepfunctions").describe_execution(executionArn=execution_arn)
        return {
            "version": "0",
            "id": f"status-{execution_arn.rsplit(':', 1)[-1]}",
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": ACCOUNT_ID,
            "time": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [execution_arn],
            "detail": {
                "executionArn": execution_arn,
                "stateMachineArn": description["stateMachineArn"],
                "name": description["name"],
                "status": description["status"],
            },
        }

    def fire_schedule(self, runbook: str) -> str:
        """EventBridge's Scheduled Event for the rule that targets this runbook's state machine."""
        target = self.state_machine(runbook)
        rule = next(rule for rule in self.stack.rules if "schedule" in rule and rule["target"] == target)
        event = {
            "version": "0",
            "id": f"sched-{int(self.clock.now().timestamp())}",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule['name']}"],
            "detail": {},
        }
        arn = self.aws.start_execution(target, event)
        self._executions.append(arn)
        return arn

    def start_console(self, runbook: str, execution_input: Any, name: str | None = None) -> str:
        arn = self.aws.start_execution(self.state_machine(runbook), execution_input, name=name)
        self._executions.append(arn)
        return arn

    def settle(self) -> None:
        """Let virtual time pass until every execution started so far has ended."""
        for arn in self._executions:
            self.aws.wait_for(arn, timeout_s=300)

    # -- operator and platform actions ----------------------------------------------------------------
    def set_flags(self, *, enabled: bool = True, suppressed_until: datetime | None = None, reason: str = "") -> None:
        """What an operator's `aws ssm put-parameter --overwrite` (or the maintenance runbook) does."""
        name = self.settings["guard"]["flagsParameter"]
        value = {
            "enabled": enabled,
            "suppressedUntil": suppressed_until.isoformat() if suppressed_until else None,
            "reason": reason,
        }
        self.aws.client("ssm").put_parameter(Name=name, Value=json.dumps(value), Type="String", Overwrite=True)

    def hold_lease(self, agent: str, owner: str, seconds: int) -> None:
        """Another remediation (or an operator's run) holds the service's lease right now."""
        now = self.clock.now()
        self.aws.client("dynamodb").put_item(
            TableName=self.stack.state_table,
            Item={
                "pk": {"S": f"LEASE#{self.settings['clusterName']}/{self.service_name(agent)}"},
                "sk": {"S": "LEASE"},
                "owner": {"S": owner},
                "acquiredAt": {"S": now.isoformat()},
                "expiresAt": {"N": str(int(now.timestamp()) + seconds)},
            },
        )

    def leases(self) -> list[dict]:
        items = self.aws.client("dynamodb").scan(TableName=self.stack.state_table)["Items"]
        return [item for item in items if item["pk"]["S"].startswith("LEASE#")]

    def function(self, handler: str) -> str:
        """The deployed function running a handler, e.g. `high_cpu.scale_out` (for faults and hooks)."""
        return self.stack.functions[f"remediation.handlers.{handler}"]

    # -- people answering approvals ---------------------------------------------------------------------
    def wait_for_notification(self, level: str, subject_contains: str, timeout_s: float = 180) -> dict:
        """Block (wall clock) until the level's topic received a matching message; returns it. Generous: on a
        loaded 2-core machine the steps before the message can take tens of seconds; success returns at once."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._drain()
            for notification in self._received:
                if notification["level"] == level and subject_contains in notification["subject"]:
                    return notification
            time.sleep(0.05)
        raise TimeoutError(f"no {level} notification containing {subject_contains!r} within {timeout_s} s")

    def click(self, notification: dict, decision: str, by: str) -> dict:
        """A person opens the link from the notification (confirmation page), then presses its button."""
        link = re.search(rf"https://\S+decision={decision}\S*", notification["message"]).group(0)
        query = link.split("?", 1)[1]
        answers = []
        for method, body in (("GET", ""), ("POST", f"by={by}")):
            event = {
                "version": "2.0",
                "rawPath": "/",
                "rawQueryString": query,
                "body": body,
                "isBase64Encoded": False,
                "headers": {"content-type": "application/x-www-form-urlencoded"},
                "requestContext": {
                    "http": {
                        "method": method,
                        "path": "/",
                        "sourceIp": "198.51.100.20",
                        "userAgent": "Mozilla/5.0 (on-call laptop)",
                    }
                },
            }
            answers.append(self._invoke(self.function("approval.decide"), event))
        return answers[-1]

    def answer_from_cli(self, notification: dict, decision: str, approver: str) -> dict:
        """`aws lambda invoke --function-name ...-approval-decide --payload '{...}'`, as printed in the message."""
        approval_id = re.search(r'"approvalId":"([0-9a-f-]{36})"', notification["message"]).group(1)
        payload = {"approvalId": approval_id, "decision": decision, "approver": approver}
        return self._invoke(self.function("approval.decide"), payload)

    def _invoke(self, function_name: str, payload: dict) -> dict:
        response = self.aws.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(payload))
        return json.loads(response["Payload"].read() or b"null") | {"functionError": response.get("FunctionError")}

    def later(self, seconds: float) -> None:
        """Let virtual time pass between events (the world evolves: deployments finish, metrics move on)."""
        self.clock.advance(seconds)

    # -- observation -------------------------------------------------------------------------------
    def outcome(self) -> Outcome:
        results = [self.aws.wait_for(arn, timeout_s=300) for arn in self._executions]
        desired_after = self.world.desired_counts()
        actions = [
            {
                "service": self.service_name(agent),
                "action": "desiredCount",
                "before": self._desired_before[agent],
                "after": desired_after[agent],
            }
            for agent in desired_after
            if desired_after[agent] != self._desired_before[agent]
        ]
        order = {arn: index for index, arn in enumerate(self._executions)}
        audit = sorted(self._audit_records(), key=lambda record: (order.get(record["executionArn"], -1), record["sk"]))
        return Outcome(
            results,
            self.aws.api_calls(),
            actions,
            self._notifications(),
            audit,
            self.leases(),
            self.answers,
            observed=self.observed,
        )

    def _subscribe_to_topics(self) -> None:
        sqs, sns = self.aws.client("sqs"), self.aws.client("sns")
        self._inboxes, self._received = {}, []
        for level, topic_arn in self.stack.topics.items():
            url = sqs.create_queue(QueueName=f"inbox-{level.lower()}")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
            self._inboxes[level] = url

    def _notifications(self) -> list[dict]:
        self._drain()
        return list(self._received)

    def _drain(self) -> None:
        sqs, received = self.aws.client("sqs"), self._received
        for level, url in self._inboxes.items():
            while self.aws.visible_messages(url) and (
                messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            ):
                for message in messages:
                    body = json.loads(message["Body"])
                    received.append({"level": level, "subject": body.get("Subject", ""), "message": body["Message"]})
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def _audit_records(self) -> list[dict]:
        items = self.aws.client("dynamodb").scan(TableName=self.stack.state_table)["Items"]
        records = []
        for item in items:
            if item["pk"]["S"].startswith("AUDIT#"):
                records.append({key: next(iter(value.values())) for key, value in item.items()})
        return records


def _event_metrics(alarm: dict) -> list[dict]:
    """`detail.configuration.metrics` as CloudWatch writes it into the alarm state-change event."""
    if "Metrics" not in alarm:
        alarm = alarm | {
            "Metrics": [
                {
                    "Id": "m1",
                    "MetricStat": {
                        "Metric": {k: alarm[k] for k in ("Namespace", "MetricName", "Dimensions")},
                        "Period": alarm["Period"],
                        "Stat": alarm["Statistic"],
                    },
                    "ReturnData": True,
                }
            ]
        }
    metrics = []
    for query in alarm["Metrics"]:
        entry: dict = {"id": query["Id"], "returnData": query.get("ReturnData", True)}
        if "Expression" in query:
            entry["expression"] = query["Expression"]
            entry["label"] = query.get("Label", query["Id"])
        else:
            stat, metric = query["MetricStat"], query["MetricStat"]["Metric"]
            entry["metricStat"] = {
                "metric": {
                    "namespace": metric["Namespace"],
                    "name": metric["MetricName"],
                    "dimensions": {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
                },
                "period": stat["Period"],
                "stat": stat["Stat"],
            }
        metrics.append(entry)
    return metrics


def minutes(count: int) -> timedelta:
    return timedelta(minutes=count)
