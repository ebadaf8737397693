"""ARM resource ids: parse, normalise, compare, classify. The one place the app handles id strings.

ARM ids are case-insensitive (`resourceGroups` / `resourcegroups`, `Microsoft.Network` /
`microsoft.network`) but users read them with their original casing, so ids keep their casing and
every comparison goes through `key()` / `same()`. Trailing slashes, surrounding whitespace and a
missing leading slash are tolerated; anything that is not `/subscriptions/...` or
`/providers/Microsoft.Management/managementGroups/...` is not an ARM id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_ID_CHARS = 2048  # ARM's own limit on a resource id is far below this; longer text is not an id


class ResourceKind(StrEnum):
    """The kinds of resource an AKS error or check talks about (provider/type, lower case)."""

    SUBSCRIPTION = "subscription"
    RESOURCE_GROUP = "resource_group"
    MANAGED_CLUSTER = "managed_cluster"
    AGENT_POOL = "agent_pool"
    VNET = "vnet"
    SUBNET = "subnet"
    NSG = "nsg"
    ROUTE_TABLE = "route_table"
    PUBLIC_IP = "public_ip"
    PUBLIC_IP_PREFIX = "public_ip_prefix"
    NAT_GATEWAY = "nat_gateway"
    LOAD_BALANCER = "load_balancer"
    FIREWALL = "firewall"
    PRIVATE_ENDPOINT = "private_endpoint"
    PRIVATE_LINK_SERVICE = "private_link_service"
    PRIVATE_DNS_ZONE = "private_dns_zone"
    NETWORK_INTERFACE = "network_interface"
    VMSS = "vmss"
    IDENTITY = "identity"
    POLICY_ASSIGNMENT = "policy_assignment"
    POLICY_DEFINITION = "policy_definition"
    POLICY_SET_DEFINITION = "policy_set_definition"
    ROLE_ASSIGNMENT = "role_assignment"
    ROLE_DEFINITION = "role_definition"
    LOCK = "lock"
    KEY_VAULT = "key_vault"
    WORKSPACE = "workspace"
    CONTAINER_REGISTRY = "container_registry"
    DISK_ENCRYPTION_SET = "disk_encryption_set"
    MANAGEMENT_GROUP = "management_group"
    OTHER = "other"


# provider/type chain (lower case, child types joined with '/') -> kind
_KINDS: dict[str, ResourceKind] = {
    "microsoft.containerservice/managedclusters": ResourceKind.MANAGED_CLUSTER,
    "microsoft.containerservice/managedclusters/agentpools": ResourceKind.AGENT_POOL,
    "microsoft.network/virtualnetworks": ResourceKind.VNET,
    "microsoft.network/virtualnetworks/subnets": ResourceKind.SUBNET,
    "microsoft.network/networksecuritygroups": ResourceKind.NSG,
    "microsoft.network/routetables": ResourceKind.ROUTE_TABLE,
    "microsoft.network/publicipaddresses": ResourceKind.PUBLIC_IP,
    "microsoft.network/publicipprefixes": ResourceKind.PUBLIC_IP_PREFIX,
    "microsoft.network/natgateways": ResourceKind.NAT_GATEWAY,
    "microsoft.network/loadbalancers": ResourceKind.LOAD_BALANCER,
    "microsoft.network/azurefirewalls": ResourceKind.FIREWALL,
    "microsoft.network/privateendpoints": ResourceKind.PRIVATE_ENDPOINT,
    "microsoft.network/privatelinkservices": ResourceKind.PRIVATE_LINK_SERVICE,
    "microsoft.network/privatednszones": ResourceKind.PRIVATE_DNS_ZONE,
    "microsoft.network/networkinterfaces": ResourceKind.NETWORK_INTERFACE,
    "microsoft.compute/virtualmachinescalesets": ResourceKind.VMSS,
    "microsoft.managedidentity/userassignedidentities": ResourceKind.IDENTITY,
    "microsoft.authorization/policyassignments": ResourceKind.POLICY_ASSIGNMENT,
    "microsoft.authorization/policydefinitions": ResourceKind.POLICY_DEFINITION,
    "microsoft.authorization/policysetdefinitions": ResourceKind.POLICY_SET_DEFINITION,
    "microsoft.authorization/roleassignments": ResourceKind.ROLE_ASSIGNMENT,
    "microsoft.authorization/roledefinitions": ResourceKind.ROLE_DEFINITION,
    "microsoft.authorization/locks": ResourceKind.LOCK,
    "microsoft.keyvault/vaults": ResourceKind.KEY_VAULT,
    "microsoft.operationalinsights/workspaces": ResourceKind.WORKSPACE,
    "microsoft.containerregistry/registries": ResourceKind.CONTAINER_REGISTRY,
    "microsoft.compute/diskencryptionsets": ResourceKind.DISK_ENCRYPTION_SET,
    "microsoft.management/managementgroups": ResourceKind.MANAGEMENT_GROUP,
}


@dataclass(frozen=True)
class ArmId:
    """A parsed ARM id. `text` keeps the caller's casing (normalised slashes); compare with `key`."""

    text: str
    subscription: str | None
    resource_group: str | None
    namespace: str | None  # provider namespace of the innermost /providers/ segment, e.g. Microsoft.Network
    types: tuple[str, ...]  # resource type chain under that namespace, e.g. ("virtualNetworks", "subnets")
    names: tuple[str, ...]  # one name per type

    @property
    def key(self) -> str:
        return self.text.lower()

    @property
    def name(self) -> str:
        if self.names:
            return self.names[-1]
        if self.resource_group:
            return self.resource_group
        return self.subscription or ""

    @property
    def type(self) -> str:
        """`Microsoft.Network/virtualNetworks/subnets`; '' for subscriptions and resource groups."""
        return "/".join((self.namespace or "", *self.types)) if self.namespace else ""

    @property
    def kind(self) -> ResourceKind:
        if self.namespace:
            return _KINDS.get(self.type.lower(), ResourceKind.OTHER)
        if self.resource_group:
            return ResourceKind.RESOURCE_GROUP
        return ResourceKind.SUBSCRIPTION

    @property
    def parent(self) -> str | None:
        """The id one level up (subnet -> VNet, agent pool -> cluster), None at the top."""
        cut = self.text.rstrip("/").rsplit("/", 2)[0]
        if len(self.names) > 1:
            return cut
        if self.namespace:
            return self.text.split("/providers/", 1)[0] or None
        if self.resource_group and self.subscription:
            return f"/subscriptions/{self.subscription}"
        return None

    @property
    def scope(self) -> str:
        """The resource group (or subscription) the resource lives in, as an id."""
        if self.subscription and self.resource_group:
            return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
        return f"/subscriptions/{self.subscription}" if self.subscription else self.text

    def child(self, type_: str, name: str) -> str:
        return f"{self.text}/{type_}/{name}"


