"""apiserver_subnet: is the BYO API-server subnet usable for API Server VNet Integration?

Why: the API server ILB is projected into `apiServerAccessProfile.subnetId`. Per the AKS doc that
subnet must exist, be in the node VNet, be delegated to Microsoft.ContainerService/managedClusters
(`properties.delegations[].properties.serviceName`), be at least /28 (`addressPrefix` /
`addressPrefixes`), serve no other workload (no `privateEndpoints`, foreign `ipConfigurations`,
other `serviceAssociationLinks` / `resourceNavigationLinks`, no other delegation, not a node
subnet), keep free IPs (AKS reserves at least 9; Azure keeps 5 per subnet) and sit in the
cluster's region (VNet `location`; the feature is not offered in qatarcentral). Its NSG
(443/4443 from the nodes, 9988 from AzureLoadBalancer) is nsg_vnet_integration's.
Runs for every error that can mean it: the subnet family (InsufficientSubnetSize,
SubnetIsDelegated, SubnetWithExternalResourcesCannotBeUsedByOtherResources), an InvalidParameter
whose ARM `target` is `apiServerAccessProfile.subnetId` (spec `targets`), an error naming a subnet
id (spec `resource_kinds`) and API-server connection failures of VNet-integrated clusters.
Which subnet: the cluster's `apiServerAccessProfile.subnetId`; when the request was rejected before
AKS wrote it (a create that never existed, or an update enabling VNet integration that left the
cluster as it was) the subnet the error names, but only when the error's `target` is an
`apiServerAccessProfile` property, so a node subnet named by InsufficientSubnetSize is never
judged as an API server subnet. Not applicable without VNet integration or when `subnetId` is ""
(AKS-managed subnet).
Doc: https://learn.microsoft.com/azure/aks/api-server-vnet-integration
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from shared.armid import ResourceKind
from shared.checklib import netread
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable, Skip, result
from shared.checklib.clusterview import ClusterView
from shared.models import CheckResult, CheckStatus, Evidence, Family

MIN_PREFIX = 28
AKS_RESERVED = 9
UNAVAILABLE_REGIONS = frozenset({"qatarcentral"})


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    name: str
    verb: str
    region: str
    subnet_id: str
    exists: bool
    prefixes: tuple[str, ...] = ()
    delegations: tuple[str, ...] = ()
    ip_configurations: tuple[str, ...] = ()
    private_endpoints: tuple[str, ...] = ()
    service_links: tuple[str, ...] = ()  # linkedResourceType of serviceAssociationLinks
    navigation_links: tuple[str, ...] = ()  # linkedResourceType of resourceNavigationLinks
    node_subnet_ids: tuple[str, ...] = ()
    node_resource_group: str = ""
    vnet_location: str | None = None
    vnet_space: tuple[str, ...] = ()
    vnet_subnet_prefixes: tuple[str, ...] = ()


def _types(items: object) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    return tuple(str((nu.props(x) or x).get("linkedResourceType") or "?") for x in items if isinstance(x, dict))


def _requested_subnet(ctx: CheckContext) -> str | None:
    """The API server subnet the rejected request asked for: named in an error about
    `apiServerAccessProfile.*` (never a subnet named by an error about something else)."""
    target = (ctx.facts.target or "").lower()
    if "apiserveraccessprofile" not in target:
        return None
    return next((i for i in ctx.facts.ids("subnet") if nu.is_subnet_id(i)), None)


async def gather(ctx: CheckContext) -> Facts:
    try:
        view: ClusterView | None = await netread.load_cluster(ctx)
    except Skip:
        view = None
    requested = _requested_subnet(ctx)
    node_subnets: tuple[str, ...] = ()
    region, node_rg = "", ""
    if view is None:
        # The cluster was never written: the subnet the failed PUT asked for, if the error names it.
        if requested is None:
            raise Skip(
                f"the managed cluster {ctx.operation.cluster_id} does not exist and the error names no "
                "API server subnet (no apiServerAccessProfile target)"
            ) from None
        subnet_id = requested
    else:
        region, node_subnets, node_rg = view.region, view.node_subnet_ids, view.node_resource_group
        if view.vnet_integration and view.apiserver_subnet_id:
            subnet_id = view.apiserver_subnet_id
        elif requested is not None:
            subnet_id = requested  # an update enabling VNet integration, rejected: the cluster is unchanged
        elif not view.vnet_integration:
            raise NotApplicable("API Server VNet Integration is not enabled")
        else:
            raise NotApplicable(
                "apiServerAccessProfile.subnetId is empty: AKS created and manages the API server subnet"
            )
    op = ctx.operation
    vnet_id = nu.vnet_id_of(subnet_id) if nu.is_subnet_id(subnet_id) else ""
    subnet, vnet = await netread.get_all_or_none(ctx, [subnet_id, vnet_id] if vnet_id else [subnet_id, subnet_id])
    vp = nu.props(vnet) if vnet_id else {}
    space = tuple(str(x) for x in (vp.get("addressSpace") or {}).get("addressPrefixes") or [])
    used = tuple(p for s in vp.get("subnets") or [] for p in nu.prefixes_of(nu.props(s)))
    base = Facts(
        cluster_id=op.cluster_id,
        resource_group=op.resource_group,
        name=op.cluster_name,
        verb=op.verb,
        region=region,
        subnet_id=subnet_id,
        exists=False,
        node_subnet_ids=node_subnets,
        node_resource_group=node_rg,
        vnet_location=nu.region_of(vnet.get("location")) if vnet and vnet_id else None,
        vnet_space=space,
        vnet_subnet_prefixes=used,
    )
    if subnet is None:
        return base
    sp = nu.props(subnet)
    return replace(
        base,
        exists=True,
        prefixes=tuple(nu.prefixes_of(sp)),
        delegations=tuple(str((nu.props(d) or d).get("serviceName") or "") for d in sp.get("delegations") or []),
        ip_configurations=tuple(i for i in (nu.ref_id(c) for c in sp.get("ipConfigurations") or []) if i),
        private_endpoints=tuple(i for i in (nu.ref_id(c) for c in sp.get("privateEndpoints") or []) if i),
        service_links=_types(sp.get("serviceAssociationLinks")),
        navigation_links=_types(sp.get("resourceNavigationLinks")),
    )


def _is_apiserver_frontend(ip_config_id: str) -> bool:
    return "/providers/microsoft.network/loadbalancers/kube-apiserver/" in ip_config_id.lower()


def evaluate(f: Facts) -> CheckResult:
    sid = f.subnet_id
    rg = nu.resource_group_of(sid) or "<vnet-rg>"
    vnet = nu.id_segment(sid, "virtualNetworks") or "<vnet>"
    subnet = nu.name_of(sid)
    ev: list[Evidence] = [
        Evidence(resource_id=f.cluster_id, property="properties.apiServerAccessProfile.subnetId", value=sid)
    ]
    problems: list[str] = []
    fixes: list[str] = []
    suggest = nu.free_prefix(
        [n for n in (nu.parse_net(x) for x in f.vnet_space) if n],
        [n for n in (nu.parse_net(x) for x in f.vnet_subnet_prefixes) if n],
        MIN_PREFIX,
    )
    new_name = f"{subnet}-28" if f.exists else subnet
    new_id = f"{nu.vnet_id_of(sid)}/subnets/{new_name}" if nu.is_subnet_id(sid) else "<new-subnet-id>"
    create_subnet = (
        f"az network vnet subnet create -g {rg} --vnet-name {vnet} -n {new_name} "
        f"--address-prefixes {suggest or '<free /28 in ' + vnet + '>'} "
        f"--delegations Microsoft.ContainerService/managedClusters"
    )
    node_arg = f" --vnet-subnet-id {f.node_subnet_ids[0]}" if f.node_subnet_ids else ""
    use_subnet = (
        f"az aks create -g {f.resource_group} -n {f.name} --enable-apiserver-vnet-integration{node_arg} "
        f"--apiserver-subnet-id {new_id}  # plus your other create parameters"
        if f.verb == "create"
        else f"az aks update -g {f.resource_group} -n {f.name} --enable-apiserver-vnet-integration "
        f"--apiserver-subnet-id {new_id}"
    )
    if not f.exists:
        problems.append(f"API server subnet {subnet} does not exist")
        ev.append(Evidence(resource_id=sid, property="GET subnet", value="404 NotFound"))
        fixes += [create_subnet, use_subnet]
        return _fail(problems, ev, fixes)
    nets = [n for n in (nu.parse_net(p) for p in f.prefixes) if n is not None]
    biggest = max(nets, key=lambda n: n.num_addresses) if nets else None
    ev.append(Evidence(resource_id=sid, property="properties.addressPrefix", value=list(f.prefixes)))
    ev.append(
        Evidence(resource_id=sid, property="properties.delegations[].properties.serviceName", value=list(f.delegations))
    )
    too_small = biggest is not None and biggest.prefixlen > MIN_PREFIX
    if too_small:
        problems.append(f"{biggest} is smaller than the required /{MIN_PREFIX}")
    delegated = [d for d in f.delegations if d.lower() == nu.AKS_DELEGATION]
    others = [d for d in f.delegations if d.lower() != nu.AKS_DELEGATION]
    if others:
        problems.append(f"delegated to {', '.join(others)} instead of Microsoft.ContainerService/managedClusters")
    elif not delegated:
        problems.append("not delegated to Microsoft.ContainerService/managedClusters")
    if too_small:
        fixes += [create_subnet, use_subnet]
    elif others or not delegated:
        fixes.append(
            f"az network vnet subnet update -g {rg} --vnet-name {vnet} -n {subnet} "
            "--delegations Microsoft.ContainerService/managedClusters"
        )
    if f.node_subnet_ids:
        if not any(nu.same_id(nu.vnet_id_of(n), nu.vnet_id_of(sid)) for n in f.node_subnet_ids):
            node_vnet = nu.id_segment(f.node_subnet_ids[0], "virtualNetworks")
            problems.append(f"it is in VNet {vnet}, not in the node VNet {node_vnet}")
            ev.append(
                Evidence(
                    resource_id=f.node_subnet_ids[0],
                    property="agentPoolProfiles[].vnetSubnetID",
                    value=f.node_subnet_ids[0],
                    note="node subnet",
                )
            )
        if any(nu.same_id(n, sid) for n in f.node_subnet_ids):
            problems.append("it is also a node subnet; the API server needs its own subnet")
            fixes += [create_subnet, use_subnet]
    foreign = [i for i in f.ip_configurations if not _is_apiserver_frontend(i)]
    other_links = [t for t in f.service_links if t.lower() != nu.AKS_DELEGATION]
    if f.private_endpoints or foreign or other_links or f.navigation_links:
        used_by = [
            *(nu.name_of(p) for p in f.private_endpoints),
            *(i.split("/providers/")[-1] for i in foreign[:3]),
            *other_links,
            *f.navigation_links,
        ]
        problems.append(f"used by other resources: {', '.join(used_by)}")
        # The subnet must be dedicated: the clearest fix is a new delegated /28 for the API server
        # (the other resources stay where they are); moving them out is the alternative.
        fixes += [create_subnet, use_subnet]
        nics = sorted({re.split(r"/ipconfigurations/", i, flags=re.I)[0] for i in foreign
                       if "/networkinterfaces/" in i.lower()})
        if nics:
            names = ", ".join(nu.name_of(n) for n in nics)
            fixes.append(f"# or move these NICs to another subnet, then retry: {names}")
        ev.append(
            Evidence(
                resource_id=sid,
                property="properties.ipConfigurations/privateEndpoints/serviceAssociationLinks",
                value=used_by,
            )
        )
    if biggest is not None and not too_small:
        own = [
            i
            for i in f.ip_configurations
            if _is_apiserver_frontend(i)
            and f.node_resource_group
            and f"/resourcegroups/{f.node_resource_group.lower()}/" in i.lower()
        ]
        free = nu.usable_ips(biggest) - len(f.ip_configurations)
        need = 1 if own else AKS_RESERVED
        ev.append(
            Evidence(
                resource_id=sid,
                property="count(properties.ipConfigurations)",
                value=len(f.ip_configurations),
                note=f"{free} of {nu.usable_ips(biggest)} usable IPs free",
            )
        )
        if free < need:
            problems.append(f"only {free} free IPs (AKS needs {need})")
            fixes += [create_subnet, use_subnet]
    if f.vnet_location and f.region and f.vnet_location != f.region:
        problems.append(f"its VNet is in {f.vnet_location}, the cluster in {f.region}")
    if f.region in UNAVAILABLE_REGIONS:
        problems.append(f"API Server VNet Integration is not available in {f.region}")
    if problems:
        return _fail([f"API server subnet {subnet}: " + problems[0], *problems[1:]], ev, fixes)
    return result(
        SPEC,
        CheckStatus.PASS,
        f"API server subnet {subnet} ({biggest}) is delegated to Microsoft.ContainerService/managedClusters, "
        "in the node VNet and not used by other resources",
        evidence=tuple(ev),
    )


def _fail(problems: list[str], ev: list[Evidence], fixes: list[str]) -> CheckResult:
    return result(
        SPEC,
        CheckStatus.FAIL,
        "; ".join(problems),
        evidence=tuple(ev),
        remediation="\n".join(dict.fromkeys(fixes)) or None,
    )


SPEC: CheckSpec[Facts] = CheckSpec(
    id="apiserver_subnet",
    title="API Server VNet Integration subnet: delegated, /28+, dedicated, free IPs",
    docs=(nu.DOC_VNET_INTEGRATION, nu.DOC_EXTERNAL_RESOURCES),
    gather=gather,
    evaluate=evaluate,
    families=frozenset(
        {Family.SUBNET_IPS, Family.API_SERVER_CONNECTIVITY, Family.CAPACITY, Family.VALIDATION, Family.REGISTRATION}
    ),
    relevance={
        "subnet_ips": 100,
        "api_server_connectivity": 60,
        "api_server_connectivity/timeout": 55,
        "api_server_connectivity/no_route": 65,
        "api_server_connectivity/refused": 55,
        "capacity": 35,
        "validation": 60,
        "validation/network_invalid": 100,
        "registration": 20,
    },
    targets=(
        "apiServerAccessProfile.subnetId",
        "apiServerAccessProfile.enableVnetIntegration",
    ),
    resource_kinds=frozenset({ResourceKind.SUBNET}),
    predicts={"default": "InvalidParameter"},
)
