"""security-patch-review (seed: Security Patch Management): for each agent, the image its running task definition
uses and that image's ECR scan findings; then the report (Markdown + a JSON twin in the reports bucket) and a
short summary for the record step. Read only: it writes the report and nothing else."""

from __future__ import annotations

import json

from remediation.adapters import ecr, ecs, reports
from remediation.clock import utc_now
from remediation.domain import links
from remediation.domain import security_patch_review as rules
from remediation.domain.requests.scheduled_reviews import PatchReviewRequest
from remediation.errors import AwsAccessDenied
from remediation.settings import Settings

RUNBOOK = "security-patch-review"
SUMMARY_RECOMMENDATIONS = 5


def scan_images(agents: list[str], services: dict, settings: Settings, account_id: str, region: str) -> dict:
    """Per agent (and container): ECS task definition -> image -> ECR scan findings, worst kept (bounded)."""
    top, images, definitions = settings.security_patch_review.top_findings, [], {}
    for agent in agents:
        task_definition = services[agent]["task_definition"]
        if task_definition not in definitions:
            definitions[task_definition] = ecs.describe_task_definition(task_definition)
        described = definitions[task_definition]
        for container in described.get("containerDefinitions", []):
            images.append(
                _scan(
                    agent,
                    settings.services[agent],
                    f"{described['family']}:{described['revision']}",
                    container,
                    top,
                    account_id,
                    region,
                )
            )
    return {"images": images}


def _scan(
    agent: str, service: str, task_definition: str, container: dict, top: int, account_id: str, region: str
) -> dict:
    image = str(container.get("image", ""))
    row = {
        "agent": agent,
        "service": service,
        "taskDefinition": task_definition,
        "container": container.get("name"),
        "image": image,
        "repository": None,
        "tag": None,
        "digest": None,
        "registryId": account_id,
        "region": region,
        "reviewed": False,
        "why": "",
        "scannedAt": None,
        "scanType": None,
        "counts": dict.fromkeys(rules.SEVERITIES, 0),
        "findings": [],
        "findingsTotal": 0,
    }
    reference = rules.parse_image(image, account_id, region)
    if reference is None:
        return row | {"status": "NOT_IN_ECR", "why": "not an image of an ECR private registry"}
    row |= {
        "repository": reference.repository,
        "tag": reference.tag,
        "digest": reference.digest,
        "registryId": reference.registry_id or account_id,
        "region": reference.region or region,
    }
    try:
        scan = ecr.image_scan_findings(
            reference.repository, reference.image_id, reference.registry_id, reference.region
        )
    except AwsAccessDenied as error:
        return row | {"status": "ACCESS_DENIED", "why": str(error)[:300]}
    row |= {"status": scan.status, "why": scan.description[:300], "digest": scan.digest or reference.digest}
    if scan.status not in rules.REVIEWED:
        return row
    findings = rules.parse_findings(scan.enhanced, scan.basic)
    return row | {
        "reviewed": True,
        "scannedAt": scan.completed_at.isoformat(timespec="seconds") if scan.completed_at else None,
        "scanType": "enhanced" if scan.status == "ACTIVE" or scan.enhanced else "basic",
        "counts": rules.severity_counts(findings, scan.severity_counts),
        "findings": [finding.to_dict() for finding in rules.kept(findings, top)],
        "findingsTotal": len(findings),
    }


def publish_report(request: PatchReviewRequest, images: list[dict], settings: Settings, region: str) -> dict:
    """Judge the findings (domain), write report.md and its JSON twin under security-patch-review/, and return
    what the notification needs."""
    policy, now = settings.security_patch_review, utc_now()
    result = rules.review(images, now, policy.top_findings, policy.max_scan_age_days)
    image_links = {
        scan["agent"]: links.ecr_image(scan["region"], scan["registryId"], scan["repository"], scan["digest"])
        for scan in images
        if scan["repository"]
    }
    key = f"{RUNBOOK}/{now:%Y/%m/%d}/{now:%H%M%S}"
    body = rules.markdown(result, settings.environment, _trigger(request), image_links)
    reports.put_report(settings.reports_bucket, f"{key}.md", body, "text/markdown; charset=utf-8")
    twin = {"schema": 1, "environment": settings.environment, "request": request.model_dump()} | result
    reports.put_report(settings.reports_bucket, f"{key}.json", json.dumps(twin, indent=2), "application/json")
    return {
        "verdict": rules.verdict(result),
        "month": result["month"],
        "totals": result["totals"],
        "critical": [
            {name: group[name] for name in ("id", "package", "installed", "fixed", "score", "link", "agents", "images")}
            for group in result["critical"][:10]
        ],
        "criticalGroups": len(result["critical"]),
        "images": [
            {
                "agent": scan["agent"],
                "image": scan["image"],
                "reviewed": scan["reviewed"],
                "status": scan["status"],
                "counts": {severity: scan["counts"][severity] for severity in rules.SHOWN},
            }
            for scan in images
        ],
        "notReviewed": result["notReviewed"],
        "recommendations": result["recommendations"][:SUMMARY_RECOMMENDATIONS],
        "recommendationCount": len(result["recommendations"]),
        "report": {"bucket": settings.reports_bucket, "key": f"{key}.md", "json": f"{key}.json"},
    }


def _trigger(request: PatchReviewRequest) -> str:
    return f"{request.trigger}: {request.reason}"
