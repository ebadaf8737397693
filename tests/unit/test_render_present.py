"""What the card and the CLI text say: cause headline, readable evidence, docs by title, the fix
when the error was not found yet, and snapshots that replay failed reads and redact consistently."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from shared.local.snapshot import FailedRead, Snapshot, SnapshotArmReader, SnapshotError
from shared.models import CheckStatus, Evidence, Finding
from shared.ports import ArmForbidden, ArmNotFound, ArmUnavailable
from shared.render.card import card_of, finding_card
from shared.render.docs import doc_links, doc_title, portal_links
from shared.render.present import cause_line, evidence_label, minutes_since_event, proves_something, remediation_text
from shared.render.text import finding_text, findings_text
from shared.snapshot_collect import redact
from tests.factories import T0, cluster_id, make_check, make_finding, make_operation

ROOT_DOC = "https://learn.microsoft.com/azure/aks/api-server-authorized-ip-ranges"
CATALOG_DOC = "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverconnfail"


def connfail_finding(**extra: Any) -> Finding:
    top = make_check("api_authorized_ranges",
                     summary="authorized IP ranges 203.0.113.0/24 exclude the NAT gateway IP 20.1.2.3",
                     evidence=[("properties.apiServerAccessProfile.authorizedIPRanges", ["203.0.113.0/24"]),
                               ("activityLog.statusMessage.code", 0)],
                     remediation="az aks update -g rg-aks-prod -n aks-prod-01 \\\n  --api-server-authorized-ip-ranges "
                                 "203.0.113.0/24,20.1.2.3/32",
                     docs=(ROOT_DOC,))
    return make_finding(code="VMExtensionError_K8SAPIServerConnFail", subcategory="timeout", checks=(top,),
                        docs=(CATALOG_DOC,), **extra)


def test_the_headline_is_the_cluster_and_the_top_cause_with_the_code_in_the_subtitle() -> None:
    card = card_of(finding_card(connfail_finding()))
    header = card["body"][0]["items"]
    assert header[0]["text"] == "aks-prod-01: authorized IP ranges 203.0.113.0/24 exclude the NAT gateway IP 20.1.2.3"
    assert "VMExtensionError\\_K8SAPIServerConnFail / timeout" in header[1]["text"]
    assert "K8SAPIServerConnFail" not in header[0]["text"]


def test_evidence_has_human_labels_and_evidence_proving_nothing_is_dropped() -> None:
    card = json.dumps(card_of(finding_card(connfail_finding())))
    assert "Authorized IP ranges" in card and "authorizedIPRanges" not in card
    assert "Activity Log status code" not in card  # statusMessage.code 0 proves nothing
    assert evidence_label("apiserver_subnet", "properties.addressPrefix") == "API server subnet range"
    assert evidence_label("x", "properties.apiServerAccessProfile.subnetId") == "API server subnet"
    assert evidence_label("x", "some.unknown.path") == "some.unknown.path"
    assert not proves_something(Evidence(property="statusMessage.code", value=0))
    assert proves_something(Evidence(property="properties.apiServerAccessProfile.enableVnetIntegration", value=True))
    assert proves_something(Evidence(property="x", value=None, note="absent: the route table has no routes"))


def test_docs_are_titled_root_cause_first_at_most_three_plus_portal_blades_with_the_tenant() -> None:
    f = connfail_finding(op=make_operation(tenant_id="72f988bf-0000-4000-8000-000000000001"))
    links = doc_links(f)
    assert [link.url for link in links] == [ROOT_DOC, CATALOG_DOC]
    assert links[0].title == "API Server Authorized IP Ranges in Azure Kubernetes Service (AKS)"
    assert links[1].title == doc_title(CATALOG_DOC) == "VMExtensionError_K8SAPIServerConnFail error"
    many = make_finding(docs=tuple(f"https://learn.microsoft.com/azure/aks/page-{n}" for n in range(6)))
    assert len(doc_links(many)) == 3
    portal = {link.title: link.url for link in portal_links(f)}
    assert set(portal) == {"Open cluster in portal", "Activity Log", "Diagnose and solve problems"}
    assert all(u.startswith("https://portal.azure.com/#@72f988bf-0000-4000-8000-000000000001/resource/subscriptions/")
               for u in portal.values())
    assert portal["Diagnose and solve problems"].endswith(cluster_id() + "/troubleshoot")


def test_cli_text_leads_with_the_cause_indents_a_multiline_fix_and_separates_findings() -> None:
    f = connfail_finding()
    text = finding_text(f)
    lines = text.splitlines()
    assert lines[0] == "aks-prod-01: authorized IP ranges 203.0.113.0/24 exclude the NAT gateway IP 20.1.2.3"
    fix = lines.index("  fix:")
    assert lines[fix + 1].startswith("    az aks update") and lines[fix + 2].startswith("      --api-server")
    assert "Authorized IP ranges: 203.0.113.0/24" in text
    assert "API Server Authorized IP Ranges in Azure Kubernetes Service (AKS): " + ROOT_DOC in text
    assert findings_text([f, f]).count("\n\naks-prod-01: ") == 1


def test_unknown_error_gives_the_activity_log_command_and_the_real_time_since_the_event() -> None:
    op = make_operation(correlation_id="5f4f1e1e-1111-4222-8333-444444444444")
    f = make_finding(op=op, code="Unknown", checks=(), summary="Unknown: error not found yet", remediation=None,
                     diagnosed_at=T0 + timedelta(minutes=31))
    fix = remediation_text(f) or ""
    assert minutes_since_event(f) == 31 and "31 min after the event" in fix
    assert ("az monitor activity-log list --correlation-id 5f4f1e1e-1111-4222-8333-444444444444 "
            "--subscription 00000000-0000-0000-0000-000000000000 --start-time 2026-11-21T11:00:00Z") in fix
    assert cause_line(f) == "Unknown: error not found yet"
    assert "az monitor activity-log list" in json.dumps(card_of(finding_card(f)))


# --- snapshots ----------------------------------------------------------------------------------

SUBNET = ("/subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-net-secret/providers/"
          "Microsoft.Network/virtualNetworks/vnet-secret/subnets/snet-nodes")


def test_a_snapshot_replays_failed_reads_as_those_errors_not_as_missing() -> None:
    snap = Snapshot({}, [], failed_reads={SUBNET: FailedRead(403, "AuthorizationFailed", "no access"),
                                          SUBNET + "/x": FailedRead(0, "Timeout", "no response")})
    reader = SnapshotArmReader(Snapshot.from_obj(snap.to_obj()))  # through the file format
    with pytest.raises(ArmForbidden) as forbidden:
        asyncio.run(reader.get(SUBNET.upper(), "2024-05-01"))
    assert forbidden.value.status == 403 and forbidden.value.code == "AuthorizationFailed"
    with pytest.raises(ArmUnavailable):
        asyncio.run(reader.get(SUBNET + "/x", "2024-05-01"))
    with pytest.raises(ArmNotFound):
        asyncio.run(reader.get(SUBNET + "/other", "2024-05-01"))


def test_snapshot_format_version_and_bad_failed_reads_are_checked() -> None:
    assert Snapshot({}, []).to_obj()["format_version"] == 2
    assert Snapshot.from_obj({"resources": {}, "activity_log": []}).failed_reads == {}  # version 1 still loads
    with pytest.raises(SnapshotError, match="newer"):
        Snapshot.from_obj({"format_version": 99, "resources": {}})
    with pytest.raises(SnapshotError, match="integer 'status'"):
        Snapshot.from_obj({"resources": {}, "failed_reads": {SUBNET: {"status": "403"}}})


def test_redaction_replaces_ids_names_and_public_ips_consistently_and_keeps_containment() -> None:
    cluster = ("/subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-aks-secret/providers/"
               "Microsoft.ContainerService/managedClusters/aks-secret-prod")
    body = {"name": "aks-secret-prod", "identity": {"principalId": "99999999-8888-4777-8666-555555555555"},
            "properties": {"fqdn": "aks-secret-prod-dns-1a2b.hcp.westeurope.azmk8s.io",
                           "apiServerAccessProfile": {"authorizedIPRanges": ["20.50.0.0/16", "10.1.0.0/16"]},
                           "agentPoolProfiles": [{"vnetSubnetID": SUBNET}],
                           "natIp": "20.50.7.8"}}
    red = redact(Snapshot({cluster: body, SUBNET: {"name": "snet-nodes"}}, [],
                          failed_reads={SUBNET + "/providers/Microsoft.Authorization/roleAssignments":
                                        FailedRead(403, "AuthorizationFailed", f"no access to {SUBNET}")}))
    text = json.dumps(red.to_obj())
    for secret in ("11111111-2222", "rg-aks-secret", "aks-secret-prod", "vnet-secret", "snet-nodes", "rg-net-secret",
                   "99999999-8888", "20.50."):
        assert secret not in text, secret
    doc = red.to_obj()
    assert doc["redacted"] is True
    (new_cluster,) = [k for k in doc["resources"] if "/managedclusters/" in k.lower()]
    props = doc["resources"][new_cluster]["properties"]
    new_subnet = props["agentPoolProfiles"][0]["vnetSubnetID"]
    assert new_subnet.lower() in doc["resources"]  # the same name maps to the same placeholder everywhere
    assert doc["resources"][new_cluster]["name"] == new_cluster.rsplit("/", 1)[-1]
    public_range, private_range = props["apiServerAccessProfile"]["authorizedIPRanges"]
    assert private_range == "10.1.0.0/16" and public_range.split(".")[:2] == props["natIp"].split(".")[:2]
    assert props["natIp"].endswith(".7.8")
    assert any("roleassignments" in k.lower() for k in doc["failed_reads"])


def test_check_status_marks_are_the_documented_ones() -> None:
    f = make_finding(checks=(make_check("a", status=CheckStatus.ERROR, summary="cannot check: you need Reader"),))
    assert "[ERR ] a: cannot check" in finding_text(f)
