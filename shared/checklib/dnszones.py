"""The private cluster's private DNS zone and its VNet links (shared by the DNS checks).

Owns: which zone holds the API server record (`apiServerAccessProfile.privateDNSZone` when it is a
zone id; for "system", the default, the zone in the node resource group whose name is the longest
suffix of `privateFQDN`), reading it and its `virtualNetworkLinks`, and the typed link model. Pure
matching (`zone_for`, `links_of`) plus one async lookup through ctx.arm (cached and coalesced, so
two checks reading the same zone cost one read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.checklib import netread
from shared.checklib import netutil as nu
from shared.checklib.base import API, CheckContext
from shared.checklib.clusterview import ClusterView

DNS = API["privateDns"]


@dataclass(frozen=True)
class Link:
    """One `virtualNetworkLinks[]` entry of a private DNS zone."""

    id: str
    vnet_id: str
    state: str  # virtualNetworkLinkState: Completed | InProgress
    provisioning_state: str

    @property
    def healthy(self) -> bool:
        return self.state.lower() == "completed" and self.provisioning_state.lower() == "succeeded"


@dataclass(frozen=True)
class ZoneLookup:
    setting: str  # "system" | a zone id (never "none": callers stop before)
    zone_id: str | None  # None: not found
    searched: str  # the zone id or the node resource group listing that was looked in
    listing_found: bool  # False: the node resource group's zone listing was not there (404)
    links: tuple[Link, ...] = ()


def zone_for(fqdn: str | None, zones: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The zone whose name is the longest suffix of the private FQDN."""
    if not fqdn:
        return None
    host = fqdn.lower().rstrip(".")
    best: Mapping[str, Any] | None = None
    for z in zones:
        name = str(z.get("name", "")).lower()
        longer = best is None or len(name) > len(str(best.get("name")))
        if name and (host == name or host.endswith("." + name)) and longer:
            best = z
    return best


def links_of(listing: dict[str, Any] | None) -> tuple[Link, ...]:
    return tuple(
        Link(
            str(x.get("id") or ""),
            nu.ref_id(nu.props(x).get("virtualNetwork")) or "",
            str(nu.props(x).get("virtualNetworkLinkState") or ""),
            str(nu.props(x).get("provisioningState") or ""),
        )
        for x in netread.collection(listing)
    )


def zone_listing_id(view: ClusterView) -> str:
    return f"{netread.node_rg_id(view)}/providers/Microsoft.Network/privateDnsZones"


async def cluster_zone(ctx: CheckContext, view: ClusterView, *, strict_links: bool = True) -> ZoneLookup:
    """Find the cluster's zone and read its links.

    `strict_links`: a zone whose link listing cannot be read raises (ArmNotFound / ArmError) instead
    of reading as "no links". A zone id setting reads the zone and its links concurrently; the
    links are used only when the zone exists.
    """
    setting = view.private_dns_zone or "system"
    read_links = ctx.get if strict_links else ctx.get_or_none
    if nu.id_segment(setting, "privateDnsZones"):
        zone, links_read = await netread.in_order(
            ctx.get_or_none(setting, DNS), netread.captured(read_links(f"{setting}/virtualNetworkLinks", DNS))
        )
        if zone is None:
            return ZoneLookup(setting, None, setting, True)
        return ZoneLookup(setting, setting, setting, True, links_of(netread.unwrap(links_read)))
    searched = zone_listing_id(view)
    if not view.node_resource_group:
        return ZoneLookup(setting, None, searched, False)
    listing = await ctx.get_or_none(searched, DNS)
    if listing is None:
        return ZoneLookup(setting, None, searched, False)
    zone_body = zone_for(view.private_fqdn, netread.collection(listing))
    zone_id = str(zone_body.get("id")) if zone_body else None
    if not zone_id:
        return ZoneLookup(setting, None, searched, True)
    return ZoneLookup(
        setting, zone_id, searched, True, links_of(await read_links(f"{zone_id}/virtualNetworkLinks", DNS))
    )
