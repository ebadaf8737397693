"""Service tags: the prefixes behind `AzureCloud.westeurope`, `MicrosoftContainerRegistry`, ...

Owns: the read of `GET /subscriptions/{s}/providers/Microsoft.Network/locations/{region}/serviceTags`
(api-version 2024-05-01; the tags are under `values`, each `properties.addressPrefixes`), the typed
list built from it, and membership of an address in a tag. The list is the same for every region
of a cloud (the region only picks the version), so one read per subscription serves every check.

When the list can't be read (403, throttled, not in a snapshot), membership is decided by what
the tag means instead, and marked as such: a public AKS API server address is an Azure public IP,
so it is inside `AzureCloud` and `AzureCloud.<its region>`; `Internet` is everything outside the
VNet and its peerings. A check reports a deny decided that way as a likely cause and says what
would confirm it (`confirm_command`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext
from shared.ports import ArmError

API_VERSION = "2024-05-01"

# Tags whose membership never needs the list: decided from the VNet and the flow itself.
STRUCTURAL_TAGS = frozenset({"internet", "virtualnetwork", "azureloadbalancer", "*", "any"})


def service_tags_id(subscription: str, region: str) -> str:
    return f"/subscriptions/{subscription}/providers/Microsoft.Network/locations/{region}/serviceTags"


def confirm_command(region: str, tag: str, address: str | None = None) -> str:
    """The az command that shows a tag's prefixes (and, given an address, whether it is in them)."""
    query = f"values[?name=='{tag}'].properties.addressPrefixes[]"
    cmd = f"az network list-service-tags --location {region or '<region>'} --query \"{query}\" -o tsv"
    return cmd + (f"  # is {address} inside one of them?" if address else "")


def is_service_tag(prefix: str) -> bool:
    """A rule prefix that is neither an address, a range nor a wildcard."""
    text = prefix.strip()
    return bool(text) and text.lower() not in ("*", "any") and not nu.parse_nets(text)


@dataclass(frozen=True)
class ServiceTag:
    """One tag. Prefixes are parsed when first matched: the public list has thousands of tags and
    tens of thousands of prefixes, and a diagnosis looks at a handful."""

    name: str
    region: str
    system_service: str
    raw_prefixes: tuple[str, ...]

    @cached_property
    def prefixes(self) -> tuple[nu.IPNet, ...]:
        return tuple(n for n in (nu.parse_net(x) for x in self.raw_prefixes) if n is not None)

    def covers(self, net: nu.IPNet) -> bool:
        return nu.covered_by(net, self.prefixes)

    def overlaps(self, net: nu.IPNet) -> bool:
        return any(nu.overlaps(p, net) for p in self.prefixes)


@dataclass(frozen=True)
class ServiceTagList:
    """The tags of one cloud, by lower-case name. `partial` when ARM said there is another page."""

    source_id: str
    change_number: str
    cloud: str
    tags: Mapping[str, ServiceTag] = field(default_factory=dict)
    partial: bool = False

    @classmethod
    def from_body(cls, body: Mapping[str, Any], source_id: str = "") -> ServiceTagList:
        tags: dict[str, ServiceTag] = {}
        for v in body.get("values") or []:
            if not isinstance(v, Mapping):
                continue
            name = str(v.get("name") or v.get("id") or "").strip()
            p = v.get("properties") if isinstance(v.get("properties"), Mapping) else {}
            assert isinstance(p, Mapping)
            raw = tuple(str(x) for x in p.get("addressPrefixes") or [] if isinstance(x, str))
            if name:
                tags[name.lower()] = ServiceTag(name, str(p.get("region") or ""), str(p.get("systemService") or ""),
                                                raw)
        return cls(source_id or str(body.get("id") or ""), str(body.get("changeNumber") or ""),
                   str(body.get("cloud") or ""), tags, partial=bool(body.get("nextLink")))

    def get(self, name: str) -> ServiceTag | None:
        return self.tags.get(name.strip().lower())

    def membership(self, tag: str, net: nu.IPNet) -> bool | None:
        """Is every address of `net` in `tag`? None when it can't be told (partly inside, or the
        tag is not in this list)."""
        t = self.get(tag)
        if t is None:
            return None
        if t.covers(net):
            return True
        return None if t.overlaps(net) else False

    def tags_containing(self, net: nu.IPNet) -> tuple[str, ...]:
        return tuple(sorted(t.name for t in self.tags.values() if t.covers(net)))


@dataclass(frozen=True)
class TagContext:
    """What the checks know about service tags for one diagnosis: the list, or why it is missing."""

    region: str
    tags: ServiceTagList | None = None
    unreadable: str | None = None  # why the list is missing (None: it was not needed)
    source_id: str = ""

    @property
    def readable(self) -> bool:
        return self.tags is not None


def needs_list(prefixes: Any) -> bool:
    """True when any of these rule prefixes is a tag whose prefixes matter (not Internet & co)."""
    return any(is_service_tag(p) and p.strip().lower() not in STRUCTURAL_TAGS for p in prefixes)


async def read(ctx: CheckContext, subscription: str, region: str) -> TagContext:
    """The service tag list for the subscription's cloud; an unreadable list is a TagContext that
    says why (checks then reason from the tag's meaning), never an exception."""
    rid = service_tags_id(subscription, region or "westeurope")
    try:
        body = await ctx.get(rid, API_VERSION)
    except ArmError as err:
        return TagContext(region, None, f"the service tag list ({rid}) could not be read: {err.status} {err.code}",
                          rid)
    return TagContext(region, ServiceTagList.from_body(body, rid), None, rid)


def resolve_routes(routes: Any, destination: nu.Endpoint, tc: TagContext) -> list[nu.Route]:
    """UDRs whose addressPrefix is a service tag, resolved for one destination address: the tag's
    prefix that holds the address becomes the route's prefix (longest-prefix match then applies as
    for any route), a tag that does not hold it drops out. Explicit-prefix routes come first, so
    they win a tie of equal length. Unresolvable tag routes (no list, no address) stay as they are
    (route_for reports them as "may apply")."""
    explicit: list[nu.Route] = []
    resolved: list[nu.Route] = []
    for r in routes:
        if not is_service_tag(r.prefix) or destination.net is None or tc.tags is None:
            explicit.append(r)
            continue
        tag = tc.tags.get(r.prefix)
        if tag is None:
            explicit.append(r)
            continue
        holding = [p for p in tag.prefixes if nu.contains(p, destination.net)]
        if holding:
            best = max(holding, key=lambda p: p.prefixlen)
            resolved.append(replace(r, prefix=str(best), name=f"{r.name} ({r.prefix})"))
        elif not tag.overlaps(destination.net):
            continue
        else:
            explicit.append(r)
    return [*explicit, *resolved]
