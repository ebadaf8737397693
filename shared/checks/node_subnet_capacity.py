"""node_subnet_capacity: free IPs in the node subnet vs what the pools on it need, upgrade surge included.

Reads: the cluster through ClusterView (networkPlugin / networkPluginMode, pools' count, maxCount,
autoscaling, maxPods, vnetSubnetID, podSubnetID, upgradeSettings.maxSurge / maxUnavailable; the
planned body of a pre-flight), the node subnet(s) (network 2024-05-01: addressPrefix |
addressPrefixes[], ipConfigurations[]) and, for a free-range proposal, the subnet's VNet
(addressSpace, subnets[]).
Math: usable = size - 5 (Azure reserves 5 per prefix); used = len(ipConfigurations); IPs per node =
maxPods + 1 for Azure CNI without overlay and without a pod subnet (maxPods default 30), 1 otherwise
(kubenet, CNI Overlay, a pod subnet, BYO CNI); surge nodes = maxSurge as a count or a percentage of
the pool rounded up (unset: AKS's default, 10% on 1.28+, 1 node before; maxSurge 0 surges nothing).
FAIL when the free IPs cannot hold the next step (the surge nodes for an upgrade, the whole pool for
a create, one node otherwise; or the count the error says it needed) or when the subnet cannot hold
every pool on it at its maximum size plus surge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared import armid
from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib import netutil as nu
from shared.checklib.base import API, CheckContext, CheckSpec, NotApplicable, Skip, result
from shared.checklib.clusterview import ClusterView, PoolView
from shared.checklib.netread import all_in_order
from shared.models import CheckResult, CheckStatus, Evidence, Family
from shared.ports import ArmError

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/subnetisfull-error",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-subnetisfull-upgrade",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/insufficientsubnetsize-error-advanced-networking",
    "https://learn.microsoft.com/azure/aks/upgrade-aks-node-pools-rolling",
)
CNI_DEFAULT_MAX_PODS = 30


@dataclass(frozen=True)
class Pool:
    name: str
    nodes: int  # max(count, maxCount when autoscaling)
    count: int
    max_pods: int | None
    max_surge: str | None
    surge_now: int  # surge nodes of an upgrade at the current count
    surge_max: int  # surge nodes at the pool's maximum size
    pod_subnet: bool
    failing: bool  # the pool the failed operation targeted (all pools when unknown)


@dataclass(frozen=True)
class SubnetFacts:
    subnet_id: str
    prefixes: tuple[str, ...]
    used: int
    pools: tuple[Pool, ...]
    free_range: str | None = None  # a free block in the VNet large enough for every pool on it


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    cluster_name: str
    verb: str
    planned: bool
    plugin: str
    plugin_mode: str
    subnets: tuple[SubnetFacts, ...]
    ips_requested: int | None  # "does not have enough capacity for N IP addresses"
    absent_pool: str | None = None  # the pool the operation names, missing from the body (a rejected add)


def _pool(p: PoolView, failing: bool, version: str | None) -> Pool:
    return Pool(name=p.name or "?", nodes=p.nodes_at_most, count=p.count or 0, max_pods=p.max_pods,
                max_surge=p.max_surge, surge_now=p.surge_nodes(cluster_version=version),
                surge_max=p.surge_nodes(p.nodes_at_most, cluster_version=version),
                pod_subnet=bool(p.pod_subnet_id), failing=failing)


def ips_per_node(plugin: str, mode: str, pool: Pool) -> int:
    if plugin == "azure" and mode != "overlay" and not pool.pod_subnet:
        return (pool.max_pods or CNI_DEFAULT_MAX_PODS) + 1
    return 1


async def _vnet_or_none(ctx: CheckContext, vnet_id: str | None) -> dict[str, Any] | None:
    if not vnet_id:
        return None
    try:
        return await ctx.get_or_none(vnet_id, API["network"])
    except ArmError:
        return None  # only the proposal needs it


def _free_range(vnet: dict[str, Any] | None, need_ips: int) -> str | None:
    """The first free block in the VNet's address space that holds `need_ips` usable addresses."""
    if vnet is None or need_ips <= 0:
        return None
    props = nu.props(vnet)
    space_raw = props.get("addressSpace")
    listed = space_raw.get("addressPrefixes") if isinstance(space_raw, dict) else None
    space = [n for n in (nu.parse_net(x) for x in (listed or [])) if n is not None and n.version == 4]
    used = [n for s in (props.get("subnets") or []) if isinstance(s, dict) for n in nu.nets_of(nu.props(s))]
    prefixlen = 29
    while prefixlen > 8 and 2 ** (32 - prefixlen) - az.AZURE_RESERVED_IPS_PER_SUBNET < need_ips:
        prefixlen -= 1
    free = nu.free_prefix(space, used, prefixlen)
    return str(free) if free is not None else None


