"""database-review (seed: Database Query Optimization): pure rules. Slow-query log entries are parsed and grouped by
their normalised text (a fingerprint: literals replaced by `?`), the slowest by total time get an index hint read
from their WHERE / ORDER BY, and the instance's figures (connections, CPU, memory, latency) turn into
recommendations. Nothing here calls AWS."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

# -- Parsing the slow-query log ----------------------------------------------------------------------------------
# MySQL / MariaDB (RDS exports each slow-log entry as one CloudWatch Logs event):
#   # Time: 2026-11-27T08:12:03.123456Z
#   # User@Host: acso[acso] @  [10.0.1.23]  Id:    42
#   # Query_time: 4.512345  Lock_time: 0.000123 Rows_sent: 10  Rows_examined: 1250000
#   SET timestamp=1764230000;
#   SELECT * FROM threat_events WHERE tenant_id = 42 ...;
_MYSQL_STATS = re.compile(
    r"#\s*Query_time:\s*(?P<time>[\d.]+)\s+Lock_time:\s*(?P<lock>[\d.]+)\s+Rows_sent:\s*(?P<sent>\d+)"
    r"\s+Rows_examined:\s*(?P<examined>\d+)"
)
_MYSQL_NOISE = re.compile(r"^\s*(#|SET\s+timestamp\s*=|use\s+\S+;\s*$)", re.IGNORECASE)
# PostgreSQL (log_min_duration_statement): "... LOG:  duration: 4512.345 ms  statement: SELECT ..."
_POSTGRES = re.compile(
    r"duration:\s*(?P<ms>[\d.]+)\s*ms\s+(?:statement|execute\s+[^:]*):\s*(?P<sql>.+)", re.IGNORECASE | re.DOTALL
)


@dataclass(frozen=True)
class SlowQueryEntry:
    """One slow statement as the database logged it."""

    seconds: float
    sql: str
    rows_examined: int | None = None
    """None: the engine does not log it (PostgreSQL)."""
    rows_sent: int | None = None
    lock_seconds: float = 0.0


def parse_slow_query(message: str) -> SlowQueryEntry | None:
    """A MySQL slow-log entry or a PostgreSQL `duration: ... statement:` line; None for anything else."""
    stats = _MYSQL_STATS.search(message)
    if stats:
        statement = " ".join(
            line.strip() for line in message.splitlines() if line.strip() and not _MYSQL_NOISE.match(line)
        )
        if not statement:
            return None
        return SlowQueryEntry(
            seconds=float(stats["time"]),
            sql=statement,
            rows_examined=int(stats["examined"]),
            rows_sent=int(stats["sent"]),
            lock_seconds=float(stats["lock"]),
        )
    postgres = _POSTGRES.search(message)
    if postgres:
        return SlowQueryEntry(seconds=float(postgres["ms"]) / 1000, sql=" ".join(postgres["sql"].split()))
    return None


_COMMENTS = re.compile(r"/\*.*?\*/|--[^\n]*", re.DOTALL)
_STRINGS = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"")
_NUMBERS = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?\b|\b0x[0-9a-f]+\b", re.IGNORECASE)
_IN_LIST = re.compile(r"\bin\s*\(\s*\?(?:\s*,\s*\?)*\s*\)")
_VALUES = re.compile(r"\bvalues\s*\(.*\)", re.DOTALL)


def fingerprint(sql: str) -> str:
    """The statement with its literals replaced by `?`: the executions of one query share it.

    `SELECT * FROM t WHERE id IN (1, 2, 3) AND name = 'x'` -> `select * from t where id in (?+) and name = ?`.
    Quoted strings become `?` (MySQL's default mode quotes strings with either quote)."""
    text = _COMMENTS.sub(" ", sql)
    text = _STRINGS.sub("?", text)
    text = " ".join(text.split()).lower()
    text = _NUMBERS.sub("?", text)
    text = _IN_LIST.sub("in (?+)", text)
    text = _VALUES.sub("values (?+)", text)
    return text.rstrip(" ;")


@dataclass(frozen=True)
class QueryStats:
    """Every execution of one query (by fingerprint) in the window."""

    fingerprint: str
    count: int
    total_seconds: float
    max_seconds: float
    rows_examined: int | None
    """Total over the executions; None when the engine does not log it."""
    rows_sent: int | None
    example: str
    """One execution as logged (shortened)."""

    @property
    def mean_seconds(self) -> float:
        return self.total_seconds / self.count

    @property
    def rows_examined_per_run(self) -> float | None:
        return None if self.rows_examined is None else self.rows_examined / self.count

    @property
    def rows_sent_per_run(self) -> float | None:
        return None if self.rows_sent is None else self.rows_sent / self.count

    def to_dict(self) -> dict:
        return asdict(self) | {
            "meanSeconds": round(self.mean_seconds, 3),
            "rowsExaminedPerRun": _round(self.rows_examined_per_run),
            "rowsSentPerRun": _round(self.rows_sent_per_run),
        }

    @classmethod
    def from_dict(cls, data: dict) -> QueryStats:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


EXAMPLE_CHARACTERS = 300


def top_queries(entries: list[SlowQueryEntry], limit: int) -> list[QueryStats]:
    """The `limit` queries with the most total time (ties: more executions first)."""
    groups: dict[str, list[SlowQueryEntry]] = {}
    for entry in entries:
        groups.setdefault(fingerprint(entry.sql), []).append(entry)
    stats = [
        QueryStats(
            fingerprint=text,
            count=len(runs),
            total_seconds=round(sum(run.seconds for run in runs), 3),
            max_seconds=round(max(run.seconds for run in runs), 3),
            rows_examined=_total([run.rows_examined for run in runs]),
            rows_sent=_total([run.rows_sent for run in runs]),
            example=runs[0].sql[:EXAMPLE_CHARACTERS],
        )
        for text, runs in groups.items()
    ]
    return sorted(stats, key=lambda s: (-s.total_seconds, -s.count, s.fingerprint))[:limit]


def _total(values: list[int | None]) -> int | None:
    return None if any(value is None for value in values) else sum(v for v in values if v is not None)


# -- Index hints ---------------------------------------------------------------------------------------------------
_IDENTIFIER = r"[`\"]?[a-z_][\w$]*[`\"]?(?:\.[`\"]?[a-z_][\w$]*[`\"]?)?"
_TABLE = re.compile(rf"^(?:select\b.*?\bfrom|delete\s+from|update)\s+(?P<table>{_IDENTIFIER})", re.DOTALL)
_WHERE = re.compile(r"\bwhere\b(?P<where>.*?)(?=\bgroup\s+by\b|\border\s+by\b|\blimit\b|\bfor\s+update\b|\bhaving\b|$)")
_ORDER = re.compile(r"\border\s+by\b(?P<order>.*?)(?=\blimit\b|\bfor\s+update\b|$)")
_PREDICATE = re.compile(
    rf"^\(*\s*(?P<column>{_IDENTIFIER})\s*(?P<op><=>|<>|!=|>=|<=|=|<|>|\bnot\s+in\b|\bin\b|\bis\s+not\b|\bis\b|"
    r"\bbetween\b|\bnot\s+like\b|\blike\b)"
)
_EQUALITY = {"=", "<=>", "in", "is"}
_RANGE = {">=", "<=", "<", ">", "between", "like"}


@dataclass(frozen=True)
class IndexHint:
    """A composite index that would let the query avoid a scan: equality columns first, then one range column
    (or the ORDER BY columns), the usual order for a B-tree index."""

    table: str
    columns: tuple[str, ...]
    filtered_by: tuple[str, ...]
    """The WHERE columns the query filters on."""
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


def index_hint(query_fingerprint: str) -> IndexHint | None:
    """The index a single-table SELECT / UPDATE / DELETE could use, from its WHERE and ORDER BY; None for other
    statements, joins and subqueries (their plan needs EXPLAIN, not a guess)."""
    text = query_fingerprint
    table_match = _TABLE.match(text)
    if table_match is None or " join " in text or text.count("select ") > 1:
        return None
    where = _WHERE.search(text[table_match.end() :])
    equality, ranges, notes = _predicates(where["where"] if where else "")
    if not equality and not ranges:
        return None
    columns = [*equality]
    if ranges:
        columns.append(ranges[0])
    else:
        columns += [column for column in _order_columns(text) if column not in columns]
    return IndexHint(
        table=_bare(table_match["table"]),
        columns=tuple(columns),
        filtered_by=tuple(equality + ranges),
        notes=tuple(dict.fromkeys(notes)),
    )


def _predicates(clause: str) -> tuple[list[str], list[str], list[str]]:
    """(equality columns, range columns, notes) of a WHERE clause, in the order written."""
    equality: list[str] = []
    ranges: list[str] = []
    notes: list[str] = []
    if re.search(r"\bor\b", clause):
        notes.append("OR between conditions: one index serves it only if every branch can use it (or use UNION)")
    for predicate in re.split(r"\band\b|\bor\b", clause):
        match = _PREDICATE.match(predicate.strip())
        if match is None:
            if re.search(r"\w+\s*\(\s*[\w.`\"]+\s*\)\s*(=|<|>|like)", predicate.strip()):
                notes.append("a function applied to a column in WHERE prevents the index on that column")
            continue
        column, operator = _bare(match["column"]), " ".join(match["op"].split())
        if column in equality or column in ranges:
            continue
        if operator in _EQUALITY:
            equality.append(column)
        elif operator in _RANGE:
            ranges.append(column)
        else:
            notes.append(f"'{column} {operator}' matches most rows: an index rarely helps it")
    return equality, ranges, notes


def _order_columns(text: str) -> list[str]:
    order_match = _ORDER.search(text)
    if order_match is None:
        return []
    columns = (part.strip().split(" ")[0] for part in order_match["order"].split(","))
    return [_bare(column) for column in columns if re.fullmatch(_IDENTIFIER, column)]


def _bare(identifier: str) -> str:
    """`te`.`tenant_id` -> tenant_id (the alias or schema dropped, quotes removed)."""
    return identifier.replace("`", "").replace('"', "").rsplit(".", 1)[-1]


# -- The instance ------------------------------------------------------------------------------------------------
_SIZE_ORDER = ("micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
_SIZE_ORDER += ("24xlarge", "32xlarge", "48xlarge")
_SIZE_UNITS = {"micro": 0.125, "small": 0.25, "medium": 0.5, "large": 1.0, "xlarge": 2.0}
# GiB of memory of the family's `large` size; the other sizes scale with it (db.r6g.xlarge = 2 x db.r6g.large).
_MEMORY_PER_LARGE_GIB = {"t": 8.0, "m": 8.0, "r": 16.0, "x": 32.0, "z": 16.0}


def next_size(instance_class: str) -> str | None:
    """The next bigger size of the same family: db.r6g.large -> db.r6g.xlarge, cache.t3.medium -> cache.t3.large.
    None at the family's end or for a name this does not know."""
    prefix, _, size = instance_class.rpartition(".")
    if not prefix or size not in _SIZE_ORDER:
        return None
    index = _SIZE_ORDER.index(size) + 1
    return f"{prefix}.{_SIZE_ORDER[index]}" if index < len(_SIZE_ORDER) else None


def instance_memory_gib(instance_class: str) -> float | None:
    """Memory of an RDS instance class (db.t3, db.m*, db.r*, db.x2g, db.z1d), None when unknown."""
    parts = instance_class.split(".")
    if len(parts) != 3 or parts[0] != "db" or not parts[1]:
        return None
    family, size = parts[1], parts[2]
    per_large = _MEMORY_PER_LARGE_GIB.get(family[0])
    if per_large is None:
        return None
    if size in _SIZE_UNITS:
        units = _SIZE_UNITS[size]
    elif size.endswith("xlarge") and size[: -len("xlarge")].isdigit():
        units = 2.0 * int(size[: -len("xlarge")])
    else:
        return None
    return per_large * units


def default_max_connections(engine: str, memory_gib: float | None) -> int | None:
    """The engine's default `max_connections` for that much memory (RDS default parameter groups):
    MySQL/MariaDB {DBInstanceClassMemory/12582880}, PostgreSQL LEAST({DBInstanceClassMemory/9531392}, 5000)."""
    if memory_gib is None:
        return None
    memory = memory_gib * 1024**3
    if "postgres" in engine:
        return int(min(memory / 9531392, 5000))
    if "mysql" in engine or "mariadb" in engine:
        return int(memory / 12582880)
    return None


# -- Recommendations ---------------------------------------------------------------------------------------------
FULL_SCAN_MIN_ROWS = 10_000
"""Rows examined per run from which a query that returns few rows reads like a full (or wide range) scan."""
FULL_SCAN_RATIO = 100
"""Rows examined per row returned from which the filter is not served by an index."""
REPEATED_RUNS_PER_HOUR = 30
"""A slow query run this often (every 2 minutes or more) is worth caching, however it is indexed."""
CONNECTIONS_WATCH_SHARE = 0.6
"""Peak connections above this share of the maximum (below the alarm's): mentioned, lower priority."""


@dataclass(frozen=True)
class Recommendation:
    priority: int
    """1 act now, 2 plan it, 3 worth a look."""
    area: str
    """slow-query | connections | cpu | memory | latency | logging | timeouts"""
    text: str
    evidence: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class InstanceFigures:
    """What the review knows about the instance: DescribeDBInstances and one GetMetricData call."""

    instance_class: str | None
    engine: str
    max_connections: int
    connections_peak: float | None
    connections_mean: float | None
    cpu_peak_percent: float | None
    cpu_mean_percent: float | None
    read_latency_ms: float | None
    """Mean over the window."""
    write_latency_ms: float | None
    freeable_memory_min_bytes: float | None
    slow_log_exported: bool | None
    """Whether the instance exports its slow-query log to CloudWatch Logs (None: not known)."""


@dataclass(frozen=True)
class Thresholds:
    connections_percent: float
    cpu_percent: float
    free_memory_percent: float
    latency_ms: float


@dataclass
class Review:
    recommendations: list[Recommendation] = field(default_factory=list)

    def add(self, priority: int, area: str, text: str, evidence: str = "") -> None:
        self.recommendations.append(Recommendation(priority, area, text, evidence))

    def sorted(self) -> list[Recommendation]:
        return sorted(self.recommendations, key=lambda r: r.priority)


def recommend(
    queries: list[QueryStats],
    hours: int,
    figures: InstanceFigures,
    limits: Thresholds,
    agent_timeouts: int,
    slow_log_found: bool,
) -> list[Recommendation]:
    """Every recommendation of the review, most urgent first (the order within a priority is the rules' order)."""
    review = Review()
    for rank, query in enumerate(queries[:5]):
        _query_recommendations(review, query, rank, hours)
    _connection_recommendations(review, figures, limits, agent_timeouts)
    _capacity_recommendations(review, figures, limits, bool(queries))
    if not slow_log_found or figures.slow_log_exported is False:
        review.add(
            2,
            "logging",
            "Export the slow-query log to CloudWatch Logs (slow_query_log = 1, long_query_time = 1 in the parameter "
            "group, and the instance's log exports include 'slowquery'): without it slow queries cannot be named.",
            "slow-query log group not found" if not slow_log_found else "instance does not export 'slowquery'",
        )
    if agent_timeouts and not any(r.area == "connections" and r.priority == 1 for r in review.recommendations):
        review.add(
            3,
            "timeouts",
            f"{agent_timeouts} agent log lines mention slow queries or timeouts: compare their times with the slow "
            "queries above, and check the agents' query timeouts and retries (a retry storm doubles the load).",
        )
    return review.sorted()


def _query_recommendations(review: Review, query: QueryStats, rank: int, hours: int) -> None:
    hint = index_hint(query.fingerprint)
    examined, sent = query.rows_examined_per_run, query.rows_sent_per_run
    where = (
        f"{query.count} runs, {query.total_seconds:.1f} s in total (mean {query.mean_seconds:.2f} s, max "
        f"{query.max_seconds:.2f} s)"
    )
    scans = examined is not None and examined >= FULL_SCAN_MIN_ROWS and examined / max(sent or 0, 1) >= FULL_SCAN_RATIO
    priority = 1 if rank == 0 else 2
    if hint and (scans or examined is None):
        what = (
            f"full scan on table {hint.table} filtered by {', '.join(hint.filtered_by)}"
            if scans
            else f"slow query on table {hint.table} filtered by {', '.join(hint.filtered_by)}"
        )
        rows = f"; examines ~{examined:,.0f} rows per run to return ~{sent or 0:,.0f}" if examined is not None else ""
        check = "" if scans else " (confirm with EXPLAIN that it is not already used)"
        notes = "".join(f" Note: {note}." for note in hint.notes)
        review.add(
            priority,
            "slow-query",
            f"{what}: consider an index on {hint.table} ({', '.join(hint.columns)}){check}.{notes}",
            f"{where}{rows}: {query.fingerprint[:160]}",
        )
    elif scans:
        review.add(
            priority,
            "slow-query",
            f"query reads ~{examined:,.0f} rows per run to return ~{sent or 0:,.0f} without a filter an index can "
            "serve: add a selective WHERE or paginate (LIMIT with a key), or run it against a read replica.",
            f"{where}: {query.fingerprint[:160]}",
        )
    runs_per_hour = query.count / max(hours, 1)
    if runs_per_hour >= REPEATED_RUNS_PER_HOUR and query.fingerprint.startswith("select"):
        review.add(
            2,
            "slow-query",
            f"the same slow query runs {runs_per_hour:.0f} times an hour: cache its result (ElastiCache, with a TTL "
            "that fits how fresh it must be) or batch the callers.",
            f"{where}: {query.fingerprint[:160]}",
        )


def _connection_recommendations(review: Review, figures: InstanceFigures, limits: Thresholds, timeouts: int) -> None:
    peak, maximum = figures.connections_peak, figures.max_connections
    if peak is None:
        return
    share = peak / maximum
    evidence = (
        f"peak {peak:,.0f} of max_connections {maximum:,} ({100 * share:.0f} %)"
        + (f", mean {figures.connections_mean:,.0f}" if figures.connections_mean is not None else "")
        + (f"; {timeouts} agent log lines with timeouts" if timeouts else "")
    )
    if 100 * share >= limits.connections_percent:
        review.add(
            1,
            "connections",
            f"connections peaked at {100 * share:.0f} % of max_connections: pool them (RDS Proxy in front of the "
            "instance, or a bounded pool per agent task sized so that tasks x pool size stays under the limit), "
            "and close idle connections; raising max_connections only moves the limit.",
            evidence,
        )
    elif share >= CONNECTIONS_WATCH_SHARE:
        review.add(
            3,
            "connections",
            f"connections peaked at {100 * share:.0f} % of max_connections: size the agents' pools before the next "
            "scale-out adds tasks (each task opens its own pool).",
            evidence,
        )


def _capacity_recommendations(review: Review, figures: InstanceFigures, limits: Thresholds, slow: bool) -> None:
    bigger = next_size(figures.instance_class or "")
    larger = f" ({figures.instance_class} -> {bigger})" if bigger else ""
    cpu = figures.cpu_peak_percent
    if cpu is not None and cpu >= limits.cpu_percent:
        first = "tune the slow queries above first (they are the usual cause); if CPU stays high, " if slow else ""
        review.add(
            1 if not slow else 2,
            "cpu",
            f"CPU reached {cpu:.0f} % (threshold {limits.cpu_percent:g} %): {first}move to a larger instance "
            f"class{larger} or move reads to a read replica.",
            f"CPU peak {cpu:.1f} %, mean {_fmt(figures.cpu_mean_percent, ' %')}",
        )
    memory_gib = instance_memory_gib(figures.instance_class or "")
    free = figures.freeable_memory_min_bytes
    if free is not None and memory_gib:
        free_percent = 100 * free / (memory_gib * 1024**3)
        if free_percent < limits.free_memory_percent:
            review.add(
                2,
                "memory",
                f"freeable memory fell to {free / 1024**3:.1f} GiB ({free_percent:.0f} % of {memory_gib:g} GiB): the "
                f"buffer pool and connections compete for memory; a larger instance class{larger} or fewer "
                "connections (each holds its own buffers).",
                f"freeable memory minimum {free / 1024**2:,.0f} MiB",
            )
    for kind, latency in (("read", figures.read_latency_ms), ("write", figures.write_latency_ms)):
        if latency is not None and latency >= limits.latency_ms:
            cause = (
                "reads that miss the buffer pool: the indexes above and more memory help, then storage IOPS"
                if kind == "read"
                else "storage throughput: check IOPS and burst balance (gp3 with provisioned IOPS), and batch writes"
            )
            review.add(
                2,
                "latency",
                f"{kind} latency averages {latency:.1f} ms (threshold {limits.latency_ms:g} ms): {cause}.",
                f"{kind} latency mean {latency:.2f} ms",
            )


def _fmt(value: float | None, unit: str) -> str:
    return "no data" if value is None else f"{value:.1f}{unit}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
