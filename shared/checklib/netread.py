"""Reads shared by the network checks (all through ctx.arm, which caches and coalesces).

Owns: loading the cluster as a ClusterView (a missing cluster becomes Skip, not an error: a create
can fail before AKS writes the resource), the node subnets / VNets, and locating the device
behind a UDR next-hop IP (node VNet, then peered VNets: the subnet holding the IP, then an Azure
Firewall or NIC with that private IP). Pure decisions stay in the checks' evaluate().
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast, overload

from shared.checklib import egress
from shared.checklib import netutil as nu
from shared.checklib.base import API, CheckContext, Skip
from shared.checklib.clusterview import ClusterView
from shared.models import Evidence
from shared.ports import ArmError, ArmNotFound

NET = API["network"]
T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")
T_co = TypeVar("T_co", covariant=True)


async def load_cluster(ctx: CheckContext) -> ClusterView:
    """The cluster's view; Skip when it does not exist (yet)."""
    try:
        return await ctx.view()
    except ArmNotFound as err:
        raise Skip(f"the managed cluster {ctx.operation.cluster_id} does not exist (the operation failed "
                   "before AKS wrote it), so its network settings cannot be read") from err


def require_byo_vnet(view: ClusterView, what: str) -> None:
    if not view.byo_vnet:
        raise Skip(f"node pools {', '.join(view.pools_without_subnet) or '(none)'} have no vnetSubnetID: the "
                   f"AKS-managed VNet lives in node resource group {view.node_resource_group or '?'} and is "
                   f"not addressable from the cluster body, so {what} was not read")


