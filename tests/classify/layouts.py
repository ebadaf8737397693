"""Every layout an AKS error reaches a user in, as a function (code, message) -> pasted text.

The shapes follow what the tools print (Azure SDK for Go `azcore.ResponseError`, Python
`HttpResponseError`, az CLI old and new, Azure PowerShell objects and error records, Terraform azurerm
on autorest and on go-azure-sdk, azapi, Pulumi, Azure Service Operator / CAPZ / Crossplane status
conditions, CI logs with timestamps and ANSI colours, console hard-wraps, markdown pasted into a ticket).
They are generated from a documented example, never written per code, so every catalog example is
tested in every layout.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable

SUB = "00000000-0000-0000-0000-000000000000"
URL = (f"https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg-aks/providers/"
       "Microsoft.ContainerService/managedClusters/aks1?api-version=2025-01-01")
DASH = "-" * 80
Layout = Callable[[str | None, str], str]


def arm_json(code: str | None, msg: str) -> str:
    return json.dumps({"error": {"code": code or "", "message": msg}}, indent=2)


def go_azcore(code: str | None, msg: str) -> str:
    body = json.dumps({"error": {"code": code, "message": msg}} if code else {"message": msg}, indent=2)
    return (f"PUT {URL}\n{DASH}\nRESPONSE 400: 400 Bad Request\nERROR CODE: {code or 'UNAVAILABLE'}\n{DASH}\n"
            f"{body}\n{DASH}\n")


def python_sdk(code: str | None, msg: str) -> str:
    if not code:
        return f"Operation returned an invalid status 'Bad Request'\nContent: {json.dumps({'message': msg})}"
    return f"({code}) {msg}\nCode: {code}\nMessage: {msg}"


def az_cli_new(code: str | None, msg: str) -> str:
    return f"ERROR: ({code}) {msg}\nCode: {code}\nMessage: {msg}" if code else f"ERROR: {msg}"


def az_cli_old(code: str | None, msg: str) -> str:
    # Old az CLI / msrestazure: no code at all, only the HTTP reason and the message.
    return f"Operation failed with status: 'Bad Request'. Details: {msg}"


def powershell_object(code: str | None, msg: str) -> str:
    """`$Error[0].Exception | Format-List`: values wrapped at the column with aligned continuation lines."""
    lines = textwrap.wrap(msg, 70) or [""]
    body = ("\n" + " " * 17).join(lines)
    return f"Code           : {code or ''}\nMessage        : {body}\nTarget         :\nDetails        : {{}}\n"


def powershell_az_record(code: str | None, msg: str) -> str:
    """az run from PowerShell: the error record hard-wrapped at the console width, mid-word."""
    text = f"az : ERROR: ({code}) {msg}" if code else f"az : ERROR: {msg}"
    width = 100
    cut = "\n".join(text[i: i + width] for i in range(0, len(text), width))
    return (cut + "\nAt line:1 char:1\n+ az aks create -g rg-aks -n aks1\n+ ~~~~~~~~~~~~~~~~~~~~~~\n"
            "    + CategoryInfo          : NotSpecified: (ERROR: (X...:String) [], RemoteException\n"
            "    + FullyQualifiedErrorId : NativeCommandError\n")


def terraform_autorest(code: str | None, msg: str) -> str:
    inner = f'Code="{code}" Message="{msg}"' if code else f'Message="{msg}"'
    return ('│ Error: creating Managed Kubernetes Cluster "aks1" (Resource Group "rg-aks"): '
            "containerservice.ManagedClustersClient#CreateOrUpdate: Failure sending request: StatusCode=400 -- "
            f"Original Error: {inner}\n│\n│   with azurerm_kubernetes_cluster.aks,\n│   on main.tf line 1\n")


def terraform_go_sdk(code: str | None, msg: str) -> str:
    what = f"{code}: {msg}" if code else msg
    return ("╷\n│ Error: creating Kubernetes Cluster (Subscription: \"" + SUB + "\"\n"
            "│ Resource Group Name: \"rg-aks\"\n"
            "│ Kubernetes Cluster Name: \"aks1\"): performing CreateOrUpdate: unexpected status 400 (400 Bad Request) "
            f"with error: {what}\n│\n│   with azurerm_kubernetes_cluster.aks,\n╵\n")


def terraform_go_sdk_response(code: str | None, msg: str) -> str:
    """azurerm 4.x: `unexpected status 400 (400 Bad Request) with response: {json}` inside the box."""
    body = json.dumps({"code": code or "", "details": None, "message": msg, "subcode": "", "target": None}, indent=2)
    boxed = "\n".join("│ " + line for line in body.splitlines())
    return ("╷\n│ Error: creating Kubernetes Cluster (Subscription: \"" + SUB + "\"\n"
            "│ Resource Group Name: \"rg-aks\"\n"
            "│ Kubernetes Cluster Name: \"aks1\"): performing CreateOrUpdate: unexpected status 400 (400 Bad Request) "
            f"with response: {boxed}\n│\n╵\n")


def terraform_azapi(code: str | None, msg: str) -> str:
    body = "\n".join("│ " + line for line in go_azcore(code, msg).splitlines())
    return f"╷\n│ Error: Failed to create/update resource\n│\n{body}\n╵\n"


def pulumi(code: str | None, msg: str) -> str:
    inner = f"Code=\u201c{code}\u201d Message=\u201c{msg}\u201d" if code else f"Message=\u201c{msg}\u201d"
    return ("  azure-native:containerservice:ManagedCluster (aks1):\n    error: resource partially created: "
            f"polling failed: {inner}\n")


def aso_condition(code: str | None, msg: str) -> str:
    """Azure Service Operator v2: condition reason = ARM code, message = the Go SDK error on one line."""
    one = go_azcore(code, msg).replace("\n", " ").replace("'", "''")
    return (f"status:\n  conditions:\n  - lastTransitionTime: \"2026-11-20T10:09:46Z\"\n    message: '{one}'\n"
            f"    observedGeneration: 1\n    reason: {code or 'Unknown'}\n    severity: Error\n    status: \"False\"\n"
            "    type: Ready\n")


def capz_condition(code: str | None, msg: str) -> str:
    """Cluster API Provider Azure: the reconcile error (an azcore ResponseError) on the condition message."""
    one = go_azcore(code, msg).replace("\n", " ").replace("'", "''")
    return ("  - lastTransitionTime: \"2026-11-20T10:09:46Z\"\n    message: 'failed to create or update resource "
            f"rg-aks/aks1 (service: managedclusters): {one}'\n    reason: Failed\n    severity: Error\n"
            "    status: \"False\"\n    type: ManagedClusterReady\n")


def crossplane_condition(code: str | None, msg: str) -> str:
    what = f"{code}: {msg}" if code else msg
    return ("    - lastTransitionTime: \"2026-11-20T10:09:46Z\"\n      message: 'create failed: async create failed: "
            'failed to create the resource: [{0 creating Kubernetes Cluster (Subscription: "' + SUB + '"): '
            f"performing CreateOrUpdate: unexpected status 400 (400 Bad Request) with error: {what}  []}}]'\n"
            "      reason: ReconcileError\n      status: \"False\"\n      type: Synced\n")


def ci_log(code: str | None, msg: str) -> str:
    stamp = "2026-11-20T10:09:46.1234567Z "
    lines = az_cli_new(code, msg).splitlines()
    return "\n".join(f"{stamp}##[error]\x1b[31m{line}\x1b[0m" if i == 0 else f"{stamp}{line}"
                     for i, line in enumerate(lines)) + "\n"


def console_wrap(code: str | None, msg: str) -> str:
    """A terminal 80 columns wide: lines cut mid-token, codes included."""
    text = az_cli_new(code, msg)
    return "\n".join(text[i: i + 80] for i in range(0, len(text), 80))


def markdown(code: str | None, msg: str) -> str:
    return f"I get this when creating the cluster:\n\n> ```\n> {az_cli_new(code, msg)}\n> ```\n\nAny idea?"


def json_in_string(code: str | None, msg: str) -> str:
    inner = json.dumps({"status": "Failed", "error": {"code": code or "", "message": msg}})
    return json.dumps({"properties": {"statusCode": "BadRequest", "statusMessage": inner}})


LAYOUTS: dict[str, Layout] = {f.__name__: f for f in (
    arm_json, go_azcore, python_sdk, az_cli_new, az_cli_old, powershell_object, powershell_az_record,
    terraform_autorest, terraform_go_sdk, terraform_go_sdk_response, terraform_azapi, pulumi, aso_condition,
    capz_condition, crossplane_condition, ci_log, console_wrap, markdown, json_in_string)}
# Layouts that print no code (old az CLI): only examples whose message identifies the entry qualify.
CODELESS = frozenset({"az_cli_old"})
