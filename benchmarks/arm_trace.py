"""Instrumentation for the ARM benchmarks: which reads were asked for, and how deep their dependency chain is.

`TracingArmReader` wraps the ArmReader the pipeline gets (so it sees exactly what the error source
and the checks ask for, through the work item's own view too: `for_run()`) and records every
request. Its depth bookkeeping answers "how many read rounds did this diagnosis run in sequence?"
without trusting the code under test:

* Causality is tracked per asyncio task. `install_task_tracker()` sets a task factory that records
  each task's parent (the task running when it was created), so gather/TaskGroup/ensure_future
  children are known exactly.
* A task's *known depth* is the deepest read result it has observed: the reads it awaited itself,
  plus those observed by child tasks that had finished when it asks (a parent that awaited a gather
  has seen everything its children saw).
* The first request for a (resource id, api-version) in the run is a network read at
  depth = (the requesting task's known depth) + 1; later requests for the same key - coalesced or
  served from a cache - are not new rounds, and hand back the depth of the read that produced them.
* Every Activity Log query is counted as a network read (the work item's view reads one query once,
  so a repeat may in fact be served from it: count GETs on the wire for the number of requests).

The critical path of the run (`critical_path()`) is the largest depth: in the order the code issued
them, reads at depth n were issued only after some read at depth n-1 had answered, so with L
seconds of latency per request the run cannot take less than depth x L, whatever the concurrency.

This program-order depth counts a needless sequential await (`a = await get(x); b = await get(y)`
with y independent of a) as a dependency, so it cannot by itself show "nothing waits needlessly".
The floor is `dataflow_depth()`: the longest chain of dependencies that hold whatever the code's
order, over the reads the code made. It counts two kinds of edge:

* data: a read depends on an earlier response when its id holds a name (resource group, resource
  name, location) that the event does not give and that response does, e.g. the cluster GET names
  the node subnet, the subnet names its NSG (cluster -> subnet -> NSG is 3 rounds);
* control, with `error_known_at` (the moment error retrieval returned, `TimedErrorSource`):
  - every read issued after the error was known depends on all the reads error retrieval made:
    which checks run, and so which reads they make, is decided by classifying that error;
  - an Activity Log query made during error retrieval depends on the GETs that answered before
    it: the Activity Log is queried only when the resource's status holds no error (that rule saves
    one Activity Log query per work item on the path where the status has the error).

So on the cluster-status path the floor is cluster GET -> subnet -> NSG = 3, and on the Activity
Log path cluster GET -> Activity Log -> subnet (the checks need the classification) -> NSG = 4.

What the floor leaves out, on purpose: control dependencies inside a check (a read made only when an
earlier response says so, e.g. the node resource group's NSGs when no scale set is listed) count
as data-free here (depth 1 + the classification), so a check that serialises such a read on the
critical path shows up as a miss, not as a higher floor. And a read the code made is the unit: a
read it never made (a cache it could have had, a speculative read) does not lower the floor.
`dataflow_depth(..., error_known_at=None)` gives the data edges alone, reported next to the floor.
Reads whose program-order depth exceeds their floor depth are listed (`diagnose_sequential_waits`).

`wire_rounds()` measures the same thing from the emulator's request log, for runs that cannot be
traced (the production wiring behind the Function entry points): the longest chain of requests
each sent after the one before it had been answered.
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


@contextlib.contextmanager
def task_tracker(loop: asyncio.AbstractEventLoop | None = None) -> Iterator[None]:
    """`install_task_tracker()` for the block only: the loop's previous task factory comes back after
    it, so runs measured later on the same loop (the production samples of `e2e`) pay nothing for
    the tracing (its bookkeeping walks every finished child of the creating task at each new task)."""
    loop = loop or asyncio.get_running_loop()
    previous = loop.get_task_factory()
    install_task_tracker(loop)
    try:
        yield
    finally:
        loop.set_task_factory(previous)


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
        # The bodies dict of an active capture_bodies(), shared with the views for_run() hands out.
        self._capture: list[dict[Key, Any] | None] = [None]

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
            self._keep(key, body)
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
            self._keep(key, events)
            return events
        except Exception:
            rec.ok = False
            raise
        finally:
            rec.finished = time.monotonic()
            _observe(depth)

    def _keep(self, key: Key, body: Any) -> None:
        bodies = self._capture[0]
        if bodies is not None and key not in bodies:
            bodies[key] = json.loads(json.dumps(body))

    def for_run(self) -> TracingArmReader:
        """The pipeline gives each work item its own view (shared/pipeline.process): trace that view
        into this tracer's log and body capture, so every read the checks ask for is seen."""
        view = TracingArmReader(self.inner.for_run())
        view.reads, view._depth_of, view._seq, view._capture = self.reads, self._depth_of, self._seq, self._capture
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


