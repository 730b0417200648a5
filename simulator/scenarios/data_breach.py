"""Scenarios of the data-breach runbook (seed: Emergency Procedures, Data Breach Response).

In every one the service's desired count reaches 0 only after a person approved: the only ECS write is the one
after the approval, and the runs that are declined or unanswered change nothing at all.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from simulator.harness import Harness, Outcome
from simulator.scenarios.common import Scenario, decisions, every_execution_audited, levels
from simulator.synthesized import ACCOUNT_ID, REGION
from simulator.world import ServiceProfile

AGENT = "financial-intelligence"
SERVICE = f"acso-production-{AGENT}"
PROFILES = {AGENT: ServiceProfile(desired=2)}
BY_HAND = {"service": AGENT, "reason": "exfiltration suspected, ticket SEC-123"}
AUDIENCES = ("SECURITY", "LEGAL", "COMPLIANCE")
"""The audience topics (acso-<env>-security, -legal, -compliance) as the harness names their inboxes."""


def guardduty_finding(h: Harness, agent: str = AGENT, severity: float = 8.0, account: str = ACCOUNT_ID) -> dict:
    """A "GuardDuty Finding" event (ECS Runtime Monitoring) about a task of the agent's service."""
    cluster = h.settings["clusterName"]
    finding_id = f"gd-{agent}-{int(severity * 10)}-{account[-4:]}"
    now = h.clock.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "version": "0",
        "id": f"evt-{finding_id}",
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": account,
        "time": now,
        "region": REGION,
        "resources": [],
        "detail": {
            "schemaVersion": "2.0",
            "accountId": account,
            "region": REGION,
            "id": finding_id,
            "type": "Exfiltration:Runtime/SuspiciousCommand",
            "severity": severity,
            "title": "A suspicious command was executed inside a task.",
            "createdAt": now,
            "updatedAt": now,
            "resource": {
                "resourceType": "ECSCluster",
                "ecsClusterDetails": {
                    "name": cluster,
                    "arn": f"arn:aws:ecs:{REGION}:{account}:cluster/{cluster}",
                    "taskDetails": {
                        "arn": f"arn:aws:ecs:{REGION}:{account}:task/{cluster}/0123456789abcdef",
                        "definitionArn": f"arn:aws:ecs:{REGION}:{account}:task-definition/acso-production-{agent}:1",
                        "group": f"service:acso-production-{agent}",
                    },
                },
            },
            "service": {"serviceName": "guardduty", "featureName": "RuntimeMonitoring", "count": 1},
        },
    }


def _evidence(h: Harness) -> list[dict]:
    """Every object version in the evidence bucket, with its Object Lock retention and checksum."""
    s3, bucket = h.aws.client("s3"), h.settings["dataBreach"]["evidenceBucket"]
    found = []
    for version in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        head = s3.head_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"], ChecksumMode="ENABLED")
        found.append(
            {
                "key": version["Key"],
                "versionId": version["VersionId"],
                "lockMode": head.get("ObjectLockMode"),
                "retainUntil": head.get("ObjectLockRetainUntilDate"),
                "checksum": head.get("ChecksumSHA256"),
            }
        )
    return found


def _manifest(h: Harness, evidence: list[dict]) -> dict:
    entry = next((item for item in evidence if item["key"].endswith("/manifest.json")), None)
    if entry is None:
        return {}
    body = h.aws.client("s3").get_object(
        Bucket=h.settings["dataBreach"]["evidenceBucket"], Key=entry["key"], VersionId=entry["versionId"]
    )["Body"]
    return json.loads(body.read())


def _tamper(h: Harness, evidence: list[dict]) -> dict[str, Any]:
    """Someone with full S3 access tries to make the evidence disappear or say something else."""
    s3, bucket = h.aws.client("s3"), h.settings["dataBreach"]["evidenceBucket"]
    target = next(item for item in evidence if item["key"].endswith("/service.json"))
    key, version = target["key"], target["versionId"]
    tried: dict[str, Any] = {}
    for name, attempt in (
        ("delete locked version", lambda: s3.delete_object(Bucket=bucket, Key=key, VersionId=version)),
        (
            "delete bypassing governance",
            lambda: s3.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True),
        ),
        ("conditional overwrite", lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"{}", IfNoneMatch="*")),
        # Refused by the bucket policy in AWS (no If-None-Match); moto does not evaluate bucket policies, so here
        # it only adds a newer version: the original must still be there, unchanged and locked.
        ("unconditional overwrite", lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"{}")),
    ):
        try:
            attempt()
            tried[name] = "done"
        except ClientError as error:
            tried[name] = error.response["Error"]["Code"]
    original = s3.head_object(Bucket=bucket, Key=key, VersionId=version, ChecksumMode="ENABLED")
    tried["original kept"] = original.get("ChecksumSHA256") == target["checksum"]
    return tried


