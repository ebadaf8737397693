"""Internal, frozen data passed between the pipeline stages.

Owns: the types every stage agrees on (FailedOperation -> OperationError -> Classification ->
CheckResult -> Finding). Inbound wire models (Event Grid envelopes, ARM error bodies) live next to
their parsers and are converted into these right away; nothing here knows about Azure SDK objects.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OperationKind(StrEnum):
    WRITE_FAILURE = "write_failure"
    ACTION_FAILURE = "action_failure"
    DELETE_FAILURE = "delete_failure"
    NODEPOOL_ROLLING_FAILED = "nodepool_rolling_failed"
    # Successes close open findings (resolution notices); they never produce a diagnosis.
    WRITE_SUCCESS = "write_success"
    # `aks-triage diagnose --cluster ID`: no event, the user asks about the latest failure.
    ON_DEMAND = "on_demand"


class FailedOperation(Frozen):
    """One AKS operation that failed (or, for WRITE_SUCCESS, succeeded), as read from an event."""

    event_id: str
    event_type: str
    event_time: datetime
    kind: OperationKind
    cluster_id: str  # canonical ARM id of the managed cluster (original casing kept)
    subscription_id: str
    resource_group: str
    cluster_name: str
    agent_pool: str | None = None
    resource_id: str  # the event's target: cluster or agent pool id
    operation_name: str | None = None  # RBAC action, e.g. Microsoft.ContainerService/managedClusters/write
    verb: str = "unknown"  # create / update / upgrade / scale / start / stop / delete / action / unknown
    correlation_id: str | None = None
    tenant_id: str | None = None
    caller: str | None = None
    http_method: str | None = None
    api_version: str | None = None
    event_schema: Literal["eventgrid", "cloudevents", "cli"] = "eventgrid"

    @property
    def idempotency_key(self) -> str:
        """Same event redelivered -> same key (Event Grid keeps the id across retries)."""
        return hashlib.sha256(f"{self.event_id}|{self.resource_id.lower()}".encode()).hexdigest()[:32]


class OperationError(Frozen):
    """An ARM error tree, normalised. `source` says where it was found."""

    code: str
    message: str = ""
    target: str | None = None
    details: tuple[OperationError, ...] = ()
    # cluster_status | agentpool_status | activity_log | azure_activity | deployment | text | none
    source: str = "unknown"

    def walk(self) -> list[OperationError]:
        out: list[OperationError] = [self]
        for d in self.details:
            out.extend(d.walk())
        return out


Transient = Literal["true", "false", "depends"]
Confidence = Literal["high", "medium", "low"]


class Family(StrEnum):
    """What kind of failure an error is, in the terms a check can explain it.

    The catalog assigns families to each documented error (and refines them per CSE exit status and
    sub-cause); each check declares the families it can explain. Selection and ranking meet here.
    """

    API_SERVER_CONNECTIVITY = "api_server_connectivity"  # nodes or clients can't reach the API server
    EGRESS = "egress"  # node bootstrap can't reach required outbound endpoints
    DNS = "dns"  # a name does not resolve (API server FQDN, private zone, custom DNS)
    SUBNET_IPS = "subnet_ips"  # subnet size, free IPs, delegation, subnet shared with other resources
    NETWORK_CONFIG = "network_config"  # CIDR overlaps, VNet state, load balancer / outbound settings
    PERMISSIONS = "permissions"  # RBAC: an identity lacks an action on a scope
    IDENTITY = "identity"  # service principal / managed identity missing, expired or wrong
    QUOTA = "quota"  # a subscription or regional limit (vCPU, public IPs, clusters)
    CAPACITY = "capacity"  # the region or zone has no capacity / SKU restricted or not offered
    POLICY = "policy"  # an Azure Policy deny
    LOCKS = "locks"  # a management lock on a resource the operation must change or delete
    REGISTRATION = "registration"  # resource provider or preview feature not registered
    VERSIONS = "versions"  # Kubernetes / node image version not offered, skew or upgrade path
    NODE_RESOURCE_GROUP = "node_resource_group"  # AKS-managed resources changed or deleted by hand
    CLUSTER_STATE = "cluster_state"  # another operation running, stopped or failed cluster, preemption
    NODE_HEALTH = "node_health"  # nodes not ready, drains blocked by PDBs, reconcile failures
    THROTTLING = "throttling"  # ARM or RP request limits
    VALIDATION = "validation"  # the request itself is invalid (parameters, names, unsupported combos)
    PLATFORM = "platform"  # an AKS / Azure internal error: nothing on the customer side to check


class ArmRef(Frozen):
    """An ARM id the error text names, with its kind."""

    kind: str  # shared.armid.ResourceKind value
    id: str


class QuotaFacts(Frozen):
    family: str | None = None  # e.g. standardDSv3Family, "Total Regional Cores"
    limit: int | None = None
    usage: int | None = None
    requested: int | None = None  # additional vCPUs the operation asked for
    new_limit: int | None = None  # the limit the message says is needed
    remaining: int | None = None
    regional: bool = False  # the regional (all families) vCPU limit, not one family's


class ErrorFacts(Frozen):
    """Everything the error says, typed. Built only by shared/classify; checks read nothing else.

    Lists are bounded (`MAX_LISTED` per list) so hostile text cannot multiply the reads a check
    makes; `capped` names every list that was cut. Unknown keys are ignored on load so findings
    stored by an older version still read back.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    outer_code: str | None = None  # the code ARM put on top (often a wrapper)
    specific_code: str | None = None  # the most specific code found in the tree or the text
    subcode: str | None = None  # a `subcode` / innerError code more specific than the top-level code
    codes: tuple[str, ...] = ()  # every code seen, outermost first
    exit_status: int | None = None  # CSE / VMExtension exit status
    os: Literal["linux", "windows"] | None = None
    cse_constant: str | None = None  # AgentBaker constant for the exit status, e.g. ERR_OUTBOUND_CONN_FAIL
    cse_meaning: str | None = None
    subcategory: str | None = None
    cause: str | None = None  # catalog cause id the sub-category points at
    target: str | None = None  # ARM error `target` property path, e.g. properties.apiServerAccessProfile.subnetId
    http_status: int | None = None
    resources: tuple[ArmRef, ...] = ()  # every ARM id mentioned, by kind
    api_server_ip: str | None = None
    node_ip: str | None = None
    ips: tuple[str, ...] = ()  # every IPv4 address mentioned
    fqdn: str | None = None  # an *.azmk8s.io API server name, or the host a connection went to
    fqdns: tuple[str, ...] = ()
    port: int | None = None
    region: str | None = None
    vm_sizes: tuple[str, ...] = ()
    quota: QuotaFacts | None = None
    kubernetes_versions: tuple[str, ...] = ()  # every version mentioned
    current_version: str | None = None  # "from X to Y": X
    requested_version: str | None = None  # the version the operation asked for (cluster)
    requested_pool_version: str | None = None  # the version asked for a node pool
    features: tuple[str, ...] = ()  # Namespace/FeatureName
    provider_namespaces: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    subnet_prefix: str | None = None
    ips_requested: int | None = None  # "enough capacity for N IP addresses"
    pdb_names: tuple[str, ...] = ()
    correlation_id: str | None = None
    principal_id: str | None = None  # object id of the identity the error names
    client_id: str | None = None
    actions: tuple[str, ...] = ()  # RBAC actions denied, e.g. Microsoft.Network/virtualNetworks/subnets/join/action
    scopes: tuple[str, ...] = ()  # the scopes they were denied on
    capped: tuple[str, ...] = ()

    def ids(self, *kinds: str) -> tuple[str, ...]:
        """Ids of the given kinds (all ids when none given), in the order the text names them."""
        wanted = set(kinds)
        return tuple(r.id for r in self.resources if not wanted or r.kind in wanted)

    @property
    def vm_size(self) -> str | None:
        return self.vm_sizes[0] if self.vm_sizes else None

    def mentions(self, value: str) -> bool:
        """True when the error names this value (an id, IP, FQDN, CIDR, size, version or name)."""
        low = value.strip().lower().rstrip("/")
        if not low:
            return False
        pool = [r.id.lower() for r in self.resources]
        pool += [x.lower() for x in (*self.ips, *self.fqdns, *self.cidrs, *self.vm_sizes, *self.kubernetes_versions,
                                     *self.features, *self.provider_namespaces, *self.pdb_names)]
        pool += [x.lower() for x in (self.api_server_ip, self.node_ip, self.fqdn, self.region, self.subnet_prefix,
                                     self.principal_id, self.client_id, self.requested_version,
                                     self.requested_pool_version) if x]
        pool += [x.lower() for x in (*self.actions, *self.scopes)]
        if self.quota and self.quota.family:
            pool.append(self.quota.family.lower())
        return any(low == p or (low.startswith("/") and p.startswith("/") and p.startswith(low + "/")) for p in pool)


