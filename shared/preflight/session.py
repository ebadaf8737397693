"""One pre-flight run from the CLI's inputs: choose the ARM reader, build the plan, run the engine.

Owns: the ARM edge for pre-flight (a snapshot file, or Azure through shared.compose with the
process credential), the read of the target resource group (its location resolves
`resourceGroup().location` in templates) and closing the Azure reader afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
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
                    arm: ArmReader | None = None, now: datetime | None = None) -> Report:
    """`arm` given: use it (tests inject an emulator-backed reader); else the snapshot, else Azure."""
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
    try:
        plan = await build_plan(arm, source, where)
        return await engine.run(plan, arm, now=now or datetime.now(UTC), concurrency=settings.arm_concurrency,
                                timeout_s=settings.check_timeout_s)
    finally:
        if close is not None:
            await close()