@overload
async def in_order(a: Awaitable[T], b: Awaitable[U], /) -> tuple[T, U]: ...
@overload
async def in_order(a: Awaitable[T], b: Awaitable[U], c: Awaitable[V], /) -> tuple[T, U, V]: ...
async def in_order(*aws: Awaitable[Any]) -> tuple[Any, ...]:
    """Run independent reads concurrently; results in argument order.

    Every branch runs to completion; then the exception of the first failing branch *in argument
    order* is raised as is (not an ExceptionGroup), so a check raises exactly what it raised when
    it awaited the branches one after the other (a Skip/NotApplicable/ArmError surfaces unchanged).
    """
    results = await asyncio.gather(*aws, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return tuple(results)


async def all_in_order(aws: Iterable[Awaitable[T]]) -> list[T]:
    """`in_order` for a loop of same-typed independent branches (e.g. one per node subnet)."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    out: list[T] = []
    for r in results:
        if isinstance(r, BaseException):
            raise r
        out.append(r)
    return out


@dataclass(frozen=True, slots=True)
class Captured(Generic[T_co]):
    """The outcome of a read issued ahead of need: its value or its exception, as a value, so that
    `in_order`/`gather` pass it through and the error surfaces only where `unwrap` opens it."""

    value: T_co | None = None
    error: Exception | None = None


async def captured(aw: Awaitable[T]) -> Captured[T]:
    """A read issued ahead of need: its exception is kept, to be raised only where (if) the result
    is used - see `unwrap`."""
    try:
        return Captured(value=await aw)
    except Exception as err:  # re-raised by unwrap() at the point of use
        return Captured(error=err)


def unwrap(outcome: Captured[T]) -> T:
    if outcome.error is not None:
        raise outcome.error
    return cast(T, outcome.value)


async def get_all(ctx: CheckContext, ids: Sequence[str], api: str = NET) -> list[dict[str, Any]]:
    """GET several resources in parallel (404 -> ArmNotFound propagates)."""
    return list(await asyncio.gather(*(ctx.get(i, api) for i in ids)))


async def get_all_or_none(ctx: CheckContext, ids: Sequence[str],
                          api: str = NET) -> list[dict[str, Any] | None]:
    return list(await asyncio.gather(*(ctx.get_or_none(i, api) for i in ids)))


async def node_subnets(ctx: CheckContext, view: ClusterView) -> list[dict[str, Any]]:
    return await get_all(ctx, view.node_subnet_ids)


def collection(body: dict[str, Any] | None) -> list[dict[str, Any]]:
    vals = (body or {}).get("value")
    return [v for v in vals if isinstance(v, dict)] if isinstance(vals, list) else []


# --- next hop ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextHop:
    """What lives at a UDR next-hop IP."""

    ip: str
    kind: str  # azureFirewall | nic | loadBalancer | missing | unknown
    resource_id: str | None = None
    body: dict[str, Any] | None = None
    subnet_id: str | None = None
    note: str = ""
    unreadable: bool = False  # "unknown" because a read failed (not because it is outside the VNets)

    @property
    def found(self) -> bool:
        return self.kind in ("azureFirewall", "nic", "loadBalancer")


async def _read_or_none(ctx: CheckContext, rid: str, api: str = NET) -> dict[str, Any] | None:
    try:
        return await ctx.get(rid, api)
    except ArmError:
        return None


async def locate_next_hop(ctx: CheckContext, node_vnet: dict[str, Any], ip: str) -> NextHop:
    """Find the device at `ip`: in the node VNet or a VNet peered with it (the hub)."""
    addr = nu.parse_net(ip)
    if addr is None:
        return NextHop(ip, "unknown", note=f"next hop {ip!r} is not an IP address")
    vp = nu.props(node_vnet)
    candidates: list[str] = []
    if any(nu.contains(n, addr) for n in _vnet_nets(vp)):
        candidates.append(str(node_vnet.get("id")))
    for peering in vp.get("virtualNetworkPeerings") or []:
        pp = nu.props(peering)
        remote = nu.ref_id(pp.get("remoteVirtualNetwork"))
        space = [n for n in (nu.parse_net(x) for x in
                             ((pp.get("remoteAddressSpace") or {}).get("addressPrefixes") or [])) if n]
        if remote and (not space or any(nu.contains(n, addr) for n in space)):
            candidates.append(remote)
    if not candidates:
        return NextHop(ip, "unknown", note=f"{ip} is in neither the node VNet nor a peered VNet "
                                           "(on-premises, virtual WAN hub or unreadable)")
    outside_subnets: str | None = None  # a read VNet whose space holds the address, in none of its subnets
    for vnet_id in candidates:
        vnet = node_vnet if nu.same_id(vnet_id, node_vnet.get("id")) else await _read_or_none(ctx, vnet_id)
        if vnet is None:
            continue
        if outside_subnets is None and any(nu.contains(n, addr) for n in _vnet_nets(nu.props(vnet))):
            outside_subnets = str(vnet.get("id") or vnet_id)
        for sn in nu.props(vnet).get("subnets") or []:
            snp = nu.props(sn)
            if not any(nu.contains(n, addr) for n in nu.nets_of(snp)):
                continue
            subnet_id = str(sn.get("id") or "")
            hop, unreadable = await _device_in_subnet(ctx, snp, ip, subnet_id)
            if hop is not None:
                return hop
            if unreadable:
                return NextHop(ip, "unknown", subnet_id=subnet_id, unreadable=True,
                               note=f"a device in subnet {nu.name_of(subnet_id)} could not be read")
            return NextHop(ip, "missing", subnet_id=subnet_id,
                           note=f"subnet {nu.name_of(subnet_id)} contains {ip} but no firewall, NIC or "
                                "load balancer there has that private IP")
    if outside_subnets is not None:
        # Nothing can hold an address of a VNet's space that no subnet contains.
        return NextHop(ip, "missing", note=f"{ip} is in VNet {nu.name_of(outside_subnets)}'s address space but in "
                                           "none of its subnets: no device can hold it")
    return NextHop(ip, "unknown", unreadable=True, note=f"could not read the VNet(s) that may contain {ip}")


def _vnet_nets(vp: dict[str, Any]) -> list[nu.IPNet]:
    space = (vp.get("addressSpace") or {}).get("addressPrefixes") or []
    return [n for n in (nu.parse_net(x) for x in space) if n]


async def _device_in_subnet(ctx: CheckContext, snp: dict[str, Any], ip: str,
                            subnet_id: str) -> tuple[NextHop | None, bool]:
    """(device holding `ip`, whether some candidate could not be read)."""
    seen: set[str] = set()
    unreadable = False
    for cfg in snp.get("ipConfigurations") or []:
        cid = nu.ref_id(cfg) or ""
        low = cid.lower()
        for marker, child, kind in (("/azurefirewalls/", "/azurefirewallipconfigurations/", "azureFirewall"),
                                    ("/networkinterfaces/", "/ipconfigurations/", "nic"),
                                    ("/loadbalancers/", "/frontendipconfigurations/", "loadBalancer")):
            if f"/providers/microsoft.network{marker}" not in low:
                continue
            rid = cid[: low.index(child)] if child in low else cid
            if rid.lower() in seen:
                break
            seen.add(rid.lower())
            body = await _read_or_none(ctx, rid)
            if body is None:
                unreadable = True
            elif _has_private_ip(body, ip):
                return NextHop(ip, kind, rid, body, subnet_id), unreadable
            break
    return None, unreadable


def _has_private_ip(body: dict[str, Any], ip: str) -> bool:
    bp = nu.props(body)
    for key in ("ipConfigurations", "frontendIPConfigurations"):
        for c in bp.get(key) or []:
            if nu.props(c).get("privateIPAddress") == ip:
                return True
    hub = bp.get("hubIPAddresses") or {}
    return bool(hub.get("privateIPAddress") == ip)


@dataclass(frozen=True)
class Hop:
    """What a check needs to know about the device at a next-hop IP (no body kept)."""

    ip: str
    kind: str  # azureFirewall | nic | loadBalancer | missing | unknown
    resource_id: str | None = None
    provisioning_state: str | None = None
    ip_forwarding: bool | None = None  # NICs only
    note: str = ""
    subnet_id: str | None = None
    unreadable: bool = False

    @property
    def opaque(self) -> bool:
        """A device that forwards traffic by rules ARM does not show (an NVA, or outside the VNets)."""
        return self.kind in ("nic", "loadBalancer") or (self.kind == "unknown" and not self.unreadable)


def hop_of(h: NextHop) -> Hop:
    p = nu.props(h.body)
    fwd = p.get("enableIPForwarding") if h.kind == "nic" else None
    return Hop(h.ip, h.kind, h.resource_id, p.get("provisioningState") if h.body else None,
               bool(fwd) if fwd is not None else (False if h.kind == "nic" else None), h.note, h.subnet_id,
               h.unreadable)


def appliance_confirm(hop: Hop | None, source: str, destination: str, port: int = 443) -> str:
    """What confirms that an appliance ARM cannot show drops a flow."""
    where = (f"the appliance at {hop.ip}" + (f" ({name_or(hop.resource_id)})" if hop and hop.resource_id else "")
             if hop else "the on-premises / gateway path")
    return (f"check that {where} allows TCP {port} from {source} to {destination} (its own rule base and logs), "
            f"or test from a node: az network watcher test-connectivity --source-resource <node-vm-id> "
            f"--dest-address {destination.split(' ')[0]} --dest-port {port}")


def name_or(resource_id: str | None) -> str:
    return nu.name_of(resource_id) if resource_id else "?"


def vnet_system_routes(vnet: dict[str, Any]) -> list[nu.Route]:
    """The VNet's system routes: its address space (VnetLocal), peered spaces, 0.0.0.0/0 Internet."""
    vp = nu.props(vnet)
    own = [str(x) for x in (vp.get("addressSpace") or {}).get("addressPrefixes") or []]
    peered = [str(x) for p in vp.get("virtualNetworkPeerings") or []
              for x in ((nu.props(p).get("remoteAddressSpace") or {}).get("addressPrefixes") or [])]
    return nu.system_routes(own, peered)


def firewall_public_ip_ids(fw: dict[str, Any]) -> list[str]:
    out = []
    for c in nu.props(fw).get("ipConfigurations") or []:
        pid = nu.ref_id(nu.props(c).get("publicIPAddress"))
        if pid:
            out.append(pid)
    return out


# --- where the nodes connect to for the API server ---------------------------------------------


@dataclass(frozen=True)
class ApiServerPath:
    """The API server address as seen from the nodes, and how it was worked out."""

    kind: str  # vnet_integration | private_endpoint | public
    endpoint: nu.Endpoint
    evidence: tuple[Evidence, ...] = ()
    subnet_id: str | None = None  # API server subnet (VNet integration) or PE subnet


def _fact_ip(ctx: CheckContext) -> nu.IPNet | None:
    facts = ctx.facts
    hosts = [h.lower() for h in (facts.fqdn, *facts.fqdns) if h]
    if any(egress.for_host(h) for h in hosts) and not any(h.endswith(".azmk8s.io") for h in hosts):
        # "connect to mcr.microsoft.com ... dial tcp <ip>:443": the address is that host's, not the API server's
        return None
    net = nu.parse_net(facts.api_server_ip)
    return net if net is not None and net.num_addresses == 1 else None


async def apiserver_path(ctx: CheckContext, view: ClusterView) -> ApiServerPath:
    fact = _fact_ip(ctx)
    fact_ev = (Evidence(property="error.api_server_ip", value=str(fact.network_address),
                        note="API server IP quoted in the error"),) if fact else ()
    if view.vnet_integration:
        ev = [Evidence(resource_id=view.id, property="properties.apiServerAccessProfile.enableVnetIntegration",
                       value=True, note="nodes reach the API server ILB in the delegated subnet directly")]
        net = fact
        if view.apiserver_subnet_id:
            subnet = await ctx.get_or_none(view.apiserver_subnet_id, NET)
            prefix = nu.first_subnet_prefix(subnet) if subnet else None
            if prefix is not None:
                ev.append(Evidence(resource_id=view.apiserver_subnet_id, property="properties.addressPrefix",
                                   value=str(prefix), note="API server subnet"))
                if net is None or not nu.contains(prefix, net):
                    net = prefix
        label = f"API server ILB in {nu.name_of(view.apiserver_subnet_id or 'the AKS-managed API server subnet')}"
        return ApiServerPath("vnet_integration", nu.vnet_endpoint(label, net), (*ev, *fact_ev),
                             view.apiserver_subnet_id)
    if view.private:
        pe, pe_ev = await _apiserver_pe_ip(ctx, view)
        net = fact or pe
        return ApiServerPath("private_endpoint",
                             nu.vnet_endpoint(f"API server private endpoint ({view.private_fqdn or 'private FQDN'})",
                                              net), (*pe_ev, *fact_ev))
    return ApiServerPath("public",
                         nu.public_endpoint(f"API server public endpoint {view.fqdn or ''}".strip(), view.region,
                                            fact),
                         (Evidence(resource_id=view.id, property="properties.fqdn", value=view.fqdn),
                          *fact_ev))


def apiserver_pe(endpoints: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The kube-apiserver private endpoint AKS creates in the node resource group."""
    for pe in endpoints:
        if "kube-apiserver" in str(pe.get("name", "")).lower():
            return pe
    return None


def node_rg_id(view: ClusterView) -> str:
    return f"/subscriptions/{view.subscription}/resourceGroups/{view.node_resource_group}"


async def _apiserver_pe_ip(ctx: CheckContext, view: ClusterView) -> tuple[nu.IPNet | None, tuple[Evidence, ...]]:
    if not view.node_resource_group:
        return None, ()
    try:
        listing = await ctx.get(f"{node_rg_id(view)}/providers/Microsoft.Network/privateEndpoints", NET)
    except ArmError:
        return None, ()
    pe = apiserver_pe(collection(listing))
    if pe is None:
        return None, ()
    pp = nu.props(pe)
    ips = [ip for c in pp.get("customDnsConfigs") or [] for ip in (c.get("ipAddresses") or [])]
    ips += [nu.props(c).get("privateIPAddress") for c in pp.get("ipConfigurations") or []]
    for ip in ips:
        net = nu.parse_net(ip)
        if net is not None:
            return net, (Evidence(resource_id=str(pe.get("id")), property="properties.customDnsConfigs[].ipAddresses",
                                  value=str(net.network_address), note="kube-apiserver private endpoint IP"),)
    return None, ()
