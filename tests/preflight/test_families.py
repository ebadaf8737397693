"""One planned fault per check family against a world with decoys: the planted check is predicted first,
nothing else is blamed, and the fault-free plan in the same world is `ok`.

Families not covered here: capacity (capacity_history has its own planned mode tests); policy has its own
file (tests/preflight/test_policy.py: policy_denial lists the assignments and evaluates their deny rules).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from shared.models import CheckStatus
from tests.preflight import worlds as w
from tests.preflight.support import plan_of, predict

World = dict[str, Any]


def _subnet_27(s: World) -> None:
    s["resources"][w.NODE_SUBNET]["properties"]["addressPrefix"] = "10.42.0.0/27"


def _unregister(s: World) -> None:
    rp = s["resources"][f"/subscriptions/{w.SUB}/providers/Microsoft.ContainerService"]
    rp["registrationState"] = "NotRegistered"


def _no_grant_on_api_subnet(s: World) -> None:
    s["resources"][f"{w.API_SUBNET}/providers/Microsoft.Authorization/roleAssignments"] = w._role_assignments(
        w.API_SUBNET, None)


def _custom_dns(s: World) -> None:
    s["resources"][w.VNET_ID]["properties"]["dhcpOptions"] = {"dnsServers": ["192.168.50.4"]}


def _identity_gone(s: World) -> None:
    del s["resources"][w.UAI_ID]


def _nothing(_s: World) -> None:
    return None


RG_ID = f"/subscriptions/{w.SUB}/resourceGroups/{w.RG}"


def _lock(level: str) -> Callable[[World], None]:
    def plant(s: World) -> None:
        s["resources"][f"{RG_ID}/providers/Microsoft.Authorization/locks"] = {"value": [{
            "id": f"{RG_ID}/providers/Microsoft.Authorization/locks/freeze", "name": "freeze",
            "type": "Microsoft.Authorization/locks", "properties": {"level": level, "notes": "change freeze"}}]}
    return plant


# family, planted check, predicted code, world change, planned-body overrides
CASES: list[tuple[str, str, str, Callable[[World], None], dict[str, Any]]] = [
    ("versions", "kubernetes_version", "AgentPoolK8sVersionNotSupported", _nothing,
     {"properties__kubernetesVersion": "1.27.9", "properties__agentPoolProfiles__0__orchestratorVersion": "1.27.9"}),
    ("api_server_connectivity", "api_authorized_ranges", "VMExtensionError_K8SAPIServerConnFail", _nothing,
     {"properties__apiServerAccessProfile__authorizedIPRanges": ["203.0.113.0/24"]}),
    ("subnet_ips", "node_subnet_capacity", "InsufficientSubnetSize", _subnet_27,
     {"properties__agentPoolProfiles__0__count": 30}),
    ("quota", "vcpu_quota", "QuotaExceeded", _nothing,
     {"properties__agentPoolProfiles__0__count": 40, "properties__agentPoolProfiles__0__vmSize": "Standard_D16ds_v5"}),
    ("registration", "provider_registration", "MissingSubscriptionRegistration", _unregister, {}),
    ("permissions", "identity_subnet_permissions", "LinkedAuthorizationFailed", _no_grant_on_api_subnet, {}),
    ("egress", "outbound_connectivity", "VMExtensionError_OutboundConnFail", _nothing,
     {"properties__networkProfile__outboundType": "none"}),
    ("dns", "vnet_custom_dns", "VMExtensionError_K8SAPIServerDNSLookupFail", _custom_dns,
     {"properties__apiServerAccessProfile": {"enablePrivateCluster": True, "privateDNSZone": "system"}}),
    ("identity", "service_principal_credentials", "ServicePrincipalValidationClientError", _identity_gone, {}),
    ("locks", "resource_locks", "ScopeLocked", _lock("ReadOnly"), {}),
]


def test_the_fault_free_plan_is_ok_despite_the_decoys() -> None:
    report = predict(w.world(), plan_of(w.planned_cluster()))
    assert report.operation == "create"
    assert report.verdict == "ok" and report.predictions == ()
    by_id = {c.id: c for c in report.checks}
    # the decoys were looked at and not blamed
    assert by_id["vcpu_quota"].status is CheckStatus.PASS  # DSv2 nearly full, not the size asked for
    assert by_id["provider_registration"].status is CheckStatus.PASS  # Microsoft.Kusto unregistered, not needed
    assert by_id["node_subnet_capacity"].status is CheckStatus.PASS  # the /29 misc subnet is not the node subnet
    assert by_id["api_authorized_ranges"].status is CheckStatus.PASS
    assert by_id["kubernetes_version"].status is CheckStatus.PASS
    assert len(report.checks) >= 15


@pytest.mark.parametrize(("family", "check", "code", "change", "over"), CASES, ids=[c[0] for c in CASES])
def test_a_planted_fault_is_predicted_first_and_decoys_are_not_blamed(
        family: str, check: str, code: str, change: Callable[[World], None], over: dict[str, Any]) -> None:
    world = copy.deepcopy(w.world())
    change(world)
    report = predict(world, plan_of(w.planned_cluster(**copy.deepcopy(over))))
    assert report.verdict == "will_fail", [(c.id, c.status, c.summary) for c in report.checks]
    first = report.predictions[0]
    assert first.id == check
    assert first.status == "will_fail" and first.confidence == "confirmed"
    assert first.predicted_code == code
    assert first.evidence and first.docs and first.summary
    assert [p.id for p in report.predictions] == [check], "a decoy was blamed"
    # the check ran because the operation's families select it, not a list of ids
    assert any(c.id == check and c.status is CheckStatus.FAIL for c in report.checks)


def test_a_cannot_delete_lock_on_the_resource_group_does_not_block_a_create() -> None:
    world = copy.deepcopy(w.world())
    _lock("CanNotDelete")(world)
    report = predict(world, plan_of(w.planned_cluster()))
    assert report.verdict == "ok" and report.predictions == ()
    locks = next(c for c in report.checks if c.id == "resource_locks")
    # Not blamed, and a clean PASS: in planned mode only a lock code (there is none before the operation runs)
    # makes it a lock error, not the locks family the planned operation can fail in.
    assert locks.status is CheckStatus.PASS, locks.summary
    assert "CanNotDelete does not block a create" in " ".join(e.note or "" for e in locks.evidence)


def test_a_family_the_operation_cannot_fail_in_is_not_run() -> None:
    """An update does not select the version check (versions is not one of its families)."""
    from shared.preflight.engine import knowledge

    assert "versions" not in [f.value for f in knowledge().families["update"]]
    world = w.with_existing(w.world(), w.existing_cluster())
    report = predict(world, plan_of(w.planned_cluster(
        properties__apiServerAccessProfile__authorizedIPRanges=["203.0.113.0/24"])))
    assert report.operation == "update"
    assert "kubernetes_version" not in {c.id for c in report.checks}
    assert report.predictions[0].id == "api_authorized_ranges"


def test_a_likely_cause_that_cannot_be_proven_is_at_risk_not_will_fail() -> None:
    """A managed NAT gateway gets its public IPs at create time: whether the authorized ranges hold them is
    not knowable before, so the range check's likely FAIL is a risk."""
    body = w.planned_cluster(properties__apiServerAccessProfile={"authorizedIPRanges": ["203.0.113.0/24"]},
                             properties__networkProfile__outboundType="managedNATGateway",
                             properties__networkProfile__natGatewayProfile={"managedOutboundIPProfile": {"count": 1}})
    report = predict(w.world(), plan_of(body))
    assert report.verdict == "at_risk"
    (pred,) = report.predictions
    assert pred.id == "api_authorized_ranges" and pred.status == "at_risk" and pred.confidence == "likely"
    assert pred.why_uncertain and pred.confirm_by
