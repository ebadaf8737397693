"""Pure helpers for the platform checks: ARM ids, role definitions, VM sizes, versions, facts.

Nothing here does I/O. ARM ids compare case-insensitively; state strings ("Registered",
"registered") are compared with casefold(); absent fields come back as None, never KeyError.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared import armid
from shared.models import ErrorFacts

# --- generic body access -----------------------------------------------------------------------


def dig(body: Any, path: str) -> Any:
    """body["a"]["b"]... for path "a.b"; None when any step is missing or not an object."""
    cur = body
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def same(a: str | None, b: str | None) -> bool:
    """Case-insensitive equality for ARM ids, names and state strings (None never equals)."""
    if a is None or b is None:
        return False
    return a.strip().rstrip("/").casefold() == b.strip().rstrip("/").casefold()


def state_is(value: Any, expected: str) -> bool:
    return isinstance(value, str) and value.strip().casefold() == expected.casefold()


def _facts_value(facts: ErrorFacts, key: str) -> Any:
    """A named fact, read off the typed ErrorFacts. Unknown names raise: a check must not wait for
    a fact the classifier never produces."""
    quota = facts.quota
    names: dict[str, Callable[[], Any]] = {
        "region": lambda: facts.region, "location": lambda: facts.region,
        "vm_size": lambda: facts.vm_size, "vm_sizes": lambda: facts.vm_sizes,
        "quota_family": lambda: quota.family if quota else None,
        "quota_requested": lambda: quota.requested if quota else None,
        "quota_limit": lambda: quota.limit if quota else None,
        "quota_usage": lambda: quota.usage if quota else None,
        "requested_version": lambda: facts.requested_version,
        "requested_pool_version": lambda: facts.requested_pool_version,
        "current_version": lambda: facts.current_version,
        "policy_assignment_ids": lambda: facts.ids("policy_assignment"),
        "features": lambda: facts.features, "provider_namespaces": lambda: facts.provider_namespaces,
        "api_server_ip": lambda: facts.api_server_ip, "node_ip": lambda: facts.node_ip,
        "subnet_ids": lambda: facts.ids("subnet"), "principal_id": lambda: facts.principal_id,
    }
    if key not in names:
        raise KeyError(f"ErrorFacts has no fact named {key!r}")
    return names[key]()


def fact(facts: ErrorFacts, *keys: str) -> Any:
    """First non-empty fact among `keys`."""
    for k in keys:
        v = _facts_value(facts, k)
        if v is None or v == "" or v == [] or v == ():
            continue
        return v
    return None


def fact_strings(facts: ErrorFacts, *keys: str) -> list[str]:
    """All string values under `keys`, whether a fact is a string or a list of strings."""
    out: list[str] = []
    for k in keys:
        v = _facts_value(facts, k)
        items = v if isinstance(v, list | tuple) else [v]
        for item in items:
            if isinstance(item, str) and item.strip() and item.strip() not in out:
                out.append(item.strip())
    return out


def fact_int(facts: ErrorFacts, *keys: str) -> int | None:
    for k in keys:
        v = as_int(_facts_value(facts, k))
        if v is not None:
            return v
    return None


# --- ARM ids -----------------------------------------------------------------------------------



def subscription_of(resource_id: str) -> str | None:
    return armid.subscription_of(resource_id)


def resource_group_of(resource_id: str) -> str | None:
    return armid.resource_group_of(resource_id)


def name_of(resource_id: str) -> str:
    return armid.name_of(resource_id)


def rg_id(subscription_id: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"


def parent_of(resource_id: str) -> str:
    """The enclosing resource of a child id (subnet -> vnet); the id itself when it has no parent."""
    parsed = armid.parse(resource_id)
    if parsed is not None and len(parsed.names) > 1 and parsed.parent:
        return parsed.parent
    return resource_id


def is_resource_id(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith("/subscriptions/")


def scope_covers(scope: str, resource_id: str) -> bool:
    """True when an assignment/lock at `scope` applies to `resource_id` (segment-wise prefix).

    Root ("/") and management-group scopes can only be returned for a resource when they are
    above it (the list-for-scope APIs return inherited entries), so they count as covering.
    """
    s = scope.strip().rstrip("/").casefold()
    r = resource_id.strip().rstrip("/").casefold()
    if s == "" or s.startswith("/providers/microsoft.management/managementgroups/"):
        return True
    return r == s or r.startswith(s + "/")


def scope_level(scope: str) -> str:
    s = scope.strip().rstrip("/").casefold()
    if s == "" or s == "/":
        return "root"
    if s.startswith("/providers/microsoft.management/managementgroups/"):
        return "management group"
    parts = s.split("/")
    if len(parts) == 3:
        return "subscription"
    if len(parts) == 5 and parts[3] == "resourcegroups":
        return "resource group"
    return "resource"


# --- role definitions --------------------------------------------------------------------------

OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
PRIVATE_DNS_ZONE_CONTRIBUTOR = "b12aa53e-6015-4669-85d0-8515ebb3ae7f"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"


@dataclass(frozen=True)
class Permission:
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoleDef:
    guid: str
    name: str
    permissions: tuple[Permission, ...]


# Built-in definitions (control-plane actions only; data actions are irrelevant here).
BUILTIN_ROLES: dict[str, RoleDef] = {
    OWNER: RoleDef(OWNER, "Owner", (Permission(("*",)),)),
    CONTRIBUTOR: RoleDef(CONTRIBUTOR, "Contributor", (Permission(
        ("*",),
        ("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
         "Microsoft.Authorization/elevateAccess/Action", "Microsoft.Blueprint/blueprintAssignments/write",
         "Microsoft.Blueprint/blueprintAssignments/delete", "Microsoft.Compute/galleries/share/action",
         "Microsoft.Purview/consents/write", "Microsoft.Purview/consents/delete")),)),
    NETWORK_CONTRIBUTOR: RoleDef(NETWORK_CONTRIBUTOR, "Network Contributor", (Permission((
        "Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Network/*",
        "Microsoft.ResourceHealth/availabilityStatuses/read", "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*")),)),
    PRIVATE_DNS_ZONE_CONTRIBUTOR: RoleDef(PRIVATE_DNS_ZONE_CONTRIBUTOR, "Private DNS Zone Contributor", (Permission((
        "Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*",
        "Microsoft.Network/privateDnsZones/*", "Microsoft.Network/privateDnsOperationResults/*",
        "Microsoft.Network/privateDnsOperationStatuses/*", "Microsoft.Network/virtualNetworks/read",
        "Microsoft.Network/virtualNetworks/join/action")),)),
    READER: RoleDef(READER, "Reader", (Permission(("*/read",)),)),
    MANAGED_IDENTITY_OPERATOR: RoleDef(MANAGED_IDENTITY_OPERATOR, "Managed Identity Operator", (Permission((
        "Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
        "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.Authorization/*/read",
        "Microsoft.Insights/alertRules/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Resources/deployments/*", "Microsoft.Support/*")),)),
}

SUBNET_JOIN_ACTIONS = ("Microsoft.Network/virtualNetworks/subnets/join/action",
                       "Microsoft.Network/virtualNetworks/subnets/read")
ROUTE_TABLE_ACTIONS = ("Microsoft.Network/routeTables/read", "Microsoft.Network/routeTables/write",
                       "Microsoft.Network/routeTables/routes/read", "Microsoft.Network/routeTables/routes/write")
PRIVATE_DNS_ZONE_ACTIONS = ("Microsoft.Network/privateDnsZones/read", "Microsoft.Network/privateDnsZones/write")
# Standard load balancer outbound IPs / prefixes the customer brings (AKS identity permissions doc).
# A pre-created (BYO) kubelet identity: the control plane must be able to assign it to the nodes.
KUBELET_IDENTITY_ACTIONS = ("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",)
PUBLIC_IP_ACTIONS = ("Microsoft.Network/publicIPAddresses/join/action", "Microsoft.Network/publicIPAddresses/read")
PUBLIC_IP_PREFIX_ACTIONS = ("Microsoft.Network/publicIPPrefixes/join/action", "Microsoft.Network/publicIPPrefixes/read")


def role_guid(role_definition_id: str) -> str:
    return name_of(role_definition_id).casefold()


def role_def_from_body(body: Mapping[str, Any]) -> RoleDef:
    """A Microsoft.Authorization/roleDefinitions GET body -> RoleDef."""
    perms = []
    for p in as_list(dig(body, "properties.permissions")):
        if isinstance(p, Mapping):
            perms.append(Permission(
                tuple(a for a in as_list(p.get("actions")) if isinstance(a, str)),
                tuple(a for a in as_list(p.get("notActions")) if isinstance(a, str)),
            ))
    guid = role_guid(str(body.get("id") or body.get("name") or ""))
    return RoleDef(guid, str(dig(body, "properties.roleName") or guid), tuple(perms))


def _action_matches(pattern: str, action: str) -> bool:
    """ARM action wildcards: `*` matches any text, `/` included; a whole `/*/` segment may also match
    nothing (`userAssignedIdentities/*/assign/action` allows `userAssignedIdentities/assign/action`)."""
    rx = "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"
    if re.match(rx, action, re.IGNORECASE):
        return True
    if "/*/" in pattern:
        return _action_matches(pattern.replace("/*/", "/", 1), action)
    return False


def grants(role: RoleDef, action: str) -> bool:
    """Whether one permission block allows `action` and does not exclude it (ARM semantics)."""
    for p in role.permissions:
        if any(_action_matches(a, action) for a in p.actions) and not any(
                _action_matches(n, action) for n in p.not_actions):
            return True
    return False


def grants_all(role: RoleDef, actions: Iterable[str]) -> bool:
    return all(grants(role, a) for a in actions)


@dataclass(frozen=True)
class Assignment:
    id: str
    scope: str
    role_guid: str
    role_definition_id: str
    principal_id: str


def assignments_for(body: Mapping[str, Any], principal_id: str, target: str) -> list[Assignment]:
    """Role assignments in a list-for-scope body that belong to `principal_id` and cover `target`."""
    out = []
    for item in as_list(body.get("value")):
        props = item.get("properties") if isinstance(item, Mapping) else None
        if not isinstance(props, Mapping):
            continue
        pid = as_str(props.get("principalId"))
        rdid = as_str(props.get("roleDefinitionId"))
        scope = props.get("scope")
        if not same(pid, principal_id) or rdid is None or not isinstance(scope, str):
            continue
        if not scope_covers(scope, target):
            continue
        out.append(Assignment(str(item.get("id") or ""), scope, role_guid(rdid), rdid, str(pid)))
    return out


# --- VM sizes and quota families ---------------------------------------------------------------

# Sizes whose vCPU count is not the number in the name, or whose family is irregular.
_SIZE_TABLE: dict[str, tuple[str, int]] = {
    "standard_ds1_v2": ("standardDSv2Family", 1), "standard_ds2_v2": ("standardDSv2Family", 2),
    "standard_ds3_v2": ("standardDSv2Family", 4), "standard_ds4_v2": ("standardDSv2Family", 8),
    "standard_ds5_v2": ("standardDSv2Family", 16),
    "standard_d1_v2": ("standardDv2Family", 1), "standard_d2_v2": ("standardDv2Family", 2),
    "standard_d3_v2": ("standardDv2Family", 4), "standard_d4_v2": ("standardDv2Family", 8),
    "standard_d5_v2": ("standardDv2Family", 16),
    "standard_b2s": ("standardBSFamily", 2), "standard_b2ms": ("standardBSFamily", 2),
    "standard_b4ms": ("standardBSFamily", 4), "standard_b8ms": ("standardBSFamily", 8),
    "standard_b12ms": ("standardBSFamily", 12), "standard_b16ms": ("standardBSFamily", 16),
    "standard_b20ms": ("standardBSFamily", 20),
    "standard_f2s_v2": ("standardFSv2Family", 2), "standard_f4s_v2": ("standardFSv2Family", 4),
    "standard_f8s_v2": ("standardFSv2Family", 8), "standard_f16s_v2": ("standardFSv2Family", 16),
    "standard_f32s_v2": ("standardFSv2Family", 32),
}

# Regular v3+ D/E/F names: Standard_<series><vcpus>[-<constrained>]<features>_v<n>
# -> usage name standard<SERIES><FEATURES>v<n>Family (e.g. Standard_D4ds_v5 -> standardDDSv5Family).
_SIZE_RE = re.compile(r"^standard_([def])(\d+)(?:-\d+)?([a-z]*)_v([3-6])$", re.IGNORECASE)


@dataclass(frozen=True)
class VmSize:
    name: str
    family: str | None  # Microsoft.Compute usages name.value
    vcpus: int | None
    source: str  # "table" | "name pattern" | "unknown"


def vm_size_info(size: str) -> VmSize:
    key = size.strip().casefold()
    if key in _SIZE_TABLE:
        fam, cpus = _SIZE_TABLE[key]
        return VmSize(size, fam, cpus, "table")
    m = _SIZE_RE.match(key)
    if m:
        series, vcpus, features, ver = m.groups()
        return VmSize(size, f"standard{series.upper()}{features.upper()}v{ver}Family", int(vcpus), "name pattern")
    return VmSize(size, None, None, "unknown")


@dataclass(frozen=True)
class Usage:
    name: str
    localized: str
    current: int
    limit: int

    @property
    def free(self) -> int:
        return self.limit - self.current


def find_usage(body: Mapping[str, Any], *names: str) -> Usage | None:
    """A usages collection entry by name.value (case-insensitive, spaces ignored)."""
    wanted = {n.replace(" ", "").casefold() for n in names}
    for item in as_list(body.get("value")):
        if not isinstance(item, Mapping):
            continue
        nm = item.get("name")
        value = str(nm.get("value") if isinstance(nm, Mapping) else nm or "")
        localized = str(nm.get("localizedValue") if isinstance(nm, Mapping) else "") or value
        if value.replace(" ", "").casefold() in wanted or localized.replace(" ", "").casefold() in wanted:
            cur, lim = as_int(item.get("currentValue")), as_int(item.get("limit"))
            if cur is not None and lim is not None:
                return Usage(value, localized, cur, lim)
    return None


# --- quota error text (fallback when the classifier gave no facts) ------------------------------

_QUOTA_NUM = {
    "limit": re.compile(r"Current Limit:\s*(\d+)", re.IGNORECASE),
    "usage": re.compile(r"Current Usage:\s*(\d+)", re.IGNORECASE),
    "required": re.compile(r"Additional Required:\s*(\d+)", re.IGNORECASE),
    "new_limit": re.compile(r"New Limit Required:\s*(\d+)", re.IGNORECASE),
}
_QUOTA_FAMILY = re.compile(r"exceeding approved\s+(\S+)\s+Cores quota", re.IGNORECASE)
_QUOTA_REGIONAL = re.compile(r"Total Regional (?:Cores|vCPUs) quota|regional vcpu quota", re.IGNORECASE)
_QUOTA_LOCATION = re.compile(r"Location:\s*([A-Za-z0-9 ]+?)\s*,", re.IGNORECASE)


def quota_from_message(text: str) -> dict[str, Any]:
    """Numbers from a Compute QuotaExceeded message ('Current Limit: 10, Current Usage: 8, ...')."""
    out: dict[str, Any] = {}
    for key, rx in _QUOTA_NUM.items():
        m = rx.search(text)
        if m:
            out[key] = int(m.group(1))
    m = _QUOTA_FAMILY.search(text)
    if m and not _QUOTA_REGIONAL.search(m.group(0)):
        out["family"] = m.group(1)
    if _QUOTA_REGIONAL.search(text):
        out["regional"] = True
    m = _QUOTA_LOCATION.search(text)
    if m:
        out["location"] = normalize_region(m.group(1))
    return out


def normalize_region(name: str) -> str:
    return name.replace(" ", "").casefold()


# --- status messages / error text ---------------------------------------------------------------


def status_message_codes(event: Mapping[str, Any]) -> set[str]:
    """Error codes in an Activity Log event's properties.statusMessage (a JSON string, often nested)."""
    raw = dig(event, "properties.statusMessage")
    codes: set[str] = set()

    def walk(node: Any, depth: int = 0) -> None:
        if depth > 6:
            return
        if isinstance(node, str):
            text = node.strip()
            if text.startswith("{") or text.startswith("["):
                with contextlib.suppress(ValueError):
                    walk(json.loads(text), depth + 1)
            return
        if isinstance(node, Mapping):
            code = node.get("code")
            if isinstance(code, str):
                codes.add(code)
            for v in node.values():
                walk(v, depth + 1)
        elif isinstance(node, list):
            for v in node:
                walk(v, depth + 1)

    walk(raw)
    if isinstance(raw, str):
        codes.update(re.findall(r'Code="([A-Za-z0-9_.]+)"', raw))
    return codes


