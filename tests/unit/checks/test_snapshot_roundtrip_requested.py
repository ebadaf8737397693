"""Snapshot round trip for the checks of what an operation asks for: one world per planted fault, served
by the ARM emulator (real TLS, the Azure reader), collected with shared/snapshot_collect.py into a file,
then diagnosed offline from that file. Offline results equal the live ones, the planted check ranks
first, and the SKU list / Kubernetes versions / usages are among the recorded reads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from shared.azure.arm import AzureArmReader
from shared.checklib.base import CheckContext, CheckSpec, run_checks
from shared.checklib.ranking import rank
from shared.checks import (
    capacity_history,
    cidr_overlap,
    kubernetes_version,
    node_subnet_capacity,
    public_ip_quota,
    sku_availability,
    vcpu_quota,
)
from shared.local.snapshot import SnapshotArmReader, normalize_id
from shared.models import CheckResult, CheckStatus
from shared.ports import ArmReader
from shared.settings import Settings
from shared.snapshot_collect import collect_snapshot
from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server, fake_credential  # noqa: F401
from tests.unit.checks.net_support import vnet
from tests.unit.checks.platform_support import CLUSTER_ID, NODE_SUBNET, NOW, SUB, VNET_ID, body
from tests.unit.checks.requested_support import (
    COMPUTE_USAGES,
    NETWORK_USAGES,
    SKUS_ID,
    VERSIONS_ID,
    classified_ctx,
    skus,
)

SPECS: tuple[CheckSpec[Any], ...] = (kubernetes_version.SPEC, vcpu_quota.SPEC, public_ip_quota.SPEC,
                                     sku_availability.SPEC, cidr_overlap.SPEC, node_subnet_capacity.SPEC,
                                     capacity_history.SPEC)
REGISTRY = {s.id: s for s in SPECS}
SKUS_LIST = f"/subscriptions/{SUB}/providers/Microsoft.Compute/skus"  # ResourceSkus_List


def base() -> dict[str, Any]:
    """A healthy world: the fixture cluster (CNI Overlay, westeurope, 1.30.5), its node subnet and VNet, the
    region's SKUs, versions and usages."""
    c = body("cluster.vnetint-uai")
    s = body("subnet.nodes")
    s["properties"]["addressPrefix"] = "10.226.1.0/24"
    s["properties"]["ipConfigurations"] = [{"id": f"{NODE_SUBNET}/../nic{i}/ipConfigurations/ipconfig1"}
                                           for i in range(8)]
    versions = body("kubernetesversions")
    versions["values"].append({"version": "1.30", "capabilities": {"supportPlan": ["KubernetesOfficial"]},
                               "patchVersions": {"1.30.5": {"upgrades": []}}})
    return {CLUSTER_ID: c, NODE_SUBNET: s, VNET_ID: vnet(VNET_ID, ("10.226.0.0/16",), subnets=[s]),
            SKUS_ID: skus(), VERSIONS_ID: versions, COMPUTE_USAGES: body("usages.compute.westeurope"),
            NETWORK_USAGES: body("usages.network.westeurope")}


def _pool(w: dict[str, Any]) -> dict[str, Any]:
    pool: dict[str, Any] = w[CLUSTER_ID]["properties"]["agentPoolProfiles"][0]
    return pool


def zone_restricted(w: dict[str, Any]) -> None:
    _pool(w)["vmSize"] = "Standard_E8s_v5"


def version_not_offered(w: dict[str, Any]) -> None:
    pass  # the request (in the error) asks for 1.31.2, which westeurope does not offer


def regional_vcpus(w: dict[str, Any]) -> None:
    for u in w[COMPUTE_USAGES]["value"]:
        if u["name"]["value"] == "cores":
            u["currentValue"] = 96


def public_ips(w: dict[str, Any]) -> None:
    for u in w[NETWORK_USAGES]["value"]:
        if u["name"]["value"] == "PublicIPAddresses":
            u["currentValue"] = 60


def service_overlap(w: dict[str, Any]) -> None:
    net = w[CLUSTER_ID]["properties"]["networkProfile"]
    net.update(serviceCidr="10.226.0.0/20", serviceCidrs=["10.226.0.0/20"], dnsServiceIP="10.226.0.10")


def surge(w: dict[str, Any]) -> None:
    w[CLUSTER_ID]["properties"]["networkProfile"].pop("networkPluginMode")
    _pool(w).update(count=5, upgradeSettings={"maxSurge": "100%"})
    w[NODE_SUBNET]["properties"]["ipConfigurations"] = [
        {"id": f"{NODE_SUBNET}/../nic{i}/ipConfigurations/ipconfig1"} for i in range(158)]


