"""Planned-mode behaviour of node_resource_group, private_dns_zone_link, egress (egress_bootstrap owns the NSG /
route verdict, outbound_connectivity the outbound type's parts) and the codes the checks' specs predict."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest

from shared.models import CheckStatus
from tests.preflight import worlds as w
from tests.preflight.support import plan_of, predict

NRG = "MC_custom_nodes_pf"
NRG_ID = f"/subscriptions/{w.SUB}/resourceGroups/{NRG}"
ZONE = (
    f"/subscriptions/{w.SUB}/resourceGroups/{w.NET_RG}/providers/Microsoft.Network/privateDnsZones/"
    f"privatelink.{w.REGION}.azmk8s.io"
)
RT = f"{w.NET}/routeTables/rt-nodes"


def _check(report: Any, cid: str) -> Any:
    return next(c for c in report.checks if c.id == cid)


def _group(managed_by: str | None) -> dict[str, Any]:
    g: dict[str, Any] = {
        "id": NRG_ID,
        "name": NRG,
        "location": w.REGION,
        "properties": {"provisioningState": "Succeeded"},
    }
    if managed_by:
        g["managedBy"] = managed_by
    return g


@pytest.mark.parametrize(
    ("existing", "status"),
    [
        (None, CheckStatus.NOT_APPLICABLE),  # AKS creates it
        ("other", CheckStatus.FAIL),  # someone else's group
        ("unmanaged", CheckStatus.FAIL),
        ("this", CheckStatus.PASS),  # left by an earlier cluster of the same id
    ],
    ids=["absent", "other-cluster", "plain-group", "this-cluster"],
)
def test_node_resource_group_on_a_planned_create(existing: str | None, status: CheckStatus) -> None:
    world = copy.deepcopy(w.world())
    other = w.CLUSTER_ID.replace(w.NAME, "aks-other")
    if existing:
        world["resources"][NRG_ID] = _group({"other": other, "unmanaged": None, "this": w.CLUSTER_ID}[existing])
    report = predict(world, plan_of(w.planned_cluster(properties__nodeResourceGroup=NRG)))
    res = _check(report, "node_resource_group")
    assert res.status is status, res.summary
    if status is CheckStatus.FAIL:
        assert "already exists" in res.summary and [p.id for p in report.predictions] == ["node_resource_group"]
        assert "properties.nodeResourceGroup" in (res.remediation or "")
    else:
        assert "node_resource_group" not in [p.id for p in report.predictions]


def test_a_deleted_node_resource_group_of_a_running_cluster_still_fails() -> None:
    """Not a create: the running cluster's group is gone (what the failure mode reports too)."""
    world = w.with_existing(w.world(), w.existing_cluster())
    del world["resources"][f"/subscriptions/{w.SUB}/resourceGroups/MC_{w.RG}_{w.NAME}_{w.REGION}"]
    report = predict(
        world,
        plan_of(
            w.planned_cluster(
                properties__apiServerAccessProfile__authorizedIPRanges=[
                    "203.0.113.0/24",
                    "10.42.0.0/22",
                    "198.51.100.0/24",
                ]
            )
        ),
    )
    res = _check(report, "node_resource_group")
    assert res.status is CheckStatus.FAIL and "was deleted" in res.summary


def _private(zone: str) -> dict[str, Any]:
    return {
        "properties__apiServerAccessProfile": {
            "enablePrivateCluster": True,
            "privateDNSZone": zone,
            "enableVnetIntegration": True,
            "subnetId": w.API_SUBNET,
        }
    }


def _zone(world: dict[str, Any], links: list[dict[str, Any]]) -> None:
    world["resources"][ZONE] = {
        "id": ZONE,
        "name": ZONE.rsplit("/", 1)[-1],
        "location": "global",
        "type": "Microsoft.Network/privateDnsZones",
        "properties": {"provisioningState": "Succeeded"},
    }
    world["resources"][f"{ZONE}/virtualNetworkLinks"] = {"value": links}


def test_a_byo_zone_without_a_link_is_not_a_failure_before_the_create() -> None:
    world = copy.deepcopy(w.world())
    decoy_vnet = f"{w.NET}/virtualNetworks/vnet-hub"  # a link to another VNet: not the node VNet
    _zone(
        world,
        [
            {
                "id": f"{ZONE}/virtualNetworkLinks/hub",
                "name": "hub",
                "properties": {
                    "virtualNetwork": {"id": decoy_vnet},
                    "virtualNetworkLinkState": "Completed",
                    "provisioningState": "Succeeded",
                    "registrationEnabled": False,
                },
            }
        ],
    )
    report = predict(world, plan_of(w.planned_cluster(**_private(ZONE))))
    res = _check(report, "private_dns_zone_link")
    assert res.status is CheckStatus.PASS and "the create links it to node VNet vnet-pf" in res.summary
    assert "private_dns_zone_link" not in [p.id for p in report.predictions]


def test_a_missing_byo_zone_is_predicted() -> None:
    report = predict(copy.deepcopy(w.world()), plan_of(w.planned_cluster(**_private(ZONE))))
    res = _check(report, "private_dns_zone_link")
    assert res.status is CheckStatus.FAIL and "does not exist" in res.summary
    pred = next(p for p in report.predictions if p.id == "private_dns_zone_link")
    assert pred.status == "will_fail" and pred.predicted_code == "VMExtensionError_K8SAPIServerDNSLookupFail"


