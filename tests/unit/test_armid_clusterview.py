"""shared.armid (the one ARM-id module) and ClusterView (one view of the cluster, GET or planned)."""

from __future__ import annotations

import json
from pathlib import Path

from shared import armid
from shared.armid import ResourceKind
from shared.checklib.clusterview import ClusterView

SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"
SUBNET = f"{SUB}/resourceGroups/Net-RG/providers/Microsoft.Network/virtualNetworks/hub/subnets/aks"


def test_parse_keeps_casing_and_compares_without_it() -> None:
    p = armid.parse(SUBNET + "/")
    assert p is not None and p.text == SUBNET
    assert p.kind is ResourceKind.SUBNET and p.name == "aks" and p.resource_group == "Net-RG"
    assert p.parent == f"{SUB}/resourceGroups/Net-RG/providers/Microsoft.Network/virtualNetworks/hub"
    assert armid.same(SUBNET.lower().replace("resourcegroups", "resourceGroups"), SUBNET.upper())
    assert armid.kind_of(p.parent) is ResourceKind.VNET


def test_extension_and_management_group_ids() -> None:
    lock = f"{SUB}/resourceGroups/rg/providers/Microsoft.Authorization/locks/no-delete"
    assert armid.kind_of(lock) is ResourceKind.LOCK
    mg = "/providers/Microsoft.Management/managementGroups/corp/providers/Microsoft.Authorization/policyAssignments/x"
    assert armid.kind_of(mg) is ResourceKind.POLICY_ASSIGNMENT
    assert armid.within(SUBNET, f"{SUB}/resourceGroups/net-rg")
    assert not armid.within(f"{SUB}/resourceGroups/net-rg2", f"{SUB}/resourceGroups/net-rg")


def test_not_ids() -> None:
    for raw in ("", "subnets/aks", "https://example.com", None, 42,
                f"{SUB}/resourceGroups/rg/providers/Microsoft.Network",
                "/subscriptions/" + "x" * 5000):
        assert armid.parse(raw) is None
    assert armid.dedupe([SUBNET, SUBNET.lower(), "junk"]) == (SUBNET,)


def _body() -> dict[str, object]:
    return {
        "id": f"{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1",
        "name": "aks1", "location": "West Europe",
        "identity": {"type": "SystemAssigned", "principalId": "p-1"},
        "properties": {
            "kubernetesVersion": "1.30", "provisioningState": "Failed",
            "apiServerAccessProfile": {"enableVnetIntegration": True, "subnetId": SUBNET + "-api",
                                       "authorizedIPRanges": ["20.1.2.3/32"]},
            "networkProfile": {"networkPlugin": "azure", "networkPluginMode": "overlay",
                               "outboundType": "userDefinedRouting", "serviceCidr": "10.0.0.0/16",
                               "dnsServiceIP": "10.0.0.10"},
            "agentPoolProfiles": [{"name": "system", "mode": "System", "vnetSubnetID": SUBNET, "count": 3,
                                   "upgradeSettings": {"maxSurge": "33%"}, "provisioningState": "Failed"}],
            "identityProfile": {"kubeletidentity": {"objectId": "k-1", "clientId": "c-1"}},
        },
    }


def test_view_from_a_get_body() -> None:
    v = ClusterView.from_body(_body(), "ignored")
    assert (v.name, v.region, v.subscription, v.resource_group) == ("aks1", "westeurope", SUB.split("/")[2], "rg")
    assert v.vnet_integration and v.apiserver_subnet_id == SUBNET + "-api"
    assert v.overlay and v.outbound_type == "userDefinedRouting" and v.service_cidrs == ("10.0.0.0/16",)
    assert v.node_subnet_ids == (SUBNET,) and v.target_pool is not None and v.target_pool.max_surge == "33%"
    assert v.identity.kind == "SystemAssigned" and v.identity.kubelet_object_id == "k-1"
    assert set(v.subnet_ids()) == {SUBNET, SUBNET + "-api"}


def test_defaults_when_arm_leaves_profiles_out() -> None:
    v = ClusterView.from_body({"name": "c", "location": "eastus", "properties": {}},
                              f"{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c",
                              planned=True)
    assert v.planned and v.network_plugin == "kubenet" and v.outbound_type == "loadBalancer" and not v.byo_vnet


def test_view_reads_the_bundled_scenarios() -> None:
    root = Path(__file__).resolve().parents[2] / "shared" / "demo" / "scenarios"
    seen = 0
    for snap in sorted(root.glob("*/snapshot.json")):
        data = json.loads(snap.read_text(encoding="utf-8"))
        kind = "microsoft.containerservice/managedclusters"
        bodies = [v for v in (data.get("resources") or {}).values()
                  if isinstance(v, dict) and str(v.get("type", "")).lower() == kind]
        for body in bodies:
            v = ClusterView.from_body(body, body["id"])
            assert v.name and v.region and v.pools, snap
            seen += 1
    assert seen >= 3
