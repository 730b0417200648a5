"""cache-review (seed: Cache Optimization): pure rules over a window of ElastiCache (Redis/Valkey) figures: hit rate
from CacheHits / CacheMisses, evictions against memory, engine CPU, connections. Nothing here calls AWS."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from remediation.domain.database_review import Recommendation, next_size


@dataclass(frozen=True)
class CacheFigures:
    """Totals and peaks of the window (one GetMetricData call) and the node (DescribeCacheClusters)."""

    node_type: str | None
    engine: str
    nodes: int
    hits: float
    misses: float
    evictions: float
    connections_peak: float | None
    memory_peak_percent: float | None
    """DatabaseMemoryUsagePercentage: used memory / maxmemory."""
    engine_cpu_peak_percent: float | None

    @property
    def requests(self) -> float:
        return self.hits + self.misses

    @property
    def hit_rate_percent(self) -> float | None:
        """Hits / (hits + misses) over the whole window; None without any request."""
        return None if self.requests <= 0 else 100 * self.hits / self.requests

    def to_dict(self) -> dict:
        return asdict(self) | {"requests": self.requests, "hitRatePercent": _round(self.hit_rate_percent)}


@dataclass(frozen=True)
class CacheThresholds:
    hit_rate_target_percent: float
    memory_percent: float
    engine_cpu_percent: float


def recommend(figures: CacheFigures, limits: CacheThresholds) -> list[Recommendation]:
    """Every recommendation of the review, most urgent first."""
    found: list[Recommendation] = []
    bigger = next_size(figures.node_type or "")
    larger = f" ({figures.node_type} -> {bigger})" if bigger else ""
    rate, memory, evictions = figures.hit_rate_percent, figures.memory_peak_percent, figures.evictions
    if figures.engine not in ("redis", "valkey"):
        found.append(
            Recommendation(
                3,
                "engine",
                f"engine {figures.engine}: this review reads the Redis/Valkey metrics (CacheHits, CacheMisses, "
                "DatabaseMemoryUsagePercentage, EngineCPUUtilization); review its figures by hand.",
            )
        )
    if rate is None:
        found.append(
            Recommendation(
                3,
                "traffic",
                "no cache request in the window: check that the agents use this cache (endpoint, security group).",
            )
        )
    elif rate < limits.hit_rate_target_percent:
        found.append(
            Recommendation(
                1,
                "hit-rate",
                f"hit rate {rate:.1f} % is below the {limits.hit_rate_target_percent:g} % target: review the TTLs "
                "(too short expires hot keys before they are read again), the key design (keys carrying per-request "
                "parts such as timestamps or request ids never hit again) and warm the hot keys after deployments "
                "and restarts.",
                f"{figures.hits:,.0f} hits, {figures.misses:,.0f} misses",
            )
        )
    if evictions > 0 and memory is not None and memory >= limits.memory_percent:
        found.append(
            Recommendation(
                1,
                "memory",
                f"{evictions:,.0f} evictions with memory at {memory:.0f} % of maxmemory: the working set does not "
                f"fit. Move to a larger node type{larger} or add shards, and give every key a TTL so that "
                "maxmemory-policy volatile-lru / allkeys-lru evicts cold keys first.",
                f"evictions {evictions:,.0f}, memory peak {memory:.1f} %",
            )
        )
    elif evictions > 0:
        found.append(
            Recommendation(
                2,
                "memory",
                f"{evictions:,.0f} evictions while memory peaked at {_fmt(memory)}: check maxmemory-policy and "
                "reserved-memory-percent in the parameter group (memory reserved for backups and replication "
                "lowers maxmemory), and large keys written in bursts.",
                f"evictions {evictions:,.0f}",
            )
        )
    cpu = figures.engine_cpu_peak_percent
    if cpu is not None and cpu >= limits.engine_cpu_percent:
        found.append(
            Recommendation(
                2,
                "cpu",
                f"engine CPU reached {cpu:.0f} % (threshold {limits.engine_cpu_percent:g} %): Redis runs commands on "
                "one thread; avoid O(N) commands on big keys (KEYS, SMEMBERS, HGETALL), spread hot keys, or move to "
                f"a larger node type{larger} / more shards.",
                f"EngineCPUUtilization peak {cpu:.1f} %",
            )
        )
    return sorted(found, key=lambda r: r.priority)


def _fmt(value: float | None) -> str:
    return "no data" if value is None else f"{value:.0f} %"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
