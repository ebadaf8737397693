"""provider_registration: every resource provider the failed operation needs is Registered, in every
subscription it touches.

Which namespaces, where:
- Microsoft.ContainerService in the cluster's subscription (always), and in the subscription of a
  BYO private DNS zone when that differs (the AKS private-cluster doc: register it in both);
- every namespace the error names (ErrorFacts.provider_namespaces, from MissingSubscriptionRegistration
  "not registered to use namespace 'X'"), in the cluster's subscription and in every other
  subscription the cluster's BYO resources live in (node / pod / API-server subnets, private DNS zone):
  a VNet in another subscription is where a missing registration often hides.
Reads GET /subscriptions/{s}/providers/{namespace} (api 2021-04-01, Providers_Get) ->
registrationState (Registered / Registering / NotRegistered / Unregistered / Unregistering, any
casing) and, for Microsoft.ContainerService, resourceTypes[managedClusters].locations against the
cluster's region.
Decides: not Registered in the cluster's subscription -> FAIL; a namespace the error names that is
Registered in the cluster's subscription but not in another one -> FAIL (likely: the error does not
say which subscription). A 403 on the read is "cannot decide", or likely when the error names it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from shared import armid
from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, result
from shared.models import CheckResult, CheckStatus, Evidence, Family
from shared.ports import ArmForbidden, ArmNotFound

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/missingsubscriptionregistration-error",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-missingsubscriptionregistration",
    "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-providers-and-types",
    "https://learn.microsoft.com/azure/aks/private-clusters",
)
AKS_NS = "Microsoft.ContainerService"


@dataclass(frozen=True)
class Wanted:
    subscription: str
    namespace: str
    why: str
    named: bool  # the error names this namespace
    home: bool  # the cluster's own subscription


@dataclass(frozen=True)
class ProviderState:
    wanted: Wanted
    namespace: str  # ARM's casing when read
    resource_id: str
    state: str | None  # None: not found (404) or unreadable
    unreadable: str | None = None  # why it could not be read (403)
    mc_locations: tuple[str, ...] = ()  # normalized managedClusters locations (ContainerService only)

    @property
    def registered(self) -> bool:
        return az.state_is(self.state, "Registered")


@dataclass(frozen=True)
class Facts:
    subscription_id: str
    region: str | None
    providers: tuple[ProviderState, ...]


def _provider_id(sub: str, ns: str) -> str:
    return f"/subscriptions/{sub}/providers/{ns}"


async def _read(ctx: CheckContext, w: Wanted) -> ProviderState:
    rid = _provider_id(w.subscription, w.namespace)
    try:
        body = await ctx.get(rid, API["providers"])
    except ArmNotFound:
        return ProviderState(w, w.namespace, rid, None)
    except ArmForbidden as err:
        return ProviderState(w, w.namespace, rid, None, unreadable=(
            f"the app may not read {rid} (ARM {err.status} {err.code}): it needs Reader on /subscriptions/"
            f"{w.subscription}"))
    locs: tuple[str, ...] = ()
    if az.same(w.namespace, AKS_NS):
        for rt in az.as_list(body.get("resourceTypes")):
            if isinstance(rt, dict) and az.same(az.as_str(rt.get("resourceType")), "managedClusters"):
                locs = tuple(az.normalize_region(str(x)) for x in az.as_list(rt.get("locations")))
    return ProviderState(w, az.as_str(body.get("namespace")) or w.namespace, az.as_str(body.get("id")) or rid,
                         az.as_str(body.get("registrationState")), None, locs)


async def gather(ctx: CheckContext) -> Facts:
    facts = ctx.facts
    sub = ctx.operation.subscription_id
    view = await ctx.view_or_none()
    wanted: list[Wanted] = []

    def add(s: str, ns: str, why: str, named: bool) -> None:
        if not any(az.same(s, w.subscription) and az.same(ns, w.namespace) for w in wanted):
            wanted.append(Wanted(s, ns, why, named, az.same(s, sub)))

    named = az.fact_strings(facts, "provider_namespaces")
    add(sub, AKS_NS, "AKS resource provider", any(az.same(AKS_NS, n) for n in named))
    for ns in named:
        add(sub, ns, "named by the error", True)
    others: list[tuple[str, str]] = []  # (subscription, what lives there)
    if view is not None:
        for rid, what in ([(s, "BYO subnet") for s in view.subnet_ids()]
                          + ([(view.private_dns_zone, "private DNS zone")] if view.private_dns_zone
                             and armid.is_kind(view.private_dns_zone, ResourceKind.PRIVATE_DNS_ZONE) else [])):
            other = armid.subscription_of(rid)
            if other and not az.same(other, sub) and not any(az.same(other, o) for o, _ in others):
                others.append((other, what))
        zone_sub = armid.subscription_of(view.private_dns_zone or "")
        if zone_sub and not az.same(zone_sub, sub):
            add(zone_sub, AKS_NS, "the private DNS zone's subscription (register it in both)", False)
    for other, what in others:
        for ns in named:
            add(other, ns, f"named by the error; the {what} lives in subscription {other}", True)
    states = await asyncio.gather(*(_read(ctx, w) for w in wanted))
    region_raw = view.region if view is not None else az.as_str(az.fact(facts, "region"))
    return Facts(sub, az.normalize_region(region_raw) if region_raw else None, tuple(states))


def _register(p: ProviderState) -> str:
    return f"az provider register --namespace {p.namespace} --subscription {p.wanted.subscription} --wait"


def evaluate(facts: Facts) -> CheckResult:
    evidence: list[Evidence] = []
    for p in facts.providers:
        note = p.wanted.why
        if p.unreadable:
            note += f"; {p.unreadable}"
        elif p.state is None:
            note += "; provider not found (404)"
        evidence.append(Evidence(resource_id=p.resource_id, property="registrationState", value=p.state, note=note))
    read = [p for p in facts.providers if p.state is not None]
    home_bad = [p for p in read if p.wanted.home and not p.registered]
    # not Registered in another subscription (a namespace already failing at home is blamed there)
    elsewhere = [p for p in read if not p.wanted.home and not p.registered
                 and not any(az.same(p.namespace, h.namespace) for h in home_bad)]
    region_bad = [p for p in read if p.wanted.home and facts.region and p.mc_locations
                  and facts.region not in p.mc_locations]
    for p in region_bad:
        evidence.append(Evidence(resource_id=p.resource_id, property="resourceTypes[managedClusters].locations",
                                 value=facts.region, note=f"{facts.region} is not offered for managedClusters"))
    bad = home_bad + elsewhere
    if bad:
        pending = all(az.state_is(p.state, "Registering") for p in bad)
        desc = ", ".join(f"{p.namespace} is {p.state} in subscription {p.wanted.subscription}" for p in bad)
        likely = not home_bad and all(p.wanted.named and not az.same(p.namespace, AKS_NS) for p in elsewhere)
        return result(SPEC, CheckStatus.FAIL, f"resource provider not registered: {desc}"
                      + (" (registration in progress: wait for Registered, then retry)" if pending else ""),
                      evidence=tuple(evidence), remediation="\n".join(_register(p) for p in bad),
                      confidence="likely" if likely else "confirmed",
                      confirm_by=("the namespace is Registered in the cluster's subscription, so the unregistered "
                                  "one is the other subscription's: retry after registering it there")
                      if likely else None)
    if region_bad:
        return result(SPEC, CheckStatus.FAIL,
                      f"region {facts.region} is not offered for Microsoft.ContainerService/managedClusters",
                      evidence=tuple(evidence),
                      remediation=("pick a listed region: az provider show --namespace Microsoft.ContainerService "
                                   "--query \"resourceTypes[?resourceType=='managedClusters'].locations\""))
    unreadable_named = [p for p in facts.providers if p.unreadable and p.wanted.named]
    if unreadable_named:
        p = unreadable_named[0]
        return result(SPEC, CheckStatus.FAIL,
                      f"the error says {p.namespace} is not registered; its state in subscription "
                      f"{p.wanted.subscription} could not be read", evidence=tuple(evidence),
                      remediation="\n".join(_register(x) for x in unreadable_named), confidence="likely",
                      confirm_by=f"az provider show --namespace {p.namespace} --subscription {p.wanted.subscription} "
                                 "--query registrationState", reason=p.unreadable)
    unknown = [p for p in facts.providers if p.state is None]
    if unknown:
        why = "; ".join(p.unreadable or f"provider namespace {p.namespace} not found in subscription "
                        f"{p.wanted.subscription}" for p in unknown)
        return result(SPEC, CheckStatus.ERROR, f"cannot check: {why}", evidence=tuple(evidence), reason=why)
    return result(SPEC, CheckStatus.PASS,
                  "registered: " + ", ".join(f"{p.namespace} ({'cluster' if p.wanted.home else p.wanted.subscription})"
                                             for p in facts.providers), evidence=tuple(evidence))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="provider_registration",
    title="Resource provider registration",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.REGISTRATION, Family.CAPACITY}),
    relevance={"registration": 100, "capacity": 20},
    predicts={"default": "MissingSubscriptionRegistration"},
)