async def gather(ctx: CheckContext) -> Facts:
    v: ClusterView = await ctx.view()
    named = ctx.operation.agent_pool
    target = v.failing_pool if v.pool(v.failing_pool) else None
    # a pool the operation names that the body lacks (a rejected `nodepool add`): no existing pool stands in;
    # only the subnets the error names are checked, for the IPs the error says it needed
    absent = bool(named) and v.pool(named) is None
    version = v.kubernetes_version
    pools: list[tuple[str, Pool]] = []
    for p in v.pools:
        if p.subnet_id and armid.is_kind(p.subnet_id, ResourceKind.SUBNET):
            failing = not absent and (target is None or p.name.casefold() == target.casefold())
            pools.append((p.subnet_id, _pool(p, failing, version)))
    wanted: list[str] = []
    for sid, pool in pools:
        if pool.failing and not any(armid.same(sid, w) for w in wanted):
            wanted.append(sid)
    if absent:
        wanted = list(armid.dedupe(ctx.facts.ids("subnet")))
        if not wanted:
            raise Skip(f"pool {named} is not in the cluster body and the error names no subnet")
    if not wanted:
        raise NotApplicable("the node pool uses the AKS-managed VNet (no vnetSubnetID): AKS sizes that subnet")
    bodies = await all_in_order(ctx.get(s, API["network"]) for s in wanted)
    subnets: list[SubnetFacts] = []
    for sid, body in zip(wanted, bodies, strict=True):
        props = nu.props(body)
        on_it = tuple(p for s, p in pools if armid.same(s, sid))
        subnets.append(SubnetFacts(sid, tuple(nu.prefixes_of(props)), len(az.as_list(props.get("ipConfigurations"))),
                                   on_it))
    f = Facts(v.id, v.resource_group, v.name, ctx.operation.verb, v.planned, v.network_plugin.casefold(),
              (v.network_plugin_mode or "").casefold(), tuple(subnets), ctx.facts.ips_requested,
              named if absent else None)
    # a free range for the subnets that are short (read only when one is)
    out: list[SubnetFacts] = []
    for s in f.subnets:
        planned, need_now, usable, free = _math(f, s)
        if usable is not None and ((free is not None and free < need_now) or planned > usable):
            vnet = await _vnet_or_none(ctx, armid.parent_of(s.subnet_id))
            s = SubnetFacts(s.subnet_id, s.prefixes, s.used, s.pools, _free_range(vnet, planned))
        out.append(s)
    return Facts(f.cluster_id, f.resource_group, f.cluster_name, f.verb, f.planned, f.plugin, f.plugin_mode,
                 tuple(out), f.ips_requested, f.absent_pool)


def _math(f: Facts, s: SubnetFacts) -> tuple[int, int, int | None, int | None]:
    """(IPs every pool needs at max size + surge, IPs the next step needs, usable, free)."""
    sizes = [n for n in (az.ipv4_prefix_size(p) for p in s.prefixes) if n is not None]
    usable = sum(n - az.AZURE_RESERVED_IPS_PER_SUBNET for n in sizes) if sizes else None
    free = usable - s.used if usable is not None else None
    planned = 0
    need_now = 0
    for p in s.pools:
        per = ips_per_node(f.plugin, f.plugin_mode, p)
        planned += (p.nodes + p.surge_max) * per
        if p.failing:
            if f.verb == "upgrade":
                step = p.surge_now
            elif f.verb == "create":  # a new cluster or pool: every node is new
                step = p.count
            else:
                step = 1
            need_now = max(need_now, max(step, 1 if f.verb != "upgrade" else 0) * per)
    if f.ips_requested:
        need_now = max(need_now, f.ips_requested)
    return planned, need_now, usable, free


