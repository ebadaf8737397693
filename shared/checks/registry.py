"""THE list of checks. Adding a check = one module, one line here, one test file.

Network engineers add their lines in the first block, platform checks in the second; keep one
import and one mapping entry per check so a diff shows exactly what was added.
"""

from __future__ import annotations

from typing import Any

from shared.checklib.base import CheckSpec

# --- network / connectivity checks ---
# (lines added by the checks modules: `from shared.checks import x` + `x.SPEC,` below)
# isort: off
from shared.checks import api_authorized_ranges
from shared.checks import apiserver_subnet
from shared.checks import cidr_overlap
from shared.checks import cluster_state
from shared.checks import egress_bootstrap
from shared.checks import firewall_aks_fqdns
from shared.checks import firewall_tls_inspection
from shared.checks import nsg_apiserver_egress
from shared.checks import nsg_vnet_integration
from shared.checks import outbound_connectivity
from shared.checks import private_dns_zone_link
from shared.checks import private_endpoint_apiserver
from shared.checks import route_apiserver
from shared.checks import vnet_custom_dns
# isort: on

# --- platform checks (capacity, quota, identity, policy, versions) ---
# isort: off
from shared.checks import capacity_history
from shared.checks import feature_registration
from shared.checks import identity_role_assignments
from shared.checks import identity_subnet_permissions
from shared.checks import kubernetes_version
from shared.checks import node_resource_group
from shared.checks import node_subnet_capacity
from shared.checks import policy_denial
from shared.checks import provider_registration
from shared.checks import public_ip_quota
from shared.checks import resource_locks
from shared.checks import service_principal_credentials
from shared.checks import sku_availability
from shared.checks import vcpu_quota
# isort: on

_SPECS: tuple[CheckSpec[Any], ...] = (
    # --- network specs ---
    cluster_state.SPEC,
    api_authorized_ranges.SPEC,
    nsg_apiserver_egress.SPEC,
    nsg_vnet_integration.SPEC,
    route_apiserver.SPEC,
    firewall_aks_fqdns.SPEC,
    firewall_tls_inspection.SPEC,
    private_endpoint_apiserver.SPEC,
    private_dns_zone_link.SPEC,
    vnet_custom_dns.SPEC,
    apiserver_subnet.SPEC,
    cidr_overlap.SPEC,
    outbound_connectivity.SPEC,
    egress_bootstrap.SPEC,
    # --- platform specs ---
    identity_subnet_permissions.SPEC,
    identity_role_assignments.SPEC,
    service_principal_credentials.SPEC,
    feature_registration.SPEC,
    provider_registration.SPEC,
    policy_denial.SPEC,
    node_resource_group.SPEC,
    resource_locks.SPEC,
    capacity_history.SPEC,
    node_subnet_capacity.SPEC,
    vcpu_quota.SPEC,
    public_ip_quota.SPEC,
    sku_availability.SPEC,
    kubernetes_version.SPEC,
)

REGISTRY: dict[str, CheckSpec[Any]] = {spec.id: spec for spec in _SPECS}
CHECK_IDS: frozenset[str] = frozenset(REGISTRY)
