"""The seed scenario the ARM benchmarks diagnose (shared/demo/scenarios/<name>/event.json + snapshot.json),
and the plumbing shared by the diagnose and burst benchmarks: the Azure ARM reader pointed at the
emulator, the error source, and a publisher that records instead of writing to sinks.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.infra import ROOT, Unavailable

SCENARIOS = ROOT / "shared" / "demo" / "scenarios"
SCENARIO_ENV = "AKS_TRIAGE_BENCH_SCENARIO"  # a scenario directory name or path, to override the pick


@dataclass(frozen=True)
class Scenario:
    name: str
    event: dict[str, Any]  # one Event Grid / CloudEvents event object
    snapshot: dict[str, Any]  # {"resources": {...}, "activity_log": [...]}
    expected: dict[str, Any]


def find_scenario(hint: str = "connfail") -> Path:
    """The scenario directory: $AKS_TRIAGE_BENCH_SCENARIO, else the one whose name (or expected code) has `hint`."""
    override = os.environ.get(SCENARIO_ENV)
    if override:
        p = Path(override)
        p = p if p.is_absolute() else SCENARIOS / override
        if not (p / "snapshot.json").exists():
            raise Unavailable(f"{SCENARIO_ENV}={override}: no snapshot.json there")
        return p
    dirs = sorted(d for d in SCENARIOS.iterdir() if (d / "snapshot.json").exists()) if SCENARIOS.exists() else []
    for d in dirs:
        if hint in d.name.lower().replace("-", "").replace("_", ""):
            return d
    for d in dirs:
        exp = d / "expected.json"
        if exp.exists() and hint in exp.read_text(encoding="utf-8").lower():
            return d
    raise Unavailable(f"no seed scenario matching {hint!r} under {SCENARIOS.relative_to(ROOT)} yet "
                      f"(found: {[d.name for d in dirs]})")


def load_scenario(hint: str = "connfail") -> Scenario:
    d = find_scenario(hint)
    event = json.loads((d / "event.json").read_text(encoding="utf-8"))
    if isinstance(event, list):
        event = event[0]
    snapshot = json.loads((d / "snapshot.json").read_text(encoding="utf-8"))
    exp_path = d / "expected.json"
    expected = json.loads(exp_path.read_text(encoding="utf-8")) if exp_path.exists() else {}
    return Scenario(d.name, event, snapshot, expected)


class RecordingPublisher:
    """Stands in for noise control + sinks: the ARM benchmarks measure reads, not sinks."""

    def __init__(self) -> None:
        self.findings: list[Any] = []
        self.resolved: list[Any] = []

    async def publish(self, finding: Any) -> None:
        self.findings.append(finding)

    async def resolve(self, op: Any) -> None:
        self.resolved.append(op)

    async def escalate_due(self) -> None:
        return None


class FakeAsyncCredential:
    """AsyncTokenCredential with a fixed token (the emulator does not check it)."""

    async def get_token(self, *scopes: str, **_kw: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("bench-token", int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> FakeAsyncCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def event_now(event_time: datetime) -> datetime:
    """'Now' for the diagnosis: a few minutes after the failure, like a live run."""
    return event_time + timedelta(minutes=5)


def make_reader(settings: Any, base_url: str, ca_file: str) -> Any:
    """The process-wide Azure ARM reader, built through the same factory the Function uses.

    TLS verification as in production (connection_verify=True, pooled connections) when the
    benchmark CA is in the default trust store (infra.trust_benchmark_ca), else the CA file.
    """
    from benchmarks import infra
    from shared.azure import arm

    verify: bool | str = True if infra.DEFAULT_CA_TRUSTED else ca_file
    return arm.get_arm_reader(settings, credential=FakeAsyncCredential(), base_url=base_url,
                              connection_verify=verify, retry_backoff_factor=0.0)


def make_error_source(arm_reader: Any, now: Any, settings: Any) -> Any:
    from shared.errors import ArmErrorSource

    kwargs: dict[str, Any] = {"now": now}
    try:
        return ArmErrorSource(arm_reader, activity_log_source=settings.activity_log_source, **kwargs)
    except TypeError:  # an older/newer signature: fall back to the defaults
        return ArmErrorSource(arm_reader, **kwargs)


def variant(snapshot: dict[str, Any], event: dict[str, Any], index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A copy of the scenario for another cluster: every occurrence of the cluster's name, resource group
    and node resource group gets a suffix, so all resource ids (cluster, pools, vnet, subnets, NSGs, route
    tables, identities, ...) are distinct per variant. Subscription-level ids (providers, features, quotas)
    stay shared, as they are in reality for clusters of one subscription."""
    text_snap = json.dumps(snapshot)
    text_event = json.dumps(event)
    cluster_id = _cluster_id_of(event)
    parts = cluster_id.split("/")
    rg, name = parts[4], parts[8]
    repl: list[tuple[str, str]] = []
    node_rg = _node_rg(snapshot, cluster_id)
    if node_rg:
        repl.append((node_rg, f"{node_rg}-v{index:02d}"))
    # every resource group any id in the scenario mentions (keys and values: a vnet in another group too)
    groups = {rg.lower()} | {g.lower() for g in re.findall(r"/resourceGroups/([^/\"\\]+)", text_snap + text_event,
                                                         flags=re.IGNORECASE)}
    groups.discard((node_rg or "").lower())
    repl += [(f"/resourceGroups/{g}/", f"/resourceGroups/{g}-v{index:02d}/") for g in sorted(groups)]
    repl += [(f"/resourceGroups/{g}\"", f"/resourceGroups/{g}-v{index:02d}\"") for g in sorted(groups)]
    repl.append((f"/managedClusters/{name}\"", f"/managedClusters/{name}-v{index:02d}\""))
    repl.append((f"/managedClusters/{name}/", f"/managedClusters/{name}-v{index:02d}/"))
    for old, new in repl:
        text_snap = _replace_ci(text_snap, old, new)
        text_event = _replace_ci(text_event, old, new)
    return json.loads(text_snap), json.loads(text_event)


