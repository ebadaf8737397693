"""Azure Policy in the pre-flight world: assignments (the PolicyAssignments_ListForResourceGroup 2023-04-01
example's shape) and definitions (the getPolicyDefinition example's shape), names, GUIDs and rules ours,
written after the Azure Policy definition structure (allowed locations, require a tag, private clusters,
allowed VM sizes in an initiative). `decoys()` are assignments a careless evaluator would blame."""

from __future__ import annotations

from typing import Any

from tests.preflight.worlds import RG, SUB

SUB_SCOPE = f"/subscriptions/{SUB}"
RG_SCOPE = f"/subscriptions/{SUB}/resourceGroups/{RG}"
LISTING = f"{RG_SCOPE}/providers/Microsoft.Authorization/policyAssignments"
MC = "Microsoft.ContainerService/managedClusters"


def definition_id(name: str, *, builtin: bool = False, set_: bool = False) -> str:
    kind = "policySetDefinitions" if set_ else "policyDefinitions"
    return (
        f"/providers/Microsoft.Authorization/{kind}/{name}"
        if builtin
        else f"{SUB_SCOPE}/providers/Microsoft.Authorization/{kind}/{name}"
    )


def definition(
    did: str,
    display: str,
    rule_if: dict[str, Any],
    effect: Any = "deny",
    *,
    mode: str = "Indexed",
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": did.rsplit("/", 1)[-1],
        "type": "Microsoft.Authorization/policyDefinitions",
        "id": did,
        "properties": {
            "displayName": display,
            "mode": mode,
            "parameters": parameters or {},
            "policyRule": {"if": rule_if, "then": {"effect": effect}},
            "policyType": "Custom",
            "metadata": {"category": "Test"},
        },
    }


def assignment(
    name: str,
    did: str,
    *,
    scope: str = SUB_SCOPE,
    params: dict[str, Any] | None = None,
    enforcement: str = "Default",
    not_scopes: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": f"{scope}/providers/Microsoft.Authorization/policyAssignments/{name}",
        "type": "Microsoft.Authorization/policyAssignments",
        "name": name,
        "properties": {
            "displayName": name.replace("-", " "),
            "policyDefinitionId": did,
            "scope": scope,
            "notScopes": not_scopes or [],
            "enforcementMode": enforcement,
            "parameters": {k: {"value": v} for k, v in (params or {}).items()},
        },
    }


LOCATIONS = definition_id("allowed-locations-pf")
TAG = definition_id("require-costcenter-tag-pf")
PRIVATE = definition_id("aks-private-cluster-pf")
PIP = definition_id("deny-public-ip-pf")
K8S_DATA = definition_id("aks-pod-baseline-pf")
DEFENDER = definition_id("aks-defender-pf")
VM_SIZES = definition_id("aks-allowed-vm-sizes-pf")
SET = definition_id("aks-guardrails-pf", set_=True)


def definitions() -> dict[str, dict[str, Any]]:
    loc_param = {"listOfAllowedLocations": {"type": "Array"}}
    effect_param = {
        "effect": {"type": "String", "defaultValue": "Deny", "allowedValues": ["Audit", "Deny", "Disabled"]}
    }
    defs = [
        definition(
            LOCATIONS,
            "Allowed locations (pf)",
            {
                "allOf": [
                    {"field": "location", "notIn": "[parameters('listOfAllowedLocations')]"},
                    {"field": "location", "notEquals": "global"},
                    {"field": "type", "notEquals": "Microsoft.AzureActiveDirectory/b2cDirectories"},
                ]
            },
            parameters=loc_param,
        ),
        definition(
            TAG,
            "Require a costCenter tag (pf)",
            {"field": "[concat('tags[', parameters('tagName'), ']')]", "exists": "false"},
            effect="[parameters('effect')]",
            parameters={"tagName": {"type": "String", "defaultValue": "costCenter"}, **effect_param},
        ),
        definition(
            PRIVATE,
            "AKS clusters should be private (pf)",
            {
                "allOf": [
                    {"field": "type", "equals": MC},
                    {"field": f"{MC}/apiServerAccessProfile.enablePrivateCluster", "notEquals": "true"},
                ]
            },
            effect="[parameters('effect')]",
            parameters=effect_param,
        ),
        definition(
            PIP, "No public IP addresses (pf)", {"field": "type", "equals": "Microsoft.Network/publicIPAddresses"}
        ),
        definition(
            K8S_DATA,
            "Pods must not run privileged (pf)",
            {"field": "type", "in": ["Microsoft.Kubernetes/connectedClusters", MC]},
            mode="Microsoft.Kubernetes.Data",
        ),
        definition(
            DEFENDER,
            "AKS Defender profile required (pf)",
            {
                "allOf": [
                    {"field": "type", "equals": MC},
                    {"field": f"{MC}/securityProfile.defender.securityMonitoring.enabled", "notEquals": "true"},
                ]
            },
        ),
        definition(
            VM_SIZES,
            "Allowed AKS node VM sizes (pf)",
            {
                "allOf": [
                    {"field": "type", "equals": MC},
                    {"not": {"field": f"{MC}/agentPoolProfiles[*].vmSize", "in": "[parameters('sizes')]"}},
                ]
            },
            parameters={"sizes": {"type": "Array"}},
        ),
    ]
    out = {d["id"]: d for d in defs}
    out[SET] = {
        "name": "aks-guardrails-pf",
        "type": "Microsoft.Authorization/policySetDefinitions",
        "id": SET,
        "properties": {
            "displayName": "AKS guardrails (pf)",
            "policyType": "Custom",
            "parameters": {
                "allowedSizes": {
                    "type": "Array",
                    "defaultValue": ["Standard_D4ds_v5", "Standard_D8ds_v5", "Standard_D16ds_v5"],
                }
            },
            "policyDefinitions": [
                {
                    "policyDefinitionId": VM_SIZES,
                    "policyDefinitionReferenceId": "sizes",
                    "parameters": {"sizes": {"value": "[parameters('allowedSizes')]"}},
                }
            ],
        },
    }
    return out


STORAGE = f"{RG_SCOPE}/providers/Microsoft.Storage/storageAccounts/stpf"


def decoys() -> list[dict[str, Any]]:
    """Nothing here denies the fault-free planned cluster."""
    return [
        assignment("allowed-locations", LOCATIONS, params={"listOfAllowedLocations": ["westeurope", "northeurope"]}),
        assignment("tag-audit", TAG, params={"effect": "Audit"}),  # the body has no costCenter tag: audit only
        assignment("no-public-ip", PIP, scope=RG_SCOPE),  # the cluster's group: AKS makes its public IP in MC_*
        assignment("pod-baseline", K8S_DATA),  # in-cluster admission, not ARM
        assignment("private-only-not-enforced", PRIVATE, enforcement="DoNotEnforce"),
        assignment("storage-private", PRIVATE, scope=STORAGE),  # on a resource in the group: not the cluster's
        assignment("guardrails", SET, scope=RG_SCOPE),  # the D-v5 sizes the plans use are allowed by the set default
        assignment("private-only-but-excluded", PRIVATE, not_scopes=[RG_SCOPE]),
    ]


def install(world: dict[str, Any], assignments: list[dict[str, Any]]) -> None:
    res = world["resources"]
    res.update(definitions())
    res[LISTING] = {"value": assignments}
