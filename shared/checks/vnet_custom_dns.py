"""vnet_custom_dns: can the node VNet's custom DNS servers resolve the private API server name?

Why: the node VNet's `properties.dhcpOptions.dnsServers[]` replace Azure DNS (168.63.129.16). For a
private cluster the servers must resolve `*.privatelink.<region>.azmk8s.io`: either they sit in a
VNet linked to the cluster's private DNS zone and forward to 168.63.129.16, or a conditional
forwarder sends that zone there. ~98% of exit-52 (K8SAPIServerDNSLookupFail) cases are NXDOMAIN
from such a setup. Decides per server: 168.63.129.16 -> fine; in the node VNet or a peered VNet
(`virtualNetworkPeerings[].properties.remoteAddressSpace`) that is linked to the zone -> fine
(forwarding itself is not visible in ARM); in a VNet not linked, or outside every VNet we can see
(on-premises) -> fail ("may not resolve privatelink"). Not applicable to public / VNet-integrated
clusters (nodes do not look up a privatelink name) and AKS-managed VNets (Azure DNS).
Doc: https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverdnslookupfail
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import dnszones, netread
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable, result
from shared.models import CheckResult, CheckStatus, Evidence, Family


@dataclass(frozen=True)
class Server:
    ip: str
    vnet_id: str | None  # the VNet whose address space holds it (None: outside the VNets we can see)


@dataclass(frozen=True)
class VnetDns:
    vnet_id: str
    servers: tuple[Server, ...]


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    region: str
    needs_privatelink: bool
    why_not: str
    zone_id: str | None
    linked_vnet_ids: tuple[str, ...]
    vnets: tuple[VnetDns, ...]


def locate(ip: str, vnet: dict[str, Any]) -> str | None:
    addr = nu.parse_net(ip)
    if addr is None:
        return None
    vp = nu.props(vnet)
    own = [n for n in (nu.parse_net(x) for x in (vp.get("addressSpace") or {}).get("addressPrefixes") or []) if n]
    if any(nu.contains(n, addr) for n in own):
        return str(vnet.get("id"))
    for p in vp.get("virtualNetworkPeerings") or []:
        pp = nu.props(p)
        space = [
            n for n in (nu.parse_net(x) for x in (pp.get("remoteAddressSpace") or {}).get("addressPrefixes") or []) if n
        ]
        if any(nu.contains(n, addr) for n in space):
            return nu.ref_id(pp.get("remoteVirtualNetwork"))
    return None


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    if not view.byo_vnet:
        raise NotApplicable("AKS-managed VNet: nodes use Azure DNS")
    vnets = await netread.get_all(ctx, view.node_vnet_ids)
    out: list[VnetDns] = []
    for vid, vnet in zip(view.node_vnet_ids, vnets, strict=True):
        servers = [str(s) for s in (nu.props(vnet).get("dhcpOptions") or {}).get("dnsServers") or []]
        out.append(VnetDns(vid, tuple(Server(s, locate(s, vnet)) for s in servers)))
    needs = view.private and not view.vnet_integration and (view.private_dns_zone or "system").lower() != "none"
    why_not = (
        ""
        if needs
        else "public cluster"
        if not view.private
        else "API Server VNet Integration: nodes use the ILB IP, no DNS"
        if view.vnet_integration
        else "privateDNSZone none: you run the API server record yourself"
    )
    zone_id: str | None = None
    linked: tuple[str, ...] = ()
    if needs and any(v.servers for v in out):
        found = await dnszones.cluster_zone(ctx, view, strict_links=False)
        zone_id = found.zone_id
        linked = tuple(ln.vnet_id for ln in found.links if ln.vnet_id)
    return Facts(view.id, view.region, needs, why_not, zone_id, linked, tuple(out))


def evaluate(f: Facts) -> CheckResult:
    ev = [
        Evidence(
            resource_id=v.vnet_id, property="properties.dhcpOptions.dnsServers", value=[s.ip for s in v.servers] or None
        )
        for v in f.vnets
    ]
    custom = [(v, s) for v in f.vnets for s in v.servers if s.ip != nu.AZURE_DNS_IP]
    if not custom:
        return result(
            SPEC, CheckStatus.PASS, "the node VNet uses Azure-provided DNS (168.63.129.16)", evidence=tuple(ev)
        )
    if not f.needs_privatelink:
        servers = ", ".join(s.ip for _, s in custom)
        return result(
            SPEC,
            CheckStatus.NOT_APPLICABLE,
            f"custom DNS servers {servers} are set, but nodes do not resolve a privatelink name ({f.why_not})",
            evidence=tuple(ev),
            reason=f.why_not,
        )
    zone = nu.name_of(f.zone_id) if f.zone_id else f"privatelink.{f.region}.azmk8s.io"
    bad: list[str] = []
    fixes: list[str] = []
    for _v, s in custom:
        if s.vnet_id and any(nu.same_id(s.vnet_id, ln) for ln in f.linked_vnet_ids):
            ev.append(
                Evidence(
                    resource_id=s.vnet_id,
                    property="privateDnsZones/virtualNetworkLinks",
                    value=s.ip,
                    note=f"DNS server {s.ip} is in a VNet linked to {zone}; it must forward to 168.63.129.16",
                )
            )
            continue
        if s.vnet_id:
            bad.append(f"{s.ip} (in VNet {nu.name_of(s.vnet_id)}, not linked to {zone})")
            if f.zone_id:
                fixes.append(
                    f"az network private-dns link vnet create -g {nu.resource_group_of(f.zone_id)} -z {zone} "
                    f"-n {nu.name_of(s.vnet_id)}-dns-link -v {s.vnet_id} -e false"
                )
        else:
            bad.append(f"{s.ip} (outside the node VNet and its peerings, e.g. on-premises)")
            fixes.append(
                f"# on DNS server {s.ip}: conditional forwarder for privatelink.{f.region}.azmk8s.io "
                f"-> 168.63.129.16 (via a resolver in a VNet linked to {zone})"
            )
    if bad:
        ev.append(
            Evidence(
                resource_id=f.zone_id, property="virtualNetworkLinks[].virtualNetwork.id", value=list(f.linked_vnet_ids)
            )
        )
        return result(
            SPEC,
            CheckStatus.FAIL,
            f"custom DNS server(s) {'; '.join(bad)} may not resolve {zone}: nodes get NXDOMAIN for the API server",
            evidence=tuple(ev),
            remediation="\n".join(fixes),
        )
    return result(SPEC, CheckStatus.PASS, f"custom DNS servers sit in VNets linked to {zone}", evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="vnet_custom_dns",
    title="Custom DNS on the node VNet can resolve the private API server",
    docs=(nu.DOC_DNS, nu.DOC_PRIVATE_CLUSTER),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.DNS, Family.EGRESS, Family.API_SERVER_CONNECTIVITY}),
    relevance={"dns": 95, "egress": 50, "api_server_connectivity": 30, "api_server_connectivity/timeout": 40},
    resource_kinds=frozenset({ResourceKind.VNET}),
    predicts={"default": "VMExtensionError_K8SAPIServerDNSLookupFail"},
)
