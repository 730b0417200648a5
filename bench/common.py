"""What every probe shares: the project's paths, a child Python process, medians, a result row."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = PROJECT_ROOT / "functions"
STATE_MACHINES_DIR = PROJECT_ROOT / "state_machines"


@dataclass
class Row:
    """One line of the table: a probe's figure against its target (None: no target, just measured)."""

    probe: str
    measure: str
    value: str
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class ProbeResult:
    probe: str
    title: str
    rows: list[Row]
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "title": self.title,
            "rows": [asdict(row) for row in self.rows],
            "details": self.details,
            "seconds": round(self.seconds, 2),
        }


def python(code: str, *, env: dict[str, str] | None = None, cwd: Path = PROJECT_ROOT, timeout: float = 900) -> str:
    """Run `code` in a fresh interpreter of this virtualenv; its stdout (raises with its stderr on failure)."""
    completed = subprocess.run(  # noqa: S603 - this virtualenv's Python running the bench's own code
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"child Python failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return completed.stdout


def last_json_line(text: str) -> Any:
    return json.loads(next(line for line in reversed(text.splitlines()) if line.startswith(("{", "["))))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def money(dollars: float) -> str:
    return f"${dollars:.4f}" if dollars < 0.01 else f"${dollars:.2f}"
