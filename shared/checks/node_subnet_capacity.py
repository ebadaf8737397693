"""node_subnet_capacity: free IPs in the node subnet vs what the pools on it need (+ upgrade surge).

Reads: cluster (2025-05-01: networkProfile.networkPlugin/networkPluginMode, agentPoolProfiles[]
.{name,count,maxCount,enableAutoScaling,maxPods,vnetSubnetID,podSubnetID,upgradeSettings.maxSurge});
the node subnet(s) (network 2024-05-01: addressPrefix | addressPrefixes[], ipConfigurations[]).
Math: usable = size - 5 (Azure reserves 5 per prefix); used = len(ipConfigurations); IPs per node =
1 for kubenet / Azure CNI Overlay / a separate pod subnet / BYO CNI, maxPods + 1 for Azure CNI (flat);
surge = maxSurge (count or % of the pool rounded up; 10% when unset).
FAIL when free IPs cannot hold the next step (surge nodes for an upgrade, one node otherwise) or when
the subnet cannot hold every pool on it at max size plus surge.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, NotApplicable, result
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/subnetisfull-error",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-subnetisfull-upgrade",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/insufficientsubnetsize-error-advanced-networking",
)
CNI_DEFAULT_MAX_PODS = 30


@dataclass(frozen=True)
class Pool:
    name: str
    nodes: int  # max(count, maxCount when autoscaling)
    count: int
    max_pods: int | None
    max_surge: str | None
    pod_subnet: bool
    failing: bool  # the pool the failed operation targeted (all pools when unknown)


@dataclass(frozen=True)
class SubnetFacts:
    subnet_id: str
    prefixes: tuple[str, ...]
    used: int
    pools: tuple[Pool, ...]


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    cluster_name: str
    verb: str
    plugin: str
    plugin_mode: str
    subnets: tuple[SubnetFacts, ...]


def _surge_raw(v: Any) -> str | None:
    return str(v).strip() if isinstance(v, str | int) and not isinstance(v, bool) and str(v).strip() else None


def _pool(p: dict[str, Any], failing: bool) -> tuple[str, Pool]:
    count = az.as_int(p.get("count")) or 0
    nodes = count
    if p.get("enableAutoScaling") is True:
        nodes = max(count, az.as_int(p.get("maxCount")) or 0)
    return str(p.get("vnetSubnetID")), Pool(
        name=str(p.get("name") or "?"), nodes=nodes, count=count, max_pods=az.as_int(p.get("maxPods")),
        max_surge=_surge_raw(az.dig(p, "upgradeSettings.maxSurge")),
        pod_subnet=bool(az.as_str(p.get("podSubnetID"))), failing=failing)


async def gather(ctx: CheckContext) -> Facts:
    cluster = await ctx.cluster()
    profiles = [p for p in az.as_list(az.dig(cluster, "properties.agentPoolProfiles")) if isinstance(p, dict)]
    target = ctx.operation.agent_pool
    if target and not any(az.same(az.as_str(p.get("name")), target) for p in profiles):
        extra = await ctx.get_or_none(f"{ctx.operation.cluster_id}/agentPools/{target}", API["agentPools"])
        if extra is not None:
            profiles.append({"name": extra.get("name") or target, **(extra.get("properties") or {})})
    pools: list[tuple[str, Pool]] = []
    for p in profiles:
        if az.as_str(p.get("vnetSubnetID")):
            failing = target is None or az.same(az.as_str(p.get("name")), target)
            pools.append(_pool(p, failing))
    wanted: list[str] = []
    for sid, pool in pools:
        if pool.failing and not any(az.same(sid, w) for w in wanted):
            wanted.append(sid)
    if not wanted:
        raise NotApplicable("the node pool uses the AKS-managed VNet (no vnetSubnetID): AKS sizes that subnet")
    bodies = await asyncio.gather(*(ctx.get(s, API["network"]) for s in wanted))
    subnets = []
    for sid, body in zip(wanted, bodies, strict=True):
        props = body.get("properties") or {}
        prefixes = [x for x in [az.as_str(props.get("addressPrefix")), *az.as_list(props.get("addressPrefixes"))]
                    if isinstance(x, str)]
        uniq = tuple(dict.fromkeys(prefixes))
        subnets.append(SubnetFacts(sid, uniq, len(az.as_list(props.get("ipConfigurations"))),
                                   tuple(p for s, p in pools if az.same(s, sid))))
    net = az.dig(cluster, "properties.networkProfile") or {}
    return Facts(ctx.operation.cluster_id, ctx.operation.resource_group, ctx.operation.cluster_name,
                 ctx.operation.verb, str(net.get("networkPlugin") or "kubenet").casefold(),
                 str(net.get("networkPluginMode") or "").casefold(), tuple(subnets))


def ips_per_node(plugin: str, mode: str, pool: Pool) -> int:
    if plugin == "azure" and mode != "overlay" and not pool.pod_subnet:
        return (pool.max_pods or CNI_DEFAULT_MAX_PODS) + 1
    return 1


def evaluate(f: Facts) -> CheckResult:
    evidence: list[Evidence] = []
    problems: list[str] = []
    fixes: list[str] = []
    for s in f.subnets:
        sizes = [n for n in (az.ipv4_prefix_size(p) for p in s.prefixes) if n is not None]
        if not sizes:
            evidence.append(Evidence(resource_id=s.subnet_id, property="properties.addressPrefix",
                                     value=list(s.prefixes), note="no IPv4 prefix to size"))
            continue
        usable = sum(n - az.AZURE_RESERVED_IPS_PER_SUBNET for n in sizes)
        free = usable - s.used
        planned = 0
        need_now = 0
        for p in s.pools:
            per = ips_per_node(f.plugin, f.plugin_mode, p)
            surge = az.surge_nodes(p.max_surge, p.nodes)
            planned += (p.nodes + surge) * per
            if p.failing:
                step = az.surge_nodes(p.max_surge, p.count) if f.verb == "upgrade" else 1
                need_now = max(need_now, max(step, 1) * per)
        evidence.append(Evidence(
            resource_id=s.subnet_id, property="properties.addressPrefix / ipConfigurations",
            value={"prefixes": list(s.prefixes), "usable": usable, "used": s.used, "free": free},
            note=f"{sum(sizes)} addresses - {az.AZURE_RESERVED_IPS_PER_SUBNET} reserved per prefix - "
                 f"{s.used} ipConfigurations"))
        pool_desc = "; ".join(
            f"{p.name}: {p.nodes} nodes + {az.surge_nodes(p.max_surge, p.nodes)} surge (maxSurge "
            f"{p.max_surge or 'unset=10%'}) x {ips_per_node(f.plugin, f.plugin_mode, p)} IP/node"
            for p in s.pools)
        evidence.append(Evidence(resource_id=s.subnet_id, property="agentPoolProfiles[vnetSubnetID=subnet]",
                                 value={"planned_ips": planned, "next_step_ips": need_now},
                                 note=f"plugin {f.plugin}{'/' + f.plugin_mode if f.plugin_mode else ''}; {pool_desc}"))
        name = az.name_of(s.subnet_id)
        if free < need_now:
            problems.append(f"subnet {name} has {free} free IPs, the next {f.verb} step needs {need_now}")
        elif planned > usable:
            problems.append(f"subnet {name} ({', '.join(s.prefixes)}) holds {usable} usable IPs but its pools "
                            f"need {planned} at max size + surge")
        else:
            continue
        vnet = az.name_of(az.parent_of(s.subnet_id))
        vnet_rg = az.resource_group_of(s.subnet_id) or f.resource_group
        failing = next((p for p in s.pools if p.failing), s.pools[0])
        fixes.append(
            f"# {name}: add a larger subnet and move the pool to it\n"
            f"az network vnet subnet create -g {vnet_rg} --vnet-name {vnet} -n {name}-2 "
            f"--address-prefixes <free CIDR in {vnet}, larger than {s.prefixes[0]}>\n"
            f"az aks nodepool add -g {f.resource_group} --cluster-name {f.cluster_name} -n {failing.name}2 "
            f"--vnet-subnet-id {az.parent_of(s.subnet_id)}/subnets/{name}-2\n"
            f"# or lower the surge for upgrades: az aks nodepool update -g {f.resource_group} "
            f"--cluster-name {f.cluster_name} -n {failing.name} --max-surge 1")
    if problems:
        return result(SPEC, CheckStatus.FAIL, "; ".join(problems), evidence=tuple(evidence),
                      remediation="\n".join(fixes))
    if not any(e.value for e in evidence if isinstance(e.value, dict)):
        return result(SPEC, CheckStatus.SKIPPED, "skipped: node subnet has no IPv4 prefix", evidence=tuple(evidence),
                      reason="no IPv4 addressPrefix on the node subnet")
    return result(SPEC, CheckStatus.PASS,
                  f"node subnet(s) have room: {', '.join(az.name_of(s.subnet_id) for s in f.subnets)}",
                  evidence=tuple(evidence))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="node_subnet_capacity",
    title="Node subnet free IPs vs nodes, pods and surge",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.SUBNET_IPS, Family.CAPACITY, Family.QUOTA, Family.NETWORK_CONFIG}),
    relevance={"subnet_ips": 95, "capacity": 30, "quota": 40, "network_config": 40},
    targets=("agentPoolProfiles.vnetSubnetID", "agentPoolProfiles.count", "upgradeSettings.maxSurge",),
    resource_kinds=frozenset({ResourceKind.SUBNET}),
)
