"""P1: cold start of every Lambda handler module, against the floor any boto3 handler pays.

Each import runs in a fresh interpreter with a Lambda-like environment (function name, region, task root and the
variables the synthesized stack gives its functions) and the code as Lambda gets it: a copy of
`functions/` without bytecode caches, compiled on import and never cached (PYTHONDONTWRITEBYTECODE), while the
installed packages keep theirs (as the runtime's and the Powertools layer's do). The floor is `import boto3` plus
one client, measured in the same run, interleaved with the handlers, round after round; each figure is the least
CPU time of its rounds, as `timeit` advises: on this VM one import's CPU time varies by up to half from one sample to
the next (one run's floor samples: 0.25 ... 0.41 s), and interference only ever adds to it. The medians (and wall
times: on a shared machine they measure the neighbours too) are kept in the report.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import FUNCTIONS_DIR, ProbeResult, Row, last_json_line, median, python
from simulator.synthesized import synthesize

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
    "PYTHONDONTWRITEBYTECODE": "1",
}
"""What the Lambda runtime sets; the stack's own variables come from the synthesized template (`stack_environment`)."""


def stack_environment() -> dict[str, str]:
    """The variables the synthesized stack gives its Lambda functions (every function gets the same ones)."""
    template = synthesize().template
    function = next(
        resource for resource in template["Resources"].values() if resource["Type"] == "AWS::Lambda::Function"
    )
    variables = function["Properties"].get("Environment", {}).get("Variables", {})
    return {name: value for name, value in variables.items() if isinstance(value, str)}


def handler_modules() -> list[str]:
    return sorted(
        f"remediation.handlers.{path.stem}"
        for path in (FUNCTIONS_DIR / "remediation" / "handlers").glob("*.py")
        if path.stem != "__init__"
    )


def run(rounds: int = 9) -> ProbeResult:
    started = time.perf_counter()
    modules = handler_modules()
    samples: dict[str, list[dict]] = {"floor": [], **{module: [] for module in modules}}
    with tempfile.TemporaryDirectory(prefix="acso-bench-task-") as task_root:
        shutil.copytree(
            FUNCTIONS_DIR, task_root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        environment = (
            stack_environment() | LAMBDA_ENVIRONMENT | {"PYTHONPATH": task_root, "LAMBDA_TASK_ROOT": task_root}
        )
        shuffle = random.Random(7)  # noqa: S311 - an order, not a secret
        for _ in range(rounds):
            order = ["floor", *modules]
            shuffle.shuffle(order)
            for name in order:
                code = FLOOR if name == "floor" else f"import {name}"
                samples[name].append(
                    last_json_line(python(_TIMED.format(code=code), env=environment, cwd=Path(task_root)))
                )
    floor_cpu = min(sample["cpu"] for sample in samples["floor"])
    floor_median = median([sample["cpu"] for sample in samples["floor"]])
    floor_wall = median([sample["wall"] for sample in samples["floor"]])
    rows = [
        Row(
            "P1",
            "floor: import boto3 + one client (CPU s)",
            f"{floor_cpu:.3f}",
            note=f"median {floor_median:.3f} s, wall {floor_wall:.3f} s",
        )
    ]
    details: dict = {
        "rounds": rounds,
        "floor": {"cpu": floor_cpu, "medianCpu": floor_median, "wall": floor_wall},
        "handlers": {},
    }
    for module in modules:
        cpu = min(sample["cpu"] for sample in samples[module])
        median_cpu = median([sample["cpu"] for sample in samples[module]])
        wall = median([sample["wall"] for sample in samples[module]])
        ratio = cpu / floor_cpu
        details["handlers"][module] = {
            "cpu": cpu,
            "ratio": ratio,
            "medianCpu": median_cpu,
            "medianRatio": median_cpu / floor_median,
            "wall": wall,
            "wallRatio": wall / floor_wall,
        }
        rows.append(
            Row(
                "P1",
                f"cold start {module.rsplit('.', 1)[-1]} / floor",
                f"{ratio:.2f}",
                f"<= {TARGET_RATIO}",
                ratio <= TARGET_RATIO,
                f"{cpu:.3f} s CPU (median ratio {median_cpu / floor_median:.2f}, wall {wall / floor_wall:.2f})",
            )
        )
    details["samples"] = json.loads(json.dumps(samples))
    return ProbeResult("P1", "Cold start: handler import vs boto3 floor", rows, details, time.perf_counter() - started)
