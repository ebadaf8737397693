# ruff: noqa: E501  (data tables: one message or mapping per line reads better than wrapped strings)
"""Build shared/catalog/catalog.json from the team's researched reference catalog.

    python tools/build_catalog.py [--reference PATH] [--out PATH]

The reference (`../shared/reference/aks-error-catalog.json`) holds the researched facts: codes,
aliases, message fragments, causes, CSE exit-status tables and doc URLs. This script carries those
facts over and adds what the product needs on top of them, which lives in the CURATED tables below:
our check ids per entry / per sub-cause, titles and guidance in our own words, pattern weights,
canonical-code decisions and at least one example message per entry.

The committed catalog.json is what the product loads; this script is how it is regenerated when
the reference changes. It is deterministic (sorted keys, stable order) so diffs stay reviewable.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REF = ROOT.parent / "shared" / "reference" / "aks-error-catalog.json"
DEFAULT_OUT = ROOT / "shared" / "catalog" / "catalog.json"

TRANSIENCE = {"transient": "true", "config": "false", "mixed": "depends"}

# ---------------------------------------------------------------------------------------------
# Canonical codes. The reference keeps the literal code ARM returns; where that code is a generic
# container (UpgradeFailed, BadRequest, ValidationError) or missing, the product reports the most
# specific name instead (issue 3, rule 3).
# ---------------------------------------------------------------------------------------------
CANONICAL_CODE = {
    "UpgradeFailed.PodDrainFailure": "PodDrainFailure",
    "BadRequest.InvalidClientSecret": "InvalidClientSecret",
    "UpgradeBlockedOnDeprecatedAPIUsage": "UpgradeBlockedOnDeprecatedAPIUsage",
    "FeatureFlagNotEnabled": "FeatureFlagNotEnabled",
    "AgentPoolOperationWrappers": "UpgradeVMSSAgentPoolFailed",
}

# Alias strings in the reference carry annotations ("X (observed)", "X (subcode)"); some are not
# codes at all ("OperationNotAllowed (quota text)" = a generic host code, "412 Precondition Failed").
ALIAS_DROP = {"412 Precondition Failed", "exit status 124 (older classification)"}

# Distinct codes documented in the same entry: reported as observed instead of the canonical code
# (a user who got K8sVersionNotSupported should see that name, not OperationNotAllowed).
VARIANT_CODES = {
    "OperationNotAllowed.UpgradePath": ["K8sVersionNotSupported", "AgentPoolUpgradeVersionNotAllowed"],
    "ResourceLocked": ["ScopeLocked"],
    "InternalOperationError": ["ServiceUnavailable", "TimedoutOrCancelled"],
    "NodesNotReady": ["UpgradeNodesNotRegistered"],
    "OperationBlockedByNodeDisruptionPolicy": ["OperationOutsideNodeDisruptionWindow"],
    "AKSOperationPreempted": ["AKSOperationPreemptedByDelete", "OperationPreempted"],
    "OverconstrainedAllocationRequest": ["OverconstrainedZonalAllocationRequest"],
    "TooManyRequestsReceived": ["TooManyRequests"],
    "FeatureFlagNotEnabled": ["OIDCIssuerFeatureFlagNotEnabled", "AzureKeyvaultSecretsProviderAddonFeatureFlagNotEnabled"],
    "QuotaExceeded": ["ErrCode_InsufficientVCPUQuota", "InsufficientVCPUQuota"],
    "AgentPoolOperationWrappers": ["ScaleVMSSAgentPoolFailed", "CreateVMSSAgentPoolFailed"],
}

# Codes matched by shape rather than a fixed string (`<Feature>FeatureFlagNotEnabled`).
CODE_REGEXES = {"FeatureFlagNotEnabled": [r"[A-Za-z0-9]+FeatureFlagNotEnabled"]}

# Generic codes an entry shows up under; with one of these present, the message decides the entry
# (OperationNotAllowed + quota text = QuotaExceeded) and confidence stays high.
GENERIC_HOSTS = {
    "QuotaExceeded": ["OperationNotAllowed", "BadRequest"],
    "OperationNotAllowed.PendingOperation": ["OperationNotAllowed", "Conflict"],
    "OperationNotAllowed.UpgradePath": ["OperationNotAllowed", "BadRequest"],
    "TooManyRequestsReceived": ["OperationNotAllowed"],
    "BadRequest.InvalidClientSecret": ["BadRequest", "InvalidParameter"],
    "FeatureFlagNotEnabled": ["BadRequest"],
    "PreConditionFailed": ["BadRequest"],
    "UpgradeBlockedOnDeprecatedAPIUsage": ["ValidationError", "BadRequest"],
    "UpgradeFailed.PodDrainFailure": ["UpgradeFailed", "KubernetesAPICallFailed"],
    "ServicePrincipalNotFound": ["BadRequest", "ServicePrincipalValidationClientError"],
    "LogAnalyticsWorkspaceMissing": ["BadRequest", "ResourceGroupNotFound", "InternalError"],
    "AKSAutomaticValidation": ["BadRequest", "InvalidParameter"],
    "ImageReferenceChangeNotAllowed": ["PropertyChangeNotAllowed", "OperationNotAllowed"],
    "CannotScaleAutoscalerEnabledNodePool": ["BadRequest", "OperationNotAllowed"],
    "AutoscalingRequiresVMSS": ["BadRequest", "InvalidParameter"],
    "NodeImageVersionNotAccepted": ["BadRequest", "InvalidParameter"],
    "ServicePrincipalValidationClientError": ["BadRequest"],
    "PublicIPAddressCannotBeDeleted": ["PublicIPAddressCannotBeDeleted", "Conflict"],
    "AvailabilityZoneNotSupported": ["BadRequest"],
    "VMExtensionProvisioningTimeout": ["VMExtensionProvisioningError"],
}

# An entry whose own message patterns match beats these codes wherever they appear: drain
# failures caused by PDBs are reported as PodDrainFailure even when KubernetesAPICallFailed or a
# 429 "Too Many Requests" code wraps them (issue 3, rule 3).
SUPERSEDES = {
    "UpgradeFailed.PodDrainFailure": ["KubernetesAPICallFailed", "UpgradeFailed", "TooManyRequestsReceived",
                                      "TooManyRequests"],
    "QuotaExceeded": ["OperationNotAllowed"],
}

# Generic codes (containers / HTTP-ish names). Value: entry used when nothing more specific is found
# (None = the Unclassified fallback, reporting the generic code itself with low confidence).
GENERIC_CODES: dict[str, str | None] = {
    "BadRequest": None, "Conflict": None, "InternalServerError": None, "InternalError": None,
    "Failed": None, "Failure": None, "OperationFailed": None, "ValidationError": None,
    "UpgradeFailed": None, "Forbidden": None, "NotFound": None, "GatewayTimeout": None,
    "Canceled": None, "Unknown": None, "InvalidRequestContent": None, "InvalidTemplate": None,
    "OperationNotAllowed": "OperationNotAllowed.PendingOperation", "ClientError": None,
    "PreconditionFailed": "PreConditionFailed", "MultipleErrorsOccurred": None,
    "ResourceNotFound": None, "ResourceGroupNotFound": None, "PropertyChangeNotAllowed": None,
    "InvalidParameterValue": None, "ServerError": None, "RequestTimeout": None,
}

# Wrapper codes: containers whose meaning is "look inside". Value: entry used when nothing is inside.
WRAPPER_CODES: dict[str, str] = {
    "DeploymentFailed": "AgentPoolOperationWrappers",
    "InvalidTemplateDeployment": "AgentPoolOperationWrappers",
    "ResourceOperationFailure": "AgentPoolOperationWrappers",
    "ResourceDeploymentFailure": "AgentPoolOperationWrappers",
    "CreateVMSSAgentPoolFailed": "AgentPoolOperationWrappers",
    "UpgradeVMSSAgentPoolFailed": "AgentPoolOperationWrappers",
    "ScaleVMSSAgentPoolFailed": "AgentPoolOperationWrappers",
    "VMExtensionProvisioningError": "VMExtensionProvisioningError",
    "VMExtensionHandlerNonTransientError": "VMExtensionProvisioningError",
    "ReconcileVMSSAgentPoolFailed": "AgentPoolOperationWrappers",
}

# Entries whose sub-cause is a connectivity symptom use one fixed subcategory vocabulary.
CONNECTIVITY_VOCAB = ["timeout", "refused", "no_route", "tls", "certificate", "dns", "none"]

# Diagnostic fragments seen in CSE output (nc / curl / Go net errors / nslookup), in the order they
# are tested: the first match wins, so the most telling symptom goes first.
_CONN_MATCH = {
    "certificate": ["certificate name mismatch", "certificate verification failed", "x509:",
                    "SSL certificate problem", "unknown CA", "self signed certificate",
                    "self-signed certificate", "certificate verify failed", "certificate has expired",
                    "unable to get local issuer certificate"],
    "tls": ["TLS handshake", "SSL_connect", "unexpected eof while reading", "SSL routines", "Connection reset by peer"],
    "dns": ["Could not resolve host", "NXDOMAIN", "SERVFAIL", "Name or service not known",
            "Temporary failure in name resolution", "no such host", "server can't find",
            "resolve Kubernetes API server name"],
    "no_route": ["No route to host", "Network is unreachable", "host unreachable", "EHOSTUNREACH"],
    "refused": ["Connection refused", "ECONNREFUSED", "returned error: 403", "403 Forbidden"],
    "timeout": ["Connection timed out", "could not reach API server at", "i/o timeout", "Operation timed out"],
}
# Second pass, only when no telling phrase matched: tool exit codes and generic words.
_CONN_WEAK = {
    "certificate": ["curl: (60)"],
    "tls": ["curl: (35)", "tls: "],
    "dns": ["curl: (6)", "nslookup", "can't find", "DNS lookup"],
    "no_route": [],
    "refused": ["curl: (7)", "curl: (22)"],
    "timeout": ["timed out", "curl: (28)", "curl: (124)", "context deadline exceeded", "CSE has been running for",
                "timeout"],
}
# The API-server connection article lists refused before TLS/cert symptoms; keep the reference order
# for exit 51, the generic order elsewhere.
_ORDER_51 = ["timeout", "refused", "no_route", "tls", "certificate", "dns"]
_ORDER_GENERIC = ["certificate", "tls", "dns", "no_route", "refused", "timeout"]

_APISERVER_TIMEOUT = ["api_authorized_ranges", "nsg_apiserver_egress", "nsg_vnet_integration", "route_apiserver",
                      "firewall_aks_fqdns", "private_endpoint_apiserver", "private_dns_zone_link"]
_EGRESS = ["outbound_connectivity", "firewall_aks_fqdns"]

# Per-subcategory checks for the connectivity entries. "none" = no diagnostic text: run the lot.
CONN_CHECKS: dict[str, dict[str, list[str]]] = {
    "VMExtensionError_K8SAPIServerConnFail": {
        "timeout": _APISERVER_TIMEOUT,
        "refused": ["cluster_state", "nsg_vnet_integration"],
        "no_route": ["route_apiserver", "private_endpoint_apiserver", "nsg_apiserver_egress"],
        "tls": ["firewall_aks_fqdns", "route_apiserver"],
        "certificate": ["firewall_aks_fqdns", "cluster_state"],
        "dns": ["private_dns_zone_link", "vnet_custom_dns"],
        "none": ["cluster_state", *_APISERVER_TIMEOUT],
    },
    "WINDOWS_CSE_ERROR_CHECK_API_SERVER_CONNECTIVITY": {
        "timeout": _APISERVER_TIMEOUT,
        "refused": ["cluster_state"],
        "no_route": ["route_apiserver", "private_endpoint_apiserver"],
        "tls": ["firewall_aks_fqdns"],
        "certificate": ["firewall_aks_fqdns"],
        "dns": ["private_dns_zone_link", "vnet_custom_dns"],
        "none": ["cluster_state", *_APISERVER_TIMEOUT],
    },
    "VMExtensionError_K8SAPIServerDNSLookupFail": {
        "dns": ["private_dns_zone_link", "vnet_custom_dns"],
        "timeout": ["vnet_custom_dns", "private_dns_zone_link"],
        "none": ["private_dns_zone_link", "vnet_custom_dns"],
    },
}
for _eid in ("VMExtensionError_OutboundConnFail", "VMExtensionError_K8SDownloadTimeout",
             "VMExtensionError_CniDownloadTimeout", "VMExtensionError_VHDFileNotFound",
             "OrasPullNetworkTimeoutVMExtensionError", "VMExtensionProvisioningTimeout"):
    CONN_CHECKS[_eid] = {
        "timeout": [*_EGRESS, "route_apiserver"],
        "refused": _EGRESS,
        "no_route": [*_EGRESS, "route_apiserver"],
        "tls": _EGRESS,
        "certificate": _EGRESS,
        "dns": ["vnet_custom_dns", "outbound_connectivity"],
        "none": [*_EGRESS, "vnet_custom_dns"],
    }
CONN_CHECKS["OrasPullNetworkTimeoutVMExtensionError"]["dns"] = ["vnet_custom_dns", "private_dns_zone_link"]

# Sub-cause (reference cause id) reached by each connectivity subcategory, for cause ordering.
CONN_CAUSE = {
    "VMExtensionError_K8SAPIServerConnFail": {"timeout": "timeout", "refused": "refused", "no_route": "no-route",
                                              "tls": "tls", "certificate": "cert"},
    "VMExtensionError_K8SAPIServerDNSLookupFail": {"dns": "nxdomain", "timeout": "dns-timeout"},
    "VMExtensionError_K8SDownloadTimeout": {"dns": "dns", "refused": "blocked", "timeout": "blocked",
                                            "tls": "reset", "certificate": "tls-trust"},
    "VMExtensionError_OutboundConnFail": {"timeout": "blocked-egress", "dns": "private-dns"},
    "VMExtensionProvisioningTimeout": {"timeout": "egress", "dns": "dns"},
}
# "Connection refused" to the API server during create/start is the one documented transient case.
CONN_TRANSIENT = {("VMExtensionError_K8SAPIServerConnFail", "refused"): "true",
                  ("WINDOWS_CSE_ERROR_CHECK_API_SERVER_CONNECTIVITY", "refused"): "true"}

# Checks per entry (non-connectivity entries, and the fallback for connectivity ones).
CHECKS: dict[str, list[str]] = {
    "AKSCapacityHeavyUsage": ["capacity_history", "cluster_state"],
    "AKSCapacityError": ["capacity_history", "cluster_state"],
    "KubernetesAPICallFailed": ["cluster_state"],
    "ZonalAllocationFailed": ["capacity_history"],
    "AllocationFailed": ["capacity_history"],
    "OverconstrainedAllocationRequest": ["capacity_history"],
    "SkuNotAvailable": ["capacity_history"],
    "AvailabilityZoneNotSupported": ["capacity_history"],
    "QuotaExceeded": ["vcpu_quota"],
    "ResourceGroupQuotaExceeded": [],
    "ManagedClusterCountExceedsQuotaLimit": [],
    "PublicIPCountLimitReached": ["public_ip_quota"],
    "PublicIpPrefixOutOfIpAddressesForVMScaleSet": ["public_ip_quota"],
    "InvalidParameter": [],
    "ReservedResourceName": [],
    "Throttled": [],
    "SubscriptionRequestsThrottled": [],
    "TooManyRequestsReceived": [],
    "SubnetIsFull": ["node_subnet_capacity"],
    "InsufficientSubnetSize": ["node_subnet_capacity"],
    "SubnetIsDelegated": ["node_subnet_capacity", "apiserver_subnet"],
    "SubnetWithExternalResourcesCannotBeUsedByOtherResources": ["apiserver_subnet", "node_subnet_capacity"],
    "VirtualNetworkNotInSucceededState": [],
    "DnsServiceIpOutOfServiceCidr": [],
    "ServiceCidrOverlapExistingSubnetsCidr": [],
    "InvalidLoadBalancerProfileAllocatedOutboundPorts": [],
    "InvalidResourceReference": ["node_resource_group"],
    "CreateOrUpdateVirtualNetworkLinkFailed": ["private_dns_zone_link"],
    "CustomPrivateDNSZoneMissingPermissionError": ["identity_role_assignments", "private_dns_zone_link"],
    "LinkedAuthorizationFailed": ["identity_role_assignments", "identity_subnet_permissions"],
    "AuthorizationFailed": ["identity_role_assignments", "identity_subnet_permissions"],
    "BadRequest.InvalidClientSecret": ["service_principal_credentials"],
    "ServicePrincipalValidationClientError": ["service_principal_credentials"],
    "ServicePrincipalNotFound": ["service_principal_credentials"],
    "RequestDisallowedByPolicy": ["policy_denial"],
    "MissingSubscriptionRegistration": ["provider_registration"],
    "FeatureFlagNotEnabled": ["feature_registration", "provider_registration"],
    "ReadOnlyDisabledSubscription": [],
    "ResourceLocked": ["node_resource_group"],
    "OperationNotAllowed.PendingOperation": ["cluster_state"],
    "OperationNotAllowed.UpgradePath": ["kubernetes_version"],
    "AKSOperationPreempted": ["cluster_state"],
    "PreConditionFailed": ["cluster_state"],
    "AgentCountNotMatch": ["cluster_state", "node_resource_group"],
    "OperationBlockedByNodeDisruptionPolicy": ["cluster_state"],
    "InternalOperationError": ["cluster_state"],
    "ControlPlaneAPIServerNotReady": ["cluster_state", "private_endpoint_apiserver", "api_authorized_ranges"],
    "ControlPlaneAddOnsNotReady": ["cluster_state", "outbound_connectivity"],
    "NodesNotReady": ["cluster_state", "outbound_connectivity"],
    "ReconcileMachineFailed": ["cluster_state"],
    "UpgradeFailed.PodDrainFailure": ["cluster_state"],
    "UnsatisfiablePDB": [],
    "UpgradeBlockedOnDeprecatedAPIUsage": ["kubernetes_version"],
    "NodePoolMcVersionIncompatible": ["kubernetes_version"],
    "NodeImageVersionNotAccepted": ["kubernetes_version"],
    "LogAnalyticsWorkspaceMissing": [],
    "ImageReferenceChangeNotAllowed": ["node_resource_group"],
    "CannotScaleAutoscalerEnabledNodePool": ["node_resource_group", "cluster_state"],
    "AutoscalingRequiresVMSS": [],
    "ErrorCode_Windows2019NotSupportedWithGen2VM": [],
    "VMCannotFitEphemeralOSDisk": [],
    "AKSAutomaticValidation": ["vcpu_quota", "capacity_history", "feature_registration"],
    "InUseRouteTableCannotBeDeleted": ["node_resource_group"],
    "CannotDeleteLoadBalancerWithPrivateLinkService": ["node_resource_group"],
    "PrivateLinkServiceWithPrivateEndpointConnectionsCannotBeDeleted": ["node_resource_group"],
    "PublicIPAddressCannotBeDeleted": ["node_resource_group"],
    "InUseSubnetCannotBeDeleted": ["node_resource_group"],
    "InUseNetworkSecurityGroupCannotBeDeleted": ["node_resource_group"],
    "LoadBalancerInUseByVirtualMachineScaleSet": ["node_resource_group"],
    "NetworkSecurityGroupInUseByVirtualMachineScaleSet": ["node_resource_group"],
    "VMExtensionProvisioningError": ["outbound_connectivity", "cluster_state"],
    "OrasPullUnauthorizedVMExtensionError": ["identity_role_assignments"],
    "AgentPoolOperationWrappers": ["cluster_state"],
    "FailedToFixNodeGroupSizes": ["cluster_state"],
    "UpgradeBlockedByNSG": ["outbound_connectivity", "nsg_apiserver_egress"],
    "KubernetesIoLabelsUpgrade116": ["kubernetes_version"],
}
for _eid, _subs in CONN_CHECKS.items():
    CHECKS[_eid] = _subs["none"]

# Checks for cause-based subcategories of non-connectivity entries (sub-cause -> checks).
CAUSE_CHECKS = {
    ("KubernetesAPICallFailed", "no-control-plane"): ["cluster_state", "capacity_history"],
    ("KubernetesAPICallFailed", "conflicting-pdb"): ["cluster_state"],
    ("QuotaExceeded", "family-quota"): ["vcpu_quota"],
    ("QuotaExceeded", "regional-quota"): ["vcpu_quota"],
    ("AllocationFailed", "internal"): ["capacity_history"],
    ("AllocationFailed", "dedicated-host"): ["capacity_history"],
    ("OperationNotAllowed.PendingOperation", "concurrent-op"): ["cluster_state"],
    ("OperationNotAllowed.PendingOperation", "already-in-state"): ["cluster_state"],
    ("OperationNotAllowed.PendingOperation", "delete-in-progress"): ["cluster_state"],
    ("OperationNotAllowed.UpgradePath", "version-unsupported"): ["kubernetes_version"],
    ("OperationNotAllowed.UpgradePath", "skip-minor"): ["kubernetes_version"],
    ("InvalidParameter", "network-invalid"): ["apiserver_subnet", "identity_subnet_permissions",
                                              "nsg_vnet_integration", "node_subnet_capacity"],
}

# Sub-causes the reference documents as causes but gives no message fragments for. The API-server
# subnet case has no documented error code (reference gap): AKS rejects it as an invalid parameter
# naming apiServerAccessProfile.subnetId and linking aka.ms/AksVnetIntegration.
EXTRA_SUBCATEGORIES: dict[str, list[tuple[str, list[str]]]] = {
    "InvalidParameter": [("network-invalid", ["apiServerAccessProfile.subnetId", "aka.ms/AksVnetIntegration",
                                              "API Server VNet Integration", "vnetSubnetID"])],
}

# Titles, in our words. Guidance overrides where the reference's retry_or_fix is not what we tell users.
TITLES: dict[str, str] = {
    "AKSCapacityHeavyUsage": "AKS control-plane capacity is short in the region",
    "AKSCapacityError": "AKS cannot create or start clusters in the region right now",
    "KubernetesAPICallFailed": "AKS could not call the cluster's Kubernetes API server",
    "ZonalAllocationFailed": "No capacity for the VM size in the requested zone",
    "AllocationFailed": "VM allocation failed",
    "OverconstrainedAllocationRequest": "VM allocation constraints cannot be satisfied",
    "SkuNotAvailable": "VM size not available in the region or zone",
    "AvailabilityZoneNotSupported": "Availability zone not supported for the VM size or region",
    "QuotaExceeded": "vCPU quota exceeded",
    "ResourceGroupQuotaExceeded": "Resource group limit reached",
    "ManagedClusterCountExceedsQuotaLimit": "Managed cluster count quota reached",
    "PublicIPCountLimitReached": "Public IP address quota reached",
    "PublicIpPrefixOutOfIpAddressesForVMScaleSet": "Node public IP prefix has no free addresses",
    "InvalidParameter": "A request parameter is invalid",
    "ReservedResourceName": "Resource name uses a reserved or trademarked word",
    "Throttled": "AKS resource provider throttled the request",
    "SubscriptionRequestsThrottled": "ARM throttled requests for the subscription",
    "TooManyRequestsReceived": "Too many requests for the subscription (HTTP 429)",
    "SubnetIsFull": "Node subnet has no free IP addresses",
    "InsufficientSubnetSize": "Subnet too small for the planned nodes and pods",
    "SubnetIsDelegated": "Node subnet is delegated to another service",
    "SubnetWithExternalResourcesCannotBeUsedByOtherResources": "Subnet is bound to external resources",
    "VirtualNetworkNotInSucceededState": "Virtual network is not in the Succeeded state",
    "DnsServiceIpOutOfServiceCidr": "DNS service IP is outside the service CIDR",
    "ServiceCidrOverlapExistingSubnetsCidr": "Service CIDR overlaps a subnet in the VNet",
    "InvalidLoadBalancerProfileAllocatedOutboundPorts": "Outbound SNAT port allocation does not fit the node count",
    "InvalidResourceReference": "A referenced network resource is missing or in another region",
    "CreateOrUpdateVirtualNetworkLinkFailed": "Private DNS zone link to the cluster VNet failed",
    "CustomPrivateDNSZoneMissingPermissionError": "Cluster identity lacks rights on the custom private DNS zone",
    "LinkedAuthorizationFailed": "Cluster identity lacks permission on a linked resource",
    "AuthorizationFailed": "Identity lacks permission for the action",
    "BadRequest.InvalidClientSecret": "Service principal secret invalid or expired",
    "ServicePrincipalValidationClientError": "Service principal secret rejected by Entra ID",
    "ServicePrincipalNotFound": "Service principal not found (missing or not yet propagated)",
    "RequestDisallowedByPolicy": "Azure Policy denied a resource AKS needs",
    "MissingSubscriptionRegistration": "Resource provider not registered on the subscription",
    "FeatureFlagNotEnabled": "Preview feature not registered on the subscription",
    "ReadOnlyDisabledSubscription": "Subscription is disabled or read-only",
    "ResourceLocked": "A management lock blocks the operation",
    "OperationNotAllowed.PendingOperation": "Another operation is running, or the cluster state forbids this one",
    "OperationNotAllowed.UpgradePath": "Kubernetes version or upgrade path not allowed",
    "AKSOperationPreempted": "Operation preempted by a newer operation",
    "PreConditionFailed": "eTag precondition failed (concurrent change)",
    "AgentCountNotMatch": "Node count changed outside AKS during the operation",
    "OperationBlockedByNodeDisruptionPolicy": "Node disruption policy or window blocked the operation",
    "InternalOperationError": "Platform-side internal error",
    "ControlPlaneAPIServerNotReady": "API server did not become ready",
    "ControlPlaneAddOnsNotReady": "System add-on pods did not become ready",
    "NodesNotReady": "Nodes did not register or become Ready",
    "ReconcileMachineFailed": "Machine reconciliation failed for the node pool",
    "UpgradeFailed.PodDrainFailure": "Node drain failed: pod eviction blocked (usually a PodDisruptionBudget)",
    "UnsatisfiablePDB": "A PodDisruptionBudget allows no disruptions",
    "UpgradeBlockedOnDeprecatedAPIUsage": "Upgrade blocked: deprecated Kubernetes APIs still in use",
    "NodePoolMcVersionIncompatible": "Node pool and control plane versions are too far apart",
    "NodeImageVersionNotAccepted": "Requested node image version not accepted",
    "LogAnalyticsWorkspaceMissing": "Monitoring add-on points at a deleted Log Analytics workspace",
    "ImageReferenceChangeNotAllowed": "Node resources in the MC_ group were modified",
    "CannotScaleAutoscalerEnabledNodePool": "Cannot scale an autoscaler-enabled node pool",
    "AutoscalingRequiresVMSS": "Autoscaling needs a Virtual Machine Scale Sets node pool",
    "ErrorCode_Windows2019NotSupportedWithGen2VM": "Windows Server 2019 cannot run on a Gen2-only VM size",
    "VMCannotFitEphemeralOSDisk": "Ephemeral OS disk does not fit the VM size",
    "AKSAutomaticValidation": "AKS Automatic prerequisites not met",
    "InUseRouteTableCannotBeDeleted": "Route table still attached to a subnet",
    "CannotDeleteLoadBalancerWithPrivateLinkService": "Load balancer still referenced by a private link service",
    "PrivateLinkServiceWithPrivateEndpointConnectionsCannotBeDeleted": "Private link service still has endpoint connections",
    "PublicIPAddressCannotBeDeleted": "Public IP still attached to a resource",
    "InUseSubnetCannotBeDeleted": "Subnet still in use",
    "InUseNetworkSecurityGroupCannotBeDeleted": "Network security group still associated",
    "LoadBalancerInUseByVirtualMachineScaleSet": "Load balancer still used by a scale set",
    "NetworkSecurityGroupInUseByVirtualMachineScaleSet": "Network security group still used by a scale set",
    "VMExtensionProvisioningError": "Node bootstrap (CSE) failed",
    "VMExtensionError_OutboundConnFail": "Nodes cannot reach the internet endpoints they need (exit 50)",
    "VMExtensionError_K8SAPIServerConnFail": "Nodes cannot connect to the API server (exit 51)",
    "VMExtensionError_K8SAPIServerDNSLookupFail": "Nodes cannot resolve the API server name (exit 52)",
    "VMExtensionError_K8SDownloadTimeout": "Timed out downloading Kubernetes binaries (exit 31)",
    "VMExtensionError_CniDownloadTimeout": "Timed out downloading CNI plugins (exit 41)",
    "VMExtensionError_VHDFileNotFound": "Node image check failed, usually masking a connectivity problem (exit 65)",
    "OrasPullNetworkTimeoutVMExtensionError": "Bootstrap container registry unreachable (exit 211)",
    "OrasPullUnauthorizedVMExtensionError": "Kubelet identity cannot pull from the bootstrap registry (exit 212)",
    "WINDOWS_CSE_ERROR_CHECK_API_SERVER_CONNECTIVITY": "Windows nodes cannot reach the API server (Windows exit 5)",
    "VMExtensionProvisioningTimeout": "Node bootstrap (CSE) timed out",
    "AgentPoolOperationWrappers": "Agent pool operation failed (see the inner error)",
    "FailedToFixNodeGroupSizes": "Cluster autoscaler cannot reconcile node group size",
    "UpgradeBlockedByNSG": "An NSG rule blocks downloads the upgrade needs",
    "KubernetesIoLabelsUpgrade116": "Node labels with the kubernetes.io prefix block the upgrade",
}

GUIDANCE: dict[str, str] = {
    "AKSCapacityHeavyUsage": (
        "Regional AKS capacity is temporarily short: retry later (capacity is reclaimed as other clusters stop "
        "or are deleted), or create in another region, or try the other cluster shape (public vs private, with "
        "or without API Server VNet Integration). Escalate to Azure support if it persists past 24 h."),
    "AKSCapacityError": (
        "Regional capacity is low: retry later, use another region, a paid tier (free-tier clusters are limited "
        "first) or the other cluster shape. If a start failed, retry the start before other operations. "
        "Escalate to Azure support if it persists past 24 h."),
    "QuotaExceeded": (
        "Request a vCPU quota increase for the family/region named in the error (often auto-approved), or use "
        "another VM size or region; surge nodes during upgrades count against quota too."),
    "VMExtensionError_K8SAPIServerConnFail": (
        "Nodes could not open TCP 443 to the API server. Check authorized IP ranges (include the node egress IP), "
        "NSG/firewall/UDR rules towards the API server, and for private clusters the private endpoint and private "
        "DNS link; then reconcile with `az aks update`. 'Connection refused' during create/start is usually "
        "transient."),
    "UpgradeFailed.PodDrainFailure": (
        "A PodDisruptionBudget (or several on the same pod) blocks eviction. Make sure each PDB allows at least "
        "one disruption (or set undrainableNodeBehavior=Cordon), then rerun the upgrade to the same version."),
    "VMExtensionProvisioningError": (
        "Node bootstrap failed. Read the exit status in the message (see the CSE exit-status table) and check "
        "the node's outbound connectivity to the required AKS endpoints."),
    "AgentPoolOperationWrappers": "This is a container error: look at the inner error (details / subcode) for the cause.",
}

# Pattern weights. Default: by length / URL; these are lowered because they also occur in unrelated
# errors (HTTP status numbers, shared doc links, words that appear in many messages).
WEAK_PATTERNS = {
    "412", "StatusCode=403", "StatusCode=409", "Status=429", "StatusCode: 429", "are expired",
    "is in use by", "private endpoint connection", "or 'latest'", "frontendIPConfigurations",
    "loadBalancingRules", "Microsoft.Network/routeTables/", "please retry again in", "Failed to scale node pool",
    "VMSSAgentPoolReconciler retry failed", "Reconcile standard load balancer failed",
    "outboundReconciler retry failed", "Dependency: Microsoft.Network/PublicIPAddresses",
    "Dependency: Microsoft.Compute/VirtualMachineScaleSet", "Upgrading Kubernetes version",
    "and control plane version", "are incompatible", "does not have permission to perform action",
    "Reconcile VNet failed", "VNetReconciler retry failed", "Retriable: true", "Failed in downloading",
    "We are unable to serve this request due to an internal error", "azure-vnet-cni", "failed to decrease",
    "attempt to delete existing nodes", "cannot be deleted since it has", "is in Updating state",
"Constraints applied are:", "Create or update VMSS failed. Allocation failed.",
    "Preflight validation check for resource(s) for container service", "https://aka.ms/azureregions",
    "Upgrade failed due to one or more node errors", "Cores quota", "Target=\"vmSize\"",
    "https://aka.ms/VMExtensionCSELinuxTroubleshoot", "https://aka.ms/aks-required-ports-and-addresses",
    "Reconcile private dns failed", "https://aka.ms/allocation-guidance",
}
# Shared fragments: weight kept for the entry named here, lowered to 1 elsewhere.
SHARED_PRIMARY = {
    "Unable to establish connection from agents to Kubernetes API server": "VMExtensionError_K8SAPIServerConnFail",
    "https://aka.ms/aks-sp-help": "ServicePrincipalNotFound",
    "https://aka.ms/allocation-guidance": "ZonalAllocationFailed",
}
# Fragments that identify the wrapper, not a cause: dropped from the wrapper's own pattern list.
WRAPPER_PATTERNS = {"VM has reported a failure when processing extension 'vmssCSE'",
                    "Enable failed: failed to execute command: command terminated with exit status=",
                    "vmssCSE exit status=", "\"ExitCode\":", "CSE failed with '", "CSE Error: WINDOWS_CSE_ERROR_",
                    "instance <n> has extension error details", "UpgradeVMSSAgentPoolFailed",
                    "ScaleVMSSAgentPoolFailed", "CreateVMSSAgentPoolFailed",
                    "The resource operation completed with terminal provisioning state 'Failed'"}

# Extra fragments from public message shapes the reference does not quote ('*' = up to 80 characters
# of anything, e.g. a number or a name).
EXTRA_PATTERNS: dict[str, list[tuple[str, int]]] = {
    "SubnetIsFull": [("does not have enough capacity for * IP addresses", 3), ("with address prefix", 1)],
    "QuotaExceeded": [("exceeding approved * Cores quota", 3), ("Current Limit:", 1), ("Additional Required:", 2),
                      ("Insufficient * vcpu quota", 3), ("vCPU quota", 2), ("Regional Cores quota", 3),
                      ("Family Cores quota", 3), ("LowPriorityCores", 2)],
    "PublicIPCountLimitReached": [("Cannot create more than * public IP addresses for this subscription", 3)],
    "AllocationFailed": [("sufficient capacity for the requested VM size in this region", 3),
                         ("Allocation failed. We do not have sufficient capacity", 1)],
    "ZonalAllocationFailed": [("sufficient capacity for the requested VM size in this zone", 3)],
    "SkuNotAvailable": [("is currently not available in location", 3), ("https://aka.ms/azureskunotavailable", 3),
                        ("Following SKUs have failed for Capacity Restrictions", 3)],
    "AuthorizationFailed": [("does not have authorization to perform action", 3), ("or the scope is invalid", 2)],
    "LinkedAuthorizationFailed": [("linked scope(s)", 3)],
    "OperationNotAllowed.PendingOperation": [("please wait for it to finish before starting a new operation", 3),
                                             ("there's an in progress", 3), ("is in progress", 2),
                                             ("Operation is not allowed because", 2),
                                             ("Cannot start the managed cluster", 2),
                                             ("Cannot stop the managed cluster", 2)],
    "OperationNotAllowed.UpgradePath": [("is not supported in this region", 3), ("az aks get-versions", 2),
                                        ("az aks get-upgrades", 2), ("Available upgrades", 3),
                                        ("can only be upgraded by one minor version", 3)],
    "ServicePrincipalNotFound": [("not found in Active Directory tenant", 3), ("Service principal clientID:", 3),
                                 ("service principal * not found", 3), ("https://aka.ms/aks-sp-help", 2)],
    "BadRequest.InvalidClientSecret": [("client secret keys for app", 3), ("AADSTS7000222", 3)],
    "ServicePrincipalValidationClientError": [("AADSTS7000215", 3), ("Invalid client secret provided", 3)],
    "FeatureFlagNotEnabled": [("https://aka.ms/aks/previews", 3), ("is not enabled", 1),
                              ("Feature Microsoft.ContainerService/", 3)],
    "UpgradeFailed.PodDrainFailure": [("Drain node", 2), ("PodDisruptionBudget", 3), ("disruption budget", 3),
                                      ("evicting pod", 3), ("Cannot evict pod", 3), ("DrainDidNotComplete", 3),
                                      ("drain timeout", 2)],
    "VMExtensionError_K8SAPIServerConnFail": [("connection to Kubernetes API server", 3),
                                              ("could not reach API server", 3)],
    "VMExtensionError_OutboundConnFail": [("outbound connection from agents", 3),
                                          ("error-code-outboundconnfailvmextensionerror", 3)],
    "VMExtensionError_K8SAPIServerDNSLookupFail": [("resolve Kubernetes API server name", 3)],
    "VMExtensionError_K8SDownloadTimeout": [("timeout downloading Kubernetes binaries", 3)],
    "VMExtensionError_CniDownloadTimeout": [("downloading CNI", 3), ("CNI plugin", 2)],
    "VMExtensionProvisioningTimeout": [("has timed out", 2)],
    "RequestDisallowedByPolicy": [("disallowed by policy", 3), ("policyAssignment", 2)],
    "MissingSubscriptionRegistration": [("is not registered to use namespace", 3)],
    "NodePoolMcVersionIncompatible": [("version-skew-policy", 3)],
    "AKSCapacityHeavyUsage": [("experiencing heavy usage", 3)],
    "AKSCapacityError": [("is unavailable at this time in region", 3)],
    "VirtualNetworkNotInSucceededState": [("in order to set resource ownership", 3)],
    "InvalidResourceReference": [("Please make sure that the referenced resource exists", 3)],
    "AKSOperationPreempted": [("has been preempted", 3)],
    "TooManyRequestsReceived": [("too many requests have been received", 3), ("The request is being throttled", 2)],
    "Throttled": [("request limit has been exceeded", 3)],
    "InternalOperationError": [("internal error occurred", 1)],
}

# Example messages, one or more per entry, written from the documented message shapes. Each must
# classify back to its entry (catalog self-test); `None` code = the error arrives without one.
EXAMPLES: dict[str, list[tuple[str | None, str]]] = {
    "AKSCapacityHeavyUsage": [("AKSCapacityHeavyUsage", "AKS is experiencing heavy usage in region centralus. We are working on adding new capacity. For now, please try a different region, or create a cluster without API Server VNet Integration (see https://aka.ms/AksVnetIntegration). For more information, see https://aka.ms/akscapacityheavyusage")],
    "AKSCapacityError": [("AKSCapacityError", "Creating or starting a free tier cluster is unavailable at this time in region eastus. To create a new cluster, we recommend using an alternate region, or a paid tier. For a list of all the Azure regions, visit https://aka.ms/aks/regions. See https://aka.ms/akscapacityerror for more details.")],
    "KubernetesAPICallFailed": [("KubernetesAPICallFailed", "API call to Kubernetes API Server failed. Please check that the control plane is running and the cluster was started successfully.")],
    "ZonalAllocationFailed": [("ZonalAllocationFailed", "Allocation failed. We do not have sufficient capacity for the requested VM size in this zone. Read more about improving likelihood of allocation success at https://aka.ms/allocation-guidance")],
    "AllocationFailed": [("AllocationFailed", "The VM allocation failed due to an internal error. Please retry later or try deploying to a different location.")],
    "OverconstrainedAllocationRequest": [("OverconstrainedAllocationRequest", "Create or update VMSS failed. Allocation failed. VM(s) with the following constraints cannot be allocated, because the condition is too restrictive. Please remove some constraints and try again. Constraints applied are: Networking Constraints (such as Accelerated Networking or IPv6), VM Size: Standard_D16ds_v5, Zones: 1.")],
    "SkuNotAvailable": [("SkuNotAvailable", "The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: Standard_D4s_v3' is currently not available in location 'westeurope'. Please try another size or deploy to a different location or different zone. See https://aka.ms/azureskunotavailable for details.")],
    "AvailabilityZoneNotSupported": [("AvailabilityZoneNotSupported", "Preflight validation check for resource(s) for container service aks-prod in resource group rg-aks failed. Message: The zone(s) '4' for resource 'nodepool1' is not supported.The supported zones for location 'eastus' are '1,2,3'.")],
    "QuotaExceeded": [("QuotaExceeded", "Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota. Additional details - Deployment Model: Resource Manager, Location: westeurope, Current Limit: 10, Current Usage: 8, Additional Required: 4, (Minimum) New Limit Required: 12. Submit a request for Quota increase at https://aka.ms/ProdportalCRP by specifying parameters listed in the 'Details' section for deployment to succeed."),
                      ("ErrCode_InsufficientVCPUQuota", "Insufficient regional vcpu quota left for location eastus. left regional vcpu quota 4, requested quota 16. Please request more quota.")],
    "ResourceGroupQuotaExceeded": [("ResourceGroupQuotaExceeded", "Creating the resource group 'MC_rg_aks_eastus' would exceed the quota of '980' resource groups per subscription.")],
    "ManagedClusterCountExceedsQuotaLimit": [("ManagedClusterCountExceedsQuotaLimit", "Operation results in exceeding quota limits for managed clusters. Maximum allowed: 5000. Consider deleting unused clusters or requesting a quota increase.")],
    "PublicIPCountLimitReached": [("PublicIPCountLimitReached", "Reconcile standard load balancer failed. Cannot create more than 1000 public IP addresses for this subscription in this region.")],
    "PublicIpPrefixOutOfIpAddressesForVMScaleSet": [("PublicIpPrefixOutOfIpAddressesForVMScaleSet", "Public IP prefix /subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/publicIPPrefixes/nodeprefix does not have enough free addresses for the scale set.")],
    "InvalidParameter": [("InvalidParameter", "The value Standard_E96as_v7 provided for the VM size is not available in the current region. The sizes available in the current region are: Standard_B2s,Standard_D2s_v5. Find out more on the available VM sizes in each region at https://aka.ms/azureregions.")],
    "ReservedResourceName": [("ReservedResourceName", "The resource name 'microsoft-aks' or a part of the name is a trademarked or reserved word.")],
    "Throttled": [("Throttled", "The PutManagedClusterHandler.PUT request limit has been exceeded for SubID=00000000-0000-0000-0000-000000000000, please retry again in 10 seconds. See https://aka.ms/aks/throttling")],
    "SubscriptionRequestsThrottled": [("SubscriptionRequestsThrottled", "Number of requests for subscription '00000000-0000-0000-0000-000000000000' and operation 'GET/SUBSCRIPTIONS/RESOURCEGROUPS/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS' exceeded the backend storage limit. Please try again after '6' seconds.")],
    "TooManyRequestsReceived": [("TooManyRequestsReceived", "The server rejected the request because too many requests have been received for this subscription. HighCostGetVMScaleSet30Min")],
    "SubnetIsFull": [("SubnetIsFull", "Subnet /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-aks/subnets/snet-nodes with address prefix 10.240.0.0/24 does not have enough capacity for 30 IP addresses.")],
    "InsufficientSubnetSize": [("InsufficientSubnetSize", "Pre-allocated IPs 333 exceeds IPs available in Subnet 251")],
    "SubnetIsDelegated": [("SubnetIsDelegated", "AgentPoolProfile.VnetSubnetID /subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/test cannot be used as it's a delegated subnet. Please check https://aka.ms/adv-network-prerequest for more details.")],
    "SubnetWithExternalResourcesCannotBeUsedByOtherResources": [("SubnetWithExternalResourcesCannotBeUsedByOtherResources", "Subnet snet-aks cannot be used because it contains external resources. The external resources in this subnet are (externalResourceType: Microsoft.Web/serverFarms).")],
    "VirtualNetworkNotInSucceededState": [("VirtualNetworkNotInSucceededState", "Set virtual network ownership failed. Virtual network vnet-aks is in Updating state. It needs to be in Succeeded state in order to set resource ownership.")],
    "DnsServiceIpOutOfServiceCidr": [("DnsServiceIpOutOfServiceCidr", "DNS service IP 10.2.0.10 is out of the range defined by service CIDR 10.0.0.0/16. Target: networkProfile.dnsServiceIP")],
    "ServiceCidrOverlapExistingSubnetsCidr": [("ServiceCidrOverlapExistingSubnetsCidr", "The specified service CIDR 10.0.0.0/16 is conflicted with an existing subnet CIDR 10.0.1.0/24. Target: networkProfile.serviceCIDR")],
    "InvalidLoadBalancerProfileAllocatedOutboundPorts": [("InvalidLoadBalancerProfileAllocatedOutboundPorts", "Load balancer profile allocated ports 8000 is not in an allowable range given the number of nodes and IPs provisioned. See https://aka.ms/aks/slb-ports")],
    "InvalidResourceReference": [("InvalidResourceReference", "Resource /subscriptions/0000/resourceGroups/MC_rg_aks_westeurope/providers/Microsoft.Network/loadBalancers/kubernetes/frontendIPConfigurations/abc referenced by resource /subscriptions/0000/resourceGroups/MC_rg_aks_westeurope/providers/Microsoft.Network/loadBalancers/kubernetes was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.")],
    "CreateOrUpdateVirtualNetworkLinkFailed": [("CreateOrUpdateVirtualNetworkLinkFailed", "Reconcile private dns failed. Create or update virtual network link failed: A virtual network cannot be linked to multiple zones with overlapping namespaces.")],
    "CustomPrivateDNSZoneMissingPermissionError": [("CustomPrivateDNSZoneMissingPermissionError", "Service principal or user assigned identity must be given permission to read and write to custom private dns zone /subscriptions/0000/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.eastus.azmk8s.io. Check access result not allowed for action Microsoft.Network/privateDnsZones/read.")],
    "LinkedAuthorizationFailed": [("LinkedAuthorizationFailed", "The client '11111111-1111-1111-1111-111111111111' with object id '11111111-1111-1111-1111-111111111111' has permission to perform action 'Microsoft.Network/virtualNetworks/write' on scope '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet'; however, it does not have permission to perform action 'Microsoft.Network/ddosProtectionPlans/join/action' on the linked scope(s) '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/ddosProtectionPlans/ddos' or the linked scope(s) are invalid.")],
    "AuthorizationFailed": [("AuthorizationFailed", "The client '22222222-2222-2222-2222-222222222222' with object id '22222222-2222-2222-2222-222222222222' does not have authorization to perform action 'Microsoft.Network/virtualNetworks/subnets/join/action' over scope '/subscriptions/0000/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/aks' or the scope is invalid. If access was recently granted, please refresh your credentials.")],
    "BadRequest.InvalidClientSecret": [("BadRequest", "The credentials in ServicePrincipalProfile were invalid. Please see https://aka.ms/aks-sp-help for more details. (Details: adal: Refresh request failed. Status Code = '401'. Response body: {\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000222: The provided client secret keys for app '33333333-3333-3333-3333-333333333333' are expired.\"})")],
    "ServicePrincipalValidationClientError": [("ServicePrincipalValidationClientError", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '44444444-4444-4444-4444-444444444444'.")],
    "ServicePrincipalNotFound": [(None, "Service principal clientID: 55555555-5555-5555-5555-555555555555 not found in Active Directory tenant 66666666-6666-6666-6666-666666666666, Please see https://aka.ms/aks-sp-help for more details.")],
    "RequestDisallowedByPolicy": [("RequestDisallowedByPolicy", "Resource 'aks-agentpool-12345678-nsg' was disallowed by policy. Policy identifiers: '[{\"policyAssignment\":{\"name\":\"Deny NSG\",\"id\":\"/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/policyAssignments/deny-nsg\"},\"policyDefinition\":{\"name\":\"Deny NSG\",\"id\":\"/providers/Microsoft.Authorization/policyDefinitions/deny-nsg-def\"}}]'. See https://aka.ms/aks-requestdisallowedbypolicy")],
    "MissingSubscriptionRegistration": [("MissingSubscriptionRegistration", "The subscription is not registered to use namespace 'Microsoft.OperationsManagement'. See https://aka.ms/rps-not-found for how to register subscriptions.")],
    "FeatureFlagNotEnabled": [("OIDCIssuerFeatureFlagNotEnabled", "Enabling OIDC issuer is not allowed since feature 'Microsoft.ContainerService/EnableOIDCIssuerPreview' is not enabled. Please see https://aka.ms/aks/previews for how to enable features."),
                              ("BadRequest", "Feature Microsoft.ContainerService/AutoUpgradePreview is not enabled. Please see https://aka.ms/aks/previews for how to enable features.")],
    "ReadOnlyDisabledSubscription": [("ReadOnlyDisabledSubscription", "The subscription '00000000-0000-0000-0000-000000000000' is disabled and therefore marked as read only. You cannot perform any write actions on this subscription until it is re-enabled.")],
    "ResourceLocked": [("ScopeLocked", "The scope '/subscriptions/0000/resourceGroups/MC_rg_aks_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-123-vmss' cannot perform delete operation because following scope(s) are locked: '/subscriptions/0000/resourceGroups/MC_rg_aks_eastus'. Please remove the lock and try again.")],
    "OperationNotAllowed.PendingOperation": [("OperationNotAllowed", "Operation is not allowed: Another operation (Upgrading) is in progress, please wait for it to finish before starting a new operation. See https://aka.ms/aks-pending-operation for more details")],
    "OperationNotAllowed.UpgradePath": [("OperationNotAllowed", "Upgrading Kubernetes version 1.26.6 to 1.28.3 is not allowed. Available upgrades: [1.27.3 1.27.7]. Please see https://aka.ms/aks-supported-k8s-ver for version details."),
                                        ("K8sVersionNotSupported", "Managed cluster aks-prod is on version 1.24.9, which is not supported in this region. Please use [az aks get-versions] command to get the supported version list in this region. For more information, please check https://aka.ms/supported-version-list")],
    "AKSOperationPreempted": [("AKSOperationPreempted", "This operation has been preempted by another operation with ID 0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9.")],
    "PreConditionFailed": [("PreConditionFailed", "The request failed because the If-Match eTag 'a1b2c3d4' does not match the current eTag of the resource (HTTP 412).")],
    "AgentCountNotMatch": [("AgentCountNotMatch", "Expected 5 agents in pool nodepool1 but found 7; the VM scale set was changed outside of AKS.")],
    "OperationBlockedByNodeDisruptionPolicy": [("OperationBlockedByNodeDisruptionPolicy", "The operation would disrupt nodes but the node disruption policy of the cluster is Block.")],
    "InternalOperationError": [("InternalOperationError", "An internal error occurred while processing the request. Please retry; if the problem persists, contact support with the correlation ID.")],
    "ControlPlaneAPIServerNotReady": [("ControlPlaneAPIServerNotReady", "The control plane API server of the managed cluster is not ready.")],
    "ControlPlaneAddOnsNotReady": [("ControlPlaneAddOnsNotReady", "Pods not in Running status: konnectivity-agent-5b6c9d7f8-abcde,coredns-6f8d9c7b5-fghij,metrics-server-7c9d8b6f5-klmno")],
    "NodesNotReady": [("NodesNotReady", "Nodes aks-nodepool1-12345678-vmss000003 are not ready after upgrade.")],
    "ReconcileMachineFailed": [("ReconcileMachineFailed", "Reconcile machine aks-pool1-machine-2 failed: the scale profile of the VirtualMachines node pool is invalid.")],
    "UpgradeFailed.PodDrainFailure": [("UpgradeFailed", "Drain node aks-nodepool1-12345678-vmss000001 failed when evicting pod web-6d4cf56db6-abcde failed with Too Many Requests error. This is often caused by a restrictive Pod Disruption Budget (PDB) policy. See https://aka.ms/aks/debugdrainfailures. Original error: Cannot evict pod as it would violate the pod's disruption budget.. PDB debug info: default/web-6d4cf56db6-abcde blocked by pdb (web-pdb) with 0 unready pods."),
                                      ("KubernetesAPICallFailed", "Evict blocked by conflicting disruption budgets: This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")],
    "UnsatisfiablePDB": [("UnsatisfiablePDB", "1 error occurred: PDB default/web-pdb has maxunavailble == 0 can't proceed with put operation")],
    "UpgradeBlockedOnDeprecatedAPIUsage": [("ValidationError", "Control Plane upgrade is blocked due to recent usage of a Kubernetes API deprecated in the specified version. Please refer to https://learn.microsoft.com/azure/aks/stop-cluster-upgrade-api-breaking-changes. To bypass this error, set enable-force-upgrade in upgradeSettings.overrideSettings. SubCode: UpgradeBlockedOnDeprecatedAPIUsage")],
    "NodePoolMcVersionIncompatible": [("NodePoolMcVersionIncompatible", "Node pool version 1.25.6 and control plane version 1.28.3 are incompatible. Minor version of node pool cannot be more than 2 versions less than control plane's version. For more information, please check https://aka.ms/version-skew-policy.")],
    "NodeImageVersionNotAccepted": [(None, "Node image version AKSUbuntu-2204gen2containerd-202401.09.0 is not accepted. NodeImageVersion can only be current version AKSUbuntu-2204gen2containerd-202405.20.0 or 'latest'.")],
    "LogAnalyticsWorkspaceMissing": [(None, "Unable to get log analytics workspace info. Resource ID: /subscriptions/0000/resourcegroups/rg-logs/providers/microsoft.operationalinsights/workspaces/law-aks. Detail: operationalinsights.WorkspacesClient#GetSharedKeys: Failure responding to request: StatusCode=404 -- Original Error: autorest/azure: Service returned an error. Status=404 Code='ResourceGroupNotFound' Message='Resource group 'rg-logs' could not be found.' See https://aka.ms/aks-disable-monitoring-addon")],
    "ImageReferenceChangeNotAllowed": [(None, "Changing property 'imageReference' is not allowed.")],
    "CannotScaleAutoscalerEnabledNodePool": [(None, "Cannot scale cluster autoscaler enabled node pool.")],
    "AutoscalingRequiresVMSS": [(None, "Node pool nodepool1 has set auto scaling as enabled but isn't on Virtual Machine Scale Sets. See https://aka.ms/aks-vmss-enablement")],
    "ErrorCode_Windows2019NotSupportedWithGen2VM": [("ErrorCode_Windows2019NotSupportedWithGen2VM", "Standard_D4ads_v6 is a Gen 2-only VM. Windows2019 does not support Gen 2 VMs.")],
    "VMCannotFitEphemeralOSDisk": [("VMCannotFitEphemeralOSDisk", "The virtual machine size Standard_D8ds_v4 has a cache size of 214748364800 bytes and temporary disk size of 322122547200 bytes, but the OS disk requires 332859965440 bytes. Use a VM size with larger cache, larger temp disk, or disable ephemeral OS.")],
    "AKSAutomaticValidation": [(None, "AKS Automatic could not find a suitable VM size. The subscription may not have the required quota of 16 vCPUs, may have restrictions, or location 'westus' may not support three availability zones.")],
    "InUseRouteTableCannotBeDeleted": [("InUseRouteTableCannotBeDeleted", "Route table /subscriptions/0000/resourceGroups/MC_rg_aks_eastus/providers/Microsoft.Network/routeTables/aks-agentpool-rt is in use and cannot be deleted.")],
    "CannotDeleteLoadBalancerWithPrivateLinkService": [("CannotDeleteLoadBalancerWithPrivateLinkService", "Load balancer kubernetes-internal cannot be deleted since it is referenced by private link service pls-aks. Please delete private link service prior to deleting load balancer.")],
    "PrivateLinkServiceWithPrivateEndpointConnectionsCannotBeDeleted": [("PrivateLinkServiceWithPrivateEndpointConnectionsCannotBeDeleted", "Private link service pls-aks cannot be deleted since it has 1 private endpoint connections.")],
    "PublicIPAddressCannotBeDeleted": [("PublicIPAddressCannotBeDeleted", "Public IP address /subscriptions/0000/resourceGroups/MC_rg_aks_eastus/providers/Microsoft.Network/publicIPAddresses/pip-egress can not be deleted since it is still allocated to resource /subscriptions/0000/resourceGroups/MC_rg_aks_eastus/providers/Microsoft.Network/loadBalancers/kubernetes/frontendIPConfigurations/fe1. In order to delete the public IP, disassociate/detach the Public IP address from the resource.")],
    "InUseSubnetCannotBeDeleted": [("InUseSubnetCannotBeDeleted", "Subnet snet-aks is in use by /subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-aks/serviceAssociationLinks/AppServiceLink and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.")],
    "InUseNetworkSecurityGroupCannotBeDeleted": [("InUseNetworkSecurityGroupCannotBeDeleted", "Network security group nsg-aks cannot be deleted because it is in use by the following resources: /subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-aks. In order to delete the Network security group, remove the association with the resource(s).")],
    "LoadBalancerInUseByVirtualMachineScaleSet": [("LoadBalancerInUseByVirtualMachineScaleSet", "Cannot delete load balancer /subscriptions/0000/resourceGroups/MC_rg/providers/Microsoft.Network/loadBalancers/kubernetes since its child resources aksOutboundBackendPool, kubernetes are in use by virtual machine scale set aks-nodepool1-123-vmss.")],
    "NetworkSecurityGroupInUseByVirtualMachineScaleSet": [("NetworkSecurityGroupInUseByVirtualMachineScaleSet", "Cannot delete network security group aks-agentpool-123-nsg since it is in use by virtual machine scale set aks-nodepool1-123-vmss.")],
    "VMExtensionProvisioningError": [("VMExtensionProvisioningError", "VM has reported a failure when processing extension 'vmssCSE' (publisher 'Microsoft.Azure.Extensions' and type 'CustomScript'). Error message: \"Enable failed: failed to execute command: command terminated with exit status=34\". More information on troubleshooting is available at https://aka.ms/VMExtensionCSELinuxTroubleshoot")],
    "VMExtensionError_OutboundConnFail": [("VMExtensionProvisioningError", "Unable to establish outbound connection from agents, please see https://learn.microsoft.com/en-us/troubleshoot/azure/azure-kubernetes/error-code-outboundconnfailvmextensionerror and https://aka.ms/aks-required-ports-and-addresses for more information. Details: instance 0 has extension error details : {vmssCSE error messages : {vmssCSE exit status=50, output=pt/apt.conf.d/95proxy ... nc: connect to mcr.microsoft.com port 443 (tcp) failed: Connection timed out}}")],
    "VMExtensionError_K8SAPIServerConnFail": [("VMExtensionProvisioningError", "VM has reported a failure when processing extension 'vmssCSE'. Error message: \"Enable failed: failed to execute command: command terminated with exit status=51\n[stdout]\n{ \"ExitCode\": \"51\", \"Output\": \"curl: (28) Failed to connect to aks-prod-dns-1a2b3c4d.hcp.centralus.azmk8s.io port 443: Connection timed out\" }\""),
                                              (None, "CSE failed with 'VMExtensionError_K8SAPIServerConnFail', which means agents are unable to establish connection to Kubernetes API server. Connection refused. Please see https://aka.ms/aks/vmextensionerror_k8sapiserverconnfail for more information.")],
    "VMExtensionError_K8SAPIServerDNSLookupFail": [("VMExtensionProvisioningError", "Agents are unable to resolve Kubernetes API server name. It's likely custom DNS server is not correctly configured, please see https://aka.ms/aks/private-cluster#hub-and-spoke-with-custom-dns for more information. Details: instance 0 has extension error details : {vmssCSE error messages : {vmssCSE exit status=52, output=** server can't find aks-prod-1a2b3c.privatelink.eastus.azmk8s.io: NXDOMAIN}}")],
    "VMExtensionError_K8SDownloadTimeout": [(None, "CSE failed with 'VMExtensionError_K8SDownloadTimeout'. AKS node provisioning failed due to a timeout downloading Kubernetes binaries from https://acs-mirror.azureedge.net/kubernetes/v1.29.4/binaries/kubernetes-node-linux-amd64.tar.gz. curl: (6) Could not resolve host: acs-mirror.azureedge.net. See https://aka.ms/aks/vmextensionerror_k8sdownloadtimeout")],
    "VMExtensionError_CniDownloadTimeout": [("VMExtensionProvisioningError", "VM has reported a failure when processing extension 'vmssCSE'. Error message: \"Enable failed: failed to execute command: command terminated with exit status=41\n[stdout]\n{ \"ExitCode\": \"41\", \"Output\": \"Failed in downloading azure-vnet-cni-linux-amd64-v1.5.38.tgz: curl: (28) Connection timed out after 10001 milliseconds\" }\"")],
    "VMExtensionError_VHDFileNotFound": [(None, "CSE failed with 'VMExtensionError_VHDFileNotFound'. There was a connectivity issue between your cluster and required azure endpoints. command terminated with exit status=65")],
    "OrasPullNetworkTimeoutVMExtensionError": [("VMExtensionProvisioningError", "Bootstrap Container Registry is not reachable. Enable failed: failed to execute command: command terminated with exit status=211")],
    "OrasPullUnauthorizedVMExtensionError": [("VMExtensionProvisioningError", "Bootstrap Container Registry authorization failed. Please ensure kubelet identity has pull access to the registry. Enable failed: failed to execute command: command terminated with exit status=212")],
    "WINDOWS_CSE_ERROR_CHECK_API_SERVER_CONNECTIVITY": [("VMExtensionProvisioningError", "VM has reported a failure when processing extension 'vmssCSE' (publisher 'Microsoft.Compute' and type 'CustomScriptExtension'). Error message: \"Command execution finished, but failed because it returned a non-zero exit code of: '1'. The command had an error output of: 'ExitCode: |5|, Output: |WINDOWS_CSE_ERROR_CHECK_API_SERVER_CONNECTIVITY|, Error: |Failed to connect to API server aks-win-dns-9a8b7c.hcp.westus2.azmk8s.io: Connection timed out|'\"")],
    "VMExtensionProvisioningTimeout": [("VMExtensionProvisioningError", "Provisioning of VM extension vmssCSE has timed out. Extension provisioning has taken too long to complete. The extension did not report a message. More information on troubleshooting is available at https://aka.ms/VMExtensionCSELinuxTroubleshoot. Category: ClientError; SubCode: VMExtensionProvisioningTimeout; Retriable: true")],
    "AgentPoolOperationWrappers": [("UpgradeVMSSAgentPoolFailed", "The resource operation completed with terminal provisioning state 'Failed'.")],
    "FailedToFixNodeGroupSizes": [(None, "Failed to fix node group sizes: failed to decrease aks-nodepool1-12345678-vmss: attempt to delete existing nodes targetSize:3 delta:-1 existingNodes: 4")],
    "UpgradeBlockedByNSG": [(None, "Upgrade of agent pool nodepool1 failed: a custom network security group rule in the node resource group blocks outbound internet traffic the upgrade needs.")],
    "KubernetesIoLabelsUpgrade116": [(None, "Upgrade to Kubernetes 1.16 failed: node labels with the kubernetes.io prefix are not allowed by kubelet; create a new node pool without them.")],
}

# Fragments for the two message-only entries the reference has no text for (our wording of the
# symptom the article describes), so their examples can classify.
EXTRA_PATTERNS.setdefault("UpgradeBlockedByNSG", []).extend([("network security group rule", 2),
                                                            ("blocks outbound internet traffic", 3)])
EXTRA_PATTERNS.setdefault("KubernetesIoLabelsUpgrade116", []).extend([("kubernetes.io prefix", 3),
                                                                     ("node labels with the kubernetes.io", 3)])
EXTRA_PATTERNS.setdefault("PreConditionFailed", []).extend([("If-Match", 3), ("eTag", 1)])
EXTRA_PATTERNS.setdefault("AgentCountNotMatch", []).extend([("changed outside of AKS", 2)])
EXTRA_PATTERNS.setdefault("ReadOnlyDisabledSubscription", []).extend([("marked as read only", 3)])
EXTRA_PATTERNS.setdefault("ResourceLocked", []).extend([("are locked", 3), ("remove the lock", 3)])
EXTRA_PATTERNS.setdefault("ResourceGroupQuotaExceeded", []).extend([("resource groups per subscription", 3)])
EXTRA_PATTERNS.setdefault("PublicIpPrefixOutOfIpAddressesForVMScaleSet", []).extend(
    [("Public IP prefix * does not have enough free addresses", 3)])
EXTRA_PATTERNS.setdefault("ControlPlaneAPIServerNotReady", []).extend([("API server of the managed cluster is not ready", 3)])
EXTRA_PATTERNS.setdefault("PrivateLinkServiceWithPrivateEndpointConnectionsCannotBeDeleted", []).extend(
    [("cannot be deleted since it has * private endpoint connection", 3)])
EXTRA_PATTERNS.setdefault("ControlPlaneAddOnsNotReady", []).extend([("Pods not in Running status", 3)])
EXTRA_PATTERNS.setdefault("NodesNotReady", []).extend([("are not ready after upgrade", 2)])

# Entries with no documented message text: only the code identifies them, so their examples are not
# expected to classify from the message alone.
CODE_ONLY_EXAMPLES = {"AgentCountNotMatch", "OperationBlockedByNodeDisruptionPolicy", "InternalOperationError",
                      "NodesNotReady", "ReconcileMachineFailed", "AgentPoolOperationWrappers"}

SEVERITY = {
    "capacity": "error", "allocation": "error", "quota": "error", "throttling": "warning",
    "operation-conflict": "warning", "platform": "warning", "wrapper": "error", "delete-dependency": "error",
    "control-plane": "critical", "node": "critical", "cse-network": "critical", "cse-dns": "critical",
    "cse-network-isolated": "critical", "cse-timeout": "critical", "cse-wrapper": "critical",
}
# Entries the issue states are transient regardless of the reference's "mixed" (retry is the advice).
TRANSIENT_OVERRIDE = {"AKSCapacityHeavyUsage": "true", "AKSCapacityError": "true"}

DOC_HOSTS = ("https://learn.microsoft.com/", "https://aka.ms/")
# The reference found no AKS article for these; the general Azure doc on the feature is the best link.
EXTRA_DOCS = {"VMCannotFitEphemeralOSDisk": ["https://learn.microsoft.com/azure/virtual-machines/ephemeral-os-disks"]}


def _clean_alias(alias: str) -> str | None:
    if alias in ALIAS_DROP:
        return None
    base = re.sub(r"\s*\(.*\)\s*$", "", alias).strip()
    if not base or " " in base or "/" in base or not re.fullmatch(r"[A-Za-z0-9_]+", base):
        return None
    return base


def _https(url: str) -> str:
    if url.startswith("http://"):
        url = "https://" + url[len("http://"):]
    return url


def _docs(entry: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for d in [*entry["docs"], *entry.get("see_also", [])]:
        url = d.get("url")
        if isinstance(url, str) and url.startswith(DOC_HOSTS) and url not in out:
            out.append(url)
    for url in [*entry.get("aka_ms", []), *entry.get("urls_seen_in_error_messages", [])]:
        url = _https(url.split()[0])  # drop annotations such as "(seen in newer messages)"
        url = url.split("/#", 1)[0] if "<" in url else url
        if url.startswith(DOC_HOSTS) and "<" not in url and url not in out:
            out.append(url)
    out.extend(u for u in EXTRA_DOCS.get(entry["id"], []) if u not in out)
    return out


def _is_code_pattern(text: str, codes: set[str]) -> bool:
    """Fragments that only name the code (`Code="X"`, `SubCode: X`, bare X): code evidence, not text."""
    m = re.fullmatch(r"""(?:(?:internalErrorCode|SubCode|Code|"code")\s*[:=]\s*["']?)?\(?([A-Za-z0-9_]+)\)?["']?""",
                     text.strip())
    return bool(m and m.group(1).lower() in codes)


def _is_exit_pattern(text: str) -> bool:
    return bool(re.search(r"(?i)exit\s*(status|code)|ExitCode", text))


def _patterns(entry: dict[str, Any], codes: set[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    eid = entry["id"]
    for text in entry["message_patterns"]:
        if text in WRAPPER_PATTERNS or _is_code_pattern(text, codes) or _is_exit_pattern(text):
            continue
        if (text in SHARED_PRIMARY and SHARED_PRIMARY[text] != eid) or text in WEAK_PATTERNS:
            weight = 1
        elif text.startswith("https://aka.ms/") or len(text) >= 28:
            weight = 3
        elif len(text) >= 16:
            weight = 2
        else:
            weight = 1
        if text.lower() not in seen:
            seen.add(text.lower())
            out.append({"text": text, "weight": weight})
    for text, weight in EXTRA_PATTERNS.get(eid, []):
        if text.lower() not in seen:
            seen.add(text.lower())
            out.append({"text": text, "weight": weight})
    return out


def _slug(cause_id: str) -> str:
    return cause_id.replace("-", "_")


def _subcategories(entry: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    eid = entry["id"]
    if eid in CONN_CHECKS:
        order = _ORDER_51 if eid in ("VMExtensionError_K8SAPIServerConnFail",
                                     "WINDOWS_CSE_ERROR_CHECK_API_SERVER_CONNECTIVITY") else _ORDER_GENERIC
        if eid == "VMExtensionError_K8SAPIServerDNSLookupFail":
            order = ["dns", "timeout"]
        subs = []
        for sub in order:
            match = list(_CONN_MATCH[sub])
            if eid == "VMExtensionError_K8SAPIServerDNSLookupFail" and sub == "dns":
                match += ["REFUSED", "unable to resolve"]
            subs.append({"id": sub, "match": match, "weak_match": _CONN_WEAK[sub],
                         "cause": CONN_CAUSE.get(eid, {}).get(sub),
                         "checks": CONN_CHECKS[eid].get(sub, CONN_CHECKS[eid]["none"]),
                         # Every connectivity sub-cause needs a network fix, except the one documented
                         # transient case ("Connection refused" while the API server starts).
                         "transient": CONN_TRANSIENT.get((eid, sub), "false")})
        return subs, "none"
    subs = []
    by_cause: dict[str, dict[str, Any]] = {}
    for sp in entry["diagnostic_sub_patterns"]:
        cause = sp["cause"]
        sid = _slug(cause)
        if sid not in by_cause:
            trans = next((c["transience"] for c in entry["causes"] if c["id"] == cause), None)
            by_cause[sid] = {"id": sid, "match": [], "cause": cause,
                             "checks": CAUSE_CHECKS.get((eid, cause), CHECKS.get(eid, [])),
                             "transient": TRANSIENCE.get(trans) if trans else None}
            subs.append(by_cause[sid])
        by_cause[sid]["match"].extend(p.strip() for p in sp["match"].split("|") if p.strip())
    for cause, fragments in EXTRA_SUBCATEGORIES.get(eid, []):
        trans = next((c["transience"] for c in entry["causes"] if c["id"] == cause), None)
        subs.append({"id": _slug(cause), "match": fragments, "cause": cause,
                     "checks": CAUSE_CHECKS.get((eid, cause), CHECKS.get(eid, [])),
                     "transient": TRANSIENCE.get(trans) if trans else None})
    return subs, None


def build(ref: dict[str, Any]) -> dict[str, Any]:
    all_codes: set[str] = set()
    for e in ref["entries"]:
        if e["code"]:
            all_codes.add(e["code"].lower())
        for a in e["aliases"]:
            c = _clean_alias(a)
            if c:
                all_codes.add(c.lower())

    entries: list[dict[str, Any]] = []
    for e in ref["entries"]:
        eid = e["id"]
        ref_code = e["code"] if e["code"] and not e["code"].startswith("<") else None
        code = CANONICAL_CODE.get(eid) or ref_code or eid
        variants = VARIANT_CODES.get(eid, [])
        aliases: list[str] = []
        for a in [*( [ref_code] if ref_code and ref_code != code else []), *e["aliases"]]:
            c = _clean_alias(a) if a else None
            if not c or c.lower() == code.lower() or c in variants or c in GENERIC_CODES or c in WRAPPER_CODES:
                continue
            if c not in aliases:
                aliases.append(c)
        subs, default_sub = _subcategories(e)
        role = "wrapper" if eid in ("VMExtensionProvisioningError", "AgentPoolOperationWrappers") else "cause"
        transient = TRANSIENT_OVERRIDE.get(eid) or TRANSIENCE[e["transience"]]
        causes = []
        for c in e["causes"]:
            causes.append({"id": c["id"], "text": c["text"], "transient": TRANSIENCE.get(c["transience"], "depends"),
                           "checks": CAUSE_CHECKS.get((eid, c["id"]), [])})
        linux_exit = [e["cse_exit_status"]] if e["cse_exit_status"] is not None and eid != \
            "WINDOWS_CSE_ERROR_CHECK_API_SERVER_CONNECTIVITY" else []
        windows_exit = [5] if eid == "WINDOWS_CSE_ERROR_CHECK_API_SERVER_CONNECTIVITY" else []
        if eid == "VMExtensionError_CniDownloadTimeout":
            windows_exit = [35]
            aliases.append("WINDOWS_CSE_ERROR_DOWNLOAD_CNI_PACKAGE")
        if eid == "VMExtensionError_VHDFileNotFound":
            linux_exit = [65, 124]
        examples = [{"code": c, "message": m, "message_only": eid not in CODE_ONLY_EXAMPLES}
                    for c, m in EXAMPLES.get(eid, [])]
        if not examples:
            raise SystemExit(f"no example for {eid}")
        entries.append({
            "id": eid,
            "code": code,
            "documented": bool(e["code_documented_in_microsoft_docs"]),
            "title": TITLES[eid],
            "category": e["family"],
            "severity": SEVERITY.get(e["family"], "error"),
            "transient": transient,
            "role": role,
            "operations": e["operations"],
            "aliases": aliases,
            "variant_codes": variants,
            "code_regexes": CODE_REGEXES.get(eid, []),
            "generic_hosts": GENERIC_HOSTS.get(eid, []),
            "supersedes": SUPERSEDES.get(eid, []),
            "related": [r for r in e["related"] if isinstance(r, str)],
            "linux_exit_statuses": linux_exit,
            "windows_exit_statuses": windows_exit,
            "patterns": _patterns(e, all_codes),
            "subcategories": subs,
            "default_subcategory": default_sub,
            "causes": causes,
            "checks": CHECKS[eid],
            "guidance": GUIDANCE.get(eid) or e["retry_or_fix"],
            "docs": _docs(e),
            "examples": examples,
        })

    entries.append({
        "id": "Unclassified", "code": "Unknown", "documented": False,
        "title": "Error not in the catalog", "category": "unknown", "severity": "error",
        "transient": "depends", "role": "fallback", "operations": [], "aliases": [], "variant_codes": [],
        "code_regexes": [], "generic_hosts": [], "supersedes": [], "related": [], "linux_exit_statuses": [],
        "windows_exit_statuses": [], "patterns": [], "subcategories": [], "default_subcategory": None,
        "causes": [], "checks": ["cluster_state"],
        "guidance": ("No catalog rule matched. Read the innermost error message; check the cluster and node pool "
                     "provisioning state and retry once if the message suggests a transient problem."),
        "docs": ["https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/aks-error-code-page",
                 "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/availability-performance/"
                 "cluster-node-virtual-machine-failed-state"],
        "examples": [],
    })

    cse = ref["cse_exit_codes"]
    linux = [{"status": c["exit_status"], "name": c["constant"], "meaning": c.get("description") or "",
              "entry_id": c.get("catalog_entry")} for c in cse["linux"]["codes"]]
    windows = [{"status": c["exit_status"], "name": c["constant"],
                "meaning": c["constant"].removeprefix("WINDOWS_CSE_ERROR_").replace("_", " ").lower(),
                "entry_id": c.get("catalog_entry")} for c in cse["windows"]["codes"]]
    for row in windows:
        if row["status"] == 35:
            row["entry_id"] = "VMExtensionError_CniDownloadTimeout"

    return {
        "version": 1,
        "source": {
            "reference": "shared/reference/aks-error-catalog.json",
            "reference_counts": ref["counts"],
            "agentbaker_linux": cse["linux"]["source"]["url"] + " @ " + cse["linux"]["source"]["version"],
            "agentbaker_windows": cse["windows"]["source"]["url"] + " @ " + cse["windows"]["source"]["version"],
        },
        "connectivity_subcategories": CONNECTIVITY_VOCAB,
        "wrapper_codes": WRAPPER_CODES,
        "generic_codes": GENERIC_CODES,
        "entries": entries,
        "cse_exit_statuses": {"linux": linux, "windows": windows},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, default=DEFAULT_REF)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    ref = json.loads(args.reference.read_text(encoding="utf-8"))
    catalog = build(ref)
    args.out.write_text(json.dumps(catalog, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(catalog['entries'])} entries)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