class Classification(Frozen):
    """What the catalog says about an error. Field names are the `classify --json` contract."""

    code: str  # most specific canonical code
    entry_id: str  # catalog entry id (a code can have several entries, e.g. OperationNotAllowed.*)
    title: str = ""
    category: str
    subcategory: str | None = None
    severity: Literal["critical", "error", "warning", "info"] = "error"
    transient: Transient = "depends"
    exit_status: int | None = None
    docs: tuple[str, ...] = ()
    families: tuple[Family, ...] = ()  # what kind of failure it is, primary first (drives check selection)
    subcode: str | None = None  # a documented code more specific than `code`, when the error carried one
    facts: ErrorFacts = Field(default_factory=ErrorFacts)
    confidence: Confidence = "low"
    matched_on: str = "fallback"
    causes: tuple[str, ...] = ()
    guidance: str = ""
    wrapper_codes: tuple[str, ...] = ()  # containers walked through on the way to `code`

    @field_serializer("facts")
    def _facts_present(self, facts: ErrorFacts) -> dict[str, Any]:
        # Only the facts the error carried: the contract lists what is known, not every empty field.
        return facts.model_dump(mode="json", exclude_defaults=True)


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"
    NOT_APPLICABLE = "not_applicable"


class Evidence(Frozen):
    """One fact that decided a check: which property of which resource had which value."""

    resource_id: str | None = None
    property: str
    value: Any = None
    note: str | None = None