_POLICY_ASSIGNMENT_RE = re.compile(
    r"(/(?:subscriptions/[^\s\"'/]+(?:/resourceGroups/[^\s\"'/]+)?|providers/Microsoft\.Management/"
    r"managementGroups/[^\s\"'/]+)?/providers/Microsoft\.Authorization/policyAssignments/[^\s\"',}/\\]+)",
    re.IGNORECASE)


def policy_assignment_ids(text: str) -> list[str]:
    out: list[str] = []
    for m in _POLICY_ASSIGNMENT_RE.finditer(text):
        pid = m.group(1).rstrip(".")
        if not any(same(pid, o) for o in out):
            out.append(pid)
    return out


_FEATURE_RES = (
    re.compile(r"feature\s+'?([A-Za-z0-9.]+)/([A-Za-z0-9_.-]+)'?\s+is not enabled", re.IGNORECASE),
    re.compile(r"since feature\s+'([A-Za-z0-9.]+)/([A-Za-z0-9_.-]+)'", re.IGNORECASE),
    re.compile(r"feature\s+'([A-Za-z0-9.]+)/([A-Za-z0-9_.-]+)'", re.IGNORECASE),
)


def features_from_text(text: str) -> list[tuple[str, str]]:
    """(namespace, feature) pairs named in an error message."""
    out: list[tuple[str, str]] = []
    for rx in _FEATURE_RES:
        for ns, name in rx.findall(text):
            if not any(same(ns, a) and same(name, b) for a, b in out):
                out.append((ns, name))
    return out


