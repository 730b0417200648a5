"""S3 adapter of the forensic evidence bucket (versioned, Object Lock with a default retention): write once.

Every object is written with `If-None-Match: *` (S3 refuses a second write of an existing key, so evidence is
never replaced by a newer version) and with its SHA-256 checksum, which S3 verifies on receipt and reports back
(`head-object --checksum-mode ENABLED`). The bucket's default retention then locks the version: nobody can delete
it until the retention ends (COMPLIANCE mode: not even the account root).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code

# S3's answers to a conditional write whose key exists (412), or raced another write of it (409).
_ALREADY_WRITTEN = {"PreconditionFailed", "ConditionalRequestConflict"}


@dataclass(frozen=True)
class StoredObject:
    key: str
    checksum_sha256: str | None
    """Base64 SHA-256 of the object as S3 reports it (verified by S3 when it was written)."""
    size: int
    version_id: str | None
    lock_mode: str | None
    retain_until: str | None
    written: bool
    """False: the key already held evidence (e.g. a retried step); that original was kept, untouched."""

    def to_dict(self) -> dict:
        return asdict(self)


def sha256_base64(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def put_once(bucket: str, key: str, body: bytes, content_type: str) -> StoredObject:
    """Write the object unless the key exists; either way, describe what the bucket holds under the key."""
    try:
        client("s3").put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            # Object Lock needs the algorithm header on every put; S3 verifies the checksum we computed.
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=sha256_base64(body),
            IfNoneMatch="*",
        )
        written = True
    except ClientError as error:
        if error_code(error) not in _ALREADY_WRITTEN:
            with aws_errors("s3.PutObject"):
                raise
        written = False
    return describe(bucket, key, written)


def describe(bucket: str, key: str, written: bool = True) -> StoredObject:
    """The current version of the key with its checksum and Object Lock retention."""
    with aws_errors("s3.HeadObject"):
        head = client("s3").head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    retain_until = head.get("ObjectLockRetainUntilDate")
    return StoredObject(
        key=key,
        checksum_sha256=head.get("ChecksumSHA256"),
        size=head.get("ContentLength", 0),
        version_id=head.get("VersionId"),
        lock_mode=head.get("ObjectLockMode"),
        retain_until=retain_until.isoformat() if retain_until else None,
        written=written,
    )