def dataflow_depth(reads: list[Read], bodies: dict[Key, Any], known: set[str], *,
                   error_known_at: float | None = None) -> dict[Key, int]:
    """The floor: per network read, the longest chain of dependencies it needs (module doc). Key -> depth.

    Data edge: a GET's id depends on an earlier response when one of its name segments (resource
    group, resource names, location, ...) is not among `known` (what the event gives) and appears in
    that response's body (as a value, or as a segment of an id-like value) that had finished before
    the read started; depth = 1 + the smallest depth among such responses, per segment, maximised
    over segments. Ids, names and body values are compared case-insensitively (ARM's are).

    Control edges, when `error_known_at` is given (the end of error retrieval): an Activity Log query
    issued during retrieval is 1 + the deepest GET that had answered before it; a read issued after
    it is at least 1 + the deepest read error retrieval made. Without it, data edges only.
    """
    known = {k.lower() for k in known}
    tokens: dict[Key, set[str]] = {}
    for k, body in bodies.items():
        toks: set[str] = set()
        for s in _strings(body):
            toks.add(s)
            if s.startswith("/"):
                toks.update(_SEG_RE.findall(s))
        tokens[k] = toks
    depth: dict[Key, int] = {}
    retrieval_depth = 0
    order = sorted((r for r in reads if r.network), key=lambda r: r.started)
    for r in order:
        d = 1
        if r.kind == "get":
            for seg in _name_segments(r.key[0]):
                if seg in known or seg in _NAME_SKIP:
                    continue
                sources = [depth[k] for k, toks in tokens.items()
                           if k in depth and seg in toks and _finished_before(reads, k, r.started)]
                if sources:
                    d = max(d, min(sources) + 1)
        if error_known_at is not None:
            if r.started < error_known_at:
                if r.kind == "activity_log":
                    answered = [depth[x.key] for x in order
                                if x.kind == "get" and x.key in depth and x.finished and x.finished <= r.started]
                    d = max(d, 1 + max(answered, default=0))
            else:
                d = max(d, 1 + retrieval_depth)
        depth[r.key] = d
        if error_known_at is not None and r.started < error_known_at:
            retrieval_depth = max(retrieval_depth, d)
    return depth


def _finished_before(reads: list[Read], key: Key, t: float) -> bool:
    return any(r.key == key and r.network and r.finished and r.finished <= t for r in reads)


@contextlib.contextmanager
def capture_bodies(tracer: TracingArmReader) -> Iterator[dict[Key, Any]]:
    """Record the response bodies of `tracer`'s reads, its for_run() views included (for dataflow_depth).

    Recorded where the tracer hands the body back, so a read through any view is seen (patching the
    inner reader's `get` missed the work item's view, whose reads never call it)."""
    bodies: dict[Key, Any] = {}
    tracer._capture[0] = bodies
    try:
        yield bodies
    finally:
        tracer._capture[0] = None


class TimedErrorSource:
    """ErrorSource wrapper that notes when error retrieval returned (`done_at`, time.monotonic()):
    reads issued later need the classification of that error (dataflow_depth's control edge)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.done_at: float | None = None

    async def fetch(self, op: Any, arm: Any = None, *, attempt: int = 0) -> Any:
        try:
            return await (self.inner.fetch(op, arm, attempt=attempt) if attempt else self.inner.fetch(op, arm))
        finally:
            self.done_at = time.monotonic()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def wire_rounds(spans: list[tuple[float, float]]) -> int:
    """The longest chain of requests (started, finished) each sent after the one before had answered.

    From a server's log: an upper bound on the dependent rounds (a request sent after another
    answered may or may not have needed it), comparable with `dataflow_depth` when each request
    costs the same injected latency."""
    order = sorted(spans)
    chain: list[int] = []
    for i, (start, _end) in enumerate(order):
        chain.append(1 + max((chain[j] for j in range(i) if order[j][1] <= start), default=0))
    return max(chain, default=0)
