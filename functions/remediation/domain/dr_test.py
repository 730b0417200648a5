"""dr-test (seed: Disaster Recovery Test): pure rules of the restore drill.

- The **newest backup** is the greatest `YYYY/MM/DD/` prefix of the backup bucket that holds objects.
- It is restored into the DR region's restore bucket under a **per-run prefix** `dr-test/<YYYY-MM-DD>/<run>/`
  (the source key kept whole after it), so two drills never mix and a retried step rewrites the same keys.
- **Validated** means: as many objects restored as the backup holds, none missing, and every object's content
  equal, compared by S3 checksums: SHA-256 when both sides carry a full-object SHA-256 (the copy is made with
  `ChecksumAlgorithm=SHA256`, so S3 computes it for the restored object; a backup written with one compares
  directly), else the ETag when both are plain MD5 ETags (single-part, not SSE-KMS); anything else cannot be
  compared and fails the validation (never assumed equal).
- **RTO** measured = restore started -> restore validated; **RPO** measured = the newest backup object's age when
  the drill started. Each is compared with its objective (`dr.rtoMinutes`, `dr.rpoMinutes`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime

RESTORE_ROOT = "dr-test/"
MAX_COPY_BYTES = 5 * 1024**3
"""CopyObject copies at most 5 GiB in one request; a bigger object fails the drill with that reason."""
LISTED_PROBLEMS = 20
"""Problems named in the state, the report and the page; the counters count them all."""
_DAY = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/$")


def newest_first(children: list[str], parent: str, digits: int) -> list[str]:
    """The child prefixes of `parent` that are a `digits`-digit number followed by '/', newest first."""
    pattern = re.compile(rf"^{re.escape(parent)}\d{{{digits}}}/$")
    return sorted((child for child in children if pattern.match(child)), reverse=True)


def backup_day(prefix: str) -> date | None:
    match = _DAY.match(prefix)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def restore_prefix(run_day: date, run: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", run)[:80]
    return f"{RESTORE_ROOT}{run_day:%Y-%m-%d}/{safe}/"


def restored_key(target_prefix: str, source_key: str) -> str:
    return f"{target_prefix}{source_key}"


@dataclass(frozen=True)
class ObjectFacts:
    key: str
    size: int
    etag: str
    checksum_sha256: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def compare(source: ObjectFacts, restored: ObjectFacts | None) -> tuple[str, str]:
    """("match" | "mismatch" | "missing" | "unverifiable", how it was compared or why not)."""
    if restored is None:
        return "missing", f"{source.key}: not in the restore bucket"
    if source.size != restored.size:
        return "mismatch", f"{source.key}: {source.size} bytes in the backup, {restored.size} restored"
    if _full_object(source.checksum_sha256) and _full_object(restored.checksum_sha256):
        same = source.checksum_sha256 == restored.checksum_sha256
        return ("match", "SHA-256") if same else ("mismatch", f"{source.key}: SHA-256 differs")
    if _plain_md5(source.etag) and _plain_md5(restored.etag):
        same = source.etag == restored.etag
        return ("match", "MD5 ETag") if same else ("mismatch", f"{source.key}: ETag (MD5) differs")
    return "unverifiable", f"{source.key}: no comparable checksum (multipart or encrypted, and no SHA-256)"


def _full_object(checksum: str | None) -> bool:
    return bool(checksum) and "-" not in str(checksum)


def _plain_md5(etag: str) -> bool:
    return bool(re.fullmatch(r'"?[0-9a-f]{32}"?', etag or ""))


def minutes_between(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() / 60, 1)


@dataclass(frozen=True)
class Objectives:
    rto_minutes: float | None
    rpo_minutes: float | None
    rto_objective_minutes: int
    rpo_objective_minutes: int

    @property
    def rto_met(self) -> bool:
        return self.rto_minutes is not None and self.rto_minutes <= self.rto_objective_minutes

    @property
    def rpo_met(self) -> bool:
        return self.rpo_minutes is not None and self.rpo_minutes <= self.rpo_objective_minutes

    def to_dict(self) -> dict:
        return {
            "rtoMinutes": self.rto_minutes,
            "rtoObjectiveMinutes": self.rto_objective_minutes,
            "rtoMet": self.rto_met,
            "rpoMinutes": self.rpo_minutes,
            "rpoObjectiveMinutes": self.rpo_objective_minutes,
            "rpoMet": self.rpo_met,
        }


def figure(minutes: float | None) -> str:
    """Minutes as a person reads them: 95.5 min, 6 h 30 min."""
    if minutes is None:
        return "not measured"
    if minutes < 120:
        return f"{minutes:g} min"
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
