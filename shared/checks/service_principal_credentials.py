"""service_principal_credentials: the cluster's identity exists and its credential is usable.

Reads the cluster through ClusterView (identity: kind, principalId, clientId, user-assigned identity
id; servicePrincipalProfile.clientId); for a user-assigned identity, GET the identity resource
(Microsoft.ManagedIdentity 2023-01-31) -> exists, properties.principalId. A service principal's
secret expiry is in Microsoft Graph, not ARM: the check then decides only from the error codes the
classifier found (AADSTS7000222 / InvalidClientSecret = expired, AADSTS7000215 /
ServicePrincipalValidationClientError = wrong secret value, ServicePrincipalNotFound / AADSTS700016
= missing) and otherwise is skipped, saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.checklib import azrefs as az
from shared.checklib.base import CheckContext, CheckSpec, result
from shared.checklib.clusterview import IdentityView
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/bad-request-or-invalid-client-secret-error",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/serviceprincipalvalidationclienterror-error",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/missing-or-invalid-service-principal",
)
MANAGED_IDENTITY_API = "2023-01-31"


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    cluster_name: str
    identity: IdentityView
    error_signal: str | None  # "expired" | "invalid" | "not_found"
    error_code: str | None  # the code that decided error_signal
    uai_exists: bool | None  # user-assigned identity resource found (None: not applicable)
    uai_principal_now: str | None
    identity_error: bool = False  # the error is an identity failure (catalog family) without a specific code


_SIGNALS = (
    ("expired", ("AADSTS7000222", "InvalidClientSecret", "BadRequest.InvalidClientSecret")),
    ("invalid", ("AADSTS7000215", "ServicePrincipalValidationClientError")),
    ("not_found", ("ServicePrincipalNotFound", "AADSTS700016")),
)


def _signal(ctx: CheckContext) -> tuple[str | None, str | None]:
    """What the error's codes (found by the classifier) say about the credential."""
    f = ctx.facts
    seen = [c for c in (*f.codes, f.specific_code, f.subcode, ctx.classification.code, ctx.classification.entry_id)
            if c]
    for signal, codes in _SIGNALS:
        for code in codes:
            hit = next((c for c in seen if c.casefold() == code.casefold()), None)
            if hit:
                return signal, hit
    return None, None


async def gather(ctx: CheckContext) -> Facts:
    view = await ctx.view()
    ident = view.identity
    signal, code = _signal(ctx)
    exists: bool | None = None
    now_pid: str | None = None
    if ident.kind == "UserAssigned" and ident.resource_id:
        body = await ctx.get_or_none(ident.resource_id, MANAGED_IDENTITY_API)
        exists = body is not None
        now_pid = az.as_str(az.dig(body, "properties.principalId")) if body else None
    return Facts(view.id, ctx.operation.resource_group, ctx.operation.cluster_name, ident, signal, code, exists,
                 now_pid, Family.IDENTITY in ctx.classification.families)


