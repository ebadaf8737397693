"""feature_registration: the preview feature(s) the failed request needed are Registered.

Which features: the ones the error names, by the name it gives (ErrorFacts.features, from
"feature 'Microsoft.ContainerService/X' is not enabled"; "Namespace/Name", or a bare "Name" meaning
Microsoft.ContainerService), and EnableAPIServerVnetIntegrationPreview when the cluster (ClusterView)
uses API Server VNet Integration through a preview api-version.
Reads: GET /subscriptions/{s}/providers/Microsoft.Features/providers/{ns}/features/{name}
(api 2021-07-01, Features_Get) -> properties.state (Registered / Registering / Pending /
NotRegistered / Unregistering / Unregistered; spec examples use lower case, compared
case-insensitively). A 403 is "cannot decide", or a likely cause when the error names the feature.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, NotApplicable, result
from shared.models import CheckResult, CheckStatus, Evidence, Family
from shared.ports import ArmForbidden, ArmNotFound

DOCS = (
    "https://learn.microsoft.com/azure/aks/api-server-vnet-integration",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/aks-error-code-page",
)
VNET_FEATURE = "EnableAPIServerVnetIntegrationPreview"
DEFAULT_NS = "Microsoft.ContainerService"


@dataclass(frozen=True)
class FeatureState:
    namespace: str
    name: str
    resource_id: str
    state: str | None  # None: the feature does not exist (404) or could not be read
    why: str  # why it was checked
    unreadable: str | None = None  # why it could not be read (403)
    named: bool = True  # the error names it


@dataclass(frozen=True)
class Facts:
    subscription_id: str
    features: tuple[FeatureState, ...]


def feature_id(sub: str, ns: str, name: str) -> str:
    return f"/subscriptions/{sub}/providers/Microsoft.Features/providers/{ns}/features/{name}"


def wanted_features(ctx: CheckContext, vnet_integration: bool) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []

    def add(ns: str, name: str, why: str) -> None:
        if not any(az.same(ns, a) and az.same(name, b) for a, b, _ in out):
            out.append((ns, name, why))

    for raw in az.fact_strings(ctx.facts, "features"):
        ns, _, name = raw.rpartition("/")
        add(ns or DEFAULT_NS, name, "named by the error (classifier facts)")
    api = ctx.operation.api_version or ""
    if vnet_integration and "preview" in api.casefold():
        add(DEFAULT_NS, VNET_FEATURE, f"API Server VNet Integration requested with preview api-version {api}")
    return out


async def _read(ctx: CheckContext, sub: str, ns: str, name: str, why: str) -> FeatureState:
    rid = feature_id(sub, ns, name)
    named = why.startswith("named by the error")
    try:
        body = await ctx.get(rid, API["features"])
    except ArmNotFound:
        return FeatureState(ns, name, rid, None, why, named=named)
    except ArmForbidden as err:
        return FeatureState(ns, name, rid, None, why, f"the app may not read {rid} (ARM {err.status} {err.code}): "
                            f"it needs Reader on /subscriptions/{sub}", named)
    return FeatureState(ns, name, rid, az.as_str(az.dig(body, "properties.state")), why, named=named)


async def gather(ctx: CheckContext) -> Facts:
    view = await ctx.view_or_none()
    wanted = wanted_features(ctx, bool(view and view.vnet_integration))
    if not wanted:
        raise NotApplicable("the error names no preview feature and no feature-gated setting is in use")
    sub = view.subscription if view and view.subscription else ctx.operation.subscription_id
    states = await asyncio.gather(*(_read(ctx, sub, ns, name, why) for ns, name, why in wanted))
    return Facts(sub, tuple(states))


def _register(f: FeatureState) -> str:
    return (f"az feature register --namespace {f.namespace} --name {f.name}\n"
            f"az feature show --namespace {f.namespace} --name {f.name} --query properties.state"
            "  # wait for Registered\n"
            f"az provider register --namespace {f.namespace}")


def evaluate(facts: Facts) -> CheckResult:
    evidence = tuple(
        Evidence(resource_id=f.resource_id, property="properties.state", value=f.state,
                 note=f.why if f.state is not None else f"{f.why}; {f.unreadable or 'feature not found (404)'}")
        for f in facts.features)
    bad = [f for f in facts.features if f.state is not None and not az.state_is(f.state, "Registered")]
    missing = [f for f in facts.features if f.state is None and not f.unreadable]
    unreadable = [f for f in facts.features if f.unreadable]
    if bad:
        pending = [f for f in bad if (f.state or "").casefold() in ("registering", "pending")]
        desc = ", ".join(f"{f.namespace}/{f.name} is {f.state}" for f in bad)
        summary = f"preview feature not registered: {desc}"
        if pending and len(pending) == len(bad):
            summary += " (registration in progress: wait for Registered, then re-register the provider)"
        return result(SPEC, CheckStatus.FAIL, summary, evidence=evidence,
                      remediation="\n".join(_register(f) for f in bad))
    if any(f.named for f in unreadable):
        f = next(f for f in unreadable if f.named)
        return result(SPEC, CheckStatus.FAIL, f"the error says {f.namespace}/{f.name} is not enabled; its registration "
                      "state could not be read", evidence=evidence, confidence="likely",
                      confirm_by=f"az feature show --namespace {f.namespace} --name {f.name} --query properties.state "
                                 "shows NotRegistered", remediation=_register(f), reason=f.unreadable)
    if unreadable:
        why = "; ".join(f.unreadable or "" for f in unreadable)
        return result(SPEC, CheckStatus.ERROR, f"cannot check: {why}", evidence=evidence, reason=why)
    if missing:
        why = "feature not found: " + ", ".join(f"{f.namespace}/{f.name}" for f in missing)
        return result(SPEC, CheckStatus.ERROR, f"cannot check: {why}", evidence=evidence, reason=why)
    names = ", ".join(f"{f.namespace}/{f.name}" for f in facts.features)
    return result(SPEC, CheckStatus.PASS, f"feature(s) Registered: {names}", evidence=evidence,
                  remediation=("if the error persists, propagate the registration: "
                               + "; ".join(sorted({f"az provider register --namespace {f.namespace}"
                                                   for f in facts.features}))))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="feature_registration",
    title="Preview feature registration",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.REGISTRATION, Family.VALIDATION, Family.SUBNET_IPS}),
    relevance={"registration": 100, "validation": 30, "subnet_ips": 30},
    predicts={"default": "FeatureFlagNotEnabled"},
)
