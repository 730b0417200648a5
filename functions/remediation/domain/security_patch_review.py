"""security-patch-review (seed: Security Operations, Security Patch Management): the serverless form of the seed's
`pip-audit` step. Each agent's running image is looked up in ECR and its scan findings (ECR image scanning: basic,
or enhanced = Amazon Inspector, both read through ECR's DescribeImageScanFindings) are summarised by severity, the
worst listed with the package's installed and fixed version, and recommendations written for people.

Pure: no AWS calls. Timestamps are ISO 8601 strings (UTC).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED", "UNTRIAGED")
"""ECR's severities, worst first (basic scanning: CRITICAL..INFORMATIONAL, UNDEFINED; Inspector adds UNTRIAGED)."""
_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
SHOWN = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
"""The report's count columns; the other severities are added up as "other"."""
REVIEWED = ("COMPLETE", "ACTIVE")
"""Scan statuses with findings to read: a finished basic scan, or enhanced (continuous) scanning of the image."""
MAX_CRITICAL_KEPT = 50
"""Per image, every CRITICAL finding up to this many is kept, whatever `topFindings` says."""
PRIORITY = {1: "Patch now", 2: "Plan", 3: "Consider"}
STAGING_STEPS = (
    "deploy to staging first (`ENVIRONMENT=staging ./scripts/deploy-to-ecs.sh`), run "
    "`python scripts/security-validation.py --environment staging`, then production"
)
"""The seed's steps 2 and 3, which stay with people: they restart the services."""