def clean(raw: object) -> str | None:
    """The id with surrounding whitespace, quotes and trailing slashes removed; None when not an id."""
    if not isinstance(raw, str):
        return None
    text = raw.strip().strip("'\"").rstrip("/.").strip()
    if not text or len(text) > MAX_ID_CHARS:
        return None
    if not text.startswith("/"):
        text = "/" + text
    low = text.lower()
    if not (low.startswith("/subscriptions/") or low.startswith("/providers/microsoft.management/managementgroups/")):
        return None
    return text


def parse(raw: object) -> ArmId | None:
    """Parse an id; None when the text is not an ARM id (no exception: ids come from untrusted text)."""
    text = clean(raw)
    if text is None:
        return None
    parts = [p for p in text.split("/") if p]
    sub = rg = ns = None
    types: list[str] = []
    names: list[str] = []
    i = 0
    while i < len(parts):
        seg = parts[i].lower()
        if seg == "subscriptions" and i + 1 < len(parts) and sub is None and ns is None:
            sub, i = parts[i + 1], i + 2
        elif seg == "resourcegroups" and i + 1 < len(parts) and rg is None and ns is None:
            rg, i = parts[i + 1], i + 2
        elif seg == "providers" and i + 1 < len(parts):
            # an extension resource (/.../providers/Microsoft.Authorization/locks/x): the innermost wins
            ns, types, names, i = parts[i + 1], [], [], i + 2
        elif ns is not None and i + 1 < len(parts):
            types.append(parts[i])
            names.append(parts[i + 1])
            i += 2
        else:
            return None  # dangling segment: a type without a name
    if ns is not None and not types:
        return None
    canonical = "/" + "/".join(parts)
    return ArmId(text=canonical, subscription=sub, resource_group=rg, namespace=ns, types=tuple(types),
                 names=tuple(names))


def key(raw: object) -> str:
    """Comparison key: the cleaned id in lower case ('' when not an id)."""
    text = clean(raw)
    return text.lower() if text else ""


def path_key(path: str) -> str:
    """Key of an ARM request path (any path, validated or not): what caches, snapshots and the
    emulator index by. Unlike `key()` it accepts tenant-level and collection paths and strips nothing
    but whitespace and trailing slashes, so two spellings of one GET meet."""
    return path.strip().rstrip("/").lower()


def same(a: object, b: object) -> bool:
    ka, kb = key(a), key(b)
    return bool(ka) and ka == kb


def kind_of(raw: object) -> ResourceKind | None:
    parsed = parse(raw)
    return parsed.kind if parsed else None


def is_kind(raw: object, kind: ResourceKind) -> bool:
    return kind_of(raw) is kind


def within(child: object, scope: object) -> bool:
    """True when `child` is `scope` or lies under it (role and policy scopes, locks)."""
    kc, ks = key(child), key(scope)
    return bool(kc) and bool(ks) and (kc == ks or kc.startswith(ks + "/"))


def name_of(raw: object) -> str:
    parsed = parse(raw)
    if parsed:
        return parsed.name
    return str(raw).rstrip("/").rsplit("/", 1)[-1] if isinstance(raw, str) else ""


def subscription_of(raw: object) -> str | None:
    parsed = parse(raw)
    return parsed.subscription if parsed else None


def resource_group_of(raw: object) -> str | None:
    parsed = parse(raw)
    return parsed.resource_group if parsed else None


def parent_of(raw: object) -> str | None:
    parsed = parse(raw)
    return parsed.parent if parsed else None


def dedupe(ids: object, limit: int | None = None) -> tuple[str, ...]:
    """Distinct ids (first spelling kept), in order; non-ids dropped; at most `limit`."""
    seen: set[str] = set()
    out: list[str] = []
    for raw in ids if isinstance(ids, (list, tuple, set, frozenset)) else ():
        text = clean(raw)
        if text is None or text.lower() in seen:
            continue
        seen.add(text.lower())
        out.append(text)
        if limit is not None and len(out) >= limit:
            break
    return tuple(out)
