"""security-patch-review: the image each agent runs, what its ECR scan says, the report people read, who is told."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from remediation.domain import security_patch_review as rules
from remediation.domain.requests.scheduled_reviews import normalize_security_patch_review
from remediation.domain.summaries import RunContext, security_patch_review
from remediation.errors import InvalidInput
from remediation.logic import record
from remediation.logic import security_patch_review as logic
from remediation.settings import load_settings
from tests.unit.conftest import ACCOUNT_ID, REGION, REPORTS_BUCKET, SERVICES, audience_topic_arn, boto

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:acso-production-security-patch-review:monthly"


def _enhanced(cve: str, severity: str, package: str, version: str, fixed: str, score: float) -> dict:
    """One Amazon Inspector finding as ECR's DescribeImageScanFindings returns it (enhancedFindings)."""
    return {
        "packageVulnerabilityDetails": {
            "vulnerabilityId": cve,
            "sourceUrl": f"https://security-tracker.debian.org/tracker/{cve}",
            "vulnerablePackages": [{"name": package, "version": version, "fixedInVersion": fixed}],
        },
        "severity": severity,
        "score": score,
        "title": f"{cve} - {package}",
        "fixAvailable": "NO" if fixed == "NotAvailable" else "YES",
    }


EXPAT = _enhanced("CVE-2024-45490", "CRITICAL", "libexpat1", "2.5.0-1", "0:2.5.0-1+deb12u1", 9.8)
SETUPTOOLS = _enhanced("CVE-2024-6345", "HIGH", "setuptools", "65.5.1", "70.0.0", 8.8)
PIP = _enhanced("CVE-2023-5752", "MEDIUM", "pip", "23.0.1", "23.3", 5.5)


# -- which image -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("acso/supervisor:1.0", ("acso/supervisor", "1.0", None, None, None)),
        ("acso/supervisor", ("acso/supervisor", "latest", None, None, None)),
        (
            f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/acso/supervisor:2.3.1",
            ("acso/supervisor", "2.3.1", None, None, None),
        ),
        (
            "210987654321.dkr.ecr.us-east-1.amazonaws.com/base/python@sha256:" + "a" * 64,
            ("base/python", None, "sha256:" + "a" * 64, "210987654321", "us-east-1"),
        ),
    ],
)
def test_an_image_in_ecr_is_found_by_repository_and_tag_or_digest_and_its_registry(image, expected):
    found = rules.parse_image(image, ACCOUNT_ID, REGION)

    assert (found.repository, found.tag, found.digest, found.registry_id, found.region) == expected
    assert found.image_id == ({"imageDigest": expected[2]} if expected[2] else {"imageTag": expected[1]})


@pytest.mark.parametrize("image", ["docker.io/library/python:3.11", "public.ecr.aws/docker/library/python:3.11"])
def test_an_image_of_another_registry_host_is_not_an_ecr_image(image):
    assert rules.parse_image(image, ACCOUNT_ID, REGION) is None


# -- findings --------------------------------------------------------------------------------------------------
def test_an_inspector_finding_gives_package_installed_and_fixed_version_without_the_epoch():
    finding = rules.enhanced_finding(EXPAT)

    assert (finding.id, finding.severity, finding.package, finding.installed, finding.fixed, finding.score) == (
        "CVE-2024-45490",
        "CRITICAL",
        "libexpat1",
        "2.5.0-1",
        "2.5.0-1+deb12u1",
        9.8,
    )
    assert finding.link == "https://security-tracker.debian.org/tracker/CVE-2024-45490"


def test_an_inspector_finding_without_a_fix_says_no_fix_and_a_basic_finding_says_unknown():
    no_fix = rules.enhanced_finding(_enhanced("CVE-2025-0001", "HIGH", "zlib1g", "1.2.13", "NotAvailable", 7.5))
    basic = rules.basic_finding(
        {
            "name": "CVE-2023-5752",
            "severity": "MEDIUM",
            "uri": "https://security-tracker.debian.org/tracker/CVE-2023-5752",
            "attributes": [{"key": "package_name", "value": "pip"}, {"key": "package_version", "value": "23.0.1"}],
        }
    )

    assert no_fix.fixed == ""
    assert (basic.package, basic.installed, basic.fixed, basic.link) == (
        "pip",
        "23.0.1",
        None,
        "https://security-tracker.debian.org/tracker/CVE-2023-5752",
    )


