"""AWS Backup jobs and the S3 backup data: read in this region, restored into (and cleaned from) the DR region.

Every S3 call on the restore bucket goes through a client of the DR region (`regional_client`), so the request is
signed for, and served by, the region the bucket lives in; CopyObject reads its source from the backup bucket in
this region (a cross-region copy S3 does server side).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from botocore.exceptions import ClientError

from remediation.adapters.aws import aws_errors, client, error_code, regional_client
from remediation.domain.backup_verification import BackupJob
from remediation.domain.dr_test import ObjectFacts

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_DELETE_BATCH = 1000
"""DeleteObjects takes at most 1000 keys a call."""


def list_backup_jobs(vault: str, created_after: datetime, created_before: datetime) -> list[BackupJob]:
    """Every backup job of the vault created in the window, all pages."""
    jobs = []
    with aws_errors("backup.ListBackupJobs"):
        pages = (
            client("backup")
            .get_paginator("list_backup_jobs")
            .paginate(ByBackupVaultName=vault, ByCreatedAfter=created_after, ByCreatedBefore=created_before)
        )
        for page in pages:
            for job in page.get("BackupJobs", []):
                completed = job.get("CompletionDate")
                jobs.append(
                    BackupJob(
                        job_id=job["BackupJobId"],
                        state=job.get("State", "UNKNOWN"),
                        resource=job.get("ResourceName") or job.get("ResourceArn", ""),
                        resource_type=job.get("ResourceType", ""),
                        created_at=job["CreationDate"].isoformat(),
                        completed_at=completed.isoformat() if completed else None,
                        status_message=job.get("StatusMessage", ""),
                        size_bytes=job.get("BackupSizeInBytes"),
                    )
                )
    return jobs


def first_objects(bucket: str, prefix: str, max_keys: int) -> tuple[list[dict], bool]:
    """The first `max_keys` objects under the prefix (one ListObjectsV2 call) and whether there are more."""
    with aws_errors("s3.ListObjectsV2"):
        page = client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=max_keys)
    return [_entry(item) for item in page.get("Contents", [])], bool(page.get("IsTruncated"))


def child_prefixes(bucket: str, parent: str) -> list[str]:
    """The "folders" right under `parent` ('' for the top), every page."""
    children: list[str] = []
    with aws_errors("s3.ListObjectsV2"):
        pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=parent, Delimiter="/")
        for page in pages:
            children += [item["Prefix"] for item in page.get("CommonPrefixes", [])]
    return children


def iter_objects(bucket: str, prefix: str, start_after: str | None = None, region: str | None = None) -> Iterator[dict]:
    """Objects under the prefix in key order, after `start_after`, page by page (1000 keys a call)."""
    s3 = regional_client("s3", region) if region else client("s3")
    arguments = {"Bucket": bucket, "Prefix": prefix} | ({"StartAfter": start_after} if start_after else {})
    with aws_errors("s3.ListObjectsV2"):
        for page in s3.get_paginator("list_objects_v2").paginate(**arguments):
            for item in page.get("Contents", []):
                yield _entry(item)


def object_facts(bucket: str, key: str, region: str | None = None) -> ObjectFacts | None:
    """Size, ETag and SHA-256 checksum (when S3 has one) of an object; None when there is no such object."""
    s3 = regional_client("s3", region) if region else client("s3")
    try:
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as error:
        if error_code(error) in _NOT_FOUND:
            return None
        with aws_errors("s3.HeadObject"):
            raise
    return ObjectFacts(key, head.get("ContentLength", 0), head.get("ETag", ""), head.get("ChecksumSHA256"))


def copy_object(source_bucket: str, source_key: str, target_bucket: str, target_key: str, region: str) -> None:
    """Server-side copy into the restore bucket of `region`; S3 computes the copy's SHA-256 checksum."""
    with aws_errors("s3.CopyObject"):
        regional_client("s3", region).copy_object(
            Bucket=target_bucket,
            Key=target_key,
            CopySource={"Bucket": source_bucket, "Key": source_key},
            ChecksumAlgorithm="SHA256",
        )


def delete_prefix(bucket: str, prefix: str, region: str) -> int:
    """Delete every object under the prefix (one drill's copy); the number deleted."""
    s3, deleted = regional_client("s3", region), 0
    keys = [entry["key"] for entry in iter_objects(bucket, prefix, region=region)]
    for start in range(0, len(keys), _DELETE_BATCH):
        batch = keys[start : start + _DELETE_BATCH]
        with aws_errors("s3.DeleteObjects"):
            response = s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            with aws_errors("s3.DeleteObjects"):
                raise ClientError(
                    {"Error": {"Code": first.get("Code", ""), "Message": first.get("Message", "")}}, "DeleteObjects"
                )
        deleted += len(batch)
    return deleted


def _entry(item: dict) -> dict:
    return {
        "key": item["Key"],
        "size": item.get("Size", 0),
        "etag": item.get("ETag", ""),
        "lastModified": item["LastModified"].isoformat(),
    }


def start_backup_job(vault: str, resource_arn: str, role_arn: str, idempotency_token: str) -> dict:
    """An on-demand AWS Backup job of the resource into the vault. The same idempotency token (a retried step) gets
    the same job back, never a second backup."""
    with aws_errors("backup.StartBackupJob"):
        response = client("backup").start_backup_job(
            BackupVaultName=vault, ResourceArn=resource_arn, IamRoleArn=role_arn, IdempotencyToken=idempotency_token
        )
    created = response.get("CreationDate")
    return {
        "jobId": response["BackupJobId"],
        "resource": resource_arn,
        "recoveryPointArn": response.get("RecoveryPointArn"),
        "createdAt": created.isoformat() if created else None,
    }


def describe_backup_job(job_id: str) -> dict:
    """A backup job's state (CREATED, PENDING, RUNNING, COMPLETED, FAILED, ABORTED, EXPIRED, PARTIAL) and result."""
    with aws_errors("backup.DescribeBackupJob"):
        job = client("backup").describe_backup_job(BackupJobId=job_id)
    completed = job.get("CompletionDate")
    return {
        "jobId": job["BackupJobId"],
        "resource": job.get("ResourceArn", ""),
        "state": job.get("State", "UNKNOWN"),
        "percentDone": job.get("PercentDone"),
        "statusMessage": job.get("StatusMessage", ""),
        "recoveryPointArn": job.get("RecoveryPointArn"),
        "completedAt": completed.isoformat() if completed else None,
        "sizeBytes": job.get("BackupSizeInBytes"),
    }
