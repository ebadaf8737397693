"""What a check is, what it may read, and how a batch of checks runs.

Owns: CheckSpec (id + gather + evaluate), CheckContext (the failed operation, its error, the
classification and a read-only ARM view) and run_checks (bounded concurrency, per-check timeout,
every failure turned into an ERROR/SKIPPED result). A check never raises into the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from shared.models import CheckResult, CheckStatus, Classification, FailedOperation, OperationError
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

    async def cluster(self) -> dict[str, Any]:
        return await self.arm.get(self.operation.cluster_id, API["managedClusters"])

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
    id: str
    title: str
    docs: tuple[str, ...]
    gather: Callable[[CheckContext], Awaitable[F]]  # async, reads through ctx.arm
    evaluate: Callable[[F], CheckResult]  # pure


def result(spec: CheckSpec[Any], status: CheckStatus, summary: str, **kw: Any) -> CheckResult:
    return CheckResult(id=spec.id, title=spec.title, status=status, summary=summary,
                       docs=kw.pop("docs", spec.docs), **kw)


def _role_hint(err: ArmError) -> str:
    scope = err.resource_id.split("/providers/", 1)[0] if "/providers/" in err.resource_id else err.resource_id
    return f"cannot check: the app identity needs Reader on {scope} (ARM said {err.status} {err.code})"


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
