"""cidr_overlap: the cluster's service CIDR, DNS service IP and pod CIDR against the node VNet's
address space, its subnets and the address spaces of the VNets peered with it.

Reads: the cluster through ClusterView (networkProfile.serviceCidr(s) / dnsServiceIP / podCidr(s),
networkPlugin / networkPluginMode; a planned body for pre-flight: what the request asks for), and
each node VNet (network 2024-05-01: properties.addressSpace.addressPrefixes, subnets[].properties
.addressPrefix(es), virtualNetworkPeerings[].properties.remoteAddressSpace /
remoteVirtualNetworkAddressSpace .addressPrefixes).
Rules (AKS networking docs, kubenet / Azure CNI / CNI Overlay): the service CIDR must not overlap
the VNet, its subnets or peered VNets, nor 169.254.0.0/16, 172.30.0.0/16, 172.31.0.0/16 or
192.0.2.0/24; the DNS service IP lies inside the service CIDR and is not its first address (the
kubernetes service's); the pod CIDR (kubenet, CNI Overlay) overlaps neither the VNet and its peers
nor the service CIDR. Unset values are AKS's defaults (10.0.0.0/16, 10.0.0.10, 10.244.0.0/16).
Codes: ServiceCidrOverlapExistingSubnetsCidr, NetworkProfileCIDROverlapVNET, InvalidDnsServiceIP,
DnsServiceIpOutOfServiceCidr.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared import armid
from shared.armid import ResourceKind
from shared.checklib import cidr as cd
from shared.checklib import netutil as nu
from shared.checklib.base import API, CheckContext, CheckSpec, NotApplicable, result
from shared.checklib.netread import get_all_or_none, load_cluster
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOCS = (
    "https://learn.microsoft.com/azure/aks/configure-kubenet",
    "https://learn.microsoft.com/azure/aks/azure-cni-overlay",
    "https://learn.microsoft.com/azure/aks/configure-azure-cni",
)
DEFAULT_SERVICE_CIDR = "10.0.0.0/16"
DEFAULT_DNS_IP = "10.0.0.10"
DEFAULT_POD_CIDR = "10.244.0.0/16"
RESERVED = ("169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24")


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    cluster_name: str
    planned: bool
    verb: str
    plugin: str
    overlay: bool
    service_cidrs: tuple[str, ...]
    service_source: str  # "networkProfile.serviceCidr" | "AKS default"
    dns_ip: str
    dns_source: str
    pod_cidrs: tuple[str, ...]  # only when pods take addresses outside the VNet (kubenet, overlay)
    pod_source: str
    spaces: tuple[cd.Space, ...]
    vnets_unread: tuple[str, ...]
    requested: tuple[str, ...]  # CIDRs named by the error that the body does not hold


def _spaces(vnet_id: str, body: dict[str, Any]) -> list[cd.Space]:
    props = nu.props(body)
    out: list[cd.Space] = []
    space = props.get("addressSpace")
    for p in (space.get("addressPrefixes") or []) if isinstance(space, dict) else []:
        out.append(cd.Space("vnet", vnet_id, "properties.addressSpace.addressPrefixes", str(p)))
    for s in props.get("subnets") or []:
        if isinstance(s, dict):
            sid = str(s.get("id") or f"{vnet_id}/subnets/{s.get('name')}")
            for p in nu.prefixes_of(nu.props(s)):
                out.append(cd.Space("subnet", sid, "properties.addressPrefix", p))
    for peer in props.get("virtualNetworkPeerings") or []:
        if not isinstance(peer, dict):
            continue
        pp = nu.props(peer)
        remote = nu.ref_id(pp.get("remoteVirtualNetwork")) or str(peer.get("id") or "")
        seen: set[str] = set()
        for key in ("remoteVirtualNetworkAddressSpace", "remoteAddressSpace"):
            block = pp.get(key)
            for p in (block.get("addressPrefixes") or []) if isinstance(block, dict) else []:
                if str(p) not in seen:
                    seen.add(str(p))
                    out.append(cd.Space("peered vnet", remote, f"{peer.get('id') or ''} properties.{key}", str(p)))
    return out


def _requested(error_cidrs: tuple[str, ...], own: tuple[str, ...], spaces: list[cd.Space]) -> tuple[str, ...]:
    """CIDRs the error names that are neither the cluster's ranges nor a VNet / subnet / peer range: what
    the rejected request asked for (a synchronous 400 leaves the body with the old values)."""
    known = {n for n in (nu.parse_net(c) for c in (*own, *(s.cidr for s in spaces))) if n is not None}
    out: list[str] = []
    for c in error_cidrs:
        n = nu.parse_net(c)
        if n is not None and n not in known and n.prefixlen < 32 and str(n) not in out:
            out.append(str(n))
    return tuple(out)


async def gather(ctx: CheckContext) -> Facts:
    v = await load_cluster(ctx)
    plugin = v.network_plugin.casefold()
    uses_pod_cidr = plugin in ("kubenet", "") or v.overlay
    services = v.service_cidrs or (DEFAULT_SERVICE_CIDR,)
    pods = (v.pod_cidrs or (DEFAULT_POD_CIDR,)) if uses_pod_cidr else ()
    if plugin == "none" and not v.service_cidrs and not v.pod_cidrs:
        raise NotApplicable("network plugin none (bring your own CNI): the cluster sets no pod ranges")
    vnets = list(v.node_vnet_ids)
    for named in (*ctx.facts.ids("vnet"), *(armid.parent_of(i) or "" for i in ctx.facts.ids("subnet"))):
        if named and not any(armid.same(named, x) for x in vnets):
            vnets.append(named)  # a VNet the error names (e.g. the subnet it says the range overlaps)
    bodies = await get_all_or_none(ctx, vnets, API["network"]) if vnets else []
    spaces: list[cd.Space] = []
    unread: list[str] = []
    for vid, body in zip(vnets, bodies, strict=True):
        if body is None:
            unread.append(vid)
        else:
            spaces += _spaces(vid, body)
    return Facts(
        cluster_id=v.id,
        resource_group=v.resource_group,
        cluster_name=v.name,
        planned=v.planned,
        verb=ctx.operation.verb,
        plugin=plugin,
        overlay=v.overlay,
        service_cidrs=tuple(services),
        service_source="networkProfile.serviceCidr(s)" if v.service_cidrs else "AKS default",
        dns_ip=v.dns_service_ip or DEFAULT_DNS_IP,
        dns_source="networkProfile.dnsServiceIP" if v.dns_service_ip else "AKS default",
        pod_cidrs=tuple(pods),
        pod_source="networkProfile.podCidr(s)" if v.pod_cidrs else "AKS default",
        spaces=tuple(spaces),
        vnets_unread=tuple(unread),
        requested=_requested(ctx.facts.cidrs, (*services, *pods), spaces),
    )


def _avoid(f: Facts, own: tuple[str, ...]) -> list[nu.IPNet]:
    """Every range a proposal must miss: the VNets' and peers', the reserved ones and the cluster's
    other ranges (not the one being replaced)."""
    nets = [s.net for s in f.spaces]
    nets += [nu.parse_net(c) for c in (*f.pod_cidrs, *f.service_cidrs, *RESERVED) if c not in own]
    return [n for n in nets if n is not None]


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = [
        Evidence(
            resource_id=f.cluster_id,
            property="properties.networkProfile.serviceCidr",
            value=list(f.service_cidrs),
            note=f.service_source,
        ),
        Evidence(
            resource_id=f.cluster_id,
            property="properties.networkProfile.dnsServiceIP",
            value=f.dns_ip,
            note=f.dns_source,
        ),
    ]
    if f.pod_cidrs:
        ev.append(
            Evidence(
                resource_id=f.cluster_id,
                property="properties.networkProfile.podCidr",
                value=list(f.pod_cidrs),
                note=f"{f.pod_source}; plugin {f.plugin}{' overlay' if f.overlay else ''}",
            )
        )
    problems: list[str] = []
    fixes: list[str] = []
    overlaps: list[cd.Overlap] = []
    for c in f.service_cidrs:
        overlaps += cd.overlaps_of("service CIDR", c, f.spaces)
        for r in RESERVED:
            if (a := nu.parse_net(c)) is not None and (b := nu.parse_net(r)) is not None and nu.overlaps(a, b):
                problems.append(f"service CIDR {c} overlaps the range {r}, which AKS reserves")
    for c in f.pod_cidrs:
        overlaps += cd.overlaps_of("pod CIDR", c, f.spaces)
        for s in f.service_cidrs:
            if (a := nu.parse_net(c)) is not None and (b := nu.parse_net(s)) is not None and nu.overlaps(a, b):
                problems.append(f"pod CIDR {c} overlaps the service CIDR {s}")
    for c in f.requested:
        found = cd.overlaps_of("requested CIDR", c, f.spaces)
        overlaps += found
        if found:
            ev.append(Evidence(resource_id=f.cluster_id, property="requested CIDR (named by the error)", value=c,
                               note="not in the cluster body: what the rejected request asked for"))
    for o in overlaps:
        name = armid.name_of(o.other.resource_id) if o.other.resource_id else "?"
        problems.append(f"{o.what} {o.cidr} overlaps {o.other.kind} {name} ({o.other.cidr})")
        ev.append(
            Evidence(
                resource_id=o.other.resource_id,
                property=o.other.prop,
                value=o.other.cidr,
                note=f"overlaps the {o.what} {o.cidr}",
            )
        )
    dns = cd.dns_service_ip_problem(f.dns_ip, f.service_cidrs)
    if dns:
        problems.append(dns)
    rg_n = f"-g {f.resource_group} -n {f.cluster_name}"
    bad_service = any(o.what in ("service CIDR", "requested CIDR") for o in overlaps) or any(
        "service CIDR" in p and "reserves" in p for p in problems
    )
    if bad_service or dns:
        size = min((n.prefixlen for n in (nu.parse_net(c) for c in f.service_cidrs) if n is not None), default=16)
        free = cd.propose_free(size, _avoid(f, f.service_cidrs)) if bad_service else nu.parse_net(f.service_cidrs[0])
        if free is not None:
            dns_ip = cd.tenth_address(free)
            new = "" if not bad_service else f" --service-cidr {free}"
            where = (
                "when you create the cluster"
                if f.planned or f.verb == "create"
                else ("the service CIDR of an existing cluster cannot be changed: re-create the cluster")
            )
            fixes.append(
                f"# {where}, with ranges that collide with nothing in the VNet or its peers\n"
                f"az aks create {rg_n}{new} --dns-service-ip {dns_ip} ..."
            )
    if any(o.what == "pod CIDR" for o in overlaps) or any(p.startswith("pod CIDR") for p in problems):
        size = min((n.prefixlen for n in (nu.parse_net(c) for c in f.pod_cidrs) if n is not None), default=16)
        free = cd.propose_free(size, _avoid(f, f.pod_cidrs))
        if free is not None:
            fixes.append(
                f"# a pod CIDR that collides with nothing: {free}\n"
                f"az aks create {rg_n} --pod-cidr {free} ...  (pod CIDRs of existing clusters can only be "
                "expanded, for CNI Overlay: az aks update --pod-cidr)"
            )
    if problems:
        return result(
            SPEC,
            CheckStatus.FAIL,
            "; ".join(dict.fromkeys(problems)),
            evidence=tuple(ev),
            remediation="\n".join(fixes) or None,
            blocks_request=True,
        )
    if f.vnets_unread and not f.spaces:
        why = f"the node VNet could not be read: {', '.join(f.vnets_unread)}"
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: {why}", evidence=tuple(ev), reason=why)
    checked = len({s.cidr for s in f.spaces})
    where = (
        f"{checked} VNet, subnet and peered ranges"
        if f.spaces
        else "each other (AKS-managed VNet: nothing else to compare)"
    )
    return result(
        SPEC,
        CheckStatus.PASS,
        f"service CIDR, DNS service IP and pod CIDR collide with none of {where}",
        evidence=tuple(ev),
    )


SPEC: CheckSpec[Facts] = CheckSpec(
    id="cidr_overlap",
    title="Service CIDR, DNS service IP and pod CIDR vs the VNet and its peers",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.NETWORK_CONFIG, Family.VALIDATION, Family.SUBNET_IPS}),
    relevance={"network_config": 95, "validation": 60, "subnet_ips": 50},
    targets=(
        "networkProfile.serviceCidr",
        "networkProfile.serviceCidrs",
        "networkProfile.dnsServiceIP",
        "networkProfile.podCidr",
        "networkProfile.podCidrs",
    ),
    resource_kinds=frozenset({ResourceKind.VNET}),
    predicts={"default": "ServiceCidrOverlapExistingSubnetsCidr"},
)
