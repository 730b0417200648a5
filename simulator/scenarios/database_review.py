"""Scenario of the database-review runbook. The scenario seeds what moto does not have by itself: the agents' RDS
instance (moto creates it), a day of its CloudWatch metrics, its slow-query log (MySQL slow-log entries, one
CloudWatch Logs event each) and a few agent log lines about query timeouts; then the connections alarm fires and an
operator also starts a review by hand. The reports are read back from the emulated bucket and copied to
simulation-output/database-review/ for a person to open."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, levels
from simulator.synthesized import REGION

RUNBOOK = "database-review"
PREFIX = "database-review/"
OUTPUT = Path("simulation-output") / RUNBOOK
INSTANCE_CLASS = "db.r6g.large"
MAX_DATUMS_PER_CALL = 1000
SLOW_LOG_STREAM = "acso-db"
# (statement template, runs in 24 h, seconds per run, rows examined, rows sent); {n} varies per run.
SLOW_QUERIES = (
    (
        "SELECT * FROM threat_events WHERE tenant_id = {n} AND status = 'open' ORDER BY created_at DESC LIMIT 50;",
        120,
        3.5,
        1_250_000,
        50,
    ),
    ("UPDATE agent_sessions SET last_seen = NOW() WHERE agent_id = 'th-{n}';", 40, 1.2, 80_000, 0),
    ("SELECT COUNT(*) FROM incidents WHERE created_at > '2026-11-26 {n:02d}:00:00';", 10, 1.6, 300_000, 1),
)
CONNECTIONS_PEAK = 870  # of max_connections 1000: above the 80 % alarm threshold
TIMEOUT_LINES = 6


def seed_database(h: Harness) -> None:
    """The instance, 24 h of its metrics (5-minute samples), its slow-query log and the agents' timeout lines."""
    config, now = h.settings["database"], h.clock.now().replace(second=0, microsecond=0)
    h.aws.client("rds").create_db_instance(
        DBInstanceIdentifier=config["instanceId"],
        DBInstanceClass=INSTANCE_CLASS,
        Engine="mysql",
        EngineVersion="8.0.35",
        MasterUsername="acso",
        MasterUserPassword="simulated-only-1",  # moto's emulated instance, never a real one
        AllocatedStorage=200,
        StorageType="gp3",
        EnableCloudwatchLogsExports=["error", "slowquery"],
    )
    _put_metrics(h, config["instanceId"], now)
    _put_slow_query_log(h, config["slowQueryLogGroup"], now)
    h.world.put_logs(
        [
            (
                now - timedelta(minutes=37 * (index + 1)),
                f"ERROR [threat-hunter] database query timeout after 30s (connection pool exhausted, request {index})",
            )
            for index in reversed(range(TIMEOUT_LINES))
        ],
        now,
    )


def _put_metrics(h: Harness, instance_id: str, now: datetime) -> None:
    """Connections rise to the peak in the afternoon; CPU follows them; latency and memory stay healthy."""
    data = []
    for step in range(1, 24 * 12 + 1):
        at = now - timedelta(minutes=5 * step)
        load = max(0.0, math.cos((at.hour + at.minute / 60 - 15) / 24 * 2 * math.pi))  # 1 at 15:00 UTC
        connections = 480 + (CONNECTIONS_PEAK - 480) * load**4
        values = {
            "DatabaseConnections": (round(connections), "Count"),
            "CPUUtilization": (round(35 + 27 * load**4, 1), "Percent"),
            "ReadLatency": (0.004, "Seconds"),
            "WriteLatency": (0.003, "Seconds"),
            "FreeableMemory": (6.0 * 1024**3 - 2.0 * 1024**3 * load**4, "Bytes"),
        }
        data += [
            {
                "MetricName": name,
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": instance_id}],
                "Timestamp": at,
                "Value": value,
                "Unit": unit,
            }
            for name, (value, unit) in values.items()
        ]
    for start in range(0, len(data), MAX_DATUMS_PER_CALL):
        h.aws.client("cloudwatch").put_metric_data(Namespace="AWS/RDS", MetricData=data[start : start + 1000])