def test_every_critical_is_kept_then_the_worst_up_to_the_limit():
    findings = rules.parse_findings([PIP, SETUPTOOLS, EXPAT, EXPAT | {"score": 9.1}], [])

    kept = rules.kept(findings, top=3)

    assert [f.severity for f in kept] == ["CRITICAL", "CRITICAL", "HIGH"]
    assert rules.severity_counts(findings, None)["CRITICAL"] == 2
    assert rules.severity_counts(findings, {"CRITICAL": 7, "HIGH": 3})["CRITICAL"] == 7, "ECR's own counts win"


# -- the review ---------------------------------------------------------------------------------------------------
def _scan(agent: str, findings: list[dict], **extra) -> dict:
    parsed = rules.parse_findings(findings, [])
    return {
        "agent": agent,
        "image": f"acso/{agent}:1.0",
        "repository": f"acso/{agent}",
        "tag": "1.0",
        "digest": None,
        "registryId": ACCOUNT_ID,
        "region": REGION,
        "status": "ACTIVE",
        "reviewed": True,
        "scannedAt": (NOW - timedelta(hours=2)).isoformat(),
        "scanType": "enhanced",
        "counts": rules.severity_counts(parsed, None),
        "findings": [f.to_dict() for f in parsed],
    } | extra


def test_given_the_same_cve_in_two_images_when_reviewed_then_it_is_one_row_naming_both_agents_and_one_patch_step():
    result = rules.review(
        [_scan("supervisor", [EXPAT, PIP]), _scan("threat-hunter", [EXPAT]), _scan("incident-response", [PIP])],
        NOW,
        top=10,
        max_scan_age_days=30,
    )

    assert result["totals"]["CRITICAL"] == 2
    assert [(g["id"], g["agents"]) for g in result["critical"]] == [("CVE-2024-45490", ["supervisor", "threat-hunter"])]
    first = result["recommendations"][0]
    assert first["priority"] == 1
    assert "Rebuild acso/supervisor:1.0, acso/threat-hunter:1.0 with libexpat1 2.5.0-1+deb12u1" in first["text"]
    assert "ENVIRONMENT=staging ./scripts/deploy-to-ecs.sh" in first["text"]
    assert rules.verdict(result) == "2 CRITICAL findings in supervisor, threat-hunter, no HIGH"


def test_given_an_image_never_scanned_and_an_old_basic_scan_then_the_report_says_what_to_do_about_each():
    old_basic = _scan(
        "supervisor", [], status="COMPLETE", scanType="basic", scannedAt=(NOW - timedelta(days=45)).isoformat()
    )
    never = {
        "agent": "threat-hunter",
        "image": "acso/threat-hunter:1.0",
        "repository": "acso/threat-hunter",
        "tag": "1.0",
        "status": "NOT_SCANNED",
        "reviewed": False,
    }

    result = rules.review([old_basic, never], NOW, top=10, max_scan_age_days=30)
    texts = " ".join(r["text"] for r in result["recommendations"])

    assert result["stale"] == ["supervisor"]
    assert result["notReviewed"][0]["status"] == "NOT_SCANNED"
    assert "aws ecr start-image-scan --repository-name acso/threat-hunter --image-id imageTag=1.0" in texts
    assert "enhanced scanning" in texts
    assert rules.verdict(result) == "no CRITICAL finding, no HIGH, 1 image NOT reviewed"


