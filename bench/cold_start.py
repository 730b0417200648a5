"""P1: cold start of every Lambda handler module, against the floor any boto3 handler pays.

Each import runs in a fresh interpreter with a Lambda-like environment (function name, region, the stack's
POWERTOOLS_* variables, so Powertools' Tracer is on as in Lambda) and the code as Lambda gets it: a copy of
`functions/` without bytecode caches, compiled on import and never cached (PYTHONDONTWRITEBYTECODE), while the
installed packages keep theirs (as the runtime's and the Powertools layer's do). The floor is `import boto3` plus
one client, measured in the same run, interleaved with the handlers, round after round; each figure is the median
CPU time of its rounds (wall time is kept in the report: on a shared machine it measures the neighbours too).
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import FUNCTIONS_DIR, ProbeResult, Row, last_json_line, median, python

TARGET_RATIO = 1.3
FLOOR = "import boto3\nboto3.client('ecs')"
_TIMED = """
import json, time
_cpu, _wall = time.process_time(), time.perf_counter()
{code}
print(json.dumps({{"cpu": time.process_time() - _cpu, "wall": time.perf_counter() - _wall}}))
"""
LAMBDA_ENVIRONMENT = {
    "AWS_LAMBDA_FUNCTION_NAME": "acso-bench-cold-start",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "acso-production-runbooks",
    "POWERTOOLS_METRICS_NAMESPACE": "ACSO/Remediation",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def handler_modules() -> list[str]:
    return sorted(
        f"remediation.handlers.{path.stem}"
        for path in (FUNCTIONS_DIR / "remediation" / "handlers").glob("*.py")
        if path.stem != "__init__"
    )


def run(rounds: int = 5) -> ProbeResult:
    started = time.perf_counter()
    modules = handler_modules()
    samples: dict[str, list[dict]] = {"floor": [], **{module: [] for module in modules}}
    with tempfile.TemporaryDirectory(prefix="acso-bench-task-") as task_root:
        shutil.copytree(
            FUNCTIONS_DIR, task_root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        environment = LAMBDA_ENVIRONMENT | {"PYTHONPATH": task_root, "LAMBDA_TASK_ROOT": task_root}
        shuffle = random.Random(7)  # noqa: S311 - an order, not a secret
        for _ in range(rounds):
            order = ["floor", *modules]
            shuffle.shuffle(order)
            for name in order:
                code = FLOOR if name == "floor" else f"import {name}"
                samples[name].append(
                    last_json_line(python(_TIMED.format(code=code), env=environment, cwd=Path(task_root)))
                )
    floor_cpu = median([sample["cpu"] for sample in samples["floor"]])
    floor_wall = median([sample["wall"] for sample in samples["floor"]])
    rows = [Row("P1", "floor: import boto3 + one client (CPU s)", f"{floor_cpu:.3f}", note=f"wall {floor_wall:.3f} s")]
    details: dict = {"rounds": rounds, "floor": {"cpu": floor_cpu, "wall": floor_wall}, "handlers": {}}
    for module in modules:
        cpu = median([sample["cpu"] for sample in samples[module]])
        wall = median([sample["wall"] for sample in samples[module]])
        ratio = cpu / floor_cpu
        details["handlers"][module] = {"cpu": cpu, "wall": wall, "ratio": ratio, "wallRatio": wall / floor_wall}
        rows.append(
            Row(
                "P1",
                f"cold start {module.rsplit('.', 1)[-1]} / floor",
                f"{ratio:.2f}",
                f"<= {TARGET_RATIO}",
                ratio <= TARGET_RATIO,
                f"{cpu:.3f} s CPU (wall ratio {wall / floor_wall:.2f})",
            )
        )
    details["samples"] = json.loads(json.dumps(samples))
    return ProbeResult("P1", "Cold start: handler import vs boto3 floor", rows, details, time.perf_counter() - started)