def evaluate(f: Facts) -> CheckResult:
    evidence: list[Evidence] = []
    problems: list[str] = []
    fixes: list[str] = []
    for s in f.subnets:
        planned, need_now, usable, free = _math(f, s)
        if usable is None or free is None:
            evidence.append(Evidence(resource_id=s.subnet_id, property="properties.addressPrefix",
                                     value=list(s.prefixes), note="no IPv4 prefix to size"))
            continue
        evidence.append(Evidence(
            resource_id=s.subnet_id, property="properties.addressPrefix / ipConfigurations",
            value={"prefixes": list(s.prefixes), "usable": usable, "used": s.used, "free": free},
            note=f"{usable + az.AZURE_RESERVED_IPS_PER_SUBNET * len(s.prefixes)} addresses - "
                 f"{az.AZURE_RESERVED_IPS_PER_SUBNET} reserved per prefix - {s.used} ipConfigurations"))
        pool_desc = "; ".join(
            f"{p.name}: {p.nodes} nodes + {p.surge_max} surge (maxSurge {p.max_surge or 'unset: AKS default'}) x "
            f"{ips_per_node(f.plugin, f.plugin_mode, p)} IP/node" for p in s.pools)
        evidence.append(Evidence(resource_id=s.subnet_id, property="agentPoolProfiles[vnetSubnetID=subnet]",
                                 value={"planned_ips": planned, "next_step_ips": need_now},
                                 note=f"plugin {f.plugin}{'/' + f.plugin_mode if f.plugin_mode else ''}; {pool_desc}"
                                      + (f"; the error asked for {f.ips_requested} IPs" if f.ips_requested else "")))
        name = armid.name_of(s.subnet_id)
        if free < need_now:
            problems.append(f"subnet {name} has {free} free IPs, the next {f.verb} step needs {need_now}")
        elif planned > usable and not f.absent_pool:
            problems.append(f"subnet {name} ({', '.join(s.prefixes)}) holds {usable} usable IPs but its pools "
                            f"need {planned} at max size + surge")
        else:
            continue
        vnet_id = armid.parent_of(s.subnet_id) or ""
        vnet = armid.name_of(vnet_id)
        parsed = armid.parse(s.subnet_id)
        vnet_rg = (parsed.resource_group if parsed else None) or f.resource_group
        failing = next((p for p in s.pools if p.failing), None) or (s.pools[0] if s.pools and not f.absent_pool
                                                                    else None)
        per = ips_per_node(f.plugin, f.plugin_mode, failing) if failing else 1
        surge_fit = max(0, (free // per) if per else 0)
        new_pool = f"{failing.name}2" if failing else (f.absent_pool or "<pool>")
        cidr = s.free_range or f"<free CIDR in {vnet} with at least {planned} usable addresses>"
        fix = (f"# {name}: add a larger subnet and move the pool to it\n"
               f"az network vnet subnet create -g {vnet_rg} --vnet-name {vnet} -n {name}-2 --address-prefixes {cidr}\n"
               f"az aks nodepool add -g {f.resource_group} --cluster-name {f.cluster_name} -n {new_pool} "
               f"--vnet-subnet-id {vnet_id}/subnets/{name}-2")
        if f.verb == "upgrade" and failing is not None and failing.surge_now > surge_fit:
            fix += (f"\n# or surge only as many nodes as the subnet has room for ({free} free IPs / {per} per node):\n"
                    f"az aks nodepool update -g {f.resource_group} --cluster-name {f.cluster_name} -n {failing.name} "
                    + (f"--max-surge {surge_fit}" if surge_fit > 0 else "--max-surge 0 --max-unavailable 1"))
        fixes.append(fix)
    if problems:
        return result(SPEC, CheckStatus.FAIL, "; ".join(problems), evidence=tuple(evidence),
                      remediation="\n".join(fixes), blocks_request=True)
    if not any(e.value for e in evidence if isinstance(e.value, dict)):
        return result(SPEC, CheckStatus.SKIPPED, "skipped: node subnet has no IPv4 prefix", evidence=tuple(evidence),
                      reason="no IPv4 addressPrefix on the node subnet")
    return result(SPEC, CheckStatus.PASS,
                  f"node subnet(s) have room: {', '.join(armid.name_of(s.subnet_id) for s in f.subnets)}",
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
    predicts={"default": "InsufficientSubnetSize", "scale": "SubnetIsFull"},
)
