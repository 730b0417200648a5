"""data-breach as deployed: the evidence bucket that cannot lose evidence, who may touch it, the finding trigger."""

from __future__ import annotations

import json

from simulator.emulator import event_pattern_matches
from stacks.remediation_stack import DATA_BREACH_AUDIENCES
from tests.infrastructure.support import ACCOUNT, REGION, SynthesizedStack, actions_cover, policy_statements

PRESERVE_EVIDENCE = "remediation.handlers.data_breach.preserve_evidence"
NOTIFY_STAKEHOLDERS = "remediation.handlers.data_breach.notify_stakeholders"


def _evidence_bucket(synthesized: SynthesizedStack) -> tuple[str, dict]:
    buckets = {
        logical_id: props
        for logical_id, props in synthesized.of_type("AWS::S3::Bucket").items()
        if logical_id.startswith("EvidenceBucket")
    }
    assert len(buckets) == 1, sorted(buckets)
    return next(iter(buckets.items()))


def _settings(synthesized: SynthesizedStack) -> dict:
    return json.loads(synthesized.settings_json())


def _refers_to(resource, logical_id: str) -> bool:
    return logical_id in json.dumps(resource)


def test_evidence_bucket_locks_every_object_for_the_configured_retention_and_is_versioned_and_retained(synthesized):
    logical_id, bucket = _evidence_bucket(synthesized)
    policy = synthesized.config.data_breach

    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": policy.evidence_retention_mode, "Days": policy.evidence_retention_days}},
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert not bucket.get("LifecycleConfiguration"), "nothing expires evidence"
    assert synthesized.resources[logical_id]["DeletionPolicy"] == "Retain"
    assert synthesized.resources[logical_id]["UpdateReplacePolicy"] == "Retain"


def test_production_evidence_is_locked_in_compliance_mode_and_staging_in_governance_mode(synthesized_app):
    modes = {name: _evidence_bucket(stack)[1]["ObjectLockConfiguration"] for name, stack in synthesized_app.items()}

    assert modes["production"]["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 365}
    assert modes["staging"]["Rule"]["DefaultRetention"]["Mode"] == "GOVERNANCE"


def test_evidence_bucket_refuses_any_write_that_could_replace_an_object(synthesized):
    logical_id, _ = _evidence_bucket(synthesized)

    assert any(
        statement.kind == "resource"
        and statement.effect == "Deny"
        and statement.principal in ("*", {"AWS": "*"})
        and actions_cover(statement.actions, "s3:PutObject")
        and statement.condition == {"Null": {"s3:if-none-match": "true"}}
        and _refers_to(statement.resources, logical_id)
        for statement in policy_statements(synthesized)
    )


def test_evidence_bucket_access_is_logged_to_the_reports_bucket(synthesized):
    _, bucket = _evidence_bucket(synthesized)

    logging = bucket["LoggingConfiguration"]
    assert logging["DestinationBucketName"]["Ref"].startswith("ReportsBucket")
    assert logging["LogFilePrefix"]


def test_only_the_evidence_step_may_write_evidence_nobody_may_delete_it_or_change_its_lock(synthesized):
    logical_id, _ = _evidence_bucket(synthesized)
    resolver = synthesized.resolver()
    grants = [
        s
        for s in policy_statements(synthesized)
        if s.kind == "identity" and s.effect == "Allow" and _refers_to(s.resources, logical_id)
    ]

    assert grants
    for statement in grants:
        assert {synthesized.function_of_role(role) for role in statement.roles} == {PRESERVE_EVIDENCE}
        assert resolver.resolve(list(statement.resources)) == [f"arn:aws:s3:::{logical_id.lower()}/data-breach/*"]
        for forbidden in (
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
            "s3:PutObjectRetention",
            "s3:BypassGovernanceRetention",
            "s3:PutBucketObjectLockConfiguration",
            "s3:PutLifecycleConfiguration",
        ):
            assert not actions_cover(statement.actions, forbidden), (statement.source, forbidden)


def test_handlers_are_told_the_evidence_bucket_and_each_audience_topic(synthesized):
    resolver = synthesized.resolver()
    logical_id, _ = _evidence_bucket(synthesized)
    topics = {props["TopicName"]: resolver.refs[lid] for lid, props in synthesized.of_type("AWS::SNS::Topic").items()}
    settings = _settings(synthesized)["dataBreach"]

    assert settings["evidenceBucket"] == resolver.refs[logical_id]
    assert settings["audiences"] == {
        audience: topics[f"acso-{synthesized.environment}-{audience}"] for audience in DATA_BREACH_AUDIENCES
    }


def test_only_the_notify_step_publishes_to_the_audience_topics_and_the_record_step_to_security_alone(synthesized):
    """security-patch-review and access-review tell security through the shared record step (Decision.audiences)."""
    audience_topics = {
        lid
        for lid, props in synthesized.of_type("AWS::SNS::Topic").items()
        if props["TopicName"].rsplit("-", 1)[-1] in DATA_BREACH_AUDIENCES
    }
    publishers = [
        s
        for s in policy_statements(synthesized)
        if s.kind == "identity"
        and s.effect == "Allow"
        and actions_cover(s.actions, "sns:Publish")
        and any(_refers_to(s.resources, topic) for topic in audience_topics)
    ]

    security = {
        lid for lid in audience_topics if synthesized.of_type("AWS::SNS::Topic")[lid]["TopicName"].endswith("-security")
    }

    assert publishers
    for statement in publishers:
        handlers = {synthesized.function_of_role(role) for role in statement.roles}
        if handlers == {"remediation.handlers.record.record_decision"}:
            assert {topic for topic in audience_topics if _refers_to(statement.resources, topic)} == security
        else:
            assert handlers == {NOTIFY_STAKEHOLDERS}


def _finding_event(severity: float, cluster: str, account: str = ACCOUNT) -> dict:
    return {
        "version": "0",
        "id": "evt-1",
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": account,
        "region": REGION,
        "time": "2026-11-27T09:00:00Z",
        "resources": [],
        "detail": {
            "accountId": account,
            "region": REGION,
            "id": "f1",
            "type": "Exfiltration:Runtime/SuspiciousCommand",
            "severity": severity,
            "resource": {"resourceType": "ECSCluster", "ecsClusterDetails": {"name": cluster}},
        },
    }


def test_a_high_or_critical_guardduty_finding_about_the_agents_cluster_in_this_account_starts_data_breach(
    synthesized,
):
    machine = synthesized.state_machine_named("data-breach")
    rules = [
        rule
        for rule in synthesized.of_type("AWS::Events::Rule").values()
        if any(target["Arn"] == {"Ref": machine} for target in rule["Targets"])
    ]
    assert len(rules) == 1
    rule = rules[0]
    pattern = synthesized.resolver().resolve(rule["EventPattern"])
    cluster = synthesized.config.cluster_name

    assert event_pattern_matches(pattern, _finding_event(7.0, cluster))
    assert event_pattern_matches(pattern, _finding_event(9.5, cluster))
    assert not event_pattern_matches(pattern, _finding_event(6.9, cluster)), "medium and low findings do not"
    assert not event_pattern_matches(pattern, _finding_event(8.0, "another-cluster"))
    assert not event_pattern_matches(pattern, _finding_event(8.0, cluster, account="210987654321"))
    target = rule["Targets"][0]
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 86400 and "DeadLetterConfig" in target
