"""ECR adapter: the scan findings of one image (basic scanning, or enhanced scanning by Amazon Inspector, both
answered by DescribeImageScanFindings). An image ECR cannot answer for is an outcome, not an error."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code, regional_client

MAX_PAGES = 10
"""1000 findings a page: more than 10 000 findings in one image is not a patch review any more."""
# ECR's answers that mean "no findings to read for this image", by the report's status.
_UNREVIEWABLE = {
    "RepositoryNotFoundException": "REPOSITORY_NOT_FOUND",
    "ImageNotFoundException": "IMAGE_NOT_FOUND",
    "ScanNotFoundException": "NOT_SCANNED",
}


@dataclass(frozen=True)
class ImageScan:
    status: str
    """ECR's imageScanStatus.status (COMPLETE, ACTIVE, IN_PROGRESS, FAILED, ...), or REPOSITORY_NOT_FOUND,
    IMAGE_NOT_FOUND, NOT_SCANNED when ECR has nothing for the image."""
    description: str = ""
    digest: str | None = None
    completed_at: datetime | None = None
    severity_counts: dict[str, int] = field(default_factory=dict)
    enhanced: list[dict[str, Any]] = field(default_factory=list)
    basic: list[dict[str, Any]] = field(default_factory=list)


def image_scan_findings(
    repository: str, image_id: dict[str, str], registry_id: str | None = None, region: str | None = None
) -> ImageScan:
    """Every finding of the image (all pages). Raises AwsAccessDenied / AwsThrottled / AwsCallFailed otherwise."""
    ecr = regional_client("ecr", region) if region else client("ecr")
    request: dict[str, Any] = {"repositoryName": repository, "imageId": image_id, "maxResults": 1000}
    if registry_id:
        request["registryId"] = registry_id
    enhanced: list[dict] = []
    basic: list[dict] = []
    first: dict[str, Any] | None = None
    with aws_errors("ecr.DescribeImageScanFindings"):
        try:
            for _ in range(MAX_PAGES):
                page = ecr.describe_image_scan_findings(**request)
                first = first or page
                findings = page.get("imageScanFindings") or {}
                enhanced += findings.get("enhancedFindings") or []
                basic += findings.get("findings") or []
                if not page.get("nextToken"):
                    break
                request["nextToken"] = page["nextToken"]
        except ClientError as error:
            status = _UNREVIEWABLE.get(error_code(error))
            if status is None:
                raise
            return ImageScan(status=status, description=error.response.get("Error", {}).get("Message", ""))
    assert first is not None
    scan_status = first.get("imageScanStatus") or {}
    findings = first.get("imageScanFindings") or {}
    completed = findings.get("imageScanCompletedAt")
    return ImageScan(
        status=str(scan_status.get("status") or "UNKNOWN"),
        description=str(scan_status.get("description") or ""),
        digest=(first.get("imageId") or {}).get("imageDigest"),
        completed_at=completed.astimezone(UTC) if isinstance(completed, datetime) else None,
        severity_counts={key: int(value) for key, value in (findings.get("findingSeverityCounts") or {}).items()},
        enhanced=enhanced,
        basic=basic,
    )
