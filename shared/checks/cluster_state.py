"""cluster_state: is the control plane in a state that accepts node connections?

Why: "Connection refused" from the node bootstrap (exit 51) during create/start is usually the API
server not listening yet; a Stopped cluster or an operation still in flight explains it, a Failed
provisioning state alone does not (that is the failed operation itself).
Decides from `properties.powerState.code` and `properties.provisioningState` of the cluster.
Doc: https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverconnfail
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.checklib import netread
from shared.checklib.base import CheckContext, CheckSpec, result
from shared.models import CheckResult, CheckStatus, Evidence, Family

_IN_FLIGHT = {"creating", "updating", "upgrading", "scaling", "starting", "stopping", "deleting",
              "migrating", "reconciling", "canceling", "rotatingcertificates", "deallocating"}


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    name: str
    provisioning_state: str
    power_state: str


async def gather(ctx: CheckContext) -> Facts:
    v = await netread.load_cluster(ctx)
    return Facts(v.id, v.resource_group, v.name, v.provisioning_state, v.power_state)


def evaluate(f: Facts) -> CheckResult:
    ev = (Evidence(resource_id=f.cluster_id, property="properties.powerState.code",
                   value=f.power_state or None),
          Evidence(resource_id=f.cluster_id, property="properties.provisioningState",
                   value=f.provisioning_state or None))
    rg_n = f"-g {f.resource_group} -n {f.name}"
    ps = f.provisioning_state.lower()
    if f.power_state.lower() == "stopped":
        return result(SPEC, CheckStatus.FAIL,
                      "the cluster is Stopped: its API server does not accept connections",
                      evidence=ev, remediation=f"az aks start {rg_n}")
    if ps in _IN_FLIGHT:
        return result(SPEC, CheckStatus.FAIL,
                      f"an operation is still running (provisioningState {f.provisioning_state}); "
                      "the API server may refuse connections until it completes",
                      evidence=ev,
                      remediation=(f"az aks wait {rg_n} --updated "
                                   f"&& az aks show {rg_n} --query provisioningState"))
    if not f.power_state and not ps:
        return result(SPEC, CheckStatus.SKIPPED,
                      "skipped: the cluster body has no power or provisioning state",
                      evidence=ev, reason="powerState and provisioningState absent")
    note = ""
    if ps == "failed":
        note = (" (Failed is the outcome of the failed operation; reconcile with "
                f"`az aks update {rg_n}` once the cause is fixed)")
    return result(SPEC, CheckStatus.PASS,
                  f"power state {f.power_state or 'unknown'}, provisioningState {f.provisioning_state}{note}",
                  evidence=ev)


SPEC: CheckSpec[Facts] = CheckSpec(
    id="cluster_state",
    title="Cluster power and provisioning state",
    docs=("https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverconnfail",
          "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/troubleshoot-aks-cluster-start-issues"),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.CLUSTER_STATE, Family.API_SERVER_CONNECTIVITY, Family.NODE_HEALTH, Family.CAPACITY}),
    relevance={"cluster_state": 90, "api_server_connectivity": 40, "api_server_connectivity/refused": 100,
               "node_health": 50, "capacity": 20},
    predicts={"default": "OperationNotAllowed"},
)
