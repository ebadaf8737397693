"""Pre-flight: run the checks that explain failures against what is about to be sent, and predict.

Owns: comparing the plan with what exists (which operation this is), the planned cluster body and
ClusterView, a read-through ARM view in which the planned resources already exist, the synthetic
classification of the planned operation (its failure families from knowledge.json, its facts from
the plan: requested versions, region, VM sizes, vCPUs asked for, the subnets and identities it
names), and turning the ranked FAILs into predictions and a verdict. Selection and ranking are the
diagnosis engine's own (shared.checklib.ranking): pre-flight adds no selection path of its own.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from shared import armid
from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, run_checks
from shared.checklib.clusterview import ClusterView
from shared.checklib.ranking import rank, select
from shared.models import (
    ArmRef,
    CheckResult,
    CheckStatus,
    Classification,
    ErrorFacts,
    FailedOperation,
    Family,
    OperationError,
    OperationKind,
    QuotaFacts,
)
from shared.ports import ArmError, ArmNotFound, ArmReader
from shared.preflight.inputs import PlanInputError
from shared.preflight.model import (
    OperationName,
    Plan,
    Prediction,
    Report,
    Target,
    UnresolvedValue,
    Verdict,
)

KNOWLEDGE_PATH = Path(__file__).with_name("knowledge.json")
_ROLE_ASSIGNMENTS = "/providers/Microsoft.Authorization/roleAssignments"
# Read-only state ARM reports on a GET; a planned body does not carry it, the existing one does.
_STATUS_KEYS = ("provisioningState", "powerState", "currentKubernetesVersion", "fqdn", "privateFQDN",
                "azurePortalFQDN", "currentOrchestratorVersion", "nodeImageVersion", "maxAgentPools", "status",
                "resourceUID")
# What AKS generated for the cluster a GET body came from; a create generates them anew.
_GENERATED_KEYS = ("nodeResourceGroup",)


@dataclass(frozen=True)
class Knowledge:
    families: dict[str, tuple[Family, ...]]
    verbs: dict[str, str]
    uncertain: frozenset[Family]
    codes: dict[str, dict[str, str]]

    def code_for(self, check_id: str, operation: str) -> str | None:
        entry = self.codes.get(check_id) or {}
        return entry.get(operation) or entry.get("default")


@cache
def knowledge() -> Knowledge:
    raw = json.loads(KNOWLEDGE_PATH.read_text(encoding="utf-8"))
    ops = raw["operations"]
    return Knowledge(
        families={k: tuple(Family(f) for f in v["families"]) for k, v in ops.items()},
        verbs={k: str(v["verb"]) for k, v in ops.items()},
        uncertain=frozenset(Family(f) for f in raw["uncertain_families"]),
        codes={k: dict(v) for k, v in raw["predicted_codes"].items()},
    )


# --- the planned state ------------------------------------------------------------------------


class PlannedArmReader:
    """ARM as it will be once the plan is applied: planned bodies answer their ids, the rest reads through."""

    def __init__(self, base: ArmReader, bodies: Mapping[str, Mapping[str, Any]]) -> None:
        self._base = base
        self._bodies = {armid.key(k): dict(v) for k, v in bodies.items()}

    @property
    def reads_made(self) -> int:
        return self._base.reads_made

    def for_run(self) -> PlannedArmReader:
        return self

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        body = self._bodies.get(armid.key(resource_id))
        if body is not None:
            return copy.deepcopy(body)
        scope, sep, _ = resource_id.rpartition(_ROLE_ASSIGNMENTS)
        if sep and resource_id.lower().endswith(_ROLE_ASSIGNMENTS.lower()) and armid.key(scope) in self._bodies:
            return await self._inherited(scope, api_version)
        return await self._base.get(resource_id, api_version)

    async def _inherited(self, scope: str, api_version: str) -> dict[str, Any]:
        """Role assignments of a planned resource: those of its parent at or above the parent (inherited)."""
        parent = armid.parent_of(scope)
        if not parent:
            raise ArmNotFound(scope + _ROLE_ASSIGNMENTS, 404, "NotFound", "no parent scope to inherit from")
        listing = await self.get(parent + _ROLE_ASSIGNMENTS, api_version)
        keep = [a for a in listing.get("value") or [] if isinstance(a, dict)
                and armid.within(scope, str(_props(a).get("scope") or ""))]
        return {"value": keep}

    async def activity_log(self, subscription_id: str, *, correlation_id: str | None = None,
                           resource_id: str | None = None, start: datetime | None = None,
                           end: datetime | None = None) -> list[dict[str, Any]]:
        return await self._base.activity_log(subscription_id, correlation_id=correlation_id,
                                             resource_id=resource_id, start=start, end=end)


def _props(body: Any) -> dict[str, Any]:
    p = body.get("properties") if isinstance(body, Mapping) else None
    return p if isinstance(p, dict) else {}


def _pools(body: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [p for p in _props(body).get("agentPoolProfiles") or [] if isinstance(p, dict)]


def _find(pools: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((p for p in pools if str(p.get("name") or "").lower() == name.lower()), None)


def _merge(existing: Mapping[str, Any], planned: Mapping[str, Any]) -> dict[str, Any]:
    """Planned values over the existing body (objects merged, lists replaced), pools merged by name."""
    out: dict[str, Any] = copy.deepcopy(dict(existing))
    for k, v in planned.items():
        if k == "agentPoolProfiles" and isinstance(v, list):
            merged = []
            for p in v:
                if isinstance(p, Mapping):
                    old = _find(out.get(k) or [], str(p.get("name") or ""))
                    merged.append(_merge(old, p) if old else copy.deepcopy(dict(p)))
            for old in out.get(k) or []:
                if isinstance(old, Mapping) and not _find(merged, str(old.get("name") or "")):
                    merged.append(copy.deepcopy(dict(old)))
            out[k] = merged
        elif isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def is_get_body(body: Mapping[str, Any]) -> bool:
    props = _props(body)
    return any(k in props for k in ("provisioningState", "currentKubernetesVersion", "fqdn", "privateFQDN"))


def _fresh(body: Mapping[str, Any]) -> dict[str, Any]:
    """A body for a resource that does not exist yet: no read-only state. From a GET body (a copy of a
    cluster that ran), also none of what AKS generated for it: the node resource group name and the
    effective outbound IPs are created again."""
    out = copy.deepcopy(dict(body))
    props = _props(out)
    generated = is_get_body(body)
    for key in (*_STATUS_KEYS, *(_GENERATED_KEYS if generated else ())):
        props.pop(key, None)
    if generated:
        net = props.get("networkProfile")
        for profile in ("loadBalancerProfile", "natGatewayProfile"):
            sub = net.get(profile) if isinstance(net, dict) else None
            if isinstance(sub, dict):
                sub.pop("effectiveOutboundIPs", None)
    for p in _pools(out):
        for key in _STATUS_KEYS:
            p.pop(key, None)
    return out


def _with_pools(body: dict[str, Any], pool_bodies: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    props = body.setdefault("properties", {})
    current = props.setdefault("agentPoolProfiles", [])
    for pb in pool_bodies:
        flat = {"name": pb.get("name"), **_props(pb)}
        old = _find(current, str(pb.get("name") or ""))
        if old is not None:
            current[current.index(old)] = _merge(old, flat)
        else:
            current.append(flat)
    return body


def _ver(text: Any) -> tuple[int, ...] | None:
    return az.parse_version(text) if isinstance(text, str) else None


def _differs(planned: Any, current: Any) -> bool:
    p, c = _ver(planned), _ver(current)
    return p is not None and c is not None and p != c[:len(p)]


@dataclass(frozen=True)
class Operation:
    name: OperationName
    agent_pool: str | None
    changes: tuple[str, ...]


def detect_operation(plan: Plan, existing: Mapping[str, Any] | None, planned: Mapping[str, Any]) -> Operation:
    if existing is None:
        return Operation("create", None, (f"create cluster {armid.name_of(plan.cluster_id)}",))
    eprops = _props(existing)
    cur = eprops.get("currentKubernetesVersion") or eprops.get("kubernetesVersion")
    found: list[tuple[OperationName, str | None, str]] = []
    want = _props(planned).get("kubernetesVersion")
    if _differs(want, cur):
        found.append(("upgrade", None, f"control plane {cur} -> {want}"))
    old_pools = _pools(existing)
    touched = {str(p.get("name") or "").lower() for p in plan.pool_bodies}
    touched |= {str(p.get("name") or "").lower() for p in _pools(plan.cluster_body)}
    for p in _pools(planned):
        name = str(p.get("name") or "")
        if name.lower() not in touched:
            continue
        old = _find(old_pools, name)
        if old is None:
            found.append(("add_pool", name, f"add node pool {name} ({p.get('count', '?')} x {p.get('vmSize', '?')})"))
            continue
        ocur = old.get("currentOrchestratorVersion") or old.get("orchestratorVersion")
        if _differs(p.get("orchestratorVersion"), ocur) and not _differs(want, cur):
            found.append(("upgrade", name, f"node pool {name} {ocur} -> {p.get('orchestratorVersion')}"))
        if p.get("count") is not None and old.get("count") is not None and p.get("count") != old.get("count"):
            found.append(("scale", name, f"node pool {name} count {old.get('count')} -> {p.get('count')}"))
    order: tuple[OperationName, ...] = ("upgrade", "add_pool", "scale")
    if plan.intent is not None:
        order = (plan.intent, *[o for o in order if o != plan.intent])
    for name in order:
        hit = next((f for f in found if f[0] == name), None)
        if hit is not None:
            return Operation(name, hit[1], tuple(f[2] for f in found))
    return Operation("update", None, tuple(f[2] for f in found) or ("update cluster settings",))


# --- the synthetic classification -----------------------------------------------------------


def _vcpus_needed(op: Operation, planned: Mapping[str, Any], existing: Mapping[str, Any] | None) -> int | None:
    """vCPUs the operation adds (create: every pool; add/scale: the pool's new nodes); None when unknown."""
    pools = _pools(planned)
    if op.name == "create":
        chosen = pools
    elif op.name in ("add_pool", "scale") and op.agent_pool:
        chosen = [p for p in pools if str(p.get("name") or "").lower() == op.agent_pool.lower()]
    else:
        return None
    sizes = {str(p.get("vmSize") or "").lower() for p in chosen}
    if len(sizes) != 1 or "" in sizes:
        return None
    total = 0
    for p in chosen:
        info = az.vm_size_info(str(p.get("vmSize")))
        if info.vcpus is None:
            return None
        nodes = az.as_int(p.get("count"))
        if p.get("enableAutoScaling") is True:
            nodes = max(nodes or 0, az.as_int(p.get("minCount")) or 0)
        if op.name == "scale" and existing is not None:
            old = _find(_pools(existing), str(p.get("name") or ""))
            old_count = az.as_int(old.get("count")) if old else None
            nodes = (nodes or 0) - (old_count or 0)
        if not nodes or nodes < 0:
            return None
        total += info.vcpus * nodes
    return total


def planned_facts(op: Operation, view: ClusterView, planned: Mapping[str, Any],
                  existing: Mapping[str, Any] | None) -> ErrorFacts:
    pool = view.pool(op.agent_pool)
    pools = [pool] if pool is not None else list(view.pools)
    sizes = tuple(dict.fromkeys(p.vm_size for p in pools if p.vm_size))
    versions = tuple(dict.fromkeys(v for v in (view.kubernetes_version, pool.orchestrator_version if pool else None)
                                   if v))
    # The resources the operation writes into besides the cluster: its subnets (NICs join them). Not the
    # identities, VNets or DNS zones it only reads or links: checks read "the error names X" as "the
    # operation touched X" (e.g. a CanNotDelete lock over a named resource).
    refs = tuple(ArmRef(kind=str(armid.kind_of(i) or "other"), id=i) for i in view.subnet_ids())
    need = _vcpus_needed(op, planned, existing)
    cluster_version = view.kubernetes_version if op.name in ("create", "upgrade") and op.agent_pool is None else None
    return ErrorFacts(
        region=view.region or None,
        requested_version=cluster_version,
        requested_pool_version=pool.orchestrator_version if pool is not None else None,
        kubernetes_versions=versions,
        vm_sizes=sizes if len(sizes) == 1 else (),
        quota=QuotaFacts(requested=need) if need else None,
        resources=refs,
        cidrs=tuple(dict.fromkeys((*view.pod_cidrs, *view.service_cidrs))),
    )


def planned_classification(op: Operation, facts: ErrorFacts) -> Classification:
    return Classification(
        code="PreflightPrediction", entry_id=f"preflight.{op.name}", title=f"pre-flight of a planned {op.name}",
        category="preflight", severity="info", transient="depends", families=knowledge().families[op.name],
        facts=facts, confidence="high", matched_on="preflight")


# --- predictions ------------------------------------------------------------------------------


def primary_family(spec: CheckSpec[Any]) -> Family | None:
    if not spec.families:
        return None
    return max(sorted(spec.families), key=lambda f: spec.relevance_for(f))


def _prediction(r: CheckResult, spec: CheckSpec[Any] | None, op: OperationName) -> Prediction:
    k = knowledge()
    fam = primary_family(spec) if spec is not None else None
    uncertain: str | None = None
    if fam is not None and fam in k.uncertain:
        uncertain = (f"{fam.value.replace('_', ' ')} is only known when the operation runs: this is a risk, "
                     "not a certainty")
    elif r.confidence == "likely":
        uncertain = "a probable cause that could not be proven from what is readable"
    return Prediction(
        id=r.id, status="at_risk" if uncertain else "will_fail", confidence=r.confidence, summary=r.summary,
        evidence=r.evidence, remediation=r.remediation, docs=r.docs, predicted_code=predicted_code(r.id, spec, op),
        why_uncertain=uncertain, confirm_by=r.confirm_by)


def predicted_code(check_id: str, spec: CheckSpec[Any] | None, op: str) -> str | None:
    """The code the check's spec declares (`CheckSpec.predicts`), else knowledge.json's fallback entry."""
    if spec is not None and spec.predicts:
        return spec.predicted_code(op)
    return knowledge().code_for(check_id, op)


def verdict_of(predictions: Sequence[Prediction]) -> Verdict:
    if any(p.status == "will_fail" for p in predictions):
        return "will_fail"
    return "at_risk" if predictions else "ok"


# --- the run ----------------------------------------------------------------------------------


async def _existing(arm: ArmReader, cluster_id: str) -> dict[str, Any] | None:
    try:
        return await arm.get(cluster_id, API["managedClusters"])
    except ArmNotFound:
        return None


MANAGED_IDENTITY_API = "2023-01-31"


async def _fill_identities(reader: ArmReader, body: dict[str, Any]) -> None:
    """A planned user-assigned identity carries only its id; ARM records its principal and client id on
    the cluster. Read them from the identity (a missing identity stays empty: the checks report it)."""
    ident = body.get("identity")
    uais = ident.get("userAssignedIdentities") if isinstance(ident, dict) else None
    if not isinstance(uais, dict):
        return
    for rid, value in list(uais.items()):
        value = value if isinstance(value, dict) else {}
        if value.get("principalId") and value.get("clientId"):
            continue
        try:
            found = await reader.get(rid, MANAGED_IDENTITY_API)
        except ArmError:
            continue
        props = _props(found)
        uais[rid] = {**value, **{k: props[k] for k in ("principalId", "clientId") if props.get(k)}}


async def upgrade_plan(arm: ArmReader, cluster_id: str, version: str) -> Plan:
    """`--cluster ID --upgrade-to V`: the control plane to V. `az aks upgrade` then moves every pool to V
    too, after the control plane; the pools keep their version in the planned body, so the version skew
    rule compares them with the running control plane (not with a control plane that is not there yet)."""
    existing = await _existing(arm, cluster_id)
    if existing is None:
        raise PlanInputError(f"--upgrade-to: cluster {cluster_id} does not exist")
    if _ver(version) is None:
        raise PlanInputError(f"--upgrade-to {version!r}: give a Kubernetes version like 1.30 or 1.30.5")
    body = copy.deepcopy(existing)
    body.setdefault("properties", {})["kubernetesVersion"] = version
    return Plan(source="day2", cluster_id=cluster_id, cluster_body=body, intent="upgrade")


async def scale_plan(arm: ArmReader, cluster_id: str, pool: str, count: int) -> Plan:
    existing = await _existing(arm, cluster_id)
    if existing is None:
        raise PlanInputError(f"--scale: cluster {cluster_id} does not exist")
    old = _find(_pools(existing), pool)
    if old is None:
        names = ", ".join(str(p.get("name")) for p in _pools(existing)) or "none"
        raise PlanInputError(f"--scale {pool}={count}: the cluster has no node pool {pool!r} (pools: {names})")
    return Plan(source="day2", cluster_id=cluster_id, intent="scale",
                pool_bodies=({"name": old.get("name"), "properties": {"count": count}},))


async def add_pool_plan(arm: ArmReader, cluster_id: str, pool_body: Mapping[str, Any]) -> Plan:
    existing = await _existing(arm, cluster_id)
    if existing is None:
        raise PlanInputError(f"--add-pool: cluster {cluster_id} does not exist")
    if _find(_pools(existing), str(pool_body.get("name") or "")) is not None:
        raise PlanInputError(f"--add-pool: node pool {pool_body.get('name')!r} already exists in the cluster")
    return Plan(source="day2", cluster_id=cluster_id, intent="add_pool", pool_bodies=(dict(pool_body),))


async def run(plan: Plan, arm: ArmReader, *, now: datetime, specs: Sequence[CheckSpec[Any]] | None = None,
              concurrency: int = 8, timeout_s: float = 20.0, extras: Mapping[str, Any] | None = None) -> Report:
    """Predict whether the planned operation will fail, with the registered checks (or `specs`)."""
    if specs is None:
        from shared.checks.registry import REGISTRY

        specs = tuple(REGISTRY.values())
    registry = {s.id: s for s in specs}
    reader = arm.for_run()
    cid = armid.parse(plan.cluster_id)
    if cid is None or cid.kind is not armid.ResourceKind.MANAGED_CLUSTER or not cid.subscription:
        raise PlanInputError(f"{plan.cluster_id[:200]!r} is not a managed cluster id")
    existing = await _existing(reader, plan.cluster_id)
    if existing is None and plan.cluster_body is None:
        raise PlanInputError(f"cluster {plan.cluster_id} does not exist: a node pool cannot be planned on it "
                             "(put the cluster in the template, or check the id)")
    if existing is None:
        assert plan.cluster_body is not None
        planned = _with_pools(_fresh(plan.cluster_body), plan.pool_bodies)
    else:
        planned = _merge(existing, plan.cluster_body) if plan.cluster_body is not None else copy.deepcopy(existing)
        planned = _with_pools(planned, plan.pool_bodies)
    planned["id"] = plan.cluster_id
    await _fill_identities(reader, planned)
    op = detect_operation(plan, existing, planned)
    view = ClusterView.from_body(planned, plan.cluster_id, agent_pool=op.agent_pool, planned=True)
    bodies: dict[str, Mapping[str, Any]] = {**plan.related_bodies, plan.cluster_id: planned}
    for p in _pools(planned):
        bodies[f"{plan.cluster_id}/agentPools/{p.get('name')}"] = {
            "id": f"{plan.cluster_id}/agentPools/{p.get('name')}", "name": p.get("name"),
            "properties": {k: v for k, v in p.items() if k != "name"}}
    overlay = PlannedArmReader(reader, bodies)
    facts = planned_facts(op, view, planned, existing)
    classification = planned_classification(op, facts)
    operation = FailedOperation(
        event_id=f"preflight-{op.name}", event_type="aks-triage.Preflight", event_time=now,
        kind=OperationKind.ON_DEMAND, cluster_id=plan.cluster_id, subscription_id=cid.subscription,
        resource_group=cid.resource_group or "", cluster_name=cid.name, agent_pool=op.agent_pool,
        resource_id=f"{plan.cluster_id}/agentPools/{op.agent_pool}" if op.agent_pool else plan.cluster_id,
        operation_name="Microsoft.ContainerService/managedClusters/write", verb=knowledge().verbs[op.name],
        event_schema="cli")
    error = OperationError(code="PreflightPrediction", message="; ".join(op.changes), source="none")
    chosen = select(tuple(specs), classification)
    ctx = CheckContext(operation=operation, error=error, classification=classification, arm=overlay, now=now,
                       extras=dict(extras or {}), planned=view)
    results = await run_checks(chosen, ctx, concurrency=concurrency, timeout_s=timeout_s)
    order = {cid_: i for i, cid_ in enumerate(rank(classification, results, registry))}
    failing = sorted((r for r in results if r.status is CheckStatus.FAIL), key=lambda r: order[r.id])
    preds = [_prediction(r, registry.get(r.id), op.name) for r in failing]
    preds.sort(key=lambda p: (p.status != "will_fail", p.confidence != "confirmed"))  # stable: rank order kept
    notes = [f"{r.id}: could not check: {r.reason or r.summary}" for r in results if r.status is CheckStatus.ERROR]
    if existing is None and plan.cluster_body is not None and is_get_body(plan.cluster_body):
        notes.append("the cluster body is a GET body (it has read-only state): for the create, its read-only "
                     "state, node resource group name and effective outbound IPs were left out (AKS makes them anew)")
    if op.name != "update":
        judged = any(f in knowledge().uncertain for f in classification.families)
        notes.append("VM and regional capacity (AllocationFailed, AKSCapacityError) cannot be known before the "
                     "operation runs: " + ("it is predicted only as at_risk, from recent capacity failures of the "
                                           "cluster or its region" if judged else "not predicted"))
    unresolved = list(plan.unresolved)
    for field, value in (("location", view.region), ("properties.kubernetesVersion", view.kubernetes_version)):
        if not value and not any(u.path.endswith(field) for u in unresolved):
            unresolved.append(UnresolvedValue(path=field, reason="not set in the plan (AKS picks a default)"))
    pool = view.pool(op.agent_pool)
    return Report(
        operation=op.name, changes=op.changes, source=plan.source,
        target=Target(cluster_id=plan.cluster_id, cluster_name=view.name, resource_group=view.resource_group,
                      subscription=view.subscription, region=view.region, agent_pool=op.agent_pool,
                      kubernetes_version=(pool.orchestrator_version if pool else None) or view.kubernetes_version),
        verdict=verdict_of(preds), predictions=tuple(preds), checks=results, unresolved=tuple(unresolved),
        notes=tuple(notes),
        location=plan.locations.get(
            (f"{plan.cluster_id}/agentPools/{op.agent_pool}" if op.agent_pool else plan.cluster_id).lower())
        or plan.locations.get(plan.cluster_id.lower()))