def _replace_ci(text: str, old: str, new: str) -> str:
    return re.sub(re.escape(old), lambda _m: new, text, flags=re.IGNORECASE)


def _cluster_id_of(event: dict[str, Any]) -> str:
    from shared.events import parse_event

    op = parse_event(copy.deepcopy(event))
    cid = getattr(op, "cluster_id", None)
    if not cid:
        raise Unavailable("the scenario's event is not an AKS failure the parser accepts")
    return str(cid)


def _node_rg(snapshot: dict[str, Any], cluster_id: str) -> str | None:
    for rid, body in snapshot.get("resources", {}).items():
        if rid.strip().rstrip("/").lower() == cluster_id.lower():
            nrg = (body.get("properties") or {}).get("nodeResourceGroup")
            return str(nrg) if nrg else None
    return None


def burst_events(seed_event: dict[str, Any], seed_snapshot: dict[str, Any], events: int, clusters: int, *,
                 spacing_s: float, id_base: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A burst: event i for cluster variant i % clusters, `spacing_s` after the one before, each with its
    own event id and correlation id (and matching Activity Log entries), as separate failed operations
    would have; plus the merged snapshot of all variants. `id_base` keeps the ids of two benchmarks apart."""
    from shared.events import parse_event

    variants = [variant(seed_snapshot, seed_event, i) for i in range(clusters)]
    merged: dict[str, Any] = {"resources": {}, "activity_log": []}
    for snap, _ in variants:
        merged["resources"].update(snap.get("resources", {}))
    is_cloud = "specversion" in seed_event
    out = []
    for i in range(events):
        snap, ev = variants[i % clusters]
        ev = copy.deepcopy(ev)
        op = parse_event(copy.deepcopy(ev))
        corr = str(uuid.UUID(int=(id_base << 64) + i))
        ev["id"] = str(uuid.UUID(int=((id_base + 1) << 64) + i))
        when = op.event_time + timedelta(seconds=i * spacing_s)  # type: ignore[union-attr]
        ev["time" if is_cloud else "eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if isinstance(ev.get("data"), dict) and "correlationId" in ev["data"]:
            ev["data"]["correlationId"] = corr
        old_corr = getattr(op, "correlation_id", None)
        for entry in snap.get("activity_log", []):
            if old_corr and str(entry.get("correlationId", "")).lower() == old_corr.lower():
                e = copy.deepcopy(entry)
                e["correlationId"] = corr
                e["eventDataId"] = str(uuid.UUID(int=((id_base + 2) << 64) + i))
                merged["activity_log"].append(e)
        out.append(ev)
    return out, merged
