"""Instrumentation for the ARM benchmarks: which reads were asked for, and how deep their dependency chain is.

`TracingArmReader` wraps the ArmReader the pipeline gets (so it sees exactly what the error source
and the checks ask for) and records every request. Its depth bookkeeping answers "how many
*dependent* read rounds did this diagnosis need?" without trusting the code under test:

* Causality is tracked per asyncio task. `install_task_tracker()` sets a task factory that records
  each task's parent (the task running when it was created), so gather/TaskGroup/ensure_future
  children are known exactly.
* A task's *known depth* is the deepest read result it has observed: the reads it awaited itself,
  plus those observed by child tasks that had finished when it asks (a parent that awaited a gather
  has seen everything its children saw).
* The first request for a (resource id, api-version) in the run is a network read at
  depth = (the requesting task's known depth) + 1; later requests for the same key - coalesced or
  served from a cache - are not new rounds, and hand back the depth of the read that produced them.
* Every Activity Log query is a network read (the readers do not cache them).

The critical path of the run is the largest depth: in the order the code issued them, reads at
depth n were issued only after some read at depth n-1 had answered, so with L seconds of latency
per request the run cannot take less than depth x L, whatever the concurrency. That is the bound
`diagnose_latency_ratio` divides by.

This program-order depth counts a needless sequential await (`a = await get(x); b = await get(y)`
with y independent of a) as a dependency, so it cannot by itself show "nothing waits needlessly".
`dataflow_depth()` is the cross-check: it counts a read as dependent only when its id contains a
name the event did not provide and an earlier response did. Reads whose program-order depth is
larger than their data-flow depth are listed (`diagnose_sequential_waits`), and the ratio against
the data-flow bound is reported too (`diagnose_latency_ratio_dataflow`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Key = tuple[str, ...]


@dataclass
class _TaskInfo:
    parent: asyncio.Task[Any] | None
    own_depth: int = 0
    children: list[asyncio.Task[Any]] = field(default_factory=list)


_INFO: weakref.WeakKeyDictionary[asyncio.Task[Any], _TaskInfo] = weakref.WeakKeyDictionary()


def _info(task: asyncio.Task[Any] | None) -> _TaskInfo | None:
    if task is None:
        return None
    info = _INFO.get(task)
    if info is None:
        info = _TaskInfo(parent=None)
        _INFO[task] = info
    return info


def install_task_tracker(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Record parent -> child for every task created on the loop from now on."""
    loop = loop or asyncio.get_running_loop()

    def factory(lp: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=lp, **kw)
        parent = asyncio.current_task(lp)
        # A new task starts out knowing what its creator knew at that moment.
        _INFO[task] = _TaskInfo(parent=parent, own_depth=known_depth(parent))
        pinfo = _info(parent)
        if pinfo is not None:
            pinfo.children.append(task)
        return task

    loop.set_task_factory(factory)


def fresh_task(coro: Any) -> asyncio.Task[Any]:
    """A task that starts knowing nothing (one measured run): no inherited depth, no parent."""
    task: asyncio.Task[Any] = asyncio.ensure_future(coro)
    _INFO[task] = _TaskInfo(parent=None)
    return task


def known_depth(task: asyncio.Task[Any] | None) -> int:
    info = _info(task)
    if info is None:
        return 0
    best = info.own_depth
    for child in info.children:
        if child.done():
            best = max(best, known_depth(child))
    return best


def _observe(depth: int) -> None:
    info = _info(asyncio.current_task())
    if info is not None:
        info.own_depth = max(info.own_depth, depth)


@dataclass
class Read:
    kind: str  # "get" | "activity_log"
    key: Key
    depth: int
    network: bool  # first request of its key in this trace (a new read), else a repeat
    started: float
    finished: float = 0.0
    ok: bool = True


