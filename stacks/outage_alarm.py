"""The complete-outage composite alarm's rules: at least N of the agents' unavailable alarms in ALARM.

One composite alarm counts at most 100 child alarms (CloudWatch's limit) in a rule of at most 10,240 characters.
Up to 100 agents the rule is one `AT_LEAST(N, ALARM, (...))`. Beyond, the agents are split into groups of at most
100, each group gets composite alarms "at least k of this group" for k = 1..N, and the top rule is ALARM when some
split of N over the groups is met: at least N of all agents in ALARM <=> for some k_1 + ... + k_g = N (k_i no more
than group i's size), group i has at least k_i in ALARM. Exact, not an approximation; a configuration whose rules
would not fit CloudWatch's limits is refused at synth."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

from stacks.config import ConfigError

MAX_CHILDREN = 100
MAX_RULE_CHARS = 10_240


def at_least(threshold: int, alarm_names: list[str]) -> str:
    return f"AT_LEAST({threshold}, ALARM, ({', '.join(json.dumps(name) for name in alarm_names)}))"


def outage_rules(top_name: str, children: list[str], threshold: int) -> dict[str, str]:
    """Composite alarm name -> its rule, the top alarm (`top_name`) last, so creation order is dependency order."""
    if len(children) <= MAX_CHILDREN:
        rules = {top_name: at_least(threshold, children)}
    else:
        group_count = math.ceil(len(children) / MAX_CHILDREN)
        size = math.ceil(len(children) / group_count)
        groups = [children[start : start + size] for start in range(0, len(children), size)]
        rules = {}
        for number, members in enumerate(groups, start=1):
            for count in range(1, min(threshold, len(members)) + 1):
                rules[_group_alarm(top_name, number, count)] = at_least(count, members)
        terms = []
        for split in _splits(threshold, [len(members) for members in groups]):
            parts = [
                f'ALARM("{_group_alarm(top_name, number, count)}")' for number, count in enumerate(split, 1) if count
            ]
            terms.append(f"({' AND '.join(parts)})")
        rules[top_name] = " OR ".join(terms)
    for name, rule in rules.items():
        referenced = rule.count('"') // 2
        if len(rule) > MAX_RULE_CHARS or referenced > MAX_CHILDREN:
            raise ConfigError(
                f"availability.outageMinServicesDown: {threshold} of {len(children)} agents needs a composite alarm "
                f"rule for {name} of {len(rule):,} characters over {referenced} alarms (CloudWatch allows "
                f"{MAX_RULE_CHARS:,} and {MAX_CHILDREN}); lower the threshold"
            )
    return rules


def _group_alarm(top_name: str, group: int, count: int) -> str:
    return f"{top_name}-group{group}-at-least-{count}"


def _splits(total: int, caps: list[int]) -> Iterator[tuple[int, ...]]:
    """Every (k_1, ..., k_g) with sum `total` and 0 <= k_i <= caps[i]."""
    if len(caps) == 1:
        if total <= caps[0]:
            yield (total,)
        return
    for first in range(min(total, caps[0]), -1, -1):
        for rest in _splits(total - first, caps[1:]):
            yield (first, *rest)
