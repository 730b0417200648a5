"""database-review: parsing the slow-query log, fingerprints and index hints, the recommendation rules, the console
and alarm inputs, and the steps against emulated AWS (moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from remediation.domain import database_review as rules
from remediation.domain.database_review import (
    InstanceFigures,
    QueryStats,
    SlowQueryEntry,
    Thresholds,
    fingerprint,
    index_hint,
    parse_slow_query,
    top_queries,
)
from remediation.domain.requests.scheduled_reviews import ReviewRequest, normalize_review
from remediation.domain.summaries import RunContext, database_review
from remediation.errors import AwsCallFailed, InvalidInput
from remediation.logic import database_review as logic
from remediation.settings import load_settings
from tests.unit.conftest import ACCOUNT_ID, DB_INSTANCE, REGION, REPORTS_BUCKET, SLOW_QUERY_LOG_GROUP, boto

MYSQL_ENTRY = """# Time: 2026-11-27T08:12:03.123456Z
# User@Host: acso[acso] @  [10.0.1.23]  Id:    42
# Query_time: 4.512345  Lock_time: 0.000123 Rows_sent: 50  Rows_examined: 1250000
use acso;
SET timestamp=1764230000;
SELECT * FROM threat_events
  WHERE tenant_id = 42 AND status = 'open' ORDER BY created_at DESC LIMIT 50;"""
POSTGRES_LINE = (
    "2026-11-27 08:12:03 UTC:10.0.1.23(5432):acso@acso:[1234]:LOG:  duration: 2512.500 ms  statement: "
    "SELECT id FROM findings WHERE host_id = 7"
)
LIMITS = Thresholds(connections_percent=80, cpu_percent=80, free_memory_percent=10, latency_ms=20)
ALARM = "acso-production-database-connections"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _figures(**changes) -> InstanceFigures:
    healthy = {
        "instance_class": "db.r6g.large",
        "engine": "mysql",
        "max_connections": 1000,
        "connections_peak": 300.0,
        "connections_mean": 200.0,
        "cpu_peak_percent": 40.0,
        "cpu_mean_percent": 30.0,
        "read_latency_ms": 2.0,
        "write_latency_ms": 2.0,
        "freeable_memory_min_bytes": 8 * 1024**3,
        "slow_log_exported": True,
    }
    return InstanceFigures(**(healthy | changes))


def _query(sql: str, count: int = 100, seconds: float = 3.0, examined: int | None = 1_000_000, sent: int = 10):
    return QueryStats(
        fingerprint=fingerprint(sql),
        count=count,
        total_seconds=count * seconds,
        max_seconds=seconds,
        rows_examined=None if examined is None else examined * count,
        rows_sent=None if examined is None else sent * count,
        example=sql,
    )


# -- parsing -----------------------------------------------------------------------------------------------------
def test_given_a_mysql_slow_log_entry_when_parsed_then_time_rows_and_the_statement_without_noise_are_read():
    entry = parse_slow_query(MYSQL_ENTRY)

    assert entry == SlowQueryEntry(
        seconds=4.512345,
        sql="SELECT * FROM threat_events WHERE tenant_id = 42 AND status = 'open' ORDER BY created_at DESC LIMIT 50;",
        rows_examined=1_250_000,
        rows_sent=50,
        lock_seconds=0.000123,
    )


def test_given_a_postgresql_duration_line_when_parsed_then_milliseconds_become_seconds_and_rows_are_unknown():
    entry = parse_slow_query(POSTGRES_LINE)

    assert entry == SlowQueryEntry(seconds=2.5125, sql="SELECT id FROM findings WHERE host_id = 7")


@pytest.mark.parametrize("message", ["INFO [supervisor] heartbeat ok", "# Time: 2026-11-27T08:12:03Z", ""])
def test_given_a_line_that_is_no_slow_query_when_parsed_then_it_is_skipped(message):
    assert parse_slow_query(message) is None


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "SELECT * FROM t WHERE id IN (1, 2, 3) AND name = 'x' /* agent */",
            "select * from t where id in (?+) and name = ?",
        ),
        ('select a from t1 where b = -4.5e3 and c = "q";', "select a from t1 where b = ? and c = ?"),
        ("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')", "insert into t (a, b) values (?+)"),
        ("SELECT  *\n  FROM T -- note\nWHERE x = 0x1F", "select * from t where x = ?"),
    ],
)
def test_given_statements_with_literals_when_fingerprinted_then_runs_of_one_query_share_the_text(sql, expected):
    assert fingerprint(sql) == expected


def test_given_many_entries_when_grouped_then_queries_are_ranked_by_total_time_with_their_totals():
    slow_once = SlowQueryEntry(30.0, "SELECT * FROM reports WHERE id = 1", 10, 1)
    often = [SlowQueryEntry(1.0, f"SELECT * FROM t WHERE a = {n}", 1000, 1) for n in range(40)]

    ranked = top_queries([slow_once, *often], limit=5)

    assert [(q.fingerprint, q.count, q.total_seconds) for q in ranked] == [
        ("select * from t where a = ?", 40, 40.0),
        ("select * from reports where id = ?", 1, 30.0),
    ]
    assert (ranked[0].rows_examined_per_run, ranked[0].rows_sent_per_run, ranked[0].mean_seconds) == (1000, 1, 1.0)
    assert top_queries([slow_once, *often], limit=1) == ranked[:1]


def test_given_postgres_entries_without_rows_when_grouped_then_rows_stay_unknown():
    (query,) = top_queries([SlowQueryEntry(2.0, "SELECT 1 FROM x WHERE y = 2")], limit=3)

    assert (query.rows_examined, query.rows_examined_per_run) == (None, None)


# -- index hints -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "table", "columns", "filtered"),
    [
        (
            "SELECT * FROM threat_events WHERE tenant_id = 4 AND status = 'open' ORDER BY created_at DESC LIMIT 5",
            "threat_events",
            ("tenant_id", "status", "created_at"),
            ("tenant_id", "status"),
        ),
        (
            "SELECT COUNT(*) FROM incidents WHERE created_at > '2026-01-01'",
            "incidents",
            ("created_at",),
            ("created_at",),
        ),
        ("UPDATE agent_sessions SET seen = NOW() WHERE agent_id = 'x'", "agent_sessions", ("agent_id",), ("agent_id",)),
        ("DELETE FROM acso.logs WHERE ts < 5 AND host IN (1, 2)", "logs", ("host", "ts"), ("host", "ts")),
        ("SELECT id FROM alerts a WHERE a.host = 3 AND a.seen IS NULL", "alerts", ("host", "seen"), ("host", "seen")),
    ],
)
def test_given_a_single_table_query_when_hinted_then_equality_columns_come_first_then_one_range_or_the_order(
    sql, table, columns, filtered
):
    hint = index_hint(fingerprint(sql))

    assert hint is not None
    assert (hint.table, hint.columns, hint.filtered_by) == (table, columns, filtered)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a.* FROM alerts a JOIN hosts h ON h.id = a.host_id WHERE h.zone = 1",
        "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE v = 1)",
        "SELECT * FROM logs ORDER BY ts DESC LIMIT 10",
        "INSERT INTO t (a) VALUES (1)",
    ],
)
def test_given_a_join_a_subquery_no_filter_or_an_insert_when_hinted_then_no_index_is_guessed(sql):
    assert index_hint(fingerprint(sql)) is None


def test_given_functions_or_or_in_where_when_hinted_then_the_hint_says_why_an_index_may_not_serve():
    hint = index_hint(fingerprint("SELECT * FROM f WHERE sev = 1 AND DATE(created_at) = '2026-01-01' OR x != 3"))

    assert hint is not None and hint.columns == ("sev",)
    assert any("OR between conditions" in note for note in hint.notes)
    assert any("function applied to a column" in note for note in hint.notes)
    assert any("'x !=' matches most rows" in note for note in hint.notes)


# -- the instance class ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("instance_class", "bigger", "memory"),
    [
        ("db.r6g.large", "db.r6g.xlarge", 16.0),
        ("db.m5.4xlarge", "db.m5.8xlarge", 64.0),
        ("db.t3.micro", "db.t3.small", 1.0),
        ("cache.t3.medium", "cache.t3.large", None),
        ("db.serverless", None, None),
    ],
)
def test_given_an_instance_class_then_its_next_size_and_memory_are_known_or_none(instance_class, bigger, memory):
    assert rules.next_size(instance_class) == bigger
    assert rules.instance_memory_gib(instance_class) == memory


def test_given_the_class_memory_then_the_engine_default_max_connections_follows_the_rds_formulas():
    assert rules.default_max_connections("mysql", 16.0) == 1365
    assert rules.default_max_connections("postgres", 16.0) == 1802
    assert rules.default_max_connections("postgres", 512.0) == 5000
    assert rules.default_max_connections("oracle-ee", 16.0) is None


# -- recommendations ---------------------------------------------------------------------------------------------
def test_given_a_top_query_that_scans_when_recommended_then_it_is_an_urgent_index_recommendation_naming_the_filter():
    scan = _query("SELECT * FROM threat_events WHERE tenant_id = 1 AND status = 'open' ORDER BY created_at DESC")

    (first,) = rules.recommend([scan], 24, _figures(), LIMITS, 0, True)

    assert (first.priority, first.area) == (1, "slow-query")
    assert first.text == (
        "full scan on table threat_events filtered by tenant_id, status: consider an index on threat_events "
        "(tenant_id, status, created_at)."
    )
    assert "100 runs, 300.0 s in total" in first.evidence
    assert "examines ~1,000,000 rows per run to return ~10" in first.evidence


def test_given_a_query_that_reads_few_rows_when_recommended_then_no_index_is_suggested():
    fast_enough = _query("SELECT * FROM t WHERE id = 1", examined=5, sent=1)

    assert rules.recommend([fast_enough], 24, _figures(), LIMITS, 0, True) == []


def test_given_a_slow_query_of_unknown_rows_when_recommended_then_the_index_is_suggested_with_an_explain_check():
    postgres = _query("SELECT id FROM findings WHERE host_id = 7", examined=None)

    (first,) = rules.recommend([postgres], 24, _figures(engine="postgres"), LIMITS, 0, True)

    assert first.text.startswith("slow query on table findings filtered by host_id: consider an index on findings")
    assert "confirm with EXPLAIN" in first.text


def test_given_a_scan_without_any_filter_when_recommended_then_it_asks_for_a_filter_or_pagination():
    (first,) = rules.recommend([_query("SELECT * FROM events ORDER BY ts")], 24, _figures(), LIMITS, 0, True)

    assert "without a filter an index can serve" in first.text


def test_given_a_slow_select_run_every_minute_when_recommended_then_caching_its_result_is_recommended():
    chatty = _query("SELECT * FROM config WHERE agent = 'x'", count=24 * 60, seconds=1.1, examined=20, sent=1)

    found = rules.recommend([chatty], 24, _figures(), LIMITS, 0, True)

    assert [r.area for r in found] == ["slow-query"]
    assert "runs 60 times an hour: cache its result (ElastiCache" in found[0].text


@pytest.mark.parametrize(("peak", "priority"), [(870.0, 1), (800.0, 1), (650.0, 3), (500.0, None)])
def test_given_peak_connections_when_recommended_then_pooling_is_urgent_at_the_alarm_share_and_a_note_above_60(
    peak, priority
):
    found = [
        r for r in rules.recommend([], 24, _figures(connections_peak=peak), LIMITS, 0, True) if r.area == "connections"
    ]

    assert [r.priority for r in found] == ([priority] if priority else [])
    if priority == 1:
        assert "pool them (RDS Proxy" in found[0].text
        assert f"peak {peak:,.0f} of max_connections 1,000" in found[0].evidence


def test_given_high_cpu_when_recommended_then_a_larger_class_of_the_same_family_after_the_queries():
    with_queries = rules.recommend(
        [_query("SELECT * FROM t WHERE a = 1")], 24, _figures(cpu_peak_percent=91.0), LIMITS, 0, True
    )
    alone = rules.recommend([], 24, _figures(cpu_peak_percent=91.0), LIMITS, 0, True)

    cpu = next(r for r in with_queries if r.area == "cpu")
    assert cpu.priority == 2 and "tune the slow queries above first" in cpu.text
    assert "db.r6g.large -> db.r6g.xlarge" in cpu.text
    assert [(r.area, r.priority) for r in alone] == [("cpu", 1)]


def test_given_little_freeable_memory_or_slow_io_when_recommended_then_memory_and_latency_are_named():
    found = rules.recommend(
        [],
        24,
        _figures(freeable_memory_min_bytes=1.0 * 1024**3, read_latency_ms=35.0, write_latency_ms=25.0),
        LIMITS,
        0,
        True,
    )

    assert [r.area for r in found] == ["memory", "latency", "latency"]
    assert "freeable memory fell to 1.0 GiB (6 % of 16 GiB)" in found[0].text
    assert found[1].text.startswith("read latency averages 35.0 ms") and found[2].text.startswith("write latency")


def test_given_no_slow_query_log_when_recommended_then_exporting_it_is_recommended():
    missing = rules.recommend([], 24, _figures(), LIMITS, 0, False)
    not_exported = rules.recommend([], 24, _figures(slow_log_exported=False), LIMITS, 0, True)

    assert [r.area for r in missing] == [r.area for r in not_exported] == ["logging"]
    assert "Export the slow-query log to CloudWatch Logs" in missing[0].text


def test_given_agent_timeouts_without_a_connection_limit_when_recommended_then_timeouts_are_worth_a_look():
    (found,) = rules.recommend([], 24, _figures(), LIMITS, 7, True)

    assert (found.priority, found.area) == (3, "timeouts")
    assert found.text.startswith("7 agent log lines mention slow queries or timeouts")


def test_given_a_healthy_instance_when_recommended_then_there_is_nothing_to_recommend():
    assert rules.recommend([], 24, _figures(), LIMITS, 0, True) == []


# -- normalize ---------------------------------------------------------------------------------------------------
def _alarm_event(name: str = ALARM, state: str = "ALARM", account: str = ACCOUNT_ID) -> dict:
    return {
        "id": "evt-1",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "region": REGION,
        "time": "2026-11-27T09:00:00Z",
        "resources": [f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {"value": state, "reason": "Threshold Crossed", "timestamp": "2026-11-27T09:00:00.000+0000"},
        },
    }


def _normalize(raw) -> ReviewRequest:
    return normalize_review(raw, "database-review", ALARM, 24, ACCOUNT_ID, REGION, "exec-1", NOW)


def test_given_a_console_input_when_normalized_then_the_review_reads_the_hours_asked_or_the_configured_ones():
    asked = _normalize({"reason": "slow dashboards", "hours": 6})
    default = _normalize({"reason": "slow dashboards"})

    assert (asked.trigger, asked.hours, asked.window_minutes, asked.as_of) == ("console", 6, 360, NOW.isoformat())
    assert default.hours == 24
    assert asked.idempotency_key == "console:exec-1#database-review" and asked.dry_run is False


def test_given_its_alarm_going_into_alarm_when_normalized_then_the_alarm_is_the_trigger():
    request = _normalize(_alarm_event())

    assert (request.trigger, request.alarm_name, request.hours, request.event_id) == ("alarm", ALARM, 24, "evt-1")
    assert request.idempotency_key.endswith("@2026-11-27T09:00:00.000+0000#database-review")


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ({}, "Start this runbook with"),
        ("", "Start this runbook with"),
        ({"reason": "x"}, "Expected"),
        ({"reason": "slow", "hours": 0}, "Expected"),
        ({"reason": "slow", "hours": 169}, "Expected"),
        ({"reason": "slow", "hours": "24"}, "Expected"),
        ({"reason": "slow", "dryRun": True}, "Expected"),
        (_alarm_event("acso-production-supervisor-high-cpu"), "start this runbook by hand"),
        (_alarm_event(state="OK"), "not ALARM"),
        (_alarm_event(account="210987654321"), "acts only on account"),
    ],
)
def test_given_bad_input_when_normalized_then_it_is_rejected_saying_what_to_send(raw, hint):
    with pytest.raises(InvalidInput, match=hint):
        _normalize(raw)


# -- the steps against emulated AWS -------------------------------------------------------------------------------
@pytest.fixture
def request_now(aws, virtual_clock) -> ReviewRequest:
    return ReviewRequest(
        runbook="database-review",
        trigger="console",
        dry_run=False,
        idempotency_key="console:exec-1#database-review",
        reason="test",
        hours=24,
        as_of=virtual_clock.now.isoformat(),
    )


def _slow_log(now: datetime, entries: list[str]) -> None:
    logs = boto("logs")
    logs.create_log_group(logGroupName=SLOW_QUERY_LOG_GROUP)
    logs.create_log_stream(logGroupName=SLOW_QUERY_LOG_GROUP, logStreamName="db")
    logs.put_log_events(
        logGroupName=SLOW_QUERY_LOG_GROUP,
        logStreamName="db",
        logEvents=[
            {"timestamp": int((now - timedelta(minutes=len(entries) - i)).timestamp() * 1000), "message": message}
            for i, message in enumerate(entries)
        ],
    )


def test_given_the_slow_query_log_when_read_then_entries_are_parsed_and_grouped(aws, request_now, virtual_clock):
    _slow_log(virtual_clock.now, [MYSQL_ENTRY, MYSQL_ENTRY.replace("42", "7"), POSTGRES_LINE, "not a slow query"])

    found = logic.find_slow_queries(request_now, load_settings())

    # Plain moto returns every event for a "?a ?b" pattern (the emulator models the filter): the parser skips the rest.
    assert (found["found"], found["parsed"], found["distinct"]) == (True, 3, 2)
    assert found["queries"][0]["count"] == 2 and found["queries"][0]["fingerprint"].startswith("select * from threat")


def test_given_no_slow_query_log_group_when_read_then_it_is_a_finding_not_a_failure(aws, request_now):
    found = logic.find_slow_queries(request_now, load_settings())

    assert (found["found"], found["queries"]) == (False, [])


def test_given_the_instance_metrics_when_collected_then_one_get_metric_data_gives_peaks_means_and_minimum(
    aws, request_now, virtual_clock
):
    now = virtual_clock.now
    boto("cloudwatch").put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": DB_INSTANCE}],
                "Timestamp": now - timedelta(minutes=minutes),
                "Value": value,
            }
            for minutes, connections in ((10, 400.0), (20, 900.0))
            for name, value in (
                ("DatabaseConnections", connections),
                ("CPUUtilization", connections / 10),
                ("ReadLatency", 0.005),
                ("WriteLatency", 0.002),
                ("FreeableMemory", 4e9 - connections * 1e6),
            )
        ],
    )

    measured = logic.collect_metrics(request_now, load_settings())

    assert (measured["connectionsPeak"], measured["connectionsMean"]) == (900.0, 650.0)
    assert (measured["cpuPeakPercent"], measured["readLatencyMs"], measured["writeLatencyMs"]) == (90.0, 5.0, 2.0)
    assert measured["freeableMemoryMinBytes"] == 4e9 - 900e6
    assert measured["periodSeconds"] == 300


def test_given_a_missing_instance_when_described_then_the_run_fails_naming_the_configuration_key(aws):
    with pytest.raises(AwsCallFailed, match=r"database.instanceId"):
        logic.describe_instance(load_settings())


def _evidence(instance: dict, slow: dict) -> dict:
    return {
        "slowQueries": slow,
        "agentLogs": {
            "logGroup": "/aws/acso/production/agents",
            "pattern": '?"slow query" ?timeout',
            "windowMinutes": 1440,
            "matches": 3,
            "truncated": False,
            "samples": ["ERROR [threat-hunter] database query timeout after 30s"],
        },
        "metrics": {
            "window": {"start": "2026-11-26T09:00:00+00:00", "end": "2026-11-27T09:00:00+00:00", "hours": 24},
            "periodSeconds": 300,
            "connectionsPeak": 870.0,
            "connectionsMean": 600.0,
            "cpuPeakPercent": 60.0,
            "cpuMeanPercent": 45.0,
            "readLatencyMs": 4.0,
            "writeLatencyMs": 3.0,
            "freeableMemoryMinBytes": 6 * 1024**3,
            "datapoints": 288,
        },
        "instance": instance,
    }


def test_given_the_evidence_when_reviewed_then_a_markdown_and_json_report_and_an_l1_summary_linking_it(
    aws, request_now, virtual_clock
):
    boto("rds").create_db_instance(
        DBInstanceIdentifier=DB_INSTANCE,
        DBInstanceClass="db.r6g.large",
        Engine="mysql",
        MasterUsername="acso",
        MasterUserPassword="unit-test-only-1",
        AllocatedStorage=100,
        EnableCloudwatchLogsExports=["slowquery"],
    )
    _slow_log(virtual_clock.now, [MYSQL_ENTRY] * 3)
    settings = load_settings()
    evidence = _evidence(logic.describe_instance(settings), logic.find_slow_queries(request_now, settings))

    review = logic.recommend_and_report(request_now, evidence, "exec-1", settings)

    key = review["report"]["key"]
    assert key == f"database-review/{virtual_clock.now:%Y/%m/%d/%H%M%S}-exec-1.md"
    markdown = boto("s3").get_object(Bucket=REPORTS_BUCKET, Key=key)["Body"].read().decode()
    document = json.loads(boto("s3").get_object(Bucket=REPORTS_BUCKET, Key=review["report"]["jsonKey"])["Body"].read())
    assert "consider an index on threat_events (tenant_id, status, created_at)" in markdown
    assert "870 (87 % of 1,000)" in markdown and "engine default for db.r6g.large ~1,365" in markdown
    assert [r["area"] for r in document["recommendations"]] == ["slow-query", "connections"]
    assert review["topQuery"]["indexHint"]["columns"] == ("tenant_id", "status", "created_at")

    state = {"request": request_now.model_dump(), "evidence": evidence, "review": review}
    decision = database_review(state, RunContext("production", REGION, "arn:exec", "/aws/acso/production/agents"))
    message = "\n".join(decision.lines)
    assert (decision.decision, decision.level) == ("reported", "L1")
    assert decision.subject == "[ACSO production] database review acso-production-db: 2 recommendations, 2 urgent"
    assert (
        f"https://s3.console.aws.amazon.com/s3/object/{REPORTS_BUCKET}?region={REGION}&prefix=database-review"
        in message
    )
    assert "peak 870 of max_connections 1,000 (87 %)" in message
    assert "index hint threat_events (tenant_id, status, created_at)" in message
