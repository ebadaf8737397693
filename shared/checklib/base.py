"""What a check is, what it may read, and how a batch of checks runs.

Owns: CheckSpec (id, what it can explain, gather + evaluate), CheckContext (the failed operation,
the typed ErrorFacts, the ClusterView and a read-only cached ARM reader) and run_checks (bounded
concurrency, per-check timeout, every failure turned into an ERROR/SKIPPED result). A check never
raises into the pipeline, never parses error text (ErrorFacts has it) and never reads the cluster
body itself (ClusterView has it).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from shared.armid import ResourceKind
from shared.checklib.clusterview import ClusterView
from shared.models import (
    CheckResult,
    CheckStatus,
    Classification,
    ErrorFacts,
    FailedOperation,
    Family,
    OperationError,
)
from shared.ports import ArmError, ArmForbidden, ArmNotFound, ArmReader, ArmThrottled

log = logging.getLogger(__name__)

# api-versions used for generic reads. The cluster needs >= 2025-05-01: older stable versions
# silently drop status.provisioningError, apiServerAccessProfile.subnetId/enableVnetIntegration.
API = {
    "managedClusters": "2025-05-01",
    "agentPools": "2025-05-01",
    "network": "2024-05-01",
    "privateDns": "2024-06-01",
    "features": "2021-07-01",
    "providers": "2021-04-01",
    "authorization": "2022-04-01",
    "compute": "2024-07-01",
    "resources": "2021-04-01",
    "locks": "2020-05-01",
    "policy": "2023-04-01",
    "subscriptions": "2022-12-01",
    "containerserviceMeta": "2025-05-01",
}

F = TypeVar("F")


@dataclass
class CheckContext:
    """Everything a check may look at. Reads go through `arm`, which caches per run."""

    operation: FailedOperation
    error: OperationError
    classification: Classification
    arm: ArmReader
    now: datetime
    # Extra inputs an adapter can provide (e.g. failure history from the findings table).
    extras: dict[str, Any] = field(default_factory=dict)
    # A planned cluster (pre-flight): checks read it instead of the cluster GET.
    planned: ClusterView | None = None
    _view: ClusterView | None = field(default=None, init=False, repr=False)
    _view_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    @property
    def facts(self) -> ErrorFacts:
        return self.classification.facts

    async def view(self) -> ClusterView:
        """The cluster, normalised once per diagnosis (raises ArmNotFound when it does not exist)."""
        if self.planned is not None:
            return self.planned
        async with self._view_lock:
            if self._view is None:
                body = await self.arm.get(self.operation.cluster_id, API["managedClusters"])
                extra: list[Mapping[str, Any]] = []
                pool = self.operation.agent_pool
                raw_props = body.get("properties")
                props: Mapping[str, Any] = raw_props if isinstance(raw_props, Mapping) else {}
                listed = [str(p.get("name", "")).lower() for p in props.get("agentPoolProfiles") or []
                          if isinstance(p, Mapping)]
                if pool and pool.lower() not in listed:
                    ap = await self.get_or_none(f"{self.operation.cluster_id}/agentPools/{pool}", API["agentPools"])
                    if ap:
                        extra.append(ap)
                self._view = ClusterView.from_body(body, self.operation.cluster_id, agent_pool=pool,
                                                   extra_pools=extra)
            return self._view

    async def cluster(self) -> dict[str, Any]:
        """The raw cluster GET body, for the properties ClusterView does not carry yet."""
        return await self.arm.get(self.operation.cluster_id, API["managedClusters"])

    async def view_or_none(self) -> ClusterView | None:
        try:
            return await self.view()
        except ArmNotFound:
            return None

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        return await self.arm.get(resource_id, api_version)

    async def get_or_none(self, resource_id: str, api_version: str) -> dict[str, Any] | None:
        try:
            return await self.arm.get(resource_id, api_version)
        except ArmNotFound:
            return None


class NotApplicable(Exception):
    """Raised by gather() when the check does not apply (e.g. no authorized ranges configured)."""


class Skip(Exception):
    """Raised by gather() when the check cannot decide for a known reason (missing input)."""


@dataclass(frozen=True)
class CheckSpec(Generic[F]):
    """One check. Besides gather/evaluate it declares, as data, which failures it can explain:

    - `families`: the failure families it can explain; it runs for every failure in one of them.
    - `relevance`: how directly it explains a family (0-100), optionally per sub-category
      (`"api_server_connectivity/timeout"`); ranking reads this, never a list of check ids.
    - `targets`: ARM error `target` property paths it evaluates (case-insensitive suffix match on
      the dotted path, e.g. `apiServerAccessProfile.subnetId`): the check also runs, and ranks high,
      when an error of any family names that property.
    - `resource_kinds`: kinds of ARM id it evaluates; it also runs when the error names such an id.
    - `predicts`: operation (or "default") -> the AKS error code a FAIL makes that operation fail with.
    """

    id: str
    title: str
    docs: tuple[str, ...]
    gather: Callable[[CheckContext], Awaitable[F]]  # async, reads through ctx.arm / ctx.view()
    evaluate: Callable[[F], CheckResult]  # pure
    families: frozenset[Family] = frozenset()
    relevance: Mapping[str, int] = field(default_factory=dict)
    targets: tuple[str, ...] = ()
    resource_kinds: frozenset[ResourceKind] = frozenset()
    # Optional inputs beyond ARM it reads from CheckContext.extras (e.g. "failure_history"); the
    # pipeline fetches an input only when a selected check asks for it.
    inputs: tuple[str, ...] = ()
    # The AKS error code (a catalog code) a FAIL makes the planned operation fail with, per pre-flight
    # operation ("create", "upgrade", "scale", "add_pool", "update") or "default"; pre-flight reads it
    # (shared/preflight/knowledge.json `predicted_codes` is the fallback for checks that declare none).
    predicts: Mapping[str, str] = field(default_factory=dict)

    def predicted_code(self, operation: str) -> str | None:
        return self.predicts.get(operation) or self.predicts.get("default")

    def relevance_for(self, family: Family | str, subcategory: str | None = None) -> int:
        fam = str(family)
        if subcategory:
            sub = self.relevance.get(f"{fam}/{subcategory.lower().replace('-', '_')}")
            if sub is not None:
                return sub
        return self.relevance.get(fam, 50 if fam in {str(f) for f in self.families} else 0)

    def names_target(self, target: str | None) -> bool:
        return names_any_target(self.targets, target)


@dataclass(frozen=True)
class CheckMeta:
    """What selection reads of a check (its id, families, targets, resource kinds), known without
    importing the check: shared/checks/index.json holds one per registered check, generated from the
    specs, so a worker imports only the checks a failure selects."""

    id: str
    families: frozenset[Family]
    targets: tuple[str, ...]
    resource_kinds: frozenset[ResourceKind]

    @classmethod
    def of(cls, spec: CheckSpec[Any]) -> CheckMeta:
        return cls(id=spec.id, families=frozenset(spec.families), targets=tuple(spec.targets),
                   resource_kinds=frozenset(spec.resource_kinds))

    def names_target(self, target: str | None) -> bool:
        return names_any_target(self.targets, target)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "families": sorted(str(f) for f in self.families), "targets": list(self.targets),
                "resource_kinds": sorted(str(k) for k in self.resource_kinds)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CheckMeta:
        """One index entry; unknown fields, families or kinds raise ValueError (a stale or hand-edited
        index must not select silently)."""
        extra = set(raw) - {"id", "families", "targets", "resource_kinds"}
        if extra or not isinstance(raw.get("id"), str):
            raise ValueError(f"check index entry {raw.get('id')!r}: bad fields {sorted(extra) or 'id'}")
        return cls(id=raw["id"], families=frozenset(Family(f) for f in raw["families"]),
                   targets=tuple(str(t) for t in raw["targets"]),
                   resource_kinds=frozenset(ResourceKind(k) for k in raw["resource_kinds"]))


def names_any_target(targets: Sequence[str], target: str | None) -> bool:
    """Whether the ARM error `target` path names one of `targets` (case-insensitive, dotted suffix,
    prefix or infix match; list indexes ignored)."""
    if not target or not targets:
        return False
    path = _path(target)
    return any(path == t or path.endswith("." + t) or path.startswith(t + ".") or ("." + t + ".") in path
               for t in (_path(x) for x in targets))


def _path(text: str) -> str:
    """`properties.agentPoolProfiles[0].vnetSubnetID` -> `properties.agentpoolprofiles.vnetsubnetid`."""
    return re.sub(r"\[[^\]]*\]", "", text.strip().lower()).strip(".")


def result(spec: CheckSpec[Any], status: CheckStatus, summary: str, **kw: Any) -> CheckResult:
    return CheckResult(id=spec.id, title=spec.title, status=status, summary=summary,
                       docs=kw.pop("docs", spec.docs), **kw)


def _role_hint(err: ArmError) -> str:
    scope = err.resource_id.split("/providers/", 1)[0] if "/providers/" in err.resource_id else err.resource_id
    return f"cannot check: Reader on {scope} is needed to read it (ARM said {err.status} {err.code})"


async def run_one(spec: CheckSpec[Any], ctx: CheckContext, timeout_s: float) -> CheckResult:
    try:
        async with asyncio.timeout(timeout_s):
            facts = await spec.gather(ctx)
        return spec.evaluate(facts)
    except NotApplicable as why:
        return result(spec, CheckStatus.NOT_APPLICABLE, str(why) or "not applicable", reason=str(why) or None)
    except Skip as why:
        return result(spec, CheckStatus.SKIPPED, f"skipped: {why}", reason=str(why))
    except ArmForbidden as err:
        return result(spec, CheckStatus.ERROR, _role_hint(err), reason=_role_hint(err))
    except ArmThrottled as err:
        return result(spec, CheckStatus.ERROR, "cannot check: ARM throttled the read",
                      reason=f"throttled reading {err.resource_id}")
    except ArmNotFound as err:
        missing = f"resource not found: {err.resource_id}"
        return result(spec, CheckStatus.ERROR, f"cannot check: {missing}", reason=missing)
    except ArmError as err:
        return result(spec, CheckStatus.ERROR, f"cannot check: {err.status} {err.code}", reason=str(err)[:500])
    except TimeoutError:
        return result(spec, CheckStatus.ERROR, f"cannot check: timed out after {timeout_s:g}s",
                      reason=f"timeout after {timeout_s:g}s")
    except Exception as err:  # a bug in one check must not sink the others
        log.exception("check %s crashed", spec.id)
        return result(spec, CheckStatus.ERROR, f"check failed: {type(err).__name__}",
                      reason=f"{type(err).__name__}: {str(err)[:300]}")


async def run_checks(specs: Sequence[CheckSpec[Any]], ctx: CheckContext, *, concurrency: int = 8,
                     timeout_s: float = 20.0) -> tuple[CheckResult, ...]:
    """Run checks concurrently (bounded); results keep the order of `specs`."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def guarded(spec: CheckSpec[Any]) -> CheckResult:
        async with gate:
            return await run_one(spec, ctx, timeout_s)

    return tuple(await asyncio.gather(*(guarded(s) for s in specs)))
