"""Snapshot round trip for the access / platform faults: a world with one planted fault and decoys is
served by the HTTPS ARM emulator, diagnosed live through the real Azure SDK reader, recorded with
shared.snapshot_collect into a file, and diagnosed again offline from that file: same ranked causes,
same top finding (locks lists and role definitions are among the recorded reads).

Two ways of collecting: `failure` runs the diagnosis of the failure itself through the recorder (what
a snapshot taken for a known error records); `unknown` is what `aks-triage snapshot` does today (every
check with an Unknown error, no facts): enough for faults that do not depend on what the error names.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from shared.azure.arm import AzureArmReader
from shared.checklib import azrefs as az
from shared.checklib.base import CheckContext, run_checks
from shared.checks import resource_locks
from shared.checks.registry import REGISTRY
from shared.local.snapshot import Snapshot, SnapshotArmReader
from shared.models import Classification, FailedOperation, Finding, OperationError, OperationKind
from shared.pipeline import Deps, diagnose
from shared.ports import ArmReader
from shared.settings import Settings
from shared.snapshot_collect import collect_snapshot
from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server, fake_credential  # noqa: F401
from tests.unit.checks.platform_support import (
    API_SUBNET,
    CLUSTER,
    CLUSTER_ID,
    NODE_RG_ID,
    NODE_SUBNET,
    PRINCIPAL,
    RG,
    SUB,
    UAI_ID,
    VNET_ID,
    assignments_path,
    body,
    role_assignment,
)

NOW = datetime(2024, 11, 21, 13, 0, 0, tzinfo=UTC)
CLUSTER_RG_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"
NET_RG_ID = f"/subscriptions/{SUB}/resourceGroups/rg-network"
RT_ID = f"{NET_RG_ID}/providers/Microsoft.Network/routeTables/rt-aks-egress"
VMSS = f"{NODE_RG_ID}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-system-12345678-vmss"
CUSTOM = "11111111-2222-3333-4444-555555555555"
KUBELET = "77777777-7777-7777-7777-777777777777"
DNS_SUB = "11111111-0000-0000-0000-000000000000"
ZONE = (f"/subscriptions/{DNS_SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/"
        "privatelink.westeurope.azmk8s.io")


def locks_path(scope: str) -> str:
    return f"{scope}/providers/Microsoft.Authorization/locks"


def lock(scope: str, level: str, name: str) -> dict[str, Any]:
    item: dict[str, Any] = body("locks.rg")["value"][0]
    item.update(id=f"{scope}/providers/Microsoft.Authorization/locks/{name}", name=name)
    item["properties"]["level"] = level
    return item


def role_def(guid: str, name: str, actions: list[str], not_actions: list[str]) -> dict[str, Any]:
    b = body("roledefinition.custom")
    b.update(id=f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}", name=guid)
    b["properties"].update(roleName=name)
    b["properties"]["permissions"][0].update(actions=actions, notActions=not_actions)
    return b


def provider(sub: str, ns: str, state: str) -> dict[str, Any]:
    b = body("provider.operationsmanagement")
    b.update(id=f"/subscriptions/{sub}/providers/{ns}", namespace=ns, registrationState=state)
    return b


def feature(ns: str, name: str, state: str) -> dict[str, Any]:
    b = body("feature.registering")
    b.update(id=f"/subscriptions/{SUB}/providers/Microsoft.Features/providers/{ns}/features/{name}",
             name=f"{ns}/{name}")
    b["properties"]["state"] = state
    return b


def base_world(cluster: dict[str, Any]) -> dict[str, Any]:
    """The cluster, its node resource group, the node subnet, healthy grants on the subnets."""
    nc = role_assignment(PRINCIPAL, az.NETWORK_CONTRIBUTOR, VNET_ID)
    return {
        CLUSTER_ID: cluster,
        NODE_RG_ID: body("resourcegroup.node"),
        NODE_SUBNET: body("subnet.nodes"),
        API_SUBNET: body("subnet.apiserver"),
        assignments_path(NODE_SUBNET): {"value": [nc]},
        assignments_path(API_SUBNET): {"value": [nc]},
        f"/subscriptions/{SUB}/providers/Microsoft.ContainerService": body("provider.containerservice"),
        UAI_ID: {"id": UAI_ID, "name": "id-aks-prod-01", "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                 "location": "westeurope", "properties": {"tenantId": "11111111-1111-1111-1111-111111111111",
                                                          "principalId": PRINCIPAL,
                                                          "clientId": "22222222-2222-2222-2222-222222222222"}},
    }


def put(res: dict[str, Any], *bodies: dict[str, Any]) -> None:
    for b in bodies:
        res[b["id"]] = b


def locks_world() -> dict[str, Any]:
    """Planted: ReadOnly lock on the node resource group. Decoy: CanNotDelete on the cluster itself."""
    res = base_world(body("cluster.vnetint-uai"))
    decoy = lock(CLUSTER_ID, "CanNotDelete", "keep-cluster")
    res[locks_path(CLUSTER_ID)] = {"value": [decoy]}
    res[locks_path(CLUSTER_RG_ID)] = {"value": [decoy]}
    res[locks_path(NODE_RG_ID)] = {"value": [lock(NODE_RG_ID, "ReadOnly", "freeze-mc")]}
    res[locks_path(NET_RG_ID)] = {"value": []}
    return res


def kubenet_cluster() -> dict[str, Any]:
    c = body("cluster.spec-kubenet-sp")
    c.update(id=CLUSTER_ID, name=CLUSTER, location="westeurope", identity=body("cluster.vnetint-uai")["identity"])
    p = c["properties"]
    p["servicePrincipalProfile"] = {"clientId": "msi"}
    p["nodeResourceGroup"] = NODE_RG_ID.rsplit("/", 1)[1]
    p["identityProfile"] = {"kubeletidentity": {"objectId": KUBELET, "clientId": "88888888-8888-8888-8888-888888888888",
                                                "resourceId": f"{NODE_RG_ID}/providers/Microsoft.ManagedIdentity/"
                                                              "userAssignedIdentities/aks-prod-01-agentpool"}}
    p["agentPoolProfiles"][0]["vnetSubnetID"] = NODE_SUBNET
    del p["networkProfile"]["loadBalancerProfile"]["outboundIPs"]
    return c


def roles_world() -> dict[str, Any]:
    """Planted: a custom role on the BYO route table whose notActions remove the writes.
    Decoy: the kubelet identity holds Network Contributor on it (not the control plane)."""
    res = base_world(kubenet_cluster())
    res[assignments_path(RT_ID)] = {"value": [
        role_assignment(PRINCIPAL, CUSTOM, RT_ID),
        role_assignment(KUBELET, az.NETWORK_CONTRIBUTOR, RT_ID, name="c0f43c54-e787-4862-89b1-a653fa9cf748")]}
    put(res, role_def(CUSTOM, "Network operator (no route writes)", ["Microsoft.Network/*"],
                      ["Microsoft.Network/routeTables/write", "Microsoft.Network/routeTables/routes/write"]))
    return res


def registration_world() -> dict[str, Any]:
    """Planted: Microsoft.ContainerService not registered in the private DNS zone's subscription.
    Decoy: Microsoft.OperationsManagement NotRegistered at home, which nothing needs."""
    c = body("cluster.vnetint-uai")
    c["properties"]["apiServerAccessProfile"]["privateDNSZone"] = ZONE
    res = base_world(c)
    put(res, provider(DNS_SUB, "Microsoft.ContainerService", "NotRegistered"),
        provider(SUB, "Microsoft.OperationsManagement", "NotRegistered"))
    res[assignments_path(ZONE)] = {"value": [role_assignment(PRINCIPAL, az.PRIVATE_DNS_ZONE_CONTRIBUTOR, ZONE)]}
    return res


def feature_world() -> dict[str, Any]:
    """Planted: the preview feature the error names is NotRegistered. Decoy: another NotRegistered one."""
    res = base_world(body("cluster.vnetint-uai"))
    put(res, feature("Microsoft.ContainerService", "AutoUpgradePreview", "NotRegistered"),
        feature("Microsoft.ContainerService", "NetworkObservabilityPreview", "NotRegistered"))
    return res


def subnet_world() -> dict[str, Any]:
    """Planted: the API-server subnet's only role is a custom one whose notActions remove join."""
    res = base_world(body("cluster.vnetint-uai"))
    res[assignments_path(API_SUBNET)] = {"value": [role_assignment(PRINCIPAL, CUSTOM, VNET_ID)]}
    put(res, role_def(CUSTOM, "Net without join", ["Microsoft.Network/*"],
                      ["Microsoft.Network/virtualNetworks/subnets/join/*"]))
    return res