# <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]/<repository>[:<tag>][@<digest>]
_ECR_IMAGE = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_BARE_IMAGE = re.compile(
    r"^(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


# -- which image ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageRef:
    image: str
    """As the task definition names it."""
    repository: str
    tag: str | None
    digest: str | None
    registry_id: str | None = None
    """Another account's registry; None: this account's."""
    region: str | None = None
    """Another region's registry; None: this region's."""

    @property
    def image_id(self) -> dict[str, str]:
        """ECR's imageId: the digest when the task definition pins one, else the tag."""
        return {"imageDigest": self.digest} if self.digest else {"imageTag": self.tag or "latest"}

    @property
    def label(self) -> str:
        return f"{self.repository}@{self.digest[:19]}" if self.digest else f"{self.repository}:{self.tag or 'latest'}"


def parse_image(image: str, account_id: str, region: str) -> ImageRef | None:
    """The ECR image a container runs, or None when it is not in an ECR private registry.

    A full ECR URI names its registry (account) and region. A name without a registry host (`acso/supervisor:1.0`,
    how ACSO's task definitions name their images) is taken as a repository of this account's registry in this
    region; if there is no such repository the report says so. Other hosts (docker.io, public.ecr.aws, ghcr.io, ...)
    are not scanned by ECR: the image is reported as not reviewed."""
    match = _ECR_IMAGE.match(image)
    if match:
        registry, where = match.group("registry"), match.group("region")
        return ImageRef(
            image,
            match.group("repository"),
            match.group("tag") or (None if match.group("digest") else "latest"),
            match.group("digest"),
            None if registry == account_id else registry,
            None if where == region else where,
        )
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return None  # another registry host
    match = _BARE_IMAGE.match(image)
    if not match:
        return None
    return ImageRef(
        image, match.group("repository"), match.group("tag") or (None if match.group("digest") else "latest"), None
    )


# -- findings ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    id: str
    """CVE (or GHSA, ALAS, ...) identifier."""
    severity: str
    package: str
    installed: str
    fixed: str | None
    """The version that fixes it; "" when no fix is available yet; None when unknown (basic scanning)."""
    score: float | None
    link: str
    title: str

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def sort_key(self) -> tuple:
        return (_RANK.get(self.severity, len(SEVERITIES)), -(self.score or 0.0), self.id, self.package)


def advisory_link(vulnerability_id: str) -> str:
    if vulnerability_id.startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{vulnerability_id}"
    if vulnerability_id.startswith("GHSA-"):
        return f"https://github.com/advisories/{vulnerability_id}"
    return f"https://www.google.com/search?q={vulnerability_id}"


def _without_epoch(version: str) -> str:
    """Debian/RPM versions come with an epoch (`0:2.5.0-1+deb12u1`); `0:` says nothing to a reader."""
    return version[2:] if version.startswith("0:") else version


def _severity(value: object) -> str:
    severity = str(value or "UNDEFINED").upper()
    return severity if severity in _RANK else "UNDEFINED"


def enhanced_finding(raw: Mapping) -> Finding:
    """An Amazon Inspector finding (ECR enhanced scanning): package, installed and fixed version are known."""
    details = raw.get("packageVulnerabilityDetails") or {}
    vulnerability = str(details.get("vulnerabilityId") or raw.get("title") or "unknown")
    packages = details.get("vulnerablePackages") or [{}]
    package = packages[0]
    installed = "-".join(
        part for part in (str(package.get("version") or ""), str(package.get("release") or "")) if part
    )
    fixed_in = str(package.get("fixedInVersion") or "")
    if not fixed_in or fixed_in == "NotAvailable" or raw.get("fixAvailable") == "NO":
        fixed: str | None = ""
    else:
        fixed = _without_epoch(fixed_in)
    references = [details.get("sourceUrl"), *(details.get("referenceUrls") or [])]
    score = raw.get("score")
    return Finding(
        id=vulnerability,
        severity=_severity(raw.get("severity")),
        package=str(package.get("name") or "unknown"),
        installed=_without_epoch(installed) or "unknown",
        fixed=fixed,
        score=float(score) if isinstance(score, int | float) else None,
        link=next((url for url in references if url), advisory_link(vulnerability)),
        title=str(raw.get("title") or vulnerability),
    )


def basic_finding(raw: Mapping) -> Finding:
    """A basic-scanning finding (CVE, severity, package and version; no fixed version)."""
    attributes = {item.get("key"): item.get("value") for item in raw.get("attributes") or []}
    vulnerability = str(raw.get("name") or "unknown")
    score = attributes.get("CVSS3_SCORE") or attributes.get("CVSS2_SCORE")
    try:
        score_value = float(score) if score is not None else None
    except ValueError:
        score_value = None
    return Finding(
        id=vulnerability,
        severity=_severity(raw.get("severity")),
        package=str(attributes.get("package_name") or "unknown"),
        installed=str(attributes.get("package_version") or "unknown"),
        fixed=None,
        score=score_value,
        link=str(raw.get("uri") or advisory_link(vulnerability)),
        title=str(raw.get("description") or vulnerability)[:200],
    )


def parse_findings(enhanced: Iterable[Mapping], basic: Iterable[Mapping]) -> list[Finding]:
    """Every finding of one image, worst first."""
    return sorted([*map(enhanced_finding, enhanced), *map(basic_finding, basic)], key=lambda f: f.sort_key)


def severity_counts(findings: Sequence[Finding], reported: Mapping[str, int] | None) -> dict[str, int]:
    """ECR's own `findingSeverityCounts` (it counts every finding, paginated or not); counted here without it."""
    counts = dict.fromkeys(SEVERITIES, 0)
    if reported:
        for severity, count in reported.items():
            counts[_severity(severity)] += int(count)
        return counts
    for finding in findings:
        counts[finding.severity] += 1
    return counts


def kept(findings: Sequence[Finding], top: int) -> list[Finding]:
    """What the state (and the report) carries per image: every CRITICAL (up to 50), then the worst up to `top`."""
    critical = [f for f in findings if f.severity == "CRITICAL"][:MAX_CRITICAL_KEPT]
    return critical + [f for f in findings if f.severity != "CRITICAL"][: max(top - len(critical), 0)]


# -- not reviewed ----------------------------------------------------------------------------------------------
def not_reviewed_advice(scan: Mapping) -> str:
    """What to do about an image whose findings could not be read, in one sentence."""
    status, repository, tag = scan["status"], scan.get("repository"), scan.get("tag") or "latest"
    image = scan["image"]
    return {
        "NOT_IN_ECR": f"{image} is not in this account's ECR, so ECR does not scan it: push it to an ECR repository "
        "(acso/...) or audit it by hand (the seed's `pip-audit`).",
        "REPOSITORY_NOT_FOUND": f"There is no ECR repository {repository} in this account: push {image} to ECR so it "
        "is scanned, or audit it by hand.",
        "IMAGE_NOT_FOUND": f"The image {image} the service runs is no longer in {repository}: find out what the task "
        "definition really runs and rebuild it from a scanned image.",
        "NOT_SCANNED": f"{image} was never scanned: `aws ecr start-image-scan --repository-name {repository} "
        f"--image-id imageTag={tag}`, and turn on scan on push (or enhanced scanning) for {repository}.",
        "ACCESS_DENIED": f"The review may not read {repository} (securityPatchReview.ecrRepositories limits it): "
        "widen the pattern if this is an agent's repository.",
        "IN_PROGRESS": f"The scan of {image} was still running: run the review again later.",
        "PENDING": f"The scan of {image} was still pending: run the review again later.",
    }.get(status, f"ECR could not scan {image} ({status}: {scan.get('why') or 'no detail'}).")


# -- the review --------------------------------------------------------------------------------------------------
def _group(images: Sequence[Mapping]) -> list[dict]:
    """The same vulnerability in the same package and version across agents (one shared base image): one row."""
    groups: dict[tuple, dict] = {}
    for scan in images:
        for finding in scan.get("findings", []):
            key = (finding["id"], finding["package"], finding["installed"])
            group = groups.setdefault(key, dict(finding) | {"agents": [], "images": []})
            if scan["agent"] not in group["agents"]:
                group["agents"].append(scan["agent"])
            if scan["image"] not in group["images"]:
                group["images"].append(scan["image"])
    return sorted(
        groups.values(),
        key=lambda g: (_RANK.get(g["severity"], len(SEVERITIES)), -(g["score"] or 0.0), -len(g["agents"]), g["id"]),
    )


def _stale(scan: Mapping, now: datetime, max_age_days: int) -> bool:
    if scan["status"] != "COMPLETE" or not scan.get("scannedAt"):  # enhanced (ACTIVE) scanning is continuous
        return False
    return datetime.fromisoformat(scan["scannedAt"]) < now - timedelta(days=max_age_days)


def review(images: Sequence[Mapping], now: datetime, top: int, max_scan_age_days: int) -> dict:
    """The fleet's findings by severity, the worst grouped across agents, and recommendations (pure)."""
    reviewed = [scan for scan in images if scan["reviewed"]]
    missing = [scan for scan in images if not scan["reviewed"]]
    totals = dict.fromkeys(SEVERITIES, 0)
    for scan in reviewed:
        for severity, count in scan["counts"].items():
            totals[severity] += count
    groups = _group(reviewed)
    critical = [g for g in groups if g["severity"] == "CRITICAL"]
    stale = [scan["agent"] for scan in reviewed if _stale(scan, now, max_scan_age_days)]
    recommendations = _recommendations(reviewed, missing, groups, stale, max_scan_age_days)
    return {
        "reviewedAt": now.isoformat(timespec="seconds"),
        "month": f"{now:%Y-%m}",
        "totals": totals,
        "critical": critical,
        "top": groups[: max(top, len(critical))],
        "images": list(images),
        "notReviewed": [
            {"agent": s["agent"], "image": s["image"], "status": s["status"], "advice": not_reviewed_advice(s)}
            for s in missing
        ],
        "stale": stale,
        "basicScanning": sorted({s["agent"] for s in reviewed if s.get("scanType") == "basic"}),
        "recommendations": recommendations,
        "limits": {"topFindings": top, "maxScanAgeDays": max_scan_age_days},
    }


def _recommendations(
    reviewed: Sequence[Mapping], missing: Sequence[Mapping], groups: Sequence[dict], stale: list[str], max_age: int
) -> list[dict]:
    recommendations: list[dict] = []

    def add(priority: int, scope: str, text: str) -> None:
        recommendations.append({"priority": priority, "scope": scope, "text": text})

    for group in (g for g in groups if g["severity"] == "CRITICAL"):
        where = ", ".join(group["images"])
        if group["fixed"]:
            add(
                1,
                ", ".join(group["agents"]),
                f"Rebuild {where} with {group['package']} {group['fixed']} (installed {group['installed']}; fixes "
                f"{group['id']}, CRITICAL); {STAGING_STEPS}.",
            )
        elif group["fixed"] is None:
            add(
                1,
                ", ".join(group["agents"]),
                f"Upgrade {group['package']} {group['installed']} in {where} ({group['id']}, CRITICAL; basic scanning "
                f"does not say which version fixes it: {group['link']}); {STAGING_STEPS}.",
            )
        else:
            add(
                1,
                ", ".join(group["agents"]),
                f"No fixed version of {group['package']} yet for {group['id']} (CRITICAL) in {where}: ask security "
                "for a mitigation (remove the package, block the attack path) and re-check at the next review.",
            )
    for scan in reviewed:
        high = [f for f in scan["findings"] if f["severity"] == "HIGH"]
        fixable = list(dict.fromkeys(f"{f['package']} to {f['fixed']}" for f in high if f["fixed"]))
        if scan["counts"]["HIGH"]:
            more = " and more" if len(fixable) > 5 else ""
            upgrades = f": upgrade {', '.join(fixable[:5])}{more}" if fixable else ""
            add(
                2,
                scan["agent"],
                f"{scan['counts']['HIGH']} HIGH finding{'s' if scan['counts']['HIGH'] != 1 else ''} in {scan['image']}"
                f"{upgrades}; ship it with the next release (staging first).",
            )
    for scan in missing:
        add(2, scan["agent"], not_reviewed_advice(scan))
    if stale:
        add(
            3,
            ", ".join(stale),
            f"Scanned more than {max_age} days ago ({', '.join(stale)}): basic scanning runs on push only, so newer "
            "CVEs are not in the findings; re-scan or turn on enhanced (continuous) scanning.",
        )
    basic = sorted({s["agent"] for s in reviewed if s.get("scanType") == "basic"})
    if basic:
        add(
            3,
            ", ".join(basic),
            "Turn on Amazon Inspector enhanced scanning for the agents' repositories: it names the version that fixes "
            "each finding and re-scans when a new CVE is published (basic scanning does neither).",
        )
    lesser = sum(s["counts"]["MEDIUM"] + s["counts"]["LOW"] for s in reviewed)
    if lesser:
        add(3, "fleet", f"{lesser} MEDIUM/LOW findings: pick them up with the next routine base-image rebuild.")
    if not recommendations:
        add(3, "fleet", "Nothing to patch this month: no finding in any agent's image.")
    return sorted(recommendations, key=lambda r: r["priority"])


def verdict(result: Mapping) -> str:
    totals, critical = result["totals"], result["critical"]
    parts = []
    if critical:
        agents = sorted({agent for group in critical for agent in group["agents"]})
        parts.append(
            f"{totals['CRITICAL']} CRITICAL finding{'s' if totals['CRITICAL'] != 1 else ''} in {', '.join(agents)}"
        )
    else:
        parts.append("no CRITICAL finding")
    parts.append(f"{totals['HIGH']} HIGH" if totals["HIGH"] else "no HIGH")
    if result["notReviewed"]:
        parts.append(f"{len(result['notReviewed'])} image{'s' if len(result['notReviewed']) != 1 else ''} NOT reviewed")
    return ", ".join(parts)


# -- Markdown ----------------------------------------------------------------------------------------------------
def _version(finding: Mapping) -> str:
    fixed = finding["fixed"]
    target = "unknown (basic scan)" if fixed is None else ("no fix yet" if fixed == "" else f"**{fixed}**")
    return f"{finding['installed']} → {target}"


def _score(score: float | None) -> str:
    return "" if score is None else f"{score:.1f}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(result: Mapping, environment: str, trigger: str, links: Mapping[str, str]) -> str:
    """The report people open from the notification (GitHub-flavoured Markdown)."""
    reviewed_at = datetime.fromisoformat(result["reviewedAt"])
    title = f"ACSO {environment} security patch review, {reviewed_at:%B %Y}"
    headline = verdict(result)
    lines = [
        f"# {title}",
        "",
        f"**{headline[0].upper() + headline[1:]}.** Reviewed {reviewed_at:%a %d %b %Y %H:%M} UTC: the image each "
        f"agent's running task definition uses, and its ECR scan findings.",
        "",
        "## Images",
        "",
        "| Agent | Image | Scanned | CRITICAL | HIGH | MEDIUM | LOW | Other |",
        "|---|---|---|--:|--:|--:|--:|--:|",
    ]
    for scan in result["images"]:
        if scan["reviewed"]:
            counts = scan["counts"]
            other = sum(n for severity, n in counts.items() if severity not in SHOWN)
            cells = [
                f"**{counts['CRITICAL']}**" if counts["CRITICAL"] else "0",
                f"**{counts['HIGH']}**" if counts["HIGH"] else "0",
                str(counts["MEDIUM"]),
                str(counts["LOW"]),
                str(other),
            ]
            when = (scan.get("scannedAt") or "")[:10] or "?"
            scanned = f"{when} ({scan.get('scanType', '?')})" + (" stale" if scan["agent"] in result["stale"] else "")
        else:
            cells, scanned = ["-"] * 5, f"**NOT REVIEWED**: {scan['status'].replace('_', ' ').lower()}"
        link = links.get(scan["agent"])
        image = f"[`{scan['image']}`]({link})" if link else f"`{scan['image']}`"
        lines.append(f"| {scan['agent']} | {image} | {scanned} | " + " | ".join(cells) + " |")
    totals = result["totals"]
    lines += [
        "",
        "Fleet: " + ", ".join(f"{totals[s]} {s}" for s in SHOWN) + f" ({len(result['images'])} images).",
        "",
        "## Findings to act on",
        "",
    ]
    worst = [g for g in result["top"] if g["severity"] in ("CRITICAL", "HIGH")]
    if worst:
        lines += [
            "| Severity | Vulnerability | Package | Installed → fixed | Score | Agents |",
            "|---|---|---|---|--:|---|",
        ]
        lines += [
            f"| **{g['severity']}** | [{g['id']}]({g['link']}) | {_cell(g['package'])} | {_cell(_version(g))} | "
            f"{_score(g['score'])} | {', '.join(g['agents'])} |"
            for g in worst
        ]
    else:
        lines.append("None: no CRITICAL or HIGH finding in any reviewed image.")
    lesser = [g for g in result["top"] if g["severity"] not in ("CRITICAL", "HIGH")]
    if lesser:
        lines += ["", "Other findings (worst first):", ""]
        lines += [
            f"- {g['severity']} [{g['id']}]({g['link']}) {_cell(g['package'])} {_cell(_version(g))} "
            f"({', '.join(g['agents'])})"
            for g in lesser
        ]
    lines += ["", "## Recommendations", ""]
    lines += [
        f"{index}. **{PRIORITY[r['priority']]}** ({r['scope']}): {r['text']}"
        for index, r in enumerate(result["recommendations"], 1)
    ]
    if result["notReviewed"]:
        lines += ["", "## Not reviewed", ""]
        lines += [f"- **{item['agent']}** `{item['image']}`: {item['advice']}" for item in result["notReviewed"]]
    lines += [
        "",
        "## Method",
        "",
        "- ECS `DescribeServices` → the running task definition → `DescribeTaskDefinition` → each container's image.",
        "- ECR `DescribeImageScanFindings` for that repository and tag (or digest): basic scanning gives CVE, "
        "severity, package and version; enhanced scanning (Amazon Inspector) also the fixed version and a score.",
        f"- Counts are ECR's own; the report lists every CRITICAL and the worst {result['limits']['topFindings']} "
        f"findings per image. A basic scan older than {result['limits']['maxScanAgeDays']} days is marked stale.",
        "- Read only: the review changes nothing; patching and redeploying stay with people (staging first).",
        "",
        f"_Generated {result['reviewedAt']} ({trigger}). The same data as JSON sits next to this file._",
        "",
    ]
    return "\n".join(lines)
