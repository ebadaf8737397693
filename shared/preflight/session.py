"""One pre-flight run from the CLI's inputs: choose the ARM reader, build the plan, run the engine.

Owns: the ARM edge for pre-flight (a snapshot file, or Azure through shared.compose with the
process credential), the read of the target resource group (its location resolves
`resourceGroup().location` in templates), recording what was read into a snapshot file (`--record`)
and closing the Azure reader afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.checklib.base import API
from shared.ports import ArmError, ArmReader
from shared.preflight import engine, inputs
from shared.preflight.inputs import PlanInputError, Where
from shared.preflight.model import Plan, Report


@dataclass(frozen=True)
class TemplateInput:
    doc: Any
    text: str
    file: str
    parameters: Any = None


@dataclass(frozen=True)
class Day2Input:
    cluster_id: str
    upgrade_to: str | None = None
    scale: tuple[str, int] | None = None
    add_pool: Mapping[str, Any] | None = None


async def _rg_location(arm: ArmReader, where: Where) -> str | None:
    if not (where.subscription and where.resource_group):
        return None
    try:
        body = await arm.get(f"/subscriptions/{where.subscription}/resourceGroups/{where.resource_group}",
                             API["resources"])
    except ArmError:
        return None
    loc = body.get("location")
    return loc if isinstance(loc, str) else None


async def build_plan(arm: ArmReader, source: TemplateInput | Day2Input, where: Where) -> Plan:
    if isinstance(source, Day2Input):
        if source.upgrade_to:
            return await engine.upgrade_plan(arm, source.cluster_id, source.upgrade_to)
        if source.scale:
            return await engine.scale_plan(arm, source.cluster_id, *source.scale)
        if source.add_pool is not None:
            return await engine.add_pool_plan(arm, source.cluster_id,
                                              inputs.pool_file(source.add_pool, source.cluster_id))
        raise PlanInputError("--cluster needs one of --upgrade-to VERSION, --scale POOL=COUNT or --add-pool FILE")
    kind = inputs.detect(source.doc)
    if kind == "arm_template" and where.resource_group_location is None:
        where = Where(where.subscription, where.resource_group, await _rg_location(arm, where))
    return inputs.load(source.doc, file=source.file, text=source.text, parameters=source.parameters, where=where)


async def preflight(source: TemplateInput | Day2Input, *, where: Where | None = None, snapshot: str | None = None,
                    arm: ArmReader | None = None, now: datetime | None = None,
                    record: str | Path | None = None) -> Report:
    """`arm` given: use it (tests inject an emulator-backed reader); else the snapshot, else Azure.

    `record`: write what this run read (existing resources only, never the planned bodies) to a
    snapshot file, so the same pre-flight replays offline with `--snapshot` (or goes into a ticket)."""
    from shared.settings import get_settings

    settings = get_settings()
    where = where or Where()
    close = None
    if arm is None and snapshot is not None:
        from shared.local.snapshot import SnapshotArmReader

        reader = SnapshotArmReader.from_file(snapshot)
        now = now or reader.captured_at
        arm = reader
    elif arm is None:
        from shared.compose import Parts, build_arm_reader

        arm = build_arm_reader(settings, Parts())
        from shared.azure import arm as azure_arm

        close = azure_arm.aclose
    recorder = None
    if record is not None:
        from shared.snapshot_collect import RecordingArmReader

        arm = recorder = RecordingArmReader(arm.for_run())
    when = now or datetime.now(UTC)
    try:
        plan = await build_plan(arm, source, where)
        report = await engine.run(plan, arm, now=when, concurrency=settings.arm_concurrency,
                                  timeout_s=settings.check_timeout_s)
        if recorder is not None and record is not None:
            Path(record).write_text(json.dumps(recorder.snapshot(captured_at=when).to_obj(), indent=2) + "\n",
                                    encoding="utf-8")
        return report
    finally:
        if close is not None:
            await close()