def _put_slow_query_log(h: Harness, log_group: str, now: datetime) -> None:
    logs = h.aws.client("logs")
    logs.create_log_group(logGroupName=log_group)
    logs.create_log_stream(logGroupName=log_group, logStreamName=SLOW_LOG_STREAM)
    events = []
    for template, runs, seconds, examined, sent in SLOW_QUERIES:
        for run in range(runs):
            at = now - timedelta(minutes=(run + 1) * 24 * 60 / (runs + 1))
            spread = seconds * (0.7 + 0.6 * (run % 5) / 4)  # 0.7x .. 1.3x the typical time
            events.append(
                {
                    "timestamp": int(at.timestamp() * 1000),
                    "message": "\n".join(
                        [
                            f"# Time: {at:%Y-%m-%dT%H:%M:%S}.000000Z",
                            f"# User@Host: acso[acso] @  [10.0.1.{20 + run % 5}]  Id: {1000 + run}",
                            f"# Query_time: {spread:.6f}  Lock_time: 0.000120 Rows_sent: {sent}  Rows_examined: "
                            f"{examined}",
                            f"SET timestamp={int(at.timestamp())};",
                            template.format(n=run % 24),
                        ]
                    ),
                }
            )
    events.sort(key=lambda event: event["timestamp"])
    logs.put_log_events(logGroupName=log_group, logStreamName=SLOW_LOG_STREAM, logEvents=events)


def read_reports(h: Harness, prefix: str, output: Path) -> None:
    """Every report object under the prefix into h.observed["reports"] (key -> text), and under output/."""
    s3, bucket = h.aws.client("s3"), h.stack.reports_bucket
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    reports = {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode() for key in keys}
    h.observed["reports"], h.observed["bucket"] = reports, bucket
    for key, body in reports.items():
        path = output / key.removeprefix(prefix).replace("/", "-")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)


def report_link(bucket: str, key: str) -> str:
    return f"https://s3.console.aws.amazon.com/s3/object/{bucket}?region={REGION}&prefix={quote(key)}"


def _review(h: Harness) -> None:
    seed_database(h)
    h.deliver(h.alarm_event("database", kind="connections"))
    h.start_console(RUNBOOK, {"reason": "agents slow since the 2.3 release", "hours": 24})
    h.settle()
    read_reports(h, PREFIX, OUTPUT)


def _expect_review(o: Outcome) -> list[tuple[str, bool]]:
    reports = o.observed.get("reports", {})
    markdown = [body for key, body in sorted(reports.items()) if key.endswith(".md")]
    messages = [n["message"] for n in o.notifications]
    bucket = o.observed.get("bucket", "")
    linked = [key for key in reports if key.endswith(".md") and any(report_link(bucket, key) in m for m in messages)]
    rds_writes = [name for name in o.api_calls if name.startswith("rds.") and not name.startswith("rds.Describe")]
    top = "consider an index on threat_events (tenant_id, status, created_at)"
    return [
        ("both executions succeeded (the connections alarm and the console)", o.statuses == ["SUCCEEDED"] * 2),
        (
            "the instance's metrics in exactly one GetMetricData call per run",
            o.api_calls.get("cloudwatch.GetMetricData") == 2,
        ),
        ("the instance described once per run", o.api_calls.get("rds.DescribeDBInstances") == 2),
        ("the slow-query log and the agents' logs read", o.api_calls.get("logs.FilterLogEvents", 0) >= 4),
        (
            "zero write calls to RDS (or anything in production)",
            not rds_writes and o.write_calls == 0 and not o.actions,
        ),
        ("a Markdown and a JSON report per run", len(markdown) == 2 and sum(k.endswith(".json") for k in reports) == 2),
        (
            "the report names the top slow query as a full scan, with its index recommendation",
            all(
                f"full scan on table threat_events filtered by tenant_id, status: {top}" in body
                and body.index("threat_events") < body.index("agent_sessions")
                for body in markdown
            ),
        ),
        (
            "the report gives the connection figures against max_connections and recommends pooling",
            all("870 (87 % of 1,000)" in body and "pool them (RDS Proxy" in body for body in markdown),
        ),
        (
            "the two other slow queries get their indexes too",
            all("agent_sessions (agent_id)" in body and "incidents (created_at)" in body for body in markdown),
        ),
        ("one short L1 message per run, nobody else paged", levels(o) == ["L1", "L1"]),
        ("each L1 message links its own report", len(linked) == 2),
        (
            "the L1 message carries the connections and the top query's index",
            all(
                "peak 870 of max_connections 1,000 (87 %)" in m
                and "index hint threat_events (tenant_id, status, created_at)" in m
                for m in messages
            ),
        ),
        ("audited: reported, twice", decisions(o) == ["reported", "reported"]),
        every_execution_audited(o),
    ]


SCENARIOS = [
    Scenario(
        "database-review",
        "Connections at 87 % of max_connections fire the database alarm (and an operator asks too): 170 slow queries "
        "in the slow-query log, a full scan on threat_events on top; report with index and pooling recommendations, "
        "L1 linked, nothing changed in RDS.",
        {},
        _review,
        _expect_review,
    ),
]
