"""Snapshot round trip for the network faults of issue 12 (items 1-3): the ARM emulator serves a world
with one planted fault -> the real Azure reader -> collect_snapshot records what the checks read ->
a file -> SnapshotArmReader -> the same checks again. The ranked finding (first cause, its status,
confidence, summary and evidence) must be the same online and offline, and the recorded reads must
include the service tag list and the node resource group's scale sets (their NIC NSG)."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.azure.arm import AzureArmReader
from shared.checklib.base import CheckContext, CheckSpec, run_checks
from shared.checklib.ranking import rank
from shared.checks import (
    api_authorized_ranges,
    egress_bootstrap,
    nsg_apiserver_egress,
    nsg_vnet_integration,
    outbound_connectivity,
    route_apiserver,
)
from shared.classify import classify_error
from shared.local.snapshot import SnapshotArmReader, normalize_id
from shared.models import CheckResult, CheckStatus, OperationError
from shared.ports import ArmReader
from shared.settings import Settings
from shared.snapshot_collect import collect_snapshot
from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server, fake_credential  # noqa: F401
from tests.unit.checks.egress_support import (
    AKS_NSG,
    LB_ID,
    LB_PIP,
    NAT_ID,
    NAT_PIP,
    TAGS_ID,
    VMSS_ID,
    VMSS_LIST,
    aks_nsg,
    kubernetes_lb,
    nat_gateway,
    scale_set,
    service_tags,
)
from tests.unit.checks.net_support import (
    CLUSTER_ID,
    NODE_NSG,
    NODE_SUBNET,
    NOW,
    RT_ID,
    cluster,
    make_ctx,
    nsg,
    public_ip,
    route_table,
    rule,
    subnet,
    world,
)

SPECS: tuple[CheckSpec[Any], ...] = (api_authorized_ranges.SPEC, nsg_apiserver_egress.SPEC, nsg_vnet_integration.SPEC,
                                     route_apiserver.SPEC, outbound_connectivity.SPEC, egress_bootstrap.SPEC)
BY_ID = {s.id: s for s in SPECS}
EXIT50 = ("VMExtensionError_OutboundConnFail: vmssCSE exit status=50, Enable failed: nc: connect to "
          "mcr.microsoft.com port 443 (tcp) failed: Connection timed out")
EXIT51 = ("VMExtensionError_K8SAPIServerConnFail: vmssCSE exit status=51 curl: (28) Failed to connect to 20.61.1.10 "
          "port 443: Connection timed out")


def base(outbound: str = "loadBalancer") -> dict[str, Any]:
    """A public cluster with healthy LB egress, the AKS NIC NSG through the scale set (stored as the
    child resource: the emulator lists it like ARM) and the service tag list."""
    res = world(c=cluster(private=False, vnet_integration=False, outbound=outbound),
                node_subnet=subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG))
    res.update({VMSS_ID: scale_set(), AKS_NSG: aks_nsg(), TAGS_ID: service_tags(), LB_ID: kubernetes_lb(),
                LB_PIP: public_ip(LB_PIP, "20.61.10.10")})
    return res


def nic_nsg_deny() -> dict[str, Any]:
    res = base()
    res[AKS_NSG] = aks_nsg([rule("deny-internet-out", 200, "Outbound", "Deny", dst="Internet")])
    return res


def service_tag_deny() -> dict[str, Any]:
    res = base()
    res[NODE_NSG] = nsg(NODE_NSG, [rule("deny-azurecloud-weu", 300, "Outbound", "Deny", dst="AzureCloud.westeurope",
                                        ports="443"),
                                   rule("deny-storage", 310, "Outbound", "Deny", dst="Storage", ports="443")])
    return res


def deleted_appliance() -> dict[str, Any]:
    res = world(rt=route_table(RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.9")]))
    res.update({VMSS_ID: scale_set(), AKS_NSG: aks_nsg()})
    return res


def no_nat_gateway() -> dict[str, Any]:
    res = base("userAssignedNATGateway")
    res.update({NAT_ID: nat_gateway(), NAT_PIP: public_ip(NAT_PIP, "20.61.20.20")})  # exists, not attached
    return res


def no_outbound_rule() -> dict[str, Any]:
    res = base()
    res[LB_ID] = kubernetes_lb(outbound_rules=False)
    return res


CASES: list[tuple[str, Callable[[], dict[str, Any]], str, str, str]] = [
    # (name, world, error message, expected first cause, a summary fragment)
    ("nic-nsg", nic_nsg_deny, EXIT50, "egress_bootstrap", "NIC NSG aks-agentpool-12345678-nsg denies"),
    ("service-tag", service_tag_deny, EXIT51, "nsg_apiserver_egress", "deny-azurecloud-weu"),
    ("deleted-nva", deleted_appliance, EXIT50, "egress_bootstrap", "nothing answers at 10.0.1.9"),
    ("nat-gateway", no_nat_gateway, EXIT50, "outbound_connectivity", "has no NAT gateway"),
    ("lb-outbound-rule", no_outbound_rule, EXIT50, "outbound_connectivity", "has no outbound rule"),
]


@pytest.fixture
async def reader(arm_emulator: ArmEmulator,  # noqa: F811
                 fake_credential: FakeAsyncCredential) -> AsyncIterator[AzureArmReader]:  # noqa: F811
    r = AzureArmReader(Settings(arm_retry_total=0), credential=fake_credential, base_url=arm_emulator.base_url,
                       connection_verify=arm_emulator.ca_file)
    yield r
    await r.aclose()


def _ctx(arm: ArmReader, message: str) -> CheckContext:
    template = make_ctx({})
    err = OperationError(code=message.split(":", 1)[0], message=message, source="cluster_status")
    return CheckContext(operation=template.operation, error=err, classification=classify_error(err), arm=arm,
                        now=NOW)


async def _diagnose(arm: ArmReader, message: str) -> tuple[tuple[str, ...], dict[str, CheckResult]]:
    ctx = _ctx(arm, message)
    results = await run_checks(SPECS, ctx, timeout_s=20.0)
    return rank(ctx.classification, results, BY_ID), {r.id: r for r in results}


def _same(a: CheckResult, b: CheckResult) -> None:
    assert (a.status, a.summary, a.confidence, a.confirm_by, a.remediation) == (
        b.status, b.summary, b.confidence, b.confirm_by, b.remediation), a.id
    assert [e.model_dump() for e in a.evidence] == [e.model_dump() for e in b.evidence], a.id


@pytest.mark.parametrize(("name", "build", "message", "first", "fragment"), CASES, ids=[c[0] for c in CASES])
async def test_offline_diagnosis_of_the_snapshot_equals_the_live_one(
        name: str, build: Callable[[], dict[str, Any]], message: str, first: str, fragment: str,
        reader: AzureArmReader, arm_emulator: ArmEmulator, tmp_path: Path) -> None:  # noqa: F811
    arm_emulator.serve({"resources": copy.deepcopy(build()), "activity_log": []})
    live_rank, live = await _diagnose(reader.for_run(), message)
    assert live_rank and live_rank[0] == first, (live_rank, {k: v.summary for k, v in live.items()})
    top = live[first]
    assert top.status is CheckStatus.FAIL and fragment in top.summary, top.summary

    async def run_all(arm: ArmReader) -> None:
        await _diagnose(arm, message)

    snap = await collect_snapshot(CLUSTER_ID, reader.for_run(), run_all, now=NOW + timedelta(hours=1))
    out = tmp_path / f"{name}.json"
    out.write_text(json.dumps(snap.to_obj(), indent=1), encoding="utf-8")

    off_rank, offline = await _diagnose(SnapshotArmReader.from_file(out), message)
    assert off_rank == live_rank
    for cid, res in live.items():
        _same(res, offline[cid])
    recorded = {normalize_id(k) for k in json.loads(out.read_text(encoding="utf-8"))["resources"]}
    assert normalize_id(VMSS_LIST) in recorded  # the scale set list (NIC NSG reference) was recorded
    assert normalize_id(AKS_NSG) in recorded
    if name == "service-tag":
        assert normalize_id(TAGS_ID) in recorded
        assert top.confidence == "confirmed"  # proven from the recorded list, offline too
        assert any("is in service tag AzureCloud.westeurope" in (e.note or "") for e in offline[first].evidence)


# --- ranking across the network checks: the planted cause first, decoys not blamed ----------------


def ranges_with_nat_and_storage_decoy() -> dict[str, Any]:
    res = base("userAssignedNATGateway")
    res[CLUSTER_ID]["properties"]["apiServerAccessProfile"]["authorizedIPRanges"] = ["203.0.113.0/24"]
    res[NODE_SUBNET] = subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG, nat=NAT_ID)
    res.update({NAT_ID: nat_gateway(), NAT_PIP: public_ip(NAT_PIP, "20.61.20.20")})
    res[NODE_NSG] = nsg(NODE_NSG, [rule("deny-storage", 300, "Outbound", "Deny", dst="Storage")])  # decoy
    return res


def nsg_deny_with_nva_decoy() -> dict[str, Any]:
    nic_id = f"{NODE_SUBNET.split('/providers/')[0]}/providers/Microsoft.Network/networkInterfaces/nva-nic"
    res = world(rt=route_table(RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.224.0.10")]),
                node_nsg=nsg(NODE_NSG, [rule("deny-all-out", 100, "Outbound", "Deny")]))
    res[NODE_SUBNET]["properties"]["ipConfigurations"] = [{"id": f"{nic_id}/ipConfigurations/ipconfig1"}]
    res[nic_id] = {"id": nic_id, "name": "nva-nic", "properties": {  # a working NVA: its rules unseen (likely)
        "provisioningState": "Succeeded", "enableIPForwarding": True,
        "ipConfigurations": [{"name": "ipconfig1", "properties": {"privateIPAddress": "10.224.0.10"}}]}}
    return res


def vnet_integration_4443_with_tag_decoy() -> dict[str, Any]:
    from tests.unit.checks.net_support import API_NSG

    return world(api_nsg=nsg(API_NSG, [rule("deny-4443", 1000, "Inbound", "Deny", src="VirtualNetwork", ports="4443")]),
                 node_nsg=nsg(NODE_NSG, [rule("deny-sql", 200, "Outbound", "Deny", dst="Sql", ports="1433")]))


RANKED = [
    ("authorized-ranges", ranges_with_nat_and_storage_decoy, EXIT51, "api_authorized_ranges"),
    ("nsg-over-nva", nsg_deny_with_nva_decoy, EXIT50, "egress_bootstrap"),
    ("vnet-integration-4443", vnet_integration_4443_with_tag_decoy, EXIT51.replace("20.61.1.10", "10.225.0.4"),
     "nsg_vnet_integration"),
    *[(n, b, m, f) for n, b, m, f, _ in CASES if n != "nic-nsg"],  # the scale set list needs the emulator
]


@pytest.mark.parametrize(("name", "build", "message", "first"), RANKED, ids=[r[0] for r in RANKED])
async def test_planted_cause_ranks_first_over_decoys(name: str, build: Callable[[], dict[str, Any]], message: str,
                                                     first: str) -> None:
    from shared.local.snapshot import Snapshot

    ranked, results = await _diagnose(SnapshotArmReader(Snapshot(build(), [])), message)
    assert ranked and ranked[0] == first, (ranked, {k: v.summary for k, v in results.items()})
    assert not [r.id for r in results.values() if r.status is CheckStatus.ERROR]
    confirmed = [cid for cid in ranked if results[cid].confidence == "confirmed"]
    assert confirmed and confirmed[0] == first  # a likely decoy never outranks the proven cause
    blamed = " ".join(results[c].summary for c in ranked)
    assert "deny-storage" not in blamed and "deny-sql" not in blamed