def test_the_markdown_report_has_a_row_per_agent_the_worst_findings_with_links_and_numbered_recommendations():
    result = rules.review([_scan("supervisor", [EXPAT, SETUPTOOLS, PIP])], NOW, top=10, max_scan_age_days=30)

    text = rules.markdown(result, "production", "schedule", {"supervisor": "https://console/ecr"})

    assert text.startswith("# ACSO production security patch review, December 2026")
    assert "| supervisor | [`acso/supervisor:1.0`](https://console/ecr) |" in text
    assert (
        "| **CRITICAL** | [CVE-2024-45490](https://security-tracker.debian.org/tracker/CVE-2024-45490) | libexpat1 | "
        "2.5.0-1 → **2.5.0-1+deb12u1** | 9.8 | supervisor |"
    ) in text
    assert "1. **Patch now** (supervisor):" in text


# -- against ECS and ECR (moto) -----------------------------------------------------------------------------------
def _image(repository: str, tag: str, findings: list[dict] | None) -> None:
    """An image in ECR; with findings, scanned (moto's documented custom scan results), else never scanned."""
    ecr = boto("ecr")
    ecr.create_repository(repositoryName=repository)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "layers": []}
    ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)
    if findings is None:
        return
    ecr.start_image_scan(repositoryName=repository, imageId={"imageTag": tag})
    result = {
        "registryId": ACCOUNT_ID,
        "repositoryName": repository,
        "imageId": {"imageTag": tag},
        "imageScanStatus": {"status": "ACTIVE", "description": "Continuous scan is selected for image."},
        "imageScanFindings": {"imageScanCompletedAt": NOW.timestamp(), "enhancedFindings": findings},
    }
    requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/ecr/scan-finding-results",
        json={"results": [result], "region": REGION},
        timeout=5,
    )


def _services_evidence(agents) -> dict:
    ecs = boto("ecs")
    described = ecs.describe_services(cluster="acso-production-cluster", services=[SERVICES[a] for a in agents])
    return {
        agent: {
            "task_definition": next(
                s["taskDefinition"] for s in described["services"] if s["serviceName"] == SERVICES[agent]
            )
        }
        for agent in agents
    }


def test_given_agents_images_in_ecr_when_scanned_then_each_gets_its_findings_or_why_it_was_not_reviewed(aws):
    for agent in ("supervisor", "threat-hunter", "incident-response"):
        aws.create_service(agent, 1)
    _image("acso/supervisor", "1.0", [EXPAT, PIP])
    _image("acso/threat-hunter", "1.0", None)  # pushed, never scanned; incident-response: no repository at all

    result = logic.scan_images(
        ["supervisor", "threat-hunter", "incident-response"],
        _services_evidence(["supervisor", "threat-hunter", "incident-response"]),
        load_settings(),
        ACCOUNT_ID,
        REGION,
    )
    by_agent = {scan["agent"]: scan for scan in result["images"]}

    assert by_agent["supervisor"]["reviewed"] and by_agent["supervisor"]["scanType"] == "enhanced"
    assert by_agent["supervisor"]["counts"]["CRITICAL"] == 1
    assert [f["id"] for f in by_agent["supervisor"]["findings"]] == ["CVE-2024-45490", "CVE-2023-5752"]
    assert (by_agent["threat-hunter"]["status"], by_agent["incident-response"]["status"]) == (
        "NOT_SCANNED",
        "REPOSITORY_NOT_FOUND",
    )


def test_publishing_writes_the_markdown_report_and_its_json_twin_under_the_runbooks_folder(aws, virtual_clock):
    virtual_clock.now = NOW
    request = normalize_security_patch_review({"services": "all"}, load_settings(), "by-hand")

    summary = logic.publish_report(request, [_scan("supervisor", [EXPAT])], load_settings(), REGION)

    keys = [o["Key"] for o in boto("s3").list_objects_v2(Bucket=REPORTS_BUCKET)["Contents"]]
    assert sorted(keys) == [
        "security-patch-review/2026/12/01/080000.json",
        "security-patch-review/2026/12/01/080000.md",
    ]
    twin = json.loads(boto("s3").get_object(Bucket=REPORTS_BUCKET, Key=keys[0])["Body"].read())
    assert twin["totals"]["CRITICAL"] == summary["totals"]["CRITICAL"] == 1
    assert summary["critical"][0]["id"] == "CVE-2024-45490"