_DENIED_RES = (
    re.compile(r"object id '([0-9a-fA-F-]{36})'[^\n]*?does not have permission to perform action\(s\) '([^']+)' "
               r"on the linked scope\(s\) '([^']+)'", re.IGNORECASE),
    re.compile(r"object id '([0-9a-fA-F-]{36})' does not have authorization to perform action '([^']+)' "
               r"over scope '([^']+)'", re.IGNORECASE),
)


@dataclass(frozen=True)
class Denied:
    """An AuthorizationFailed / LinkedAuthorizationFailed statement: who may not do what where."""

    principal_id: str
    actions: tuple[str, ...]
    scopes: tuple[str, ...]


def denied_from_text(text: str) -> list[Denied]:
    out: list[Denied] = []
    for rx in _DENIED_RES:
        for pid, actions, scopes in rx.findall(text):
            acts = tuple(a.strip() for a in actions.split(",") if a.strip())
            scs = tuple(s.strip().rstrip(".") for s in scopes.split(",") if s.strip().startswith("/"))
            if acts and scs:
                out.append(Denied(pid.lower(), acts, scs))
    return out


def role_for_actions(actions: Sequence[str]) -> str:
    """The narrowest built-in role this project recommends for the actions an error names."""
    low = [a.casefold() for a in actions]
    if low and all(a.startswith("microsoft.network/privatednszones/") for a in low):
        return "Private DNS Zone Contributor"
    if low and all(a.startswith("microsoft.network/") for a in low):
        return "Network Contributor"
    return "Contributor"