@dataclass(frozen=True)
class World:
    name: str
    make: Callable[[], dict[str, Any]]
    verb: str
    code: str
    message: str
    cause: str  # the check that must rank first
    recorded: tuple[str, ...]  # reads the snapshot must hold
    modes: tuple[str, ...] = ("failure", "unknown")


WORLDS = [
    World("readonly-lock-on-node-rg", locks_world, "scale", "ScopeLocked",
          f"The scope '{VMSS}' cannot perform write operation because following scope(s) are locked: "
          f"'{NODE_RG_ID}'. Please remove the lock and try again.", "resource_locks",
          (locks_path(NODE_RG_ID), locks_path(CLUSTER_ID))),
    World("custom-role-without-route-writes", roles_world, "create", "CustomRouteTableMissingPermission",
          "The cluster using user-assigned managed identity must be granted 'Network Contributor' role or "
          "Microsoft.Network/routeTables/read and Microsoft.Network/routeTables/write permissions on custom route "
          f"table {RT_ID}.", "identity_role_assignments",
          (assignments_path(RT_ID), f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
                                    f"{CUSTOM}")),
    World("container-service-unregistered-in-dns-zone-subscription", registration_world, "create",
          "MissingSubscriptionRegistration",
          "The subscription is not registered to use namespace 'Microsoft.ContainerService'. See "
          "https://aka.ms/rps-not-found for how to register subscriptions.", "provider_registration",
          (f"/subscriptions/{DNS_SUB}/providers/Microsoft.ContainerService",)),
    World("preview-feature-not-registered", feature_world, "update", "BadRequest",
          "Feature Microsoft.ContainerService/AutoUpgradePreview is not enabled. Please see "
          "https://aka.ms/aks/previews for how to enable features.", "feature_registration",
          (f"/subscriptions/{SUB}/providers/Microsoft.Features/providers/Microsoft.ContainerService/features/"
           "AutoUpgradePreview",), modes=("failure",)),
    World("custom-role-without-subnet-join", subnet_world, "create", "LinkedAuthorizationFailed",
          f"The client '22222222-2222-2222-2222-222222222222' with object id '{PRINCIPAL}' has permission to perform "
          f"action 'Microsoft.Network/networkInterfaces/write' on scope '{NODE_RG_ID}/providers/Microsoft.Network/"
          "networkInterfaces/nic'; however, it does not have permission to perform action(s) "
          f"'Microsoft.Network/virtualNetworks/subnets/join/action' on the linked scope(s) '{API_SUBNET}' or the "
          "linked scope(s) are invalid.", "identity_subnet_permissions",
          (assignments_path(API_SUBNET), f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
                                         f"{CUSTOM}")),
]


