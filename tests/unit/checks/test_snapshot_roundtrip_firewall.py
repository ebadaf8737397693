"""Snapshot round trip for the firewall, API-server-subnet and DNS checks: a world with one planted
fault is served by the HTTPS ARM emulator, read through the real Azure SDK reader, recorded by
collect_snapshot (the way `aks-triage snapshot` runs every check with an unknown error), written to
a file, and diagnosed offline from that file: the offline results and the ranked root causes equal
the live ones, and the planted cause is the only one blamed (each world is healthy otherwise: the
firewall allows the AKS FQDN tag, the subnets and zone are right). The recorded reads include the base policy's rule
collection groups and the IP Groups (and a 403 on an IP Group replays as the same 403)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.azure.arm import AzureArmReader
from shared.checklib.base import CheckContext, CheckSpec, run_checks
from shared.checklib.ranking import rank
from shared.checks import (
    apiserver_subnet,
    firewall_aks_fqdns,
    firewall_tls_inspection,
    private_dns_zone_link,
    private_endpoint_apiserver,
    vnet_custom_dns,
)
from shared.classify import classify_error
from shared.local.snapshot import SnapshotArmReader
from shared.models import Classification, FailedOperation, OperationError, OperationKind
from shared.ports import ArmReader
from shared.settings import Settings
from shared.snapshot_collect import collect_snapshot
from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server, fake_credential  # noqa: F401
from tests.unit.checks.firewall_support import (
    BASE,
    IPG_NODES,
    POLICY,
    app_rule,
    ip_group,
    rcg,
    with_policy,
)
from tests.unit.checks.net_support import (
    API_SUBNET,
    CLUSTER,
    CLUSTER_ID,
    NODE_RG,
    RG,
    SUB,
    VNET_ID,
    cluster,
    subnet,
    world,
)

SPECS: list[CheckSpec[Any]] = [
    firewall_aks_fqdns.SPEC,
    firewall_tls_inspection.SPEC,
    apiserver_subnet.SPEC,
    private_dns_zone_link.SPEC,
    private_endpoint_apiserver.SPEC,
    vnet_custom_dns.SPEC,
]
BY_ID = {s.id: s for s in SPECS}
NOW = datetime(2024, 11, 21, 14, 0, 0, tzinfo=UTC)
PUBLIC: dict[str, Any] = {"private": False, "vnet_integration": False}
API = "*.hcp.westeurope.azmk8s.io"
TAG_GROUP = rcg(POLICY, "aks", 100, [("aks", 100, "Allow", [app_rule("aks", tags=["AzureKubernetesService"])])])
CONN_TIMEOUT = OperationError(
    code="VMExtensionError_K8SAPIServerConnFail",
    source="cluster_status",
    message=("vmssCSE exit status=51 curl: (28) Failed to connect to 20.61.1.10 port 443: Connection timed out"),
)
CONN_CERT = OperationError(
    code="VMExtensionError_K8SAPIServerConnFail",
    source="cluster_status",
    message=("vmssCSE exit status=51 curl: (60) SSL certificate problem: unable to get local issuer certificate"),
)
OUTBOUND = OperationError(
    code="VMExtensionError_OutboundConnFail",
    source="cluster_status",
    message=("vmssCSE exit status=50 curl: (28) Failed to connect to mcr.microsoft.com port 443: Connection timed out"),
)
DNS_FAIL = OperationError(
    code="VMExtensionError_K8SAPIServerDNSLookupFail",
    source="cluster_status",
    message=(
        "vmssCSE exit status=52 Could not resolve host: aks-prod-01-dns-12345678.privatelink.westeurope.azmk8s.io"
    ),
)
SUBNET_TARGET = OperationError(
    code="InvalidParameter",
    source="cluster_status",
    target="properties.apiServerAccessProfile.subnetId",
    message=(
        "The subnet in apiServerAccessProfile.subnetId must be delegated to Microsoft.ContainerService/managedClusters."
    ),
)
ZONES = f"/subscriptions/{SUB}/resourceGroups/{NODE_RG}/providers/Microsoft.Network/privateDnsZones"
ZONE = f"{ZONES}/privatelink.westeurope.azmk8s.io"


def base_policy_deny() -> dict[str, Any]:
    base = [
        rcg(BASE, "corp", 65000, [("no-mcr", 100, "Deny", [app_rule("mcr", ["mcr.microsoft.com"], sources=["*"])])])
    ]
    return with_policy(world(c=cluster(**PUBLIC)), [TAG_GROUP], base)


def ip_group_without_nodes() -> dict[str, Any]:
    g = rcg(
        POLICY,
        "aks",
        100,
        [("aks", 100, "Allow", [app_rule("aks", tags=["AzureKubernetesService"], sources=[], ip_groups=[IPG_NODES])])],
    )
    res = with_policy(world(c=cluster(**PUBLIC)), [g])
    res[IPG_NODES] = ip_group(IPG_NODES, ["10.99.0.0/16"])
    return res


def tls_inspection() -> dict[str, Any]:
    inspect = rcg(POLICY, "inspect", 90, [("inspect", 100, "Allow", [app_rule("all", ["*"], tls=True)])])
    return with_policy(world(c=cluster(**PUBLIC)), [inspect, TAG_GROUP], premium=True)


def undelegated_apiserver_subnet() -> dict[str, Any]:
    return with_policy(world(api_subnet=subnet(API_SUBNET, "10.225.0.0/28")), [TAG_GROUP])


def unlinked_zone() -> dict[str, Any]:
    c = cluster(vnet_integration=False)
    c["properties"]["privateFQDN"] = "aks-prod-01-dns-12345678.privatelink.westeurope.azmk8s.io"
    res = with_policy(world(c=c), [TAG_GROUP])
    res[ZONES] = {
        "value": [
            {
                "id": ZONE,
                "name": "privatelink.westeurope.azmk8s.io",
                "type": "Microsoft.Network/privateDnsZones",
                "location": "global",
                "properties": {},
            }
        ]
    }
    other = VNET_ID.replace("vnet-spoke-aks", "vnet-other")
    res[f"{ZONE}/virtualNetworkLinks"] = {
        "value": [
            {
                "id": f"{ZONE}/virtualNetworkLinks/other",
                "name": "other",
                "properties": {
                    "virtualNetwork": {"id": other},
                    "virtualNetworkLinkState": "Completed",
                    "provisioningState": "Succeeded",
                    "registrationEnabled": False,
                },
            }
        ]
    }
    return res


@dataclass(frozen=True)
class Case:
    build: Callable[[], dict[str, Any]]
    error: OperationError
    first: str
    confidence: str = "confirmed"
    forbid: str | None = None


CASES = {
    "base_policy_deny": Case(base_policy_deny, OUTBOUND, "firewall_aks_fqdns"),
    "ip_group_without_nodes": Case(ip_group_without_nodes, CONN_TIMEOUT, "firewall_aks_fqdns"),
    "ip_group_forbidden": Case(ip_group_without_nodes, CONN_TIMEOUT, "firewall_aks_fqdns", "likely", IPG_NODES),
    "tls_inspection": Case(tls_inspection, CONN_CERT, "firewall_tls_inspection"),
    "apiserver_subnet_undelegated": Case(undelegated_apiserver_subnet, SUBNET_TARGET, "apiserver_subnet"),
    "zone_not_linked": Case(unlinked_zone, DNS_FAIL, "private_dns_zone_link"),
}


def operation() -> FailedOperation:
    return FailedOperation(
        event_id="e-roundtrip",
        event_type="Microsoft.Resources.ResourceWriteFailure",
        event_time=NOW,
        kind=OperationKind.WRITE_FAILURE,
        cluster_id=CLUSTER_ID,
        subscription_id=SUB,
        resource_group=RG,
        cluster_name=CLUSTER,
        resource_id=CLUSTER_ID,
        operation_name="Microsoft.ContainerService/managedClusters/write",
        verb="create",
        correlation_id="55555555-5555-5555-5555-555555555555",
    )


async def diagnose(arm: ArmReader, error: OperationError) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    c = classify_error(error)
    ctx = CheckContext(operation=operation(), error=error, classification=c, arm=arm, now=NOW)
    results = await run_checks(SPECS, ctx, timeout_s=20.0)
    return tuple(r.model_dump() for r in results), rank(c, results, BY_ID)


@pytest.fixture
async def reader(
    arm_emulator: ArmEmulator,  # noqa: F811
    fake_credential: FakeAsyncCredential,  # noqa: F811
) -> AsyncIterator[AzureArmReader]:
    r = AzureArmReader(
        Settings(arm_retry_total=0),
        credential=fake_credential,
        base_url=arm_emulator.base_url,
        connection_verify=arm_emulator.ca_file,
    )
    yield r
    await r.aclose()


@pytest.mark.parametrize("name", list(CASES))
async def test_offline_diagnosis_of_the_snapshot_equals_the_live_one(
    name: str,
    reader: AzureArmReader,
    arm_emulator: ArmEmulator,  # noqa: F811
    tmp_path: Path,
) -> None:
    case = CASES[name]
    arm_emulator.serve({"resources": case.build(), "activity_log": []})
    if case.forbid:
        arm_emulator.forbid(case.forbid, action="Microsoft.Network/ipGroups/read")

    async def run_all(rec: ArmReader) -> None:  # what `aks-triage snapshot` does: every check, error unknown
        unknown = Classification(code="Unknown", entry_id="Unknown", category="unknown")
        ctx = CheckContext(
            operation=operation(),
            error=OperationError(code="Unknown", source="none"),
            classification=unknown,
            arm=rec,
            now=NOW,
        )
        await run_checks(SPECS, ctx)

    snap = await collect_snapshot(CLUSTER_ID, reader.for_run(), run_all, now=NOW)
    out = tmp_path / "snapshot.json"
    out.write_text(json.dumps(snap.to_obj(), indent=1), encoding="utf-8")

    live, live_rank = await diagnose(reader.for_run(), case.error)
    offline, offline_rank = await diagnose(SnapshotArmReader.from_file(out), case.error)
    assert offline == live
    assert offline_rank == live_rank
    assert live_rank == (case.first,), live_rank  # the planted cause, and no decoy blamed
    planted = next(r for r in live if r["id"] == case.first)
    assert planted["status"] == "fail" and planted["confidence"] == case.confidence, planted["summary"]

    recorded = {k.lower() for k in json.loads(out.read_text(encoding="utf-8"))["resources"]}
    failed = {k.lower() for k in json.loads(out.read_text(encoding="utf-8")).get("failed_reads", {})}
    if name == "base_policy_deny":
        assert {BASE.lower(), f"{BASE}/ruleCollectionGroups".lower(), f"{POLICY}/ruleCollectionGroups".lower()} <= (
            recorded
        )
    if name == "ip_group_without_nodes":
        assert IPG_NODES.lower() in recorded
    if name == "ip_group_forbidden":
        assert IPG_NODES.lower() in failed and IPG_NODES.lower() not in recorded
