"""CIDR arithmetic for the cluster's own ranges: overlaps with named address spaces, the DNS service IP
rules, and a free range to propose.

Owns: `overlaps_of()` (which named spaces a range collides with), `dns_service_ip_problem()` (AKS:
inside the service CIDR, not its network address or first address `.1`, which the kubernetes
service takes) and `propose_free()` (the first block of a given size in the RFC 1918 ranges that
collides with nothing given). Pure; IPv4 and IPv6 never overlap each other.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from shared.checklib.netutil import IPNet, overlaps, parse_net

PRIVATE_V4 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


@dataclass(frozen=True)
class Space:
    """A named address range another resource holds: a VNet prefix, a subnet, a peered VNet's prefix."""

    kind: str  # "vnet" | "subnet" | "peered vnet" | "pod cidr" | "service cidr"
    resource_id: str | None
    prop: str  # the property path that holds it
    cidr: str

    @property
    def net(self) -> IPNet | None:
        return parse_net(self.cidr)


@dataclass(frozen=True)
class Overlap:
    what: str  # "service CIDR" / "pod CIDR"
    cidr: str
    other: Space


def overlaps_of(what: str, cidr: str, spaces: Iterable[Space]) -> list[Overlap]:
    net = parse_net(cidr)
    if net is None:
        return []
    return [Overlap(what, cidr, s) for s in spaces if (o := s.net) is not None and overlaps(net, o)]


def dns_service_ip_problem(dns_ip: str, service_cidrs: Sequence[str]) -> str | None:
    try:
        ip = ipaddress.ip_address(dns_ip.strip())
    except ValueError:
        return f"dnsServiceIP {dns_ip} is not an IP address"
    nets = [n for n in (parse_net(c) for c in service_cidrs) if n is not None and n.version == ip.version]
    home = next((n for n in nets if ip in n), None)
    if home is None:
        return f"dnsServiceIP {dns_ip} is outside the service CIDR {', '.join(service_cidrs)}"
    if ip == home.network_address:
        return f"dnsServiceIP {dns_ip} is the network address of {home}"
    if int(ip) == int(home.network_address) + 1:
        return f"dnsServiceIP {dns_ip} is the first address of {home}, which the kubernetes service takes"
    if home.version == 4 and ip == home.broadcast_address:
        return f"dnsServiceIP {dns_ip} is the broadcast address of {home}"
    return None


def propose_free(prefixlen: int, avoid: Iterable[IPNet], pools: Sequence[IPNet] = PRIVATE_V4) -> IPNet | None:
    """The first /prefixlen in `pools` that overlaps nothing in `avoid` (None when all collide)."""
    taken = [a for a in avoid if a.version == 4]
    for pool in pools:
        if pool.prefixlen > prefixlen:
            continue
        # step over big taken blocks quickly: candidates are checked in order, at most 4096 per pool
        for i, cand in enumerate(pool.subnets(new_prefix=prefixlen)):
            if i >= 4096:
                break
            net = cast(IPNet, cand)
            if not any(overlaps(net, t) for t in taken):
                return net
    return None


def tenth_address(net: IPNet) -> str:
    """The conventional DNS service IP of a service CIDR: its .10 (AKS's default 10.0.0.10 in 10.0.0.0/16)."""
    return str(net.network_address + 10) if net.num_addresses > 16 else str(net.network_address + 2)
