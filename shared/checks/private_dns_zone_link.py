"""private_dns_zone_link: is the private cluster's DNS zone there and linked to the node VNet?

Why: nodes of a private cluster resolve `<name>.<guid>.privatelink.<region>.azmk8s.io` through the
private DNS zone; if the zone is gone or not linked to the node VNet (`virtualNetworkLinks[]
.properties.virtualNetwork.id`, `virtualNetworkLinkState` Completed, `provisioningState` Succeeded)
resolution fails (exit 52 NXDOMAIN, or a connection failure).
The zone: `apiServerAccessProfile.privateDNSZone` when it is a zone id; for "system" (the default) the
zone in the node resource group whose name is a suffix of `privateFQDN`. "none" -> not applicable
(the user runs DNS; see vnet_custom_dns). Not applicable to public clusters.
Doc: https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverdnslookupfail
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import netread
from shared.checklib import netutil as nu
from shared.checklib.base import API, CheckContext, CheckSpec, NotApplicable, Skip, result
from shared.models import CheckResult, CheckStatus, Evidence, Family

DNS = API["privateDns"]


@dataclass(frozen=True)
class Link:
    id: str
    vnet_id: str
    state: str
    provisioning_state: str


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    private_fqdn: str | None
    zone_setting: str
    zone_id: str | None  # None: not found
    searched: str  # where we looked
    node_vnet_ids: tuple[str, ...]
    links: tuple[Link, ...]


def zone_for(fqdn: str | None, zones: list[dict[str, object]]) -> dict[str, object] | None:
    """The zone whose name is the longest suffix of the private FQDN."""
    if not fqdn:
        return None
    host = fqdn.lower().rstrip(".")
    best = None
    for z in zones:
        name = str(z.get("name", "")).lower()
        longer = best is None or len(name) > len(str(best.get("name")))
        if name and (host == name or host.endswith("." + name)) and longer:
            best = z
    return best


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    if not view.private:
        raise NotApplicable("public cluster: no private DNS zone")
    setting = view.private_dns_zone or "system"
    if setting.lower() == "none":
        raise NotApplicable("privateDNSZone is 'none': the API server name is resolved by your own DNS")
    netread.require_byo_vnet(view, "the node VNet to compare with the zone links")
    links_read: dict[str, Any] | Exception | None = None
    if nu.id_segment(setting, "privateDnsZones"):
        zone_id: str | None = setting
        searched = setting
        # The links are read with the zone (its id is the setting); used only if the zone exists.
        zone, links_read = await netread.in_order(
            ctx.get_or_none(setting, DNS), netread.captured(ctx.get(f"{setting}/virtualNetworkLinks", DNS)))
        if zone is None:
            zone_id = None
    else:
        if not view.node_resource_group:
            raise Skip("the cluster body has no nodeResourceGroup")
        searched = f"{netread.node_rg_id(view)}/providers/Microsoft.Network/privateDnsZones"
        listing = await ctx.get_or_none(searched, DNS)
        if listing is None:
            raise Skip(f"node resource group {view.node_resource_group} not found (not created yet, or deleted: "
                       "see node_resource_group)")
        zone = zone_for(view.private_fqdn, netread.collection(listing))
        zone_id = str(zone.get("id")) if zone else None
    links: tuple[Link, ...] = ()
    if zone_id:
        items = netread.collection(netread.unwrap(links_read) if links_read is not None
                                   else await ctx.get(f"{zone_id}/virtualNetworkLinks", DNS))
        links = tuple(Link(str(x.get("id") or ""), nu.ref_id(nu.props(x).get("virtualNetwork")) or "",
                           str(nu.props(x).get("virtualNetworkLinkState") or ""),
                           str(nu.props(x).get("provisioningState") or "")) for x in items)
    return Facts(view.id, view.private_fqdn, setting, zone_id, searched, view.node_vnet_ids, links)


def evaluate(f: Facts) -> CheckResult:
    ev = [Evidence(resource_id=f.cluster_id, property="properties.apiServerAccessProfile.privateDNSZone",
                   value=f.zone_setting),
          Evidence(resource_id=f.cluster_id, property="properties.privateFQDN", value=f.private_fqdn)]
    if f.zone_id is None:
        return result(SPEC, CheckStatus.FAIL,
                      f"no private DNS zone for {f.private_fqdn or 'the private FQDN'} (looked in {f.searched})",
                      evidence=(*ev, Evidence(resource_id=f.searched, property="privateDnsZones", value=None)),
                      remediation=f"az aks update -g {nu.resource_group_of(f.cluster_id)} -n {nu.name_of(f.cluster_id)}"
                                  "  # reconcile recreates the system zone; for a custom zone recreate it first")
    zone = nu.name_of(f.zone_id)
    rg = nu.resource_group_of(f.zone_id)
    missing: list[str] = []
    broken: list[Link] = []
    for vnet_id in f.node_vnet_ids:
        link = next((ln for ln in f.links if nu.same_id(ln.vnet_id, vnet_id)), None)
        if link is None:
            missing.append(vnet_id)
            continue
        ev.append(Evidence(resource_id=link.id, property="properties.virtualNetworkLinkState", value=link.state,
                           note=f"link to {nu.name_of(vnet_id)}, provisioningState {link.provisioning_state}"))
        if link.state.lower() != "completed" or link.provisioning_state.lower() != "succeeded":
            broken.append(link)
    ev.append(Evidence(resource_id=f"{f.zone_id}/virtualNetworkLinks", property="properties.virtualNetwork.id",
                       value=[ln.vnet_id for ln in f.links]))
    if missing:
        cmds = "\n".join(f"az network private-dns link vnet create -g {rg} -z {zone} -n {nu.name_of(v)}-link "
                         f"-v {v} -e false" for v in missing)
        return result(SPEC, CheckStatus.FAIL,
                      f"private DNS zone {zone} is not linked to node VNet {', '.join(nu.name_of(v) for v in missing)}",
                      evidence=tuple(ev), remediation=cmds)
    if broken:
        b = broken[0]
        return result(SPEC, CheckStatus.FAIL,
                      f"link {nu.name_of(b.id)} of zone {zone} is {b.state or '?'}/{b.provisioning_state or '?'}",
                      evidence=tuple(ev),
                      remediation=f"az network private-dns link vnet show -g {rg} -z {zone} -n {nu.name_of(b.id)}")
    return result(SPEC, CheckStatus.PASS, f"private DNS zone {zone} is linked to the node VNet(s)", evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="private_dns_zone_link",
    title="Private DNS zone exists and is linked to the node VNet",
    docs=(nu.DOC_DNS, nu.DOC_VNET_LINK),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.DNS, Family.API_SERVER_CONNECTIVITY, Family.PERMISSIONS}),
    relevance={"dns": 100, "api_server_connectivity": 70, "api_server_connectivity/timeout": 50,
               "permissions": 40},
    targets=("apiServerAccessProfile.privateDNSZone",),
    resource_kinds=frozenset({ResourceKind.PRIVATE_DNS_ZONE}),
)
