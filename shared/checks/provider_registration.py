"""provider_registration: Microsoft.ContainerService (and every namespace the error names) is Registered.

Namespaces: Microsoft.ContainerService always; plus classifier facts `provider_namespace` (also
`namespace` / `namespaces`), and the text "The subscription is not registered to use namespace 'X'"
(MissingSubscriptionRegistration). Reads GET /subscriptions/{s}/providers/{namespace} (api 2021-04-01)
-> registrationState (Registered / Registering / NotRegistered / Unregistered, any casing) and, for
Microsoft.ContainerService, resourceTypes[managedClusters].locations against the cluster's region.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, result
from shared.checklib.netread import in_order
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/missingsubscriptionregistration-error",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-missingsubscriptionregistration",
)
AKS_NS = "Microsoft.ContainerService"


@dataclass(frozen=True)
class ProviderState:
    namespace: str
    resource_id: str
    state: str | None  # None: provider not found (404)
    why: str
    mc_locations: tuple[str, ...] = ()  # normalized managedClusters locations (ContainerService only)


@dataclass(frozen=True)
class Facts:
    subscription_id: str
    region: str | None
    providers: tuple[ProviderState, ...]


async def gather(ctx: CheckContext) -> Facts:
    facts = ctx.classification.facts
    wanted: list[tuple[str, str]] = [(AKS_NS, "AKS resource provider")]
    named = az.fact_strings(facts, "provider_namespaces")
    for ns in named:
        if not any(az.same(ns, w) for w, _ in wanted):
            wanted.append((ns, "named by the error"))
    sub = ctx.operation.subscription_id
    ids = [f"/subscriptions/{sub}/providers/{ns}" for ns, _ in wanted]
    # The provider reads do not depend on the cluster body (only the region shown does).
    cluster, bodies = await in_order(ctx.get_or_none(ctx.operation.cluster_id, API["managedClusters"]),
                                     asyncio.gather(*(ctx.get_or_none(i, API["providers"]) for i in ids)))
    region_raw = az.as_str((cluster or {}).get("location")) or az.as_str(az.fact(facts, "region"))
    out = []
    for (ns, why), rid, body in zip(wanted, ids, bodies, strict=True):
        locs: tuple[str, ...] = ()
        if body is not None and az.same(ns, AKS_NS):
            for rt in az.as_list(body.get("resourceTypes")):
                if isinstance(rt, dict) and az.same(az.as_str(rt.get("resourceType")), "managedClusters"):
                    locs = tuple(az.normalize_region(str(x)) for x in az.as_list(rt.get("locations")))
        state = az.as_str(body.get("registrationState")) if body is not None else None
        canonical = az.as_str(body.get("namespace")) if body is not None else None  # ARM's casing
        rid_shown = az.as_str(body.get("id")) if body is not None else None
        out.append(ProviderState(canonical or ns, rid_shown or rid, state, why, locs))
    return Facts(sub, az.normalize_region(region_raw) if region_raw else None, tuple(out))


def evaluate(facts: Facts) -> CheckResult:
    evidence = [Evidence(resource_id=p.resource_id, property="registrationState", value=p.state,
                         note=p.why if p.state is not None else f"{p.why}; provider not found (404)")
                for p in facts.providers]
    bad = [p for p in facts.providers if p.state is not None and not az.state_is(p.state, "Registered")]
    missing = [p for p in facts.providers if p.state is None]
    region_bad = [p for p in facts.providers
                  if facts.region and p.mc_locations and facts.region not in p.mc_locations]
    for p in region_bad:
        evidence.append(Evidence(resource_id=p.resource_id, property="resourceTypes[managedClusters].locations",
                                 value=facts.region, note=f"{facts.region} is not offered for managedClusters"))
    if bad:
        desc = ", ".join(f"{p.namespace} is {p.state}" for p in bad)
        return result(SPEC, CheckStatus.FAIL, f"resource provider not registered: {desc}", evidence=tuple(evidence),
                      remediation="\n".join(
                          f"az provider register --namespace {p.namespace} "
                          f"--subscription {facts.subscription_id} --wait" for p in bad))
    if region_bad:
        return result(SPEC, CheckStatus.FAIL,
                      f"region {facts.region} is not offered for Microsoft.ContainerService/managedClusters",
                      evidence=tuple(evidence),
                      remediation=("pick a listed region: az provider show --namespace Microsoft.ContainerService "
                                   "--query \"resourceTypes[?resourceType=='managedClusters'].locations\""))
    if missing:
        why = "provider namespace not found: " + ", ".join(p.namespace for p in missing)
        return result(SPEC, CheckStatus.ERROR, f"cannot check: {why}", evidence=tuple(evidence), reason=why)
    return result(SPEC, CheckStatus.PASS,
                  "registered: " + ", ".join(p.namespace for p in facts.providers), evidence=tuple(evidence))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="provider_registration",
    title="Resource provider registration",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.REGISTRATION, Family.CAPACITY}),
    relevance={"registration": 100, "capacity": 20},
)