class TracingArmReader:
    """ArmReader wrapper that records requests and their dependency depth (see module doc)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads: list[Read] = []
        self._depth_of: dict[Key, int] = {}
        self._seq = itertools.count()

    @property
    def reads_made(self) -> int:
        return int(self.inner.reads_made)

    def reset(self) -> None:
        self.reads.clear()
        self._depth_of.clear()

    @staticmethod
    def _key(resource_id: str, api_version: str) -> Key:
        return (resource_id.strip().rstrip("/").lower(), api_version)

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        key = self._key(resource_id, api_version)
        first = key not in self._depth_of
        if first:
            self._depth_of[key] = known_depth(asyncio.current_task()) + 1
        depth = self._depth_of[key]
        rec = Read("get", key, depth, first, time.monotonic())
        self.reads.append(rec)
        try:
            body: dict[str, Any] = await self.inner.get(resource_id, api_version)
            return body
        except Exception:
            rec.ok = False
            raise
        finally:
            rec.finished = time.monotonic()
            _observe(depth)

    async def activity_log(self, subscription_id: str, *, correlation_id: str | None = None,
                           resource_id: str | None = None, start: datetime | None = None,
                           end: datetime | None = None) -> list[dict[str, Any]]:
        key: Key = ("activity_log", subscription_id.lower(), str(correlation_id or "").lower(),
                    str(resource_id or "").lower(), str(next(self._seq)))
        depth = known_depth(asyncio.current_task()) + 1
        self._depth_of[key] = depth
        rec = Read("activity_log", key, depth, True, time.monotonic())
        self.reads.append(rec)
        try:
            events: list[dict[str, Any]] = await self.inner.activity_log(
                subscription_id, correlation_id=correlation_id, resource_id=resource_id, start=start, end=end)
            return events
        except Exception:
            rec.ok = False
            raise
        finally:
            rec.finished = time.monotonic()
            _observe(depth)

    def for_run(self) -> TracingArmReader:
        """The handler gives each work item its own view (shared/handlers._per_run): trace that view
        into this tracer's log, so the burst still counts every read the checks ask for."""
        view = TracingArmReader(self.inner.for_run())
        view.reads, view._depth_of, view._seq = self.reads, self._depth_of, self._seq
        return view

    def __getattr__(self, name: str) -> Any:  # aclose, counters, ... of the inner reader
        return getattr(self.inner, name)

    # -- results ------------------------------------------------------------------------------

    @property
    def network_reads(self) -> list[Read]:
        return [r for r in self.reads if r.network]

    def critical_path(self) -> int:
        return max((r.depth for r in self.network_reads), default=0)

    def rounds(self) -> dict[int, int]:
        """depth -> number of distinct reads at that depth."""
        out: dict[int, int] = {}
        for r in self.network_reads:
            out[r.depth] = out.get(r.depth, 0) + 1
        return dict(sorted(out.items()))

    def distinct_keys(self) -> set[Key]:
        return {r.key[:4] if r.kind == "activity_log" else r.key for r in self.reads}


_NAME_SKIP = {"subscriptions", "resourcegroups", "providers"}
_SEG_RE = re.compile(r"[^/]+")


def _name_segments(resource_id: str) -> list[str]:
    """The name positions of an ARM id: values after 'subscriptions', 'resourceGroups' and each type."""
    segs = _SEG_RE.findall(resource_id.lower())
    out: list[str] = []
    i = 0
    while i < len(segs):
        s = segs[i]
        if s == "providers" and i + 1 < len(segs):
            i += 2  # namespace: providers/Microsoft.X
            continue
        if i + 1 < len(segs):
            out.append(segs[i + 1])
        i += 2
    return out


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj.lower()
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def dataflow_depth(reads: list[Read], bodies: dict[Key, Any], known: set[str]) -> dict[Key, int]:
    """Cross-check: the longest chain of reads whose id needs a name the event did not give.

    A read's id depends on an earlier response when one of its name segments (resource group,
    resource names, location, ...) is not among `known` (what the event/operation provides) and
    appears in that response's body (as a value, or as a segment of an id-like value) that had
    finished before the read started. Depth = 1 + the smallest depth among such responses, per
    segment, maximised over segments. A read with no such segment is depth 1. Returns key -> depth.

    It is a heuristic lower bound: a read the code issues only after seeing a *property* of an
    earlier response (a control dependency, e.g. "only when VNet integration is on") with an id the
    event already gives counts as depth 1 here.
    """
    tokens: dict[Key, set[str]] = {}
    for k, body in bodies.items():
        toks: set[str] = set()
        for s in _strings(body):
            toks.add(s)
            if s.startswith("/"):
                toks.update(_SEG_RE.findall(s))
        tokens[k] = toks
    depth: dict[Key, int] = {}
    order = sorted((r for r in reads if r.network and r.kind == "get"), key=lambda r: r.started)
    for r in order:
        d = 1
        for seg in _name_segments(r.key[0]):
            if seg in known or seg in _NAME_SKIP:
                continue
            sources = [depth[k] for k, toks in tokens.items()
                       if k in depth and seg in toks and _finished_before(reads, k, r.started)]
            if sources:
                d = max(d, min(sources) + 1)
        depth[r.key] = d
    return depth


def _finished_before(reads: list[Read], key: Key, t: float) -> bool:
    return any(r.key == key and r.network and r.finished and r.finished <= t for r in reads)


@contextlib.contextmanager
def capture_bodies(tracer: TracingArmReader) -> Iterator[dict[Key, Any]]:
    """Record response bodies of `tracer`'s GETs (for dataflow_depth)."""
    bodies: dict[Key, Any] = {}
    inner_get = tracer.inner.get

    async def get(resource_id: str, api_version: str) -> dict[str, Any]:
        body: dict[str, Any] = await inner_get(resource_id, api_version)
        bodies.setdefault(TracingArmReader._key(resource_id, api_version), json.loads(json.dumps(body)))
        return body

    tracer.inner.get = get
    try:
        yield bodies
    finally:
        del tracer.inner.get