def _isolation_record(h: Harness) -> dict | None:
    key = {"pk": {"S": f"ISOLATION#{h.settings['clusterName']}/{SERVICE}"}, "sk": {"S": "ISOLATION"}}
    item = h.aws.client("dynamodb").get_item(TableName=h.stack.state_table, Key=key).get("Item")
    return json.loads(item["record"]["S"]) if item else None


def _approve_isolation(h: Harness) -> str:
    arn = h.start_console("data-breach", BY_HAND)
    request = h.wait_for_notification("L2", "APPROVAL NEEDED")
    h.later(300)  # the team lead reads it five minutes later
    h.answers.append(h.click(request, "approve", by="sara"))
    h.settle()
    return arn


def _isolate(h: Harness) -> None:
    _approve_isolation(h)
    evidence = _evidence(h)
    h.observed.update(
        evidence=evidence,
        manifest=_manifest(h, evidence),
        isolation=_isolation_record(h),
        now=h.clock.now(),
        tamper=_tamper(h, evidence),
    )


def _to(o: Outcome, audience: str) -> list[dict]:
    return [n for n in o.notifications if n["level"] == audience]


def _only_after_approval(o: Outcome) -> tuple[str, bool]:
    approved = [answer for answer in o.answers if answer.get("statusCode") == 200 and "Approved" in answer["body"]]
    return (
        "desired reached 0 only through the one write after the approval",
        bool(approved) and o.api_calls.get("ecs.UpdateService") == 1,
    )


