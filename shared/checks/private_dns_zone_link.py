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

from shared.armid import ResourceKind
from shared.checklib import dnszones, netread
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable, Skip, result
from shared.checklib.dnszones import Link
from shared.models import CheckResult, CheckStatus, Evidence, Family


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    private_fqdn: str | None
    zone_setting: str
    zone_id: str | None  # None: not found
    searched: str  # where we looked
    node_vnet_ids: tuple[str, ...]
    links: tuple[Link, ...]
    planned_create: bool = False  # pre-flight of a create: AKS links a BYO zone to the node VNet itself
    region: str = ""


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    if not view.private:
        raise NotApplicable("public cluster: no private DNS zone")
    setting = view.private_dns_zone or "system"
    if setting.lower() == "none":
        raise NotApplicable("privateDNSZone is 'none': the API server name is resolved by your own DNS")
    planned_create = view.planned and not view.provisioning_state
    if planned_create and not nu.id_segment(setting, "privateDnsZones"):
        raise NotApplicable(f"planned create with privateDNSZone {setting!r}: AKS creates the zone and its VNet link "
                            "in the node resource group")
    netread.require_byo_vnet(view, "the node VNet to compare with the zone links")
    if not nu.id_segment(setting, "privateDnsZones") and not view.node_resource_group:
        raise Skip("the cluster body has no nodeResourceGroup")
    found = await dnszones.cluster_zone(ctx, view)
    if not found.listing_found:
        raise Skip(
            f"node resource group {view.node_resource_group} not found (not created yet, or deleted: "
            "see node_resource_group)"
        )
    return Facts(view.id, view.private_fqdn, setting, found.zone_id, found.searched, view.node_vnet_ids, found.links,
                 planned_create, view.region)


def zone_name_problem(zone: str, region: str) -> str | None:
    """A BYO zone for the API server must be named `privatelink.<region>.azmk8s.io` or a subzone of it (and, with
    API Server VNet Integration, `private.<region>.azmk8s.io`); sovereign clouds use other suffixes, not judged."""
    name, reg = zone.casefold().rstrip("."), region.casefold().replace(" ", "")
    if not reg or reg.startswith(("usgov", "usdod", "china")):
        return None
    for base in (f"privatelink.{reg}.azmk8s.io", f"private.{reg}.azmk8s.io"):
        if name == base or name.endswith("." + base):
            return None
    return f"is not privatelink.{reg}.azmk8s.io or a subzone of it (the form AKS accepts in region {reg})"


def evaluate(f: Facts) -> CheckResult:
    ev = [
        Evidence(
            resource_id=f.cluster_id, property="properties.apiServerAccessProfile.privateDNSZone", value=f.zone_setting
        ),
        Evidence(resource_id=f.cluster_id, property="properties.privateFQDN", value=f.private_fqdn),
    ]
    if f.zone_id is None and f.planned_create:
        return result(
            SPEC,
            CheckStatus.FAIL,
            f"the planned private DNS zone {nu.name_of(f.zone_setting)} does not exist: AKS links a bring-your-own "
            "zone but does not create it",
            evidence=(*ev, Evidence(resource_id=f.searched, property="(resource)", value=None, note="404")),
            remediation=f"az network private-dns zone create -g {nu.resource_group_of(f.zone_setting)} "
            f"-n {nu.name_of(f.zone_setting)}  # then grant the cluster identity Private DNS Zone Contributor on it",
        )
    if f.zone_id is None:
        return result(
            SPEC,
            CheckStatus.FAIL,
            f"no private DNS zone for {f.private_fqdn or 'the private FQDN'} (looked in {f.searched})",
            evidence=(*ev, Evidence(resource_id=f.searched, property="privateDnsZones", value=None)),
            remediation=f"az aks update -g {nu.resource_group_of(f.cluster_id)} -n {nu.name_of(f.cluster_id)}"
            "  # reconcile recreates the system zone; for a custom zone recreate it first",
        )
    zone = nu.name_of(f.zone_id)
    rg = nu.resource_group_of(f.zone_id)
    problem = zone_name_problem(zone, f.region) if f.planned_create else None
    if problem:
        return result(
            SPEC,
            CheckStatus.FAIL,
            f"the planned private DNS zone {zone} {problem}: AKS rejects a bring-your-own zone with another name",
            evidence=(*ev, Evidence(resource_id=f.zone_id, property="name", value=zone, note=problem)),
            confidence="likely",
            confirm_by="the private cluster article's zone name formats for your cloud, or a `what-if` of the "
            "deployment",
            remediation=f"az network private-dns zone create -g {rg} -n privatelink.{f.region}.azmk8s.io  "
            "# and point apiServerAccessProfile.privateDNSZone at it",
        )
    missing: list[str] = []
    broken: list[Link] = []
    for vnet_id in f.node_vnet_ids:
        link = next((ln for ln in f.links if nu.same_id(ln.vnet_id, vnet_id)), None)
        if link is None:
            missing.append(vnet_id)
            continue
        ev.append(
            Evidence(
                resource_id=link.id,
                property="properties.virtualNetworkLinkState",
                value=link.state,
                note=f"link to {nu.name_of(vnet_id)}, provisioningState {link.provisioning_state}",
            )
        )
        if not link.healthy:
            broken.append(link)
    ev.append(
        Evidence(
            resource_id=f"{f.zone_id}/virtualNetworkLinks",
            property="properties.virtualNetwork.id",
            value=[ln.vnet_id for ln in f.links],
        )
    )
    if missing and f.planned_create:
        return result(
            SPEC,
            CheckStatus.PASS,
            f"private DNS zone {zone} exists; the create links it to node VNet "
            f"{', '.join(nu.name_of(v) for v in missing)} (AKS makes the link with the cluster identity's "
            "Private DNS Zone Contributor role on the zone)",
            evidence=tuple(ev),
        )
    if missing:
        cmds = "\n".join(
            f"az network private-dns link vnet create -g {rg} -z {zone} -n {nu.name_of(v)}-link -v {v} -e false"
            for v in missing
        )
        return result(
            SPEC,
            CheckStatus.FAIL,
            f"private DNS zone {zone} is not linked to node VNet {', '.join(nu.name_of(v) for v in missing)}",
            evidence=tuple(ev),
            remediation=cmds,
        )
    if broken:
        b = broken[0]
        return result(
            SPEC,
            CheckStatus.FAIL,
            f"link {nu.name_of(b.id)} of zone {zone} is {b.state or '?'}/{b.provisioning_state or '?'}",
            evidence=tuple(ev),
            remediation=f"az network private-dns link vnet show -g {rg} -z {zone} -n {nu.name_of(b.id)}",
        )
    return result(SPEC, CheckStatus.PASS, f"private DNS zone {zone} is linked to the node VNet(s)", evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="private_dns_zone_link",
    title="Private DNS zone exists and is linked to the node VNet",
    docs=(nu.DOC_DNS, nu.DOC_VNET_LINK),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.DNS, Family.API_SERVER_CONNECTIVITY, Family.PERMISSIONS}),
    relevance={"dns": 100, "api_server_connectivity": 70, "api_server_connectivity/timeout": 50, "permissions": 40},
    targets=("apiServerAccessProfile.privateDNSZone",),
    resource_kinds=frozenset({ResourceKind.PRIVATE_DNS_ZONE}),
    predicts={"default": "VMExtensionError_K8SAPIServerDNSLookupFail"},
)
