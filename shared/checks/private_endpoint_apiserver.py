"""private_endpoint_apiserver: is the private cluster's kube-apiserver private endpoint usable?

Why: in a private cluster (without VNet integration) nodes reach the API server through the private
endpoint AKS creates in the node resource group (name contains "kube-apiserver"). If it is missing,
not `provisioningState` Succeeded, or its connection is not Approved (Pending/Rejected/Disconnected,
in `privateLinkServiceConnections` or `manualPrivateLinkServiceConnections`), nodes get "No route to
host" / timeouts (exit 51). Note a PE stays Succeeded while its connection is unusable.
Not applicable to public clusters and to VNet-integrated ones (their API server is an ILB, no PE).
Doc: https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverconnfail
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.armid import ResourceKind
from shared.checklib import netread
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable, Skip, result
from shared.models import CheckResult, CheckStatus, Evidence, Family


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    name: str
    node_resource_group: str
    listing_id: str
    pe_id: str | None
    provisioning_state: str | None
    connections: tuple[tuple[str, str], ...]  # (connection name, status)


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    if not view.private:
        raise NotApplicable("public cluster: no API server private endpoint")
    if view.vnet_integration:
        raise NotApplicable("API Server VNet Integration: the API server is an internal load balancer, not a "
                            "private endpoint")
    if not view.node_resource_group:
        raise Skip("the cluster body has no nodeResourceGroup")
    listing_id = f"{netread.node_rg_id(view)}/providers/Microsoft.Network/privateEndpoints"
    listing = await ctx.get_or_none(listing_id, netread.NET)
    if listing is None:
        raise Skip(f"node resource group {view.node_resource_group} not found (not created yet, or deleted: "
                   "see node_resource_group)")
    pe = netread.apiserver_pe(netread.collection(listing))
    if pe is None:
        return Facts(view.id, view.resource_group, view.name, view.node_resource_group, listing_id, None, None, ())
    pp = nu.props(pe)
    conns = tuple(
        (str(c.get("name") or key), str(((nu.props(c) or c).get("privateLinkServiceConnectionState") or {})
                                        .get("status") or ""))
        for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections")
        for c in pp.get(key) or [] if isinstance(c, dict))
    return Facts(view.id, view.resource_group, view.name, view.node_resource_group, listing_id, str(pe.get("id")),
                 str(pp.get("provisioningState") or ""), conns)


def evaluate(f: Facts) -> CheckResult:
    reconcile = f"az aks update -g {f.resource_group} -n {f.name}"
    if f.pe_id is None:
        return result(SPEC, CheckStatus.FAIL,
                      f"no kube-apiserver private endpoint in node resource group {f.node_resource_group}: nodes "
                      "cannot reach the private API server",
                      evidence=(Evidence(resource_id=f.listing_id, property="value[].name", value=None,
                                         note="no private endpoint named *kube-apiserver*"),),
                      remediation=f"{reconcile}  # reconcile recreates the AKS-managed private endpoint")
    ev = [Evidence(resource_id=f.pe_id, property="properties.provisioningState", value=f.provisioning_state)]
    ev += [Evidence(resource_id=f.pe_id, property="privateLinkServiceConnectionState.status", value=status,
                    note=f"connection {name}") for name, status in f.connections]
    bad = [(n, s) for n, s in f.connections if s.lower() != "approved"]
    if (f.provisioning_state or "").lower() != "succeeded":
        return result(SPEC, CheckStatus.FAIL,
                      f"kube-apiserver private endpoint {nu.name_of(f.pe_id)} is "
                      f"{f.provisioning_state or 'in no provisioning state'}",
                      evidence=tuple(ev), remediation=reconcile)
    if not f.connections or bad:
        what = ", ".join(f"{n}={s or 'none'}" for n, s in bad) or "no connection"
        return result(SPEC, CheckStatus.FAIL,
                      f"kube-apiserver private endpoint {nu.name_of(f.pe_id)} connection is not Approved ({what})",
                      evidence=tuple(ev), remediation=reconcile)
    return result(SPEC, CheckStatus.PASS,
                  f"kube-apiserver private endpoint {nu.name_of(f.pe_id)} is Succeeded and Approved",
                  evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="private_endpoint_apiserver",
    title="Private cluster: kube-apiserver private endpoint Succeeded/Approved",
    docs=(nu.DOC_CONNFAIL, nu.DOC_PRIVATE_CLUSTER),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.API_SERVER_CONNECTIVITY, Family.DNS}),
    relevance={"api_server_connectivity": 90, "api_server_connectivity/timeout": 60,
               "api_server_connectivity/no_route": 100, "api_server_connectivity/refused": 70, "dns": 60},
    resource_kinds=frozenset({ResourceKind.PRIVATE_ENDPOINT}),
    predicts={"default": "VMExtensionError_K8SAPIServerConnFail"},
)
