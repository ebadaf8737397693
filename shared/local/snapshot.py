"""ArmReader over a snapshot file, for offline diagnosis, the demo and support tickets.

The format is a contract other tools rely on; keep it exactly:
    {"resources": {"<ARM resource id>": <the JSON body ARM returns for GET>},
     "activity_log": [<Activity Log event objects as eventtypes/management/values returns them>]}
Ids match case-insensitively (ARM ids are case-insensitive); a missing id behaves as ARM's 404.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.ports import ArmNotFound


class SnapshotError(ValueError):
    """The snapshot file cannot be used; the message says why."""


def normalize_id(resource_id: str) -> str:
    return resource_id.strip().rstrip("/").lower()


def _parse_time(value: Any) -> datetime | None:
    from shared.events import EventError, parse_time

    try:
        return parse_time(value, "eventTimestamp")
    except EventError:
        return None


def _value_of(entry: dict[str, Any], key: str) -> str:
    v = entry.get(key)
    if isinstance(v, dict):
        v = v.get("value")
    return v if isinstance(v, str) else ""


class Snapshot:
    """The parsed file. `resources` keys are normalized; bodies are returned as stored."""

    def __init__(self, resources: dict[str, dict[str, Any]], activity_log: list[dict[str, Any]]) -> None:
        self.resources = {normalize_id(k): v for k, v in resources.items()}
        self.activity_log = activity_log

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
        for key, body in resources.items():
            if not isinstance(key, str) or not key.startswith("/"):
                raise SnapshotError(f"{origin}: resource key {str(key)[:80]!r} is not an ARM id")
            if not isinstance(body, dict):
                raise SnapshotError(f"{origin}: body of {key[:120]} must be an object")
        return cls(resources, [e for e in log if isinstance(e, dict)])

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
        return {"resources": dict(self.resources), "activity_log": list(self.activity_log)}

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
    def reads_made(self) -> int:
        return self._reads

    def for_run(self) -> SnapshotArmReader:
        return self  # a snapshot is already one run's worth of reads

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        self._reads += 1
        body = self._snapshot.resources.get(normalize_id(resource_id))
        if body is None:
            raise ArmNotFound(resource_id, 404, "ResourceNotFound",
                              f"The resource '{resource_id}' was not found in the snapshot.")
        return body

    async def activity_log(
        self, subscription_id: str, *, correlation_id: str | None = None, resource_id: str | None = None,
        start: datetime | None = None, end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        self._reads += 1
        return self._snapshot.find_activity(correlation_id=correlation_id, resource_id=resource_id,
                                            start=start, end=end)
