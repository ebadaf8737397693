"""Order failing checks by how directly they explain the classified error.

Owns: `rank(classification, results)` -> failing check ids, most likely first. Only FAIL counts:
checks that could not run (ERROR: 403/404/throttled/timeout; SKIPPED; NOT_APPLICABLE) say so in
their own result and are neither causes nor passes.

How: the classification picks a *profile* (a weight per check id, 0-100):
1. the sub-category when it names a documented cause (catalog cause ids such as `timeout`,
   `no-route`, `refused`, `nxdomain`, `blocked-egress`, `regional-demand`; `-`/`_`/case ignored),
   except that DNS error codes keep the DNS profile (their `refused`/`timeout` are DNS answers);
2. else the error code (exit 51 -> timeout, 52 -> dns, 50 -> egress, capacity codes, subnet codes …);
3. else the category (the catalog family, e.g. `network-subnet`, `quota`, `cse-dns`);
4. else a general prior.
Ties break on the position in `classification.checks` (the catalog lists checks by relevance),
then on the check id, so the order is deterministic. Checks missing from the profile get the
general prior's weight scaled down, so a profile never hides a failing check, it only orders it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.models import CheckResult, CheckStatus, Classification

Profile = Mapping[str, int]

PROFILES: dict[str, Profile] = {
    # node -> API server "Connection timed out": something silently drops TCP 443.
    "timeout": {"api_authorized_ranges": 100, "nsg_apiserver_egress": 95, "route_apiserver": 90,
                "firewall_aks_fqdns": 85, "nsg_vnet_integration": 80, "private_endpoint_apiserver": 60,
                "apiserver_subnet": 55, "private_dns_zone_link": 50, "outbound_connectivity": 45,
                "vnet_custom_dns": 40, "cluster_state": 20},
    # "No route to host": private endpoint / UDR next hop.
    "no_route": {"private_endpoint_apiserver": 100, "route_apiserver": 95, "nsg_vnet_integration": 70,
                 "apiserver_subnet": 65, "firewall_aks_fqdns": 60, "nsg_apiserver_egress": 50,
                 "outbound_connectivity": 40, "cluster_state": 30, "api_authorized_ranges": 20},
    # "Connection refused": the API server is not listening (stopped / still provisioning).
    "refused": {"cluster_state": 100, "private_endpoint_apiserver": 70, "nsg_vnet_integration": 60,
                "apiserver_subnet": 55, "api_authorized_ranges": 40, "route_apiserver": 35,
                "nsg_apiserver_egress": 30},
    # API server name does not resolve.
    "dns": {"private_dns_zone_link": 100, "vnet_custom_dns": 95, "private_endpoint_apiserver": 60,
            "route_apiserver": 30, "nsg_apiserver_egress": 25, "outbound_connectivity": 20},
    # TLS interception / certificate rewrite on the egress path.
    "tls": {"firewall_aks_fqdns": 100, "route_apiserver": 60, "outbound_connectivity": 40},
    # Node bootstrap cannot reach the internet (exit 50 and download timeouts).
    "egress": {"outbound_connectivity": 100, "firewall_aks_fqdns": 95, "route_apiserver": 85,
               "nsg_apiserver_egress": 70, "vnet_custom_dns": 50, "public_ip_quota": 30,
               "api_authorized_ranges": 20},
    "proxy": {"firewall_aks_fqdns": 60, "outbound_connectivity": 50},
    # The control plane itself could not be reached / did not come up.
    "control_plane": {"private_endpoint_apiserver": 90, "api_authorized_ranges": 85, "cluster_state": 80,
                      "private_dns_zone_link": 70, "nsg_vnet_integration": 65, "apiserver_subnet": 60,
                      "route_apiserver": 50},
    "capacity": {"capacity_history": 100, "vcpu_quota": 40, "apiserver_subnet": 35, "public_ip_quota": 30,
                 "cluster_state": 20},
    "allocation": {"capacity_history": 100, "vcpu_quota": 60, "node_subnet_capacity": 30},
    "quota": {"vcpu_quota": 100, "public_ip_quota": 95, "capacity_history": 50, "node_subnet_capacity": 40},
    "subnet": {"apiserver_subnet": 100, "node_subnet_capacity": 95, "identity_subnet_permissions": 80,
               "nsg_vnet_integration": 40, "route_apiserver": 35, "feature_registration": 30},
    "permissions": {"identity_subnet_permissions": 100, "identity_role_assignments": 95,
                    "service_principal_credentials": 80, "policy_denial": 60, "private_dns_zone_link": 40},
    "identity": {"service_principal_credentials": 100, "identity_role_assignments": 90,
                 "identity_subnet_permissions": 85},
    "policy": {"policy_denial": 100, "identity_role_assignments": 40},
    "registration": {"provider_registration": 100, "feature_registration": 100, "apiserver_subnet": 20},
    "version": {"kubernetes_version": 100, "node_resource_group": 30},
    "node_resource_group": {"node_resource_group": 100, "kubernetes_version": 30},
    # No sub-category, code or category matched: how directly each check usually explains a failure.
    "general": {"apiserver_subnet": 60, "api_authorized_ranges": 58, "private_endpoint_apiserver": 56,
                "route_apiserver": 54, "nsg_apiserver_egress": 52, "nsg_vnet_integration": 50,
                "firewall_aks_fqdns": 48, "private_dns_zone_link": 46, "vnet_custom_dns": 44,
                "outbound_connectivity": 42, "cluster_state": 40, "identity_subnet_permissions": 60,
                "identity_role_assignments": 58, "service_principal_credentials": 56, "policy_denial": 56,
                "vcpu_quota": 55, "public_ip_quota": 54, "node_subnet_capacity": 55, "provider_registration": 52,
                "feature_registration": 52, "capacity_history": 50, "node_resource_group": 45,
                "kubernetes_version": 45},
}

# Catalog cause ids / sub-categories -> profile.
_SUBCATEGORY: dict[str, str] = {
    "timeout": "timeout", "could_not_reach": "timeout", "apiserver_unreachable": "control_plane",
    "no_route": "no_route", "refused": "refused",
    "tls": "tls", "cert": "tls", "certificate": "tls",
    "dns": "dns", "nxdomain": "dns", "servfail": "dns", "dns_timeout": "dns", "private_dns": "dns",
    "first_create_link": "dns",
    "blocked_egress": "egress", "aaaa_blocked": "egress", "egress": "egress", "proxy": "proxy",
    "regional_demand": "capacity", "cluster_shape": "capacity", "non_ea_subscription": "capacity",
    "free_tier_first": "capacity", "capacity": "capacity",
    "ip_exhausted": "subnet", "ip_planning": "subnet", "ip_exhaustion": "subnet", "node_subnet_delegated": "subnet",
    "external_refs": "subnet", "network_invalid": "subnet", "subnet": "subnet", "vnet_integration": "subnet",
}

_DNS_CODES = {"vmextensionerror_k8sapiserverdnslookupfail", "k8sapiserverdnslookupfailvmextensionerror",
              "err_k8s_api_server_dns_lookup_fail"}

_CODE: dict[str, str] = {
    **{c: "timeout" for c in ("vmextensionerror_k8sapiserverconnfail", "k8sapiserverconnfailvmextensionerror",
                              "err_k8s_api_server_conn_fail", "windows_cse_error_check_api_server_connectivity")},
    **{c: "dns" for c in _DNS_CODES},
    **{c: "egress" for c in ("vmextensionerror_outboundconnfail", "outboundconnfailvmextensionerror",
                             "err_outbound_conn_fail", "vmextensionerror_k8sdownloadtimeout",
                             "vmextensionerror_cnidownloadtimeout", "vmextensionerror_vhdfilenotfound",
                             "oraspullnetworktimeoutvmextensionerror")},
    "controlplaneapiservernotready": "control_plane",
    "akscapacityheavyusage": "capacity", "akscapacityerror": "capacity",
    **{c: "allocation" for c in ("zonalallocationfailed", "allocationfailed", "overconstrainedallocationrequest",
                                 "skunotavailable", "availabilityzonenotsupported")},
    **{c: "quota" for c in ("quotaexceeded", "resourcegroupquotaexceeded", "managedclustercountexceedsquotalimit",
                            "publicipcountlimitreached", "publicipprefixoutofipaddressesforvmscaleset")},
    **{c: "subnet" for c in ("subnetisfull", "insufficientsubnetsize", "subnetisdelegated",
                             "subnetwithexternalresourcescannotbeusedbyotherresources")},
    **{c: "permissions" for c in ("linkedauthorizationfailed", "authorizationfailed",
                                  "customprivatednszonemissingpermissionerror")},
    **{c: "identity" for c in ("serviceprincipalvalidationclienterror", "serviceprincipalnotfound",
                               "badrequest.invalidclientsecret")},
    "requestdisallowedbypolicy": "policy",
    "missingsubscriptionregistration": "registration", "featureflagnotenabled": "registration",
    **{c: "version" for c in ("operationnotallowed.upgradepath", "nodepoolmcversionincompatible",
                              "nodeimageversionnotaccepted", "upgradeblockedondeprecatedapiusage")},
}

_CATEGORY: dict[str, str] = {
    "capacity": "capacity", "allocation": "allocation", "quota": "quota", "network_subnet": "subnet",
    "authorization": "permissions", "identity": "identity", "policy": "policy", "subscription": "registration",
    "upgrade_version": "version", "mc_rg_modified": "node_resource_group", "cse_dns": "dns",
    "private_dns": "dns", "cse_network": "egress", "control_plane": "control_plane",
}


def _key(text: str | None) -> str:
    return (text or "").strip().lower().replace("-", "_").replace(" ", "_")


def profile_for(c: Classification) -> str:
    """Name of the weight profile used for this classification."""
    code = (c.code or "").strip().lower()
    entry = (c.entry_id or "").strip().lower()
    if code in _DNS_CODES or c.exit_status == 52:
        return "dns"
    sub = _SUBCATEGORY.get(_key(c.subcategory))
    if sub:
        return sub
    for k in (entry, code):
        if k in _CODE:
            return _CODE[k]
    if c.exit_status == 51 or c.exit_status == 5:
        return "timeout"
    if c.exit_status in (50, 31, 41, 65, 211):
        return "egress"
    if code.endswith("featureflagnotenabled"):
        return "registration"
    cat = _CATEGORY.get(_key(c.category))
    return cat or "general"


def _weight(profile: Profile, check_id: str) -> int:
    if check_id in profile:
        return 1000 + profile[check_id]  # any profile entry outranks a check the profile does not name
    return PROFILES["general"].get(check_id, 0)


def rank(classification: Classification, results: Sequence[CheckResult]) -> tuple[str, ...]:
    """Failing check ids, most likely root cause first (deterministic)."""
    profile = PROFILES[profile_for(classification)]
    listed = {cid: i for i, cid in enumerate(classification.checks)}
    failing = {r.id for r in results if r.status is CheckStatus.FAIL}
    return tuple(sorted(failing, key=lambda cid: (-_weight(profile, cid), listed.get(cid, len(listed)), cid)))
