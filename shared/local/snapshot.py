"""ArmReader over a snapshot file, for offline diagnosis, the demo and support tickets.

The format is a contract other tools rely on (JSON Schema: shared/schema/snapshot.schema.json):
    {"format_version": 2,
     "captured_at": "<ISO 8601 UTC, when it was read: the clock an offline diagnosis uses>",
     "redacted": false,
     "resources": {"<ARM resource id>": <the JSON body ARM returns for GET>},
     "failed_reads": {"<ARM resource id>": {"status": 403, "code": "AuthorizationFailed", "message": "..."}},
     "activity_log": [<Activity Log event objects as eventtypes/management/values returns them>],
     "activity_log_error": null | {"status": ..., "code": ..., "message": ...}}
Ids match case-insensitively (ARM ids are case-insensitive); a missing id behaves as ARM's 404; a
failed read (403, 5xx, a timeout: status 0) replays as that same error, never as "missing", so a
check that could not read stays undecided offline too. Version 1 files (resources and activity_log
only) still load.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared import armid
from shared.ports import ArmError, ArmForbidden, ArmNotFound, ArmThrottled, ArmUnavailable

FORMAT_VERSION = 2
MAX_FAILED_MESSAGE_CHARS = 2_000


class SnapshotError(ValueError):
    """The snapshot file cannot be used; the message says why."""


normalize_id = armid.path_key  # one normaliser for request paths: shared/armid.py


def _parse_time(value: Any) -> datetime | None:
    from shared.events import EventError, parse_time

    try:
        return parse_time(value, "eventTimestamp")
    except EventError:
        return None


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _value_of(entry: dict[str, Any], key: str) -> str:
    v = entry.get(key)
    if isinstance(v, dict):
        v = v.get("value")
    return v if isinstance(v, str) else ""


class FailedRead:
    """A read that failed when the snapshot was taken; replayed as the same ArmError."""

    __slots__ = ("code", "message", "status")

    def __init__(self, status: int, code: str, message: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message[:MAX_FAILED_MESSAGE_CHARS]

    @classmethod
    def of(cls, err: ArmError) -> FailedRead:
        return cls(int(err.status or 0), str(err.code or ""), str(err.message or ""))

    @classmethod
    def from_obj(cls, obj: Any, where: str) -> FailedRead:
        if not isinstance(obj, dict) or not isinstance(obj.get("status"), int) or not isinstance(obj.get("code"), str):
            raise SnapshotError(f"{where}: a failed read needs an integer 'status' and a string 'code'")
        message = obj.get("message", "")
        return cls(obj["status"], obj["code"], message if isinstance(message, str) else "")

    def to_obj(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "message": self.message}

    def error(self, resource_id: str) -> ArmError:
        kind: type[ArmError] = (ArmForbidden if self.status in (401, 403) else ArmThrottled if self.status == 429
                                else ArmUnavailable if self.status == 0 or self.status >= 500 else ArmError)
        note = " (recorded in the snapshot)"
        return kind(resource_id, self.status, self.code, (self.message or self.code) + note)


class Snapshot:
    """The parsed file. `resources` and `failed_reads` keys are normalized; bodies are returned as stored."""

    def __init__(self, resources: dict[str, dict[str, Any]], activity_log: list[dict[str, Any]], *,
                 failed_reads: dict[str, FailedRead] | None = None, activity_log_error: FailedRead | None = None,
                 captured_at: datetime | None = None, redacted: bool = False) -> None:
        self.resources = {normalize_id(k): v for k, v in resources.items()}
        self.activity_log = activity_log
        self.failed_reads = {normalize_id(k): v for k, v in (failed_reads or {}).items()}
        self.activity_log_error = activity_log_error
        self.captured_at = captured_at
        self.redacted = redacted

    @classmethod
    def from_obj(cls, obj: Any, origin: str = "snapshot") -> Snapshot:
        if not isinstance(obj, dict):
            raise SnapshotError(f"{origin}: expected an object with 'resources', got {type(obj).__name__}")
        resources = obj.get("resources", {})
        log = obj.get("activity_log", [])
        if not isinstance(resources, dict):
            raise SnapshotError(f"{origin}: 'resources' must be an object keyed by resource id")
        if not isinstance(log, list):
            raise SnapshotError(f"{origin}: 'activity_log' must be an array")
        version = obj.get("format_version", 1)
        if not isinstance(version, int) or version < 1:
            raise SnapshotError(f"{origin}: 'format_version' must be a positive integer")
        if version > FORMAT_VERSION:
            raise SnapshotError(f"{origin}: format_version {version} is newer than this aks-triage reads "
                                f"({FORMAT_VERSION}); upgrade aks-triage")
        for key, body in resources.items():
            if not isinstance(key, str) or not key.startswith("/"):
                raise SnapshotError(f"{origin}: resource key {str(key)[:80]!r} is not an ARM id")
            if not isinstance(body, dict):
                raise SnapshotError(f"{origin}: body of {key[:120]} must be an object")
        failed_obj = obj.get("failed_reads", {})
        if not isinstance(failed_obj, dict):
            raise SnapshotError(f"{origin}: 'failed_reads' must be an object keyed by resource id")
        failed: dict[str, FailedRead] = {}
        for key, value in failed_obj.items():
            if not isinstance(key, str) or not key.startswith("/"):
                raise SnapshotError(f"{origin}: failed_reads key {str(key)[:80]!r} is not an ARM id")
            failed[key] = FailedRead.from_obj(value, f"{origin}: failed_reads[{key[:120]}]")
        log_error_obj = obj.get("activity_log_error")
        log_error = FailedRead.from_obj(log_error_obj, f"{origin}: activity_log_error") if log_error_obj else None
        captured_at = None
        if obj.get("captured_at") is not None:
            captured_at = _parse_time(obj.get("captured_at"))
            if captured_at is None:
                raise SnapshotError(f"{origin}: 'captured_at' is not an ISO 8601 time")
        return cls(resources, [e for e in log if isinstance(e, dict)], failed_reads=failed,
                   activity_log_error=log_error, captured_at=captured_at, redacted=obj.get("redacted") is True)

    @classmethod
    def load(cls, path: str | Path) -> Snapshot:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as err:
            raise SnapshotError(f"cannot read snapshot {p}: {err.strerror or err}") from err
        except UnicodeDecodeError as err:
            raise SnapshotError(f"snapshot {p} is not UTF-8") from err
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise SnapshotError(f"snapshot {p} is not JSON: {err.msg} at line {err.lineno}") from err
        return cls.from_obj(obj, str(p))

    def to_obj(self) -> dict[str, Any]:
        """The file's JSON (format_version 2); ids are written as stored."""
        return {
            "format_version": FORMAT_VERSION,
            "captured_at": _iso(self.captured_at) if self.captured_at else None,
            "redacted": self.redacted,
            "resources": dict(self.resources),
            "failed_reads": {k: v.to_obj() for k, v in self.failed_reads.items()},
            "activity_log": list(self.activity_log),
            "activity_log_error": self.activity_log_error.to_obj() if self.activity_log_error else None,
        }

    def find_activity(
        self, *, correlation_id: str | None = None, resource_id: str | None = None,
        start: datetime | None = None, end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        out = []
        rid = normalize_id(resource_id) if resource_id else None
        for e in self.activity_log:
            if correlation_id and str(e.get("correlationId", "")).lower() != correlation_id.lower():
                continue
            if rid and not normalize_id(str(e.get("resourceId", ""))).startswith(rid):
                continue
            ts = _parse_time(e.get("eventTimestamp"))
            if ts is not None and start is not None and ts < start:
                continue
            if ts is not None and end is not None and ts > end:
                continue
            out.append(e)
        return out


class SnapshotArmReader:
    """ArmReader that answers from a Snapshot. Counts reads like the Azure reader does."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._reads = 0

    @classmethod
    def from_file(cls, path: str | Path) -> SnapshotArmReader:
        return cls(Snapshot.load(path))

    @property
    def captured_at(self) -> datetime | None:
        """When the snapshot was read: the 'now' of an offline diagnosis (None for version 1 files)."""
        return self._snapshot.captured_at

    @property
    def reads_made(self) -> int:
        return self._reads

    def for_run(self) -> SnapshotArmReader:
        return self  # a snapshot is already one run's worth of reads

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        self._reads += 1
        key = normalize_id(resource_id)
        body = self._snapshot.resources.get(key)
        if body is None and key in self._snapshot.failed_reads:
            raise self._snapshot.failed_reads[key].error(resource_id)
        if body is None:
            raise ArmNotFound(resource_id, 404, "ResourceNotFound",
                              f"The resource '{resource_id}' was not found in the snapshot.")
        return body

    async def activity_log(
        self, subscription_id: str, *, correlation_id: str | None = None, resource_id: str | None = None,
        start: datetime | None = None, end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        self._reads += 1
        if self._snapshot.activity_log_error is not None:
            raise self._snapshot.activity_log_error.error(f"/subscriptions/{subscription_id}/activityLog")
        return self._snapshot.find_activity(correlation_id=correlation_id, resource_id=resource_id,
                                            start=start, end=end)