def evaluate(f: Facts) -> CheckResult:
    p = f.identity
    rg, name = f.resource_group, f.cluster_name
    sp_ev = Evidence(resource_id=f.cluster_id, property="properties.servicePrincipalProfile.clientId",
                     value=p.client_id if p.kind in ("ServicePrincipal", "none") else None,
                     note=None if p.kind in ("ServicePrincipal", "none") else "managed identity ('msi')")
    if p.kind in ("SystemAssigned", "UserAssigned"):
        ev = [Evidence(resource_id=f.cluster_id, property="identity.type", value=p.kind,
                       note=f"principalId {p.principal_id}"), sp_ev]
        if p.kind == "UserAssigned" and f.uai_exists is False:
            uai = az.name_of(p.resource_id or "")
            return result(SPEC, CheckStatus.FAIL, f"the cluster's user-assigned identity {uai} no longer exists",
                          evidence=tuple(ev),
                          remediation=(f"az identity create -g {az.resource_group_of(p.resource_id or '')} "
                                       f"-n {az.name_of(p.resource_id or '')}\n"
                                       f"az aks update -g {rg} -n {name} --assign-identity <new identity id>"))
        if p.kind == "UserAssigned" and f.uai_principal_now and not az.same(f.uai_principal_now, p.principal_id):
            ev.append(Evidence(resource_id=p.resource_id, property="properties.principalId", value=f.uai_principal_now,
                               note=f"cluster still records principalId {p.principal_id}"))
            return result(SPEC, CheckStatus.FAIL, "the user-assigned identity was recreated: its principalId changed, "
                          "so role assignments made for the old one no longer apply", evidence=tuple(ev),
                          remediation=f"az aks update -g {rg} -n {name} --assign-identity {p.resource_id}")
        return result(SPEC, CheckStatus.PASS, f"cluster uses a {p.kind} managed identity (no secret to expire)",
                      evidence=tuple(ev))
    if p.kind == "ServicePrincipal":
        cid = p.client_id
        ev = [sp_ev]
        if f.error_code:
            ev.append(Evidence(property="error.code", value=f.error_code, note="the error confirms the cause"))
        reset = (f"az ad app credential reset --id {cid} --query password -o tsv  # new secret\n"
                 f"az aks update-credentials -g {rg} -n {name} --reset-service-principal "
                 f"--service-principal {cid} --client-secret <new secret>")
        if f.error_signal == "expired":
            return result(SPEC, CheckStatus.FAIL, f"service principal {cid} secret has expired ({f.error_code})",
                          evidence=tuple(ev), remediation=reset)
        if f.error_signal == "invalid":
            return result(SPEC, CheckStatus.FAIL, f"service principal {cid} was given an invalid secret "
                          "(the secret ID instead of its value?)", evidence=tuple(ev), remediation=reset)
        if f.error_signal == "not_found":
            return result(SPEC, CheckStatus.FAIL, f"service principal {cid} was not found in the tenant "
                          "(deleted, or not yet replicated)", evidence=tuple(ev),
                          remediation=(f"az ad sp show --id {cid}  # must succeed; if new, wait and retry\n"
                                       f"or move to a managed identity: az aks update -g {rg} -n {name} "
                                       "--enable-managed-identity"))
        expiry = f"az ad app credential list --id {cid} --query \"[].endDateTime\""
        if f.identity_error:
            return result(SPEC, CheckStatus.FAIL, f"the operation failed on the cluster's identity and it uses service "
                          f"principal {cid}, whose secret ARM cannot show: an expired or reset secret is likely",
                          evidence=tuple(ev), remediation=reset, confidence="likely",
                          confirm_by=f"`{expiry}` shows every endDateTime in the past (or the secret was rotated "
                                     "without `az aks update-credentials`)")
        why = (f"service principal {cid}: secret expiry lives in Microsoft Graph, not ARM; check with `{expiry}`")
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: {why}", evidence=tuple(ev), reason=why)
    if p.client_id and p.client_id.casefold() == "msi":
        why = "servicePrincipalProfile.clientId is 'msi' but the cluster body has no identity block to check"
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: {why}", evidence=(sp_ev,), reason=why)
    return result(SPEC, CheckStatus.FAIL, "the cluster has neither a managed identity nor a service principal",
                  evidence=(sp_ev, Evidence(resource_id=f.cluster_id, property="identity", value=None)),
                  remediation=f"az aks update -g {rg} -n {name} --enable-managed-identity")


SPEC: CheckSpec[Facts] = CheckSpec(
    id="service_principal_credentials",
    title="Cluster service principal / managed identity credentials",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.IDENTITY, Family.PERMISSIONS}),
    relevance={"identity": 100, "permissions": 80},
    targets=("servicePrincipalProfile",),
    predicts={"default": "ServicePrincipalValidationClientError"},
)
