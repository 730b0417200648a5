"""Where the runbooks keep state, reports and escalations: encrypted, private, TLS only."""

from __future__ import annotations

import json

from stacks.config import ESCALATION_LEVELS
from stacks.remediation_stack import DATA_BREACH_AUDIENCES
from tests.infrastructure.support import SynthesizedStack, actions_cover, policy_statements


def _denies_insecure_transport(synthesized: SynthesizedStack, resource_ref: dict, action: str) -> bool:
    """Whether a resource policy denies `action` on the resource to everyone when aws:SecureTransport is false."""
    return any(
        statement.kind == "resource"
        and statement.effect == "Deny"
        and statement.principal in ("*", {"AWS": "*"})
        and statement.condition.get("Bool", {}).get("aws:SecureTransport") == "false"
        and actions_cover(statement.actions, action)
        and resource_ref in statement.resources
        for statement in policy_statements(synthesized)
    )


def test_each_escalation_level_and_audience_has_a_topic_encrypted_with_a_rotating_kms_key_reachable_only_over_tls(
    synthesized,
):
    environment = synthesized.environment
    topics = {
        props["TopicName"]: (logical_id, props) for logical_id, props in synthesized.of_type("AWS::SNS::Topic").items()
    }
    keys = synthesized.of_type("AWS::KMS::Key")

    assert sorted(topics) == sorted(
        [f"acso-{environment}-escalation-{level.lower()}" for level in ESCALATION_LEVELS]
        + [f"acso-{environment}-{audience}" for audience in DATA_BREACH_AUDIENCES]
    )
    for name, (logical_id, props) in topics.items():
        key = props["KmsMasterKeyId"]["Fn::GetAtt"][0]
        assert key in keys, f"{name}: encrypted with a customer managed key of this stack"
        assert keys[key]["EnableKeyRotation"] is True
        assert _denies_insecure_transport(synthesized, {"Ref": logical_id}, "sns:Publish"), f"{name}: TLS only"


def test_escalation_topics_are_the_ones_the_handlers_are_told_to_notify(synthesized):
    """The settings' escalation.<level>.topicArn is that level's topic."""
    resolver = synthesized.resolver()
    topics = {
        props["TopicName"]: resolver.refs[logical_id]
        for logical_id, props in synthesized.of_type("AWS::SNS::Topic").items()
    }
    settings = json.loads(synthesized.settings_json())

    assert {level: entry["topicArn"] for level, entry in settings["escalation"].items()} == {
        level: topics[f"acso-{synthesized.environment}-escalation-{level.lower()}"] for level in ESCALATION_LEVELS
    }


def test_state_table_is_keyed_by_pk_and_sk_expires_items_on_expires_at_and_keeps_point_in_time_recovery(synthesized):
    ((logical_id, table),) = synthesized.of_type("AWS::DynamoDB::GlobalTable").items()

    assert sorted((key["AttributeName"], key["KeyType"]) for key in table["KeySchema"]) == [
        ("pk", "HASH"),
        ("sk", "RANGE"),
    ]
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} >= {
        ("pk", "S"),
        ("sk", "S"),
    }
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert table["Replicas"], "a global table has at least its home replica"
    for replica in table["Replicas"]:
        assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert synthesized.resources[logical_id]["DeletionPolicy"] == "Retain", "audit history survives stack deletion"


def test_every_bucket_blocks_public_access_is_encrypted_and_refuses_plain_http(synthesized):
    buckets = synthesized.of_type("AWS::S3::Bucket")
    assert buckets
    for logical_id, bucket in buckets.items():
        _private_encrypted_tls_only(synthesized, logical_id, bucket)


def _private_encrypted_tls_only(synthesized: SynthesizedStack, logical_id: str, bucket: dict) -> None:
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    rules = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules and all(
        rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms", "aws:kms:dsse"} for rule in rules
    )
    bucket_arn = {"Fn::GetAtt": [logical_id, "Arn"]}
    objects_arn = {"Fn::Join": ["", [bucket_arn, "/*"]]}
    assert _denies_insecure_transport(synthesized, bucket_arn, "s3:GetObject")
    assert _denies_insecure_transport(synthesized, objects_arn, "s3:PutObject")