WORLDS: list[tuple[str, Callable[[dict[str, Any]], None], dict[str, Any], str, str]] = [
    ("zone-restricted", zone_restricted, {"code": "AvailabilityZoneNotSupported", "verb": "scale",
                                          "agent_pool": "system"}, "sku_availability", SKUS_ID),
    ("version-not-offered", version_not_offered, {
        "code": "K8sVersionNotSupported", "verb": "upgrade",
        "message": "Version 1.31.2 is not supported in this region. Please use [az aks get-versions] command to "
                   "get the supported version list in this region."}, "kubernetes_version", VERSIONS_ID),
    ("regional-vcpus", regional_vcpus, {
        "code": "QuotaExceeded", "verb": "scale", "agent_pool": "system",
        "message": "Insufficient regional vcpu quota left for location westeurope. left regional vcpu quota 4, "
                   "requested quota 12"}, "vcpu_quota", COMPUTE_USAGES),
    ("public-ips", public_ips, {"code": "PublicIPCountLimitReached", "verb": "update", "agent_pool": "system"},
     "public_ip_quota", NETWORK_USAGES),
    ("service-cidr-overlap", service_overlap, {"code": "ServiceCidrOverlapExistingSubnetsCidr", "verb": "update"},
     "cidr_overlap", VNET_ID),
    ("upgrade-surge", surge, {"code": "SubnetIsFull", "verb": "upgrade", "agent_pool": "system"},
     "node_subnet_capacity", NODE_SUBNET),
]


SUMMARIES = {
    "sku_availability": "Standard_E8s_v5 in westeurope is restricted in zone(s) 3 (NotAvailableForSubscription); "
                        "usable zones: 1, 2",
    "kubernetes_version": "1.31.2 is not offered in westeurope",
    "vcpu_quota": "vCPU quota too low: Total Regional vCPUs in westeurope: 96/100 used, Standard_D4ds_v5 needs 12 more",
    "public_ip_quota": "public IP quota reached in westeurope: Public IP Addresses 60/60, need 1 more",
    "cidr_overlap": "service CIDR 10.226.0.0/20 overlaps vnet vnet-spoke-aks (10.226.0.0/16); service CIDR "
                    "10.226.0.0/20 overlaps subnet snet-aks-nodes (10.226.1.0/24)",
    "node_subnet_capacity": "subnet snet-aks-nodes has 93 free IPs, the next upgrade step needs 155",
}


@pytest.fixture
async def reader(arm_emulator: ArmEmulator,  # noqa: F811
                 fake_credential: FakeAsyncCredential) -> AsyncIterator[AzureArmReader]:  # noqa: F811
    r = AzureArmReader(Settings(arm_retry_total=0), credential=fake_credential, base_url=arm_emulator.base_url,
                       connection_verify=arm_emulator.ca_file)
    yield r
    await r.aclose()


def _ctx(w: dict[str, Any], arm: ArmReader, kw: dict[str, Any]) -> CheckContext:
    ctx = classified_ctx(w, **kw)
    ctx.arm = arm
    return ctx


def _comparable(results: tuple[CheckResult, ...]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in results]


@pytest.mark.parametrize(("plant", "kw", "expected", "read"), [w[1:] for w in WORLDS], ids=[w[0] for w in WORLDS])
async def test_offline_equals_live(plant: Callable[[dict[str, Any]], None], kw: dict[str, Any], expected: str,
                                   read: str, reader: AzureArmReader, arm_emulator: ArmEmulator,  # noqa: F811
                                   tmp_path: Path) -> None:
    w = base()
    plant(w)
    # ARM answers the region's SKU list at ResourceSkus_List with a location filter (the Azure reader maps the
    # checks' id to that call); snapshots and the offline run keep the checks' id
    served = {**w, SKUS_LIST: w[SKUS_ID]}
    del served[SKUS_ID]
    arm_emulator.serve({"resources": served, "activity_log": []})

    live: dict[str, tuple[CheckResult, ...]] = {}

    async def run_all(rec: ArmReader) -> None:
        ctx = _ctx(w, rec, kw)
        live["results"] = await run_checks(SPECS, ctx, timeout_s=10)

    snap = await collect_snapshot(CLUSTER_ID, reader.for_run(), run_all, now=NOW)
    assert arm_emulator.requests_for(SKUS_LIST if read == SKUS_ID else read), "the check's read went to ARM"
    sku_reads = arm_emulator.requests_for(SKUS_LIST)
    assert sku_reads and sku_reads[0].query.get("$filter") == "location eq 'westeurope'"
    out = tmp_path / "snap.json"
    out.write_text(json.dumps(snap.to_obj(), indent=1), encoding="utf-8")

    recorded = {normalize_id(k) for k in snap.resources}
    assert normalize_id(read) in recorded
    assert normalize_id(SKUS_ID) in recorded and normalize_id(VERSIONS_ID) in recorded

    offline_ctx = _ctx(w, SnapshotArmReader.from_file(out), kw)
    offline = await run_checks(SPECS, offline_ctx, timeout_s=10)
    assert _comparable(offline) == _comparable(live["results"])

    by_id = {r.id: r for r in offline}
    assert by_id[expected].status is CheckStatus.FAIL, by_id[expected]
    assert by_id[expected].summary == SUMMARIES[expected], by_id[expected].summary
    ranked = rank(offline_ctx.classification, offline, REGISTRY)
    assert ranked[0] == expected, (ranked, [(r.id, r.status.value, r.summary) for r in offline])