# -- who is told ------------------------------------------------------------------------------------------------
def _state(critical: bool) -> dict:
    result = rules.review([_scan("supervisor", [EXPAT] if critical else [PIP])], NOW, top=10, max_scan_age_days=30)
    review = {
        "verdict": rules.verdict(result),
        "month": result["month"],
        "totals": result["totals"],
        "critical": result["critical"],
        "criticalGroups": len(result["critical"]),
        "images": [
            {
                "agent": "supervisor",
                "image": "acso/supervisor:1.0",
                "reviewed": True,
                "status": "ACTIVE",
                "counts": result["images"][0]["counts"],
            }
        ],
        "notReviewed": [],
        "recommendations": result["recommendations"],
        "recommendationCount": len(result["recommendations"]),
        "report": {
            "bucket": REPORTS_BUCKET,
            "key": "security-patch-review/x.md",
            "json": "security-patch-review/x.json",
        },
    }
    request = {
        "trigger": "schedule",
        "reason": "monthly schedule",
        "idempotency_key": "schedule:evt-1#security-patch-review",
    }
    return {"request": request, "review": review}


def test_a_critical_finding_pages_security_with_the_cve_and_l1_gets_the_summary():
    decision = security_patch_review(_state(critical=True), RunContext("production", REGION, EXECUTION, "/logs"))

    assert (decision.decision, decision.level, decision.audiences) == ("escalated", "L1", ("security",))
    assert "1 CRITICAL (CVE-2024-45490 in supervisor)" in decision.subject
    assert any("CRITICAL CVE-2024-45490 in libexpat1 2.5.0-1 -> 2.5.0-1+deb12u1" in line for line in decision.lines)


def test_no_critical_finding_is_an_l1_summary_only():
    decision = security_patch_review(_state(critical=False), RunContext("production", REGION, EXECUTION, "/logs"))

    assert (decision.decision, decision.level, decision.audiences) == ("reported", "L1", ())
    assert decision.subject.endswith("security patch review 2026-12: no CRITICAL, 0 HIGH")


def test_given_a_critical_review_when_recorded_twice_then_security_is_told_once_and_the_audit_says_so(aws):
    sns, sqs = boto("sns"), boto("sqs")
    topic = sns.create_topic(Name="acso-production-security")["TopicArn"]
    assert topic == audience_topic_arn("security")
    queue = sqs.create_queue(QueueName="security-reader")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    for _ in range(2):  # a retried record step
        record.record_decision("security-patch-review", _state(critical=True), EXECUTION, load_settings())

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    assert "CVE-2024-45490" in json.loads(messages[0]["Body"])["Message"]
    assert len(aws.notifications("L1")) == 1
    audits = aws.items("AUDIT#")
    assert audits and all("security" in json.loads(item["audiencesNotified"]["S"]) for item in audits)


# -- what starts it --------------------------------------------------------------------------------------------
def test_the_monthly_schedule_reviews_every_agent_and_a_console_run_the_named_ones(settings_only):
    settings = settings_only()
    scheduled = normalize_security_patch_review(
        {"detail-type": "Scheduled Event", "source": "aws.events", "id": "evt-1", "time": "2026-12-01T08:00:00Z"},
        settings,
        "exec-1",
    )
    by_hand = normalize_security_patch_review(
        {"services": ["threat-hunter", "acso-production-supervisor"]}, settings, "x"
    )

    assert (scheduled.trigger, scheduled.agents, scheduled.idempotency_key) == (
        "schedule",
        tuple(SERVICES),
        "schedule:evt-1#security-patch-review",
    )
    assert by_hand.agents == ("threat-hunter", "supervisor")


@pytest.mark.parametrize("bad", [{}, {"services": "*"}, {"services": []}, {"services": ["nope"]}, {"all": True}])
def test_a_bad_console_input_is_rejected_with_an_example(settings_only, bad):
    with pytest.raises(InvalidInput, match=r"services|Configured agents|Start this runbook"):
        normalize_security_patch_review(bad, settings_only(), "x")
