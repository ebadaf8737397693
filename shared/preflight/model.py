"""Pre-flight's typed data: what is about to be sent (Plan) and what pre-flight predicts (Report).

The Report is the `aks-triage preflight -o json` contract (JSON Schema:
shared/schema/preflight.schema.json). ARM bodies stay JSON objects (`dict[str, Any]`): they are
ARM's own wire shape, the same the ArmReader port returns.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.models import CheckResult, Evidence

SCHEMA_VERSION = 1

OperationName = Literal["create", "update", "upgrade", "scale", "add_pool"]
SourceKind = Literal["arm_resource", "arm_template", "terraform_plan", "day2"]
Verdict = Literal["will_fail", "at_risk", "ok"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceLocation(_Frozen):
    """Where a planned resource is declared (for SARIF and the text view)."""

    file: str
    line: int = 1
    address: str | None = None  # Terraform address or template symbolic name / resource name


class UnresolvedValue(_Frozen):
    """A value in the input pre-flight could not compute offline (not guessed)."""

    path: str  # e.g. resources[0].properties.kubernetesVersion, or a Terraform attribute path
    reason: str


class Plan(_Frozen):
    """What the user is about to send: planned bodies keyed by ARM id, as ARM would store them."""

    source: SourceKind
    cluster_id: str
    cluster_body: dict[str, Any] | None = None  # planned managedClusters body (None: pools only)
    pool_bodies: tuple[dict[str, Any], ...] = ()  # planned agentPools bodies: {name, properties}
    # Other planned resources the checks read (subnets, VNets declared in the same template / plan).
    related_bodies: dict[str, dict[str, Any]] = {}
    unresolved: tuple[UnresolvedValue, ...] = ()
    locations: dict[str, SourceLocation] = {}  # lower-cased ARM id -> where it is declared
    intent: OperationName | None = None  # a day-2 shortcut says what it is


class Target(_Frozen):
    cluster_id: str
    cluster_name: str
    resource_group: str
    subscription: str
    region: str
    agent_pool: str | None = None
    kubernetes_version: str | None = None


class Prediction(_Frozen):
    id: str  # the check id
    status: Literal["will_fail", "at_risk"]
    confidence: Literal["confirmed", "likely"]
    summary: str
    evidence: tuple[Evidence, ...] = ()
    remediation: str | None = None
    docs: tuple[str, ...] = ()
    predicted_code: str | None = None  # the AKS error code the operation would fail with
    why_uncertain: str | None = None  # for at_risk: what cannot be known before the operation runs
    confirm_by: str | None = None


class Report(_Frozen):
    schema_version: Literal[1] = 1  # SCHEMA_VERSION
    operation: OperationName
    changes: tuple[str, ...] = ()  # what differs from what exists, one line each
    source: SourceKind
    target: Target
    verdict: Verdict
    predictions: tuple[Prediction, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    unresolved: tuple[UnresolvedValue, ...] = ()
    notes: tuple[str, ...] = ()
    location: SourceLocation | None = None  # where the target is declared
