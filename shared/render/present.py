"""What every human-facing view of a finding says: the cause headline, readable evidence, the fix.

Owns: the headline (the top root cause's one-line summary, or the finding's summary when no check
failed), evidence labels a person reads ("API server subnet", "Authorized IP ranges") instead of
ARM property paths, dropping evidence that proves nothing (an empty value, a status code 0), and
the remediation shown when the error was not found yet (code Unknown): the Activity Log command
for the correlation id and how long after the event the search stopped. The Teams card and the
CLI text both render through here, so they never disagree. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from shared.models import CheckResult, CheckStatus, Evidence, Finding

UNKNOWN_CODE = "Unknown"

# Property path (exact, or a prefix ending in "[" or ".") -> label. Check-specific rows first.
_CHECK_LABELS: dict[tuple[str, str], str] = {
    ("apiserver_subnet", "properties.addressPrefix"): "API server subnet range",
    ("apiserver_subnet", "properties.delegations[].properties.serviceName"): "API server subnet delegation",
    ("apiserver_subnet", "count(properties.ipConfigurations)"): "IP configurations in the API server subnet",
    ("node_subnet_capacity", "properties.addressPrefix"): "Node subnet range",
    ("node_subnet_capacity", "count(properties.ipConfigurations)"): "IP addresses in use in the node subnet",
    ("nsg_apiserver_egress", "properties.securityRules"): "Node subnet NSG rules",
    ("nsg_vnet_integration", "properties.securityRules"): "API server subnet NSG rules",
}
_LABELS: dict[str, str] = {
    "properties.apiServerAccessProfile.authorizedIPRanges": "Authorized IP ranges",
    "properties.apiServerAccessProfile.subnetId": "API server subnet",
    "properties.apiServerAccessProfile.enableVnetIntegration": "API Server VNet Integration",
    "properties.apiServerAccessProfile.enablePrivateCluster": "Private cluster",
    "properties.apiServerAccessProfile.privateDNSZone": "Private DNS zone",
    "properties.networkProfile.outboundType": "Outbound type",
    "properties.networkProfile.natGatewayProfile": "NAT gateway profile",
    "properties.networkProfile.loadBalancerProfile": "Load balancer profile",
    "properties.networkProfile.loadBalancerProfile.managedOutboundIPs.count": "Managed outbound IPs",
    "properties.natGateway.id": "NAT gateway",
    "properties.addressPrefix": "Subnet range",
    "properties.addressPrefix / ipConfigurations": "Subnet range and addresses in use",
    "count(properties.ipConfigurations)": "IP addresses in use",
    "properties.securityRules": "NSG rules",
    "properties.defaultSecurityRules": "NSG default rules",
    "properties.networkSecurityGroup": "Network security group",
    "properties.routes": "Routes",
    "properties.routes[]": "Route",
    "next hop device": "Next hop",
    "properties.dhcpOptions.dnsServers": "VNet DNS servers",
    "properties.customDnsConfigs[].ipAddresses": "Private endpoint IP addresses",
    "properties.privateFQDN": "API server private FQDN",
    "properties.fqdn": "API server FQDN",
    "properties.provisioningState": "Provisioning state",
    "properties.powerState.code": "Power state",
    "properties.currentKubernetesVersion": "Current Kubernetes version",
    "properties.controlPlaneProfile.upgrades[]": "Available upgrades",
    "values[].version": "Versions offered in the region",
    "target version": "Requested version",
    "properties.servicePrincipalProfile.clientId": "Service principal client id",
    "properties.principalId": "Principal id",
    "properties.roleDefinitionId": "Role",
    "roleAssignments.roleDefinitionId": "Role",
    "properties.scope": "Scope",
    "properties.state": "State",
    "properties.level": "Lock level",
    "properties.bootstrapProfile.artifactSource": "Bootstrap artifact source",
    "properties.delegations[].properties.serviceName": "Subnet delegation",
    "properties.virtualNetwork.id": "Linked virtual network",
    "properties.virtualNetworkLinkState": "Virtual network link state",
    "virtualNetworkLinks[].virtualNetwork.id": "Virtual networks linked to the zone",
    "privateDnsZones/virtualNetworkLinks": "Private DNS zone links",
    "privateDnsZones": "Private DNS zones",
    "privateLinkServiceConnectionState.status": "Private endpoint connection state",
    "agentPoolProfiles[].vnetSubnetID": "Node pool subnets",
    "agentPoolProfiles[vnetSubnetID=subnet]": "Node pools in the subnet",
    "registrationState": "Registration state",
    "resourceTypes[managedClusters].locations": "Regions offering AKS",
    "policyAssignment": "Policy assignment",
    "sku.tier": "Pricing tier",
    "identity.type": "Identity type",
    "identity": "Identity",
    "managedBy": "Managed by",
    "location": "Region",
    "resourceGroup": "Resource group",
    "error.message": "Error message",
    "failure_history.region_24h": "Failures in the region, last 24 h",
    "failure_history.cluster_24h": "Failures of this cluster, last 24 h",
    "failure_history.first_seen": "First failure seen",
    "classification.facts.apiserver_ip": "API server IP in the error",
    "activityLog.statusMessage.code": "Activity Log status code",
}
_PREFIX_LABELS: tuple[tuple[str, str], ...] = (
    ("agentPoolProfiles[", "Node pool"),
    ("value[name.value==", "Quota usage"),
    ("roleAssignments[", "Role assignment"),
    ("tags.", "Tag"),
)
_CODE_PROPERTY = re.compile(r"(^|\.)(code|statusCode)$", re.IGNORECASE)


def evidence_label(check_id: str, prop: str) -> str:
    """The name a person reads for an evidence property; the path itself when no label is known."""
    if (check_id, prop) in _CHECK_LABELS:
        return _CHECK_LABELS[(check_id, prop)]
    if prop in _LABELS:
        return _LABELS[prop]
    for prefix, label in _PREFIX_LABELS:
        if prop.startswith(prefix):
            inner = prop[len(prefix):].rstrip("]").strip("'\"")
            return f"{label} {inner}".strip() if inner else label
    return prop


def proves_something(e: Evidence) -> bool:
    """False for evidence with nothing in it: no value and no note, or a status code of 0."""
    value = e.value
    if value is None or (isinstance(value, str) and not value.strip()):
        return bool(e.note)
    zero_code = bool(_CODE_PROPERTY.search(e.property)) and str(value).strip() in {"0", "0.0"}
    return not zero_code or bool(e.note)


def shown_evidence(check: CheckResult) -> list[Evidence]:
    return [e for e in check.evidence if proves_something(e)]


def ranked_failures(f: Finding) -> list[CheckResult]:
    """Failing checks in rank order: root causes first, then other failures."""
    by_id = {c.id: c for c in f.checks}
    ordered = [by_id[i] for i in f.root_causes if i in by_id]
    ordered += [c for c in f.checks if c.status is CheckStatus.FAIL and c.id not in f.root_causes]
    return ordered


def top_cause(f: Finding) -> CheckResult | None:
    ranked = ranked_failures(f)
    return ranked[0] if ranked else None


def cause_line(f: Finding) -> str:
    """The one line that says why: the top root cause's summary, else the finding's summary."""
    top = top_cause(f)
    text = (top.summary if top is not None and top.summary else f.summary) or f.classification.code
    return " ".join(text.split())


def code_label(f: Finding) -> str:
    c = f.classification
    return c.code + (f" / {c.subcategory}" if c.subcategory else "")


def minutes_since_event(f: Finding, now: datetime | None = None) -> int:
    """Whole minutes from the event to `now` (default: when the finding was diagnosed); never negative."""
    end = now or f.diagnosed_at
    start = f.operation.event_time
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return max(0, int((end - start).total_seconds() // 60))


def _duration(minutes: int) -> str:
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} days"


def not_found_remediation(f: Finding) -> str:
    """For code Unknown: where to look for the error by hand, with the real ids."""
    op = f.operation
    waited = _duration(minutes_since_event(f))
    lines = [f"The error was not in the cluster status, the Activity Log or the deployment operations "
             f"{waited} after the event. Look it up in the Activity Log:"]
    since = (op.event_time - timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if op.correlation_id:
        lines.append(f"  az monitor activity-log list --correlation-id {op.correlation_id} "
                     f"--subscription {op.subscription_id} --start-time {since} --status Failed "
                     f"--query \"[].{{time:eventTimestamp, op:operationName.value, error:properties.statusMessage}}\"")
    else:
        lines.append(f"  az monitor activity-log list --resource-id {op.cluster_id} --start-time {since} "
                     f"--status Failed --query \"[].{{time:eventTimestamp, op:operationName.value, "
                     f"error:properties.statusMessage}}\"")
    lines.append(f"  az aks show -g {op.resource_group} -n {op.cluster_name} --query status.provisioningError")
    return "\n".join(lines)


def remediation_text(f: Finding) -> str | None:
    if f.classification.code == UNKNOWN_CODE and not top_cause(f):
        return not_found_remediation(f)
    return f.remediation


def indented(text: str, prefix: str = "    ") -> Iterable[str]:
    for line in text.splitlines():
        yield prefix + line if line.strip() else ""