def operation(verb: str) -> FailedOperation:
    return FailedOperation(
        event_id="e-roundtrip", event_type="Microsoft.Resources.ResourceWriteFailure", event_time=NOW,
        kind=OperationKind.WRITE_FAILURE, cluster_id=CLUSTER_ID, subscription_id=SUB, resource_group=RG,
        cluster_name=CLUSTER, resource_id=CLUSTER_ID, operation_name="Microsoft.ContainerService/managedClusters/write",
        verb=verb, correlation_id="99999999-9999-9999-9999-999999999999")


def deps(arm: ArmReader) -> Deps:
    # diagnose() reads only settings, arm, now, history and extras; error source and publisher are unused
    return Deps(settings=Settings(arm_retry_total=0), arm=arm, errors=cast(Any, None), publisher=cast(Any, None),
                now=lambda: NOW)


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """resource_locks in the registry the pipeline selects from (until registry.py lists it)."""
    monkeypatch.setitem(REGISTRY, resource_locks.SPEC.id, resource_locks.SPEC)


@pytest.fixture
async def reader(arm_emulator: ArmEmulator,  # noqa: F811
                 fake_credential: FakeAsyncCredential) -> AsyncIterator[AzureArmReader]:  # noqa: F811
    r = AzureArmReader(Settings(arm_retry_total=0), credential=fake_credential, base_url=arm_emulator.base_url,
                       connection_verify=arm_emulator.ca_file)
    yield r
    await r.aclose()