class CheckResult(Frozen):
    id: str
    title: str = ""
    status: CheckStatus
    summary: str
    evidence: tuple[Evidence, ...] = ()
    remediation: str | None = None
    docs: tuple[str, ...] = ()
    # For error / skipped: why the check could not decide (e.g. "needs Reader on /subscriptions/x").
    reason: str | None = None
    # For fail: "confirmed" when the evidence proves the cause; "likely" when it is probable but
    # could not be proven (then `confirm_by` says what would confirm it).
    confidence: Literal["confirmed", "likely"] = "confirmed"
    confirm_by: str | None = None
    # The FAIL contradicts what the operation needs (the requested version isn't offered, the
    # requested vCPUs exceed the quota): ranks above a FAIL that is merely a bad setting.
    blocks_request: bool = False


class Finding(Frozen):
    """Everything known about one failed operation; the sink-agnostic unit every output renders."""

    finding_id: str  # fingerprint, stable across redeliveries of the same failure
    operation: FailedOperation
    error: OperationError
    classification: Classification
    checks: tuple[CheckResult, ...] = ()
    root_causes: tuple[str, ...] = ()  # failing check ids, most likely first
    summary: str
    remediation: str | None = None
    docs: tuple[str, ...] = ()
    severity: Literal["critical", "error", "warning", "info"] = "error"
    region: str | None = None
    diagnosed_at: datetime
    status: Literal["open", "escalated", "resolved"] = "open"
    occurrence_count: int = 1
    notes: tuple[str, ...] = ()  # degraded-mode remarks, e.g. "error not found before deadline"


def fingerprint(cluster_id: str, correlation_id: str | None, code: str, event_id: str) -> str:
    """Stable id for one failure: redeliveries and the cluster/agent-pool twin events collapse.

    Without a correlation id, fall back to the event id so distinct failures stay distinct.
    """
    anchor = (correlation_id or f"event:{event_id}").lower()
    raw = f"{cluster_id.lower()}|{anchor}|{code.lower()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
