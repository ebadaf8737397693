"""Compute resource SKUs of one region: vCPUs, quota family, zones offered, restrictions.

Owns: `read_region_skus()` (one read per diagnosis, cached by the reader) and `parse_skus()` over the
ResourceSkus_List shape (Microsoft.Compute/skus, api-version 2021-07-01: `value[]` of
{resourceType, name, family, locations[], locationInfo[{location, zones[]}], capabilities[{name,
value}], restrictions[{type: Location|Zone, values[], restrictionInfo{locations[], zones[]},
reasonCode: QuotaId|NotAvailableForSubscription}]}).

The list is read for one region: `GET /subscriptions/{s}/providers/Microsoft.Compute/skus?$filter=
location eq '{region}'`. ArmReader reads ids, not queries, so the region's list goes by the id
`/subscriptions/{s}/providers/Microsoft.Compute/locations/{region}/skus` (what snapshots and the
emulator key it by); the Azure reader turns that id into the filtered list call
(shared/azure/arm.py, AzureArmReader._region_skus).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.checklib.base import CheckContext

SKUS_API = "2021-07-01"
NOT_AVAILABLE = "NotAvailableForSubscription"


def region_skus_id(subscription: str, region: str) -> str:
    return f"/subscriptions/{subscription}/providers/Microsoft.Compute/locations/{region}/skus"


@dataclass(frozen=True)
class Sku:
    name: str
    family: str | None  # the Compute usages counter (name.value), e.g. standardDSv5Family
    vcpus: int | None
    zones: tuple[str, ...]  # zones the size is offered in, in this region
    location_restriction: str | None  # reasonCode of a Location restriction for this region
    restricted_zones: tuple[str, ...]  # zones a Zone restriction takes away
    zone_restriction: str | None

    @property
    def usable_zones(self) -> tuple[str, ...]:
        return tuple(z for z in self.zones if z not in self.restricted_zones)

    @property
    def usable(self) -> bool:
        return self.location_restriction is None


@dataclass(frozen=True)
class RegionSkus:
    region: str
    source_id: str
    by_name: Mapping[str, Sku]

    def get(self, name: str | None) -> Sku | None:
        return self.by_name.get((name or "").strip().casefold())

    def alternatives(self, sku: Sku, zones: tuple[str, ...] = (), limit: int = 3) -> list[str]:
        """Unrestricted sizes with the same vCPUs (same family first) that offer `zones`."""
        out = [
            s
            for s in self.by_name.values()
            if s.name.casefold() != sku.name.casefold()
            and s.usable
            and s.vcpus == sku.vcpus
            and all(z in s.usable_zones for z in zones)
        ]
        out.sort(key=lambda s: (s.family != sku.family, s.name.casefold()))
        return [s.name for s in out[:limit]]


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _int(value: Any) -> int | None:
    try:
        return int(float(str(value)))
    except (TypeError, ValueError):
        return None


def parse_skus(body: Mapping[str, Any], region: str) -> dict[str, Sku]:
    reg = region.casefold()
    out: dict[str, Sku] = {}
    for item in body.get("value") or []:
        if not isinstance(item, Mapping) or str(item.get("resourceType") or "virtualMachines") != "virtualMachines":
            continue
        name = str(item.get("name") or "")
        if not name or not any(loc.casefold() == reg for loc in _strs(item.get("locations"))):
            continue
        zones: tuple[str, ...] = ()
        for li in item.get("locationInfo") or []:
            if isinstance(li, Mapping) and str(li.get("location") or "").casefold() == reg:
                zones = tuple(sorted(_strs(li.get("zones"))))
        vcpus = None
        for cap in item.get("capabilities") or []:
            if isinstance(cap, Mapping) and cap.get("name") == "vCPUs":
                vcpus = _int(cap.get("value"))
        loc_reason: str | None = None
        zone_reason: str | None = None
        restricted: list[str] = []
        for r in item.get("restrictions") or []:
            if not isinstance(r, Mapping):
                continue
            raw_info = r.get("restrictionInfo")
            info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
            where = {x.casefold() for x in (*_strs(r.get("values")), *_strs(info.get("locations")))}
            if where and reg not in where:
                continue
            reason = str(r.get("reasonCode") or "restricted")
            if str(r.get("type") or "").casefold() == "zone":
                restricted += _strs(info.get("zones"))
                zone_reason = reason
            else:
                loc_reason = reason
        out[name.casefold()] = Sku(
            name,
            str(item.get("family") or "") or None,
            vcpus,
            zones,
            loc_reason,
            tuple(sorted(set(restricted))),
            zone_reason,
        )
    return out


async def read_region_skus(ctx: CheckContext, region: str) -> RegionSkus | None:
    """The region's SKUs, or None when the list is not there (404). Other read errors propagate."""
    rid = region_skus_id(ctx.operation.subscription_id, region)
    body = await ctx.get_or_none(rid, SKUS_API)
    if body is None:
        return None
    return RegionSkus(region, rid, parse_skus(body, region))