def comparable(f: Finding) -> dict[str, Any]:
    top = next(r for r in f.checks if r.id == f.root_causes[0])
    return {"root_causes": f.root_causes, "summary": f.summary, "remediation": f.remediation,
            "top": top.model_dump(mode="json"),
            "statuses": {r.id: r.status for r in f.checks}}


CASES = [(w, mode) for w in WORLDS for mode in w.modes]


@pytest.mark.parametrize(("world", "mode"), CASES, ids=[f"{w.name}-{m}" for w, m in CASES])
async def test_offline_diagnosis_of_the_snapshot_equals_the_live_one(
        world: World, mode: str, arm_emulator: ArmEmulator, reader: AzureArmReader,  # noqa: F811
        tmp_path: Path) -> None:
    arm_emulator.serve(Snapshot(world.make(), []))
    op = operation(world.verb)
    error = OperationError(code=world.code, message=world.message, source="cluster_status")

    live = await diagnose(op, error, deps(reader.for_run()))
    assert live.root_causes and live.root_causes[0] == world.cause, comparable(live)
    top = next(r for r in live.checks if r.id == world.cause)
    assert top.remediation and top.evidence

    async def run_all(rec: ArmReader) -> None:
        if mode == "failure":
            await diagnose(op, error, deps(rec))
            return
        unknown = Classification(code="Unknown", entry_id="Unknown", category="unknown")
        ctx = CheckContext(operation=op, error=OperationError(code="Unknown", source="none"), classification=unknown,
                           arm=rec, now=NOW)
        await run_checks(list(REGISTRY.values()), ctx, timeout_s=20)

    snap = await collect_snapshot(CLUSTER_ID, reader.for_run(), run_all, now=NOW)
    out = tmp_path / "snapshot.json"
    out.write_text(json.dumps(snap.to_obj(), indent=1), encoding="utf-8")
    recorded = {k.lower() for k in json.loads(out.read_text(encoding="utf-8"))["resources"]}
    for rid in world.recorded:
        assert rid.lower() in recorded, rid

    offline = await diagnose(op, error, deps(SnapshotArmReader.from_file(out)))
    assert comparable(offline) == comparable(live)


async def test_decoys_are_not_blamed(arm_emulator: ArmEmulator, reader: AzureArmReader) -> None:  # noqa: F811
    """Each world's decoy is visible to its check, and not among the causes."""
    arm_emulator.serve(Snapshot(locks_world(), []))
    w = WORLDS[0]
    live = await diagnose(operation(w.verb), OperationError(code=w.code, message=w.message, source="cluster_status"),
                          deps(reader.for_run()))
    locks = next(r for r in live.checks if r.id == "resource_locks")
    assert "keep-cluster" not in (locks.remediation or "")
    assert any("keep-cluster" in (e.resource_id or "") and "does not block" in (e.note or "") for e in locks.evidence)

    arm_emulator.serve(Snapshot(registration_world(), []))
    w = WORLDS[2]
    live = await diagnose(operation(w.verb), OperationError(code=w.code, message=w.message, source="cluster_status"),
                          deps(reader.for_run()))
    reg = next(r for r in live.checks if r.id == "provider_registration")
    assert "OperationsManagement" not in (reg.remediation or "") + reg.summary