def test_the_system_zone_is_not_applicable_before_the_create() -> None:
    report = predict(copy.deepcopy(w.world()), plan_of(w.planned_cluster(**_private("system"))))
    assert _check(report, "private_dns_zone_link").status is CheckStatus.NOT_APPLICABLE


def _deny_443(world: dict[str, Any]) -> None:
    world["resources"][w.NODE_NSG]["properties"]["securityRules"].append(
        w._rule(w.NODE_NSG, "DenyWebOut", direction="Outbound", priority=400, access="Deny", port="443", dst="Internet")
    )


def _blackhole(world: dict[str, Any]) -> None:
    world["resources"][RT] = {
        "id": RT,
        "name": "rt-nodes",
        "location": w.REGION,
        "properties": {
            "provisioningState": "Succeeded",
            "routes": [
                {
                    "id": f"{RT}/routes/blackhole",
                    "name": "blackhole",
                    "properties": {
                        "addressPrefix": "0.0.0.0/0",
                        "nextHopType": "None",
                        "provisioningState": "Succeeded",
                    },
                }
            ],
        },
    }
    world["resources"][w.NODE_SUBNET]["properties"]["routeTable"] = {"id": RT}
    for s in world["resources"][w.VNET_ID]["properties"]["subnets"]:
        if s["id"] == w.NODE_SUBNET:
            s["properties"]["routeTable"] = {"id": RT}


@pytest.mark.parametrize(
    ("plant", "needle"),
    [(_deny_443, "denies outbound TCP 443"), (_blackhole, "0.0.0.0/0 -> None")],
    ids=["nsg-443", "route-none"],
)
def test_the_egress_path_fault_is_found_once_by_egress_bootstrap(plant: Any, needle: str) -> None:
    """The deny-SMTP rule of the world stays a decoy; outbound_connectivity judges the outbound type only."""
    world = copy.deepcopy(w.world())
    plant(world)
    report = predict(world, plan_of(w.planned_cluster()))
    assert [p.id for p in report.predictions] == ["egress_bootstrap"], [(p.id, p.summary) for p in report.predictions]
    first = report.predictions[0]
    assert needle in first.summary and first.status == "will_fail"
    assert first.predicted_code == "VMExtensionError_OutboundConnFail"
    oc = _check(report, "outbound_connectivity")
    assert oc.status is CheckStatus.PASS and "egress_bootstrap" in oc.summary


def test_spec_predicted_codes_are_catalog_codes_and_win_over_the_knowledge_file() -> None:
    from shared.checks.registry import REGISTRY
    from shared.preflight import engine

    catalog = json.loads((resources.files("shared") / "catalog" / "catalog.json").read_text(encoding="utf-8"))
    knowledge = json.loads((resources.files("shared") / "preflight" / "knowledge.json").read_text(encoding="utf-8"))
    codes = {e["code"] for e in catalog["entries"]} | set(knowledge["codes_outside_the_catalog"])
    ops = set(knowledge["operations"]) | {"default"}
    declaring = [s for s in REGISTRY.values() if s.predicts]
    assert {"policy_denial", "resource_locks", "outbound_connectivity", "private_dns_zone_link"} <= {
        s.id for s in declaring
    }
    for spec in declaring:
        assert set(spec.predicts) <= ops, spec.id
        assert set(spec.predicts.values()) <= codes, f"{spec.id}: {dict(spec.predicts)} not in the catalog"
        assert spec.id not in knowledge["predicted_codes"], f"{spec.id}: declared on the spec and in knowledge.json"
        assert engine.predicted_code(spec.id, spec, "create") == spec.predicted_code("create")
    # a spec without `predicts` falls back to the knowledge file
    assert (
        engine.predicted_code("vnet_custom_dns", REGISTRY.get("vnet_custom_dns"), "create")
        == "VMExtensionError_K8SAPIServerDNSLookupFail"
    )


@pytest.mark.parametrize(
    ("zone_name", "ok"),
    [
        (f"privatelink.{w.REGION}.azmk8s.io", True),
        (f"aks-pf.privatelink.{w.REGION}.azmk8s.io", True),  # a subzone
        ("privatelink.northeurope.azmk8s.io", False),  # another region's zone
        ("aks.contoso.internal", False),
    ],
    ids=["canonical", "subzone", "other-region", "not-azmk8s"],
)
def test_a_byo_zone_name_aks_does_not_accept_is_a_likely_failure(zone_name: str, ok: bool) -> None:
    world = copy.deepcopy(w.world())
    zone_id = ZONE.rsplit("/", 1)[0] + "/" + zone_name
    world["resources"][zone_id] = {
        "id": zone_id,
        "name": zone_name,
        "location": "global",
        "type": "Microsoft.Network/privateDnsZones",
        "properties": {"provisioningState": "Succeeded"},
    }
    world["resources"][f"{zone_id}/virtualNetworkLinks"] = {"value": []}
    report = predict(world, plan_of(w.planned_cluster(**_private(zone_id))))
    res = _check(report, "private_dns_zone_link")
    if ok:
        assert res.status is CheckStatus.PASS, res.summary
    else:
        assert res.status is CheckStatus.FAIL and res.confidence == "likely" and res.confirm_by
        pred = next(p for p in report.predictions if p.id == "private_dns_zone_link")
        assert pred.status == "at_risk" and f"privatelink.{w.REGION}.azmk8s.io" in pred.summary
