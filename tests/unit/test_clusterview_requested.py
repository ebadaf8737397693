"""ClusterView fields the requested-values checks and others read: surge with the AKS default, node public
IPs, maxUnavailable, autoscaler maximum, enabled add-ons and the raw service principal client id."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shared.checklib.clusterview import ClusterView, PoolView

FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "arm" / "aks" /
           "ManagedCluster.get.failed-private-vnetintegration-udr.2025-05-01.constructed.json")
CID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-aks-prod/providers/"
       "Microsoft.ContainerService/managedClusters/aks-prod-01")


def body() -> dict[str, Any]:
    return copy.deepcopy(json.loads(FIXTURE.read_text(encoding="utf-8"))["body"])


@pytest.mark.parametrize(("surge", "version", "count", "nodes"), [
    ("33%", "1.30.5", 3, 1),  # ceil(0.99)
    ("100%", "1.30.5", 5, 5),
    ("2", "1.30.5", 30, 2),
    (None, "1.30.5", 30, 3),  # unset on 1.28+: 10%, rounded up
    (None, "1.30.5", 5, 1),
    (None, "1.27.9", 30, 1),  # unset before 1.28: one node
    ("0", "1.30.5", 30, 0),
])
def test_surge_nodes(surge: str | None, version: str, count: int, nodes: int) -> None:
    b = body()
    pool = b["properties"]["agentPoolProfiles"][0]
    pool.update(count=count, orchestratorVersion=version, currentOrchestratorVersion=version)
    pool["upgradeSettings"] = {"maxSurge": surge} if surge is not None else {}
    v = ClusterView.from_body(b, CID)
    assert v.pools[0].surge_nodes() == nodes


def test_pool_fields() -> None:
    b = body()
    pool = b["properties"]["agentPoolProfiles"][0]
    pool.update(enableNodePublicIP=True, enableAutoScaling=True, minCount=2, maxCount=9,
                upgradeSettings={"maxSurge": "0", "maxUnavailable": "1"})
    p = ClusterView.from_body(b, CID).pools[0]
    assert p.node_public_ip and p.max_unavailable == "1" and p.max_surge == "0"
    assert p.nodes_at_most == 9 and p.surge_nodes(p.nodes_at_most) == 0
    assert PoolView(name="x", count=4).nodes_at_most == 4


def test_addons_and_service_principal() -> None:
    b = body()
    b["properties"]["addonProfiles"] = {"omsagent": {"enabled": True, "config": {}},
                                        "azurepolicy": {"enabled": False},
                                        "azureKeyvaultSecretsProvider": {"enabled": True}}
    b["properties"]["servicePrincipalProfile"] = {"clientId": "msi"}
    v = ClusterView.from_body(b, CID)
    assert v.addons == ("omsagent", "azureKeyvaultSecretsProvider")
    assert v.service_principal_client_id == "msi"
    b["properties"].pop("addonProfiles")
    assert ClusterView.from_body(b, CID).addons == ()


def test_monitor_metrics_and_kms_vault() -> None:
    vault = ("/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-kv/providers/"
             "Microsoft.KeyVault/vaults/kv-aks")
    b = body()
    b["properties"]["azureMonitorProfile"] = {"metrics": {"enabled": True}}
    b["properties"]["securityProfile"] = {"azureKeyVaultKms": {"enabled": True, "keyId": "https://kv-aks.vault.azure.net/keys/k/1",
                                                               "keyVaultNetworkAccess": "Private",
                                                               "keyVaultResourceId": vault}}
    v = ClusterView.from_body(b, CID)
    assert v.azure_monitor_metrics and v.kms_key_vault_id == vault
    plain = ClusterView.from_body(body(), CID)
    assert not plain.azure_monitor_metrics and plain.kms_key_vault_id is None
