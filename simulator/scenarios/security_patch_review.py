"""Scenarios of the security-patch-review runbook (seed: Security Patch Management). Every agent's image is in ECR
(`acso/<agent>:1.0`) under enhanced scanning; by default each carries one MEDIUM and one LOW finding. The report is
read back from the emulated bucket and copied to simulation-output/security-patch-review/<scenario>/."""

from __future__ import annotations

import json
from pathlib import Path

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, expect_rejected, levels
from simulator.synthesized import REGION
from simulator.world import BASELINE_IMAGE_FINDINGS, ImageFinding, ServiceProfile

RUNBOOK = "security-patch-review"
PREFIX = f"{RUNBOOK}/"
OUTPUT = Path("simulation-output") / RUNBOOK
AGENTS = 5
EXPAT = ImageFinding("CVE-2024-45490", "CRITICAL", "libexpat1", "2.5.0-1", "2.5.0-1+deb12u1", 9.8, "OS")
SETUPTOOLS = ImageFinding("CVE-2024-6345", "HIGH", "setuptools", "65.5.1", "70.0.0", 8.8)
CRITICAL_IMAGE = {"threat-hunter": ServiceProfile(image_findings=(EXPAT, SETUPTOOLS, *BASELINE_IMAGE_FINDINGS))}
UNSCANNED = {"service-orchestration": ServiceProfile(image_scanned=False)}


def _read_back(h: Harness, folder: str) -> None:
    """The report objects into h.observed and under simulation-output/security-patch-review/<folder>/."""
    s3, bucket = h.aws.client("s3"), h.stack.reports_bucket
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX).get("Contents", [])]
    objects = {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}
    h.observed["reports"] = objects
    for key, body in objects.items():
        path = OUTPUT / folder / key.rsplit("/", 1)[-1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def _report(o: Outcome, suffix: str) -> str:
    found = [body for key, body in o.observed.get("reports", {}).items() if key.endswith(suffix)]
    return found[0].decode() if len(found) == 1 else ""


def _to(o: Outcome, inbox: str) -> list[dict]:
    return [n for n in o.notifications if n["level"] == inbox]


def _read_only(o: Outcome) -> list[tuple[str, bool]]:
    return [
        (
            "per agent: the running task definition, then its image's scan findings (one call each)",
            o.api_calls.get("ecs.DescribeServices") == 1
            and o.api_calls.get("ecs.DescribeTaskDefinition") == AGENTS
            and o.api_calls.get("ecr.DescribeImageScanFindings") == AGENTS,
        ),
        (
            "read only: nothing written but the report and its JSON twin",
            o.write_calls == 0 and not o.actions and o.api_calls.get("s3.PutObject") == 2,
        ),
        every_execution_audited(o),
    ]


# -- patch-review-critical ---------------------------------------------------------------------------------------
def _critical(h: Harness) -> None:
    h.fire_schedule(RUNBOOK)
    h.settle()
    _read_back(h, "patch-review-critical")


def _expect_critical(o: Outcome) -> list[tuple[str, bool]]:
    security = _to(o, "SECURITY")
    page = security[0]["message"] if security else ""
    l1 = _to(o, "L1")
    markdown, twin = _report(o, ".md"), _report(o, ".json")
    return [
        ("execution succeeded (a finding is a result, not a failure)", o.statuses == ["SUCCEEDED"]),
        *_read_only(o),
        ("audited: escalated", decisions(o) == ["escalated"]),
        (
            "security paged once, and the on-call gets the monthly summary",
            len(security) == 1 and levels(o).count("L1") == 1,
        ),
        ("nobody else paged", sorted(levels(o)) == ["L1", "SECURITY"]),
        (
            "the page names the CVE, the agent, the package and the fixed version",
            all(text in page for text in ("CVE-2024-45490", "threat-hunter", "libexpat1", "2.5.0-1+deb12u1")),
        ),
        (
            "the subject says CRITICAL and where",
            bool(security) and "1 CRITICAL (CVE-2024-45490 in threat-hunter)" in security[0]["subject"],
        ),
        (
            "it links the report and the execution",
            "s3.console.aws.amazon.com/s3/object/" in page and f"{REGION}.console.aws.amazon.com/states" in page,
        ),
        ("the L1 summary is short", bool(l1) and len(l1[0]["message"].splitlines()) < 40),
        (
            "report.md: every agent's counts, the CRITICAL and HIGH rows with installed -> fixed, a staging-first "
            "recommendation",
            "| threat-hunter |" in markdown
            and "[CVE-2024-45490](https://nvd.nist.gov/vuln/detail/CVE-2024-45490)" in markdown
            and "2.5.0-1 → **2.5.0-1+deb12u1**" in markdown
            and "65.5.1 → **70.0.0**" in markdown
            and "ENVIRONMENT=staging ./scripts/deploy-to-ecs.sh" in markdown
            and markdown.count("| acso/") + markdown.count("[`acso/") >= AGENTS,
        ),
        (
            "its JSON twin carries the same totals",
            bool(twin) and json.loads(twin)["totals"]["CRITICAL"] == 1 and json.loads(twin)["totals"]["HIGH"] == 1,
        ),
    ]


# -- patch-review-clean ----------------------------------------------------------------------------------------
def _clean(h: Harness) -> None:
    h.start_console(RUNBOOK, {"services": "all"})
    h.settle()
    _read_back(h, "patch-review-clean")


def _expect_clean(o: Outcome) -> list[tuple[str, bool]]:
    message = o.notifications[0]["message"] if o.notifications else ""
    subject = o.notifications[0]["subject"] if o.notifications else ""
    markdown = _report(o, ".md")
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        *_read_only(o),
        ("audited: reported", decisions(o) == ["reported"]),
        ("one L1 summary, security not paged", levels(o) == ["L1"]),
        ("the subject says no CRITICAL and the image not reviewed", "no CRITICAL, 0 HIGH, 1 NOT reviewed" in subject),
        (
            "the never-scanned image is named with the command to scan it",
            "service-orchestration acso/service-orchestration:1.0: NOT REVIEWED (NOT_SCANNED)" in message
            and "aws ecr start-image-scan --repository-name acso/service-orchestration" in markdown,
        ),
    ]


def _bad_inputs(h: Harness) -> None:
    for bad in ({}, "", "*", {"services": "*"}, {"services": []}, {"services": ["nope"]}, {"services": "all", "x": 1}):
        h.start_console(RUNBOOK, bad)


SCENARIOS = [
    Scenario(
        "patch-review-critical",
        "Monthly review: threat-hunter's image carries CRITICAL CVE-2024-45490 (libexpat1) and a HIGH setuptools CVE: "
        "security is paged with the CVE and the fix, L1 gets the summary, the report lands in S3.",
        CRITICAL_IMAGE,
        _critical,
        _expect_critical,
    ),
    Scenario(
        "patch-review-clean",
        "Review started by hand: MEDIUM/LOW findings only, service-orchestration's image never scanned: an L1 summary "
        "that says so, nobody paged.",
        UNSCANNED,
        _clean,
        _expect_clean,
    ),
    Scenario(
        "patch-review-bad-input",
        "Console inputs that must be rejected before anything runs.",
        {},
        _bad_inputs,
        expect_rejected,
    ),
]
