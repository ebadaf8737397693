"""Pure helpers behind the network checks: ids, prefixes, NSG walk, routes."""

from __future__ import annotations

import ipaddress

import pytest

from shared.checklib import netutil as nu
from tests.unit.checks.net_support import load, rule

NET = ipaddress.ip_network


def test_ids_are_case_insensitive() -> None:
    a = "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/V/subnets/N"
    assert nu.same_id(a, a.lower().upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"))
    assert nu.vnet_id_of(a.replace("resourceGroups", "resourcegroups")).endswith("/virtualNetworks/V")
    assert nu.resource_group_of(a) == "RG" and nu.name_of(a + "/") == "N"
    assert nu.subnet_ids_in_text(f"subnet '{a}' given in apiServerAccessProfile.subnetId; also {a}.") == [a]


@pytest.mark.parametrize(("text", "nets"), [
    ("10.0.0.0/24", ["10.0.0.0/24"]), ("1.2.3.4", ["1.2.3.4/32"]), ("10.0.0.5/24", ["10.0.0.0/24"]),
    ("10.1.4.12-10.1.4.15", ["10.1.4.12/30"]), ("Internet", []), ("", []),
])
def test_parse_nets(text: str, nets: list[str]) -> None:
    assert [str(n) for n in nu.parse_nets(text)] == nets


def test_prefix_forms_and_coverage() -> None:
    assert nu.prefixes_of({"addressPrefixes": ["10.0.0.0/24", "fd00::/64"]}) == ["10.0.0.0/24", "fd00::/64"]
    assert nu.covered_by(NET("10.0.0.0/16"), [NET("10.0.0.0/17"), NET("10.0.128.0/17")])
    assert not nu.covered_by(NET("10.0.0.0/16"), [NET("10.0.0.0/17"), NET("fd00::/8")])
    assert nu.usable_ips(NET("10.0.0.0/28")) == 11 and nu.usable_ips(NET("10.0.0.0/29")) == 3
    assert nu.free_prefix([NET("10.0.0.0/24")], [NET("10.0.0.0/28"), NET("10.0.0.16/29")], 28) == NET("10.0.0.32/28")


def test_spec_example_nsg_defaults() -> None:
    rules = nu.nsg_rules(load("network/NetworkSecurityGroupGet.2024-05-01.spec-example.json"))
    assert len([r for r in rules if r.default]) == 6
    node = nu.vnet_endpoint("node", NET("10.0.0.4/32"))
    internet = nu.public_endpoint("mcr", "westus")
    v = nu.nsg_walk(rules, direction="outbound", protocol="tcp", port=443, source=node, destination=internet)
    assert v.allowed and v.rule is not None and v.rule.name == "AllowInternetOutBound" and v.certain
    lb = nu.nsg_walk(rules, direction="inbound", protocol="tcp", port=9988, source=nu.LOAD_BALANCER_PROBE,
                     destination=node)
    assert lb.allowed and lb.rule is not None and lb.rule.name == "AllowAzureLoadBalancerInBound"


def test_walk_reports_undecidable_rules() -> None:
    asg = rule("asg", 110, "Outbound", "Deny")
    del asg["properties"]["destinationAddressPrefix"]
    asg["properties"]["destinationApplicationSecurityGroups"] = [{"id": "/x/applicationSecurityGroups/web"}]
    rules = nu.nsg_rules({"properties": {"securityRules": [
        rule("maybe", 100, "Outbound", "Deny", dst="20.0.0.0/8"), asg], "defaultSecurityRules": []}})
    v = nu.nsg_walk(rules, direction="outbound", protocol="tcp", port=443,
                    source=nu.vnet_endpoint("n"), destination=nu.public_endpoint("api", "westus"))
    assert v.access == "unknown" and [r.name for r in v.undecided] == ["maybe", "asg"]


@pytest.mark.parametrize(("ports", "port", "ok"), [
    (["*"], 443, True), (["400-500"], 443, True), (["80", "8443"], 443, False), (["443"], 443, True),
    (["0-65535"], 9988, True), ([], 443, False),
])
def test_ports(ports: list[str], port: int, ok: bool) -> None:
    assert nu.port_matches(ports, port) is ok


def test_route_choice() -> None:
    routes = [nu.Route("default", "0.0.0.0/0", "VirtualAppliance", "10.0.1.4"),
              nu.Route("onprem", "10.0.0.0/8", "VirtualNetworkGateway"),
              *nu.system_routes(["10.224.0.0/12"])]
    in_vnet = nu.route_for(routes, nu.vnet_endpoint("ilb", NET("10.225.0.4/32")))
    assert in_vnet.route is not None and in_vnet.route.next_hop_type == "VnetLocal"
    onprem = nu.route_for(routes, nu.vnet_endpoint("x", NET("10.9.0.1/32")))
    assert onprem.route is not None and onprem.route.name == "onprem"
    public = nu.route_for([*routes, nu.Route("tag", "AzureCloud.westus", "Internet")],
                          nu.public_endpoint("api", "westus"))
    assert public.route is not None and public.route.name == "default"
    assert [r.name for r in public.maybe] == ["tag"]
    tie = nu.route_for([nu.Route("udr", "10.224.0.0/12", "None"), *nu.system_routes(["10.224.0.0/12"])],
                       nu.vnet_endpoint("ilb", NET("10.225.0.4/32")))
    assert tie.route is not None and tie.route.name == "udr"  # a UDR wins a same-length system route


def test_spec_route_table_parses() -> None:
    (r,) = nu.udr_routes(load("network/RouteTableGet.2024-05-01.spec-example.json"))
    assert (r.prefix, r.next_hop_type, r.next_hop_ip) == ("10.0.3.0/24", "VirtualNetworkGateway", None)
    m = nu.route_for([r, *nu.system_routes(["10.0.0.0/16"])], nu.vnet_endpoint("x", NET("10.0.3.9/32")))
    assert m.route is r  # /24 UDR beats the /16 VNet route


def test_free_prefix_is_the_first_free_aligned_block_brute_force_agrees() -> None:
    """Gap arithmetic gives what testing every candidate block against every subnet gives."""
    import ipaddress
    import random

    from shared.checklib.netutil import free_prefix, overlaps

    def brute(space, used, prefixlen):  # type: ignore[no-untyped-def]
        for block in space:
            if block.prefixlen <= prefixlen:
                for cand in block.subnets(new_prefix=prefixlen):
                    if not any(overlaps(cand, u) for u in used):
                        return cand
        return None

    rnd = random.Random(7)
    for _ in range(400):
        space = [ipaddress.ip_network(f"10.{rnd.randrange(4) * 64}.0.0/{rnd.choice([16, 20, 22])}"),
                 ipaddress.ip_network("192.168.0.0/24")]
        used = []
        for _ in range(rnd.randrange(14)):
            block = rnd.choice(space)
            plen = rnd.randint(block.prefixlen, 28)
            step = 1 << (32 - plen)
            used.append(ipaddress.ip_network((int(block.network_address) + rnd.randrange(block.num_addresses // step)
                                              * step, plen)))
        for prefixlen in (23, 26, 28):
            assert free_prefix(space, used, prefixlen) == brute(space, used, prefixlen), (space, used, prefixlen)
    full = [ipaddress.ip_network("10.0.0.0/24")]
    assert free_prefix(full, full, 28) is None