_NAMESPACE_RE = re.compile(r"not registered to use namespace\s+'?([A-Za-z0-9.]+)'?", re.IGNORECASE)


def namespaces_from_text(text: str) -> list[str]:
    out: list[str] = []
    for ns in _NAMESPACE_RE.findall(text):
        ns = ns.rstrip(".")
        if not any(same(ns, o) for o in out):
            out.append(ns)
    return out


# --- Kubernetes versions -----------------------------------------------------------------------


def parse_version(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, str):
        return None
    m = re.match(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?", value)
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


def minor_of(v: tuple[int, ...]) -> tuple[int, int]:
    return (v[0], v[1])


def fmt_minor(v: tuple[int, ...]) -> str:
    return f"{v[0]}.{v[1]}"


# --- IP math -----------------------------------------------------------------------------------

AZURE_RESERVED_IPS_PER_SUBNET = 5


def ipv4_prefix_size(prefix: str) -> int | None:
    """Addresses in an IPv4 CIDR ('10.0.0.0/24' -> 256); None for IPv6 or junk."""
    if ":" in prefix or "/" not in prefix:
        return None
    try:
        bits = int(prefix.rsplit("/", 1)[1])
    except ValueError:
        return None
    if not 0 <= bits <= 32:
        return None
    return int(2 ** (32 - bits))


# --- regions -----------------------------------------------------------------------------------

# Azure region pairs (documented cross-region pairs); the first thing to try when a region is short.
REGION_PAIRS: dict[str, str] = {
    "eastus": "westus", "westus": "eastus", "eastus2": "centralus", "centralus": "eastus2",
    "northcentralus": "southcentralus", "southcentralus": "northcentralus", "westus2": "westcentralus",
    "westcentralus": "westus2", "westus3": "eastus", "canadacentral": "canadaeast", "canadaeast": "canadacentral",
    "northeurope": "westeurope", "westeurope": "northeurope", "uksouth": "ukwest", "ukwest": "uksouth",
    "francecentral": "francesouth", "germanywestcentral": "germanynorth", "swedencentral": "swedensouth",
    "switzerlandnorth": "switzerlandwest", "norwayeast": "norwaywest", "eastasia": "southeastasia",
    "southeastasia": "eastasia", "japaneast": "japanwest", "japanwest": "japaneast",
    "australiaeast": "australiasoutheast", "australiasoutheast": "australiaeast",
    "centralindia": "southindia", "southindia": "centralindia", "koreacentral": "koreasouth",
    "brazilsouth": "southcentralus", "southafricanorth": "southafricawest", "uaenorth": "uaecentral",
}


def first_present(values: Sequence[Any]) -> Any:
    for v in values:
        if v not in (None, "", [], {}):
            return v
    return None
