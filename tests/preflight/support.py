"""Running pre-flight in tests: a world (snapshot object) + an input document -> Report."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.local.snapshot import Snapshot, SnapshotArmReader
from shared.preflight import engine, inputs
from shared.preflight.model import Plan, Report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "preflight"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def reader(snapshot: dict[str, Any]) -> SnapshotArmReader:
    return SnapshotArmReader(Snapshot.from_obj(snapshot))


def plan_of(doc: Any, *, parameters: Any = None, where: inputs.Where | None = None, file: str = "plan.json") -> Plan:
    return inputs.load(doc, file=file, text=json.dumps(doc, indent=2), parameters=parameters, where=where)


def predict(snapshot: dict[str, Any], plan: Plan) -> Report:
    return asyncio.run(engine.run(plan, reader(snapshot), now=NOW))


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))