def _expect_isolated(o: Outcome) -> list[tuple[str, bool]]:
    evidence, manifest, tamper = o.observed["evidence"], o.observed["manifest"], o.observed["tamper"]
    keys = sorted(item["key"].split("/", 2)[-1] for item in evidence if item["lockMode"])
    record = o.audit_records[0] if o.audit_records else {}
    approval = o.notifications[0] if o.notifications else {"subject": "", "message": ""}
    retained = o.observed["now"] + timedelta(days=364)
    return [
        ("execution succeeded", o.statuses == ["SUCCEEDED"]),
        (
            "L2 was asked first, saying exactly what will happen",
            "APPROVAL NEEDED" in approval["subject"]
            and f"isolate {SERVICE}: desired count 2 -> 0" in approval["message"]
            and "data-breach/" in approval["message"]
            and "Object Lock COMPLIANCE" in approval["message"],
        ),
        _only_after_approval(o),
        (
            "isolated: desired 2 -> 0, nothing else touched",
            o.actions == [{"service": SERVICE, "action": "desiredCount", "before": 2, "after": 0}],
        ),
        (
            "prior count 2 recorded in the state table and the audit",
            (o.observed["isolation"] or {}).get("priorDesiredCount") == 2
            and json.loads(record.get("before") or "{}").get("desired_count") == 2,
        ),
        (
            "evidence: service, task definition, logs and manifest, each locked (COMPLIANCE, a year) with a checksum",
            keys
            == [
                "logs/financial-intelligence.jsonl",
                "manifest.json",
                "service.json",
                f"task-definitions/{SERVICE}-1.json",
            ]
            and all(item["lockMode"] == "COMPLIANCE" and item["retainUntil"] > retained for item in evidence[:4])
            and all(item["checksum"] for item in evidence),
        ),
        (
            "the manifest lists every object's checksum and the prior count",
            len(manifest.get("objects", [])) == 3
            and all(entry["checksum_sha256"] for entry in manifest["objects"])
            and manifest.get("isolation", {}).get("priorDesiredCount") == 2
            and manifest.get("logs", {}).get("events", 0) > 0,
        ),
        (
            "the evidence cannot be deleted or overwritten",
            tamper["delete locked version"] == "AccessDenied"
            and tamper["delete bypassing governance"] == "AccessDenied"
            and tamper["conditional overwrite"] == "PreconditionFailed"
            and tamper["original kept"] is True,
        ),
        (
            "security, legal and compliance each told once: what was done, where, prior count, how to restore",
            all(len(_to(o, audience)) == 1 for audience in AUDIENCES)
            and all(
                "s3://" in n["message"] and "Prior count: 2" in n["message"] and "isolated" in n["message"]
                for audience in AUDIENCES
                for n in _to(o, audience)
            )
            and all('"restore": true' in _to(o, audience)[0]["message"] for audience in ("SECURITY", "COMPLIANCE")),
        ),
        ("audited as acted, L3 told", decisions(o) == ["acted"] and levels(o).count("L3") == 1),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


def _rejected(h: Harness) -> None:
    ignored = h.deliver(guardduty_finding(h, severity=4.0)) + h.deliver(guardduty_finding(h, account="210987654321"))
    started = h.deliver(guardduty_finding(h))
    request = h.wait_for_notification("L2", "APPROVAL NEEDED")
    h.answers.append(h.answer_from_cli(request, "reject", approver="erik"))
    h.settle()
    h.observed.update(evidence=_evidence(h), ignored=ignored, started=started)


def _expect_rejected(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("a low-severity finding and another account's finding start nothing", o.observed["ignored"] == []),
        ("the high-severity finding started one run, which succeeded", o.statuses == ["SUCCEEDED"]),
        ("the approval request names the finding", "Exfiltration:Runtime" in o.notifications[0]["message"]),
        ("desired count unchanged, zero ECS writes", not o.actions and o.api_calls.get("ecs.UpdateService", 0) == 0),
        ("zero evidence objects", o.observed["evidence"] == []),
        ("no audience told", not any(_to(o, audience) for audience in AUDIENCES)),
        (
            "audited as declined, naming who declined",
            decisions(o) == ["declined"] and "erik" in o.audit_records[0]["why"],
        ),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


def _unanswered(h: Harness) -> None:
    h.start_console("data-breach", BY_HAND)
    h.wait_for_notification("L2", "APPROVAL NEEDED")
    h.later(1801)  # nobody answers within the approval timeout
    h.settle()
    h.observed.update(evidence=_evidence(h))


def _expect_unanswered(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("the run ends as a decision", o.statuses == ["SUCCEEDED"]),
        ("nothing changed: no ECS write, no evidence", not o.actions and not o.api_calls.get("ecs.UpdateService")),
        ("zero evidence objects", o.observed["evidence"] == []),
        (
            "escalated to L3 with the command to isolate by hand",
            decisions(o) == ["escalated"]
            and levels(o) == ["L2", "L3"]
            and "--desired-count 0" in o.notifications[-1]["message"],
        ),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


def _restore(h: Harness) -> None:
    _approve_isolation(h)
    h.later(3600)  # the investigation clears the service
    h.start_console("data-breach", {"service": AGENT, "restore": True, "reason": "forensics done, SEC-123 closed"})
    request = h.wait_for_notification("L2", "restore-service")
    h.answers.append(h.answer_from_cli(request, "approve", approver="sara"))
    h.settle()
    h.observed.update(isolation=_isolation_record(h), restore_request=request)


def _expect_restored(o: Outcome) -> list[tuple[str, bool]]:
    return [
        ("both runs succeeded", o.statuses == ["SUCCEEDED", "SUCCEEDED"]),
        (
            "the restore asked again, naming the recorded prior count",
            "desired count 0 -> 2" in o.observed["restore_request"]["message"],
        ),
        ("two ECS writes: 2 -> 0 then 0 -> 2", o.api_calls.get("ecs.UpdateService") == 2 and not o.actions),
        ("the isolation record is cleared", o.observed["isolation"] is None),
        ("audited: isolated, then restored", decisions(o) == ["acted", "acted"]),
        ("the audiences heard of both", all(len(_to(o, audience)) == 2 for audience in AUDIENCES)),
        every_execution_audited(o),
        ("no lease left behind", o.leases == []),
    ]


SCENARIOS = [
    Scenario(
        "data-breach-isolate",
        "Exfiltration suspected on financial-intelligence: approved, isolated (2 -> 0), evidence locked, "
        "security/legal/compliance told.",
        PROFILES,
        _isolate,
        _expect_isolated,
    ),
    Scenario(
        "data-breach-rejected",
        "A GuardDuty finding about financial-intelligence; the isolation is rejected: nothing changes.",
        PROFILES,
        _rejected,
        _expect_rejected,
    ),
    Scenario(
        "data-breach-approval-timeout",
        "Nobody answers the isolation request within 30 minutes: nothing changes, L3 is paged.",
        PROFILES,
        _unanswered,
        _expect_unanswered,
    ),
    Scenario(
        "data-breach-restore",
        "After an approved isolation, a separate approved run sets financial-intelligence back to 2 tasks.",
        PROFILES,
        _restore,
        _expect_restored,
    ),
]
