"""What node bootstrap must reach (exit 50 OutboundConnFail, download timeouts), as data.

Owns: the required outbound FQDNs of the AKS outbound rules doc (global Azure, TCP 443) with the
service tags each one belongs to by what the tag means (the doc's NSG guidance: MCR behind
`MicrosoftContainerRegistry` and `AzureFrontDoor.FirstParty`, Entra ID behind
`AzureActiveDirectory`, ARM behind `AzureResourceManager`; MCR's and ARM's front ends are Azure public
addresses, so also in `AzureCloud`); hosts with no tag (package mirrors on a CDN) are only `Internet`.
The first tag is the one a remediation allows. `self_test()` checks the table's shape.
Doc: https://learn.microsoft.com/azure/aks/outbound-rules-control-egress
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.checklib import netutil as nu

DOC = "https://learn.microsoft.com/azure/aks/outbound-rules-control-egress"


@dataclass(frozen=True)
class RequiredEndpoint:
    host: str
    port: int
    protocol: str
    purpose: str
    tags: tuple[str, ...] = ()  # service tags it is in by what the tag means (besides Internet)

    def endpoint(self) -> nu.Endpoint:
        meaning = frozenset(t.lower() for t in self.tags)
        return nu.Endpoint(self.host, None, frozenset({"internet", *meaning}), public=True, meaning=meaning,
                           host=self.host)


REQUIRED: tuple[RequiredEndpoint, ...] = (
    RequiredEndpoint("mcr.microsoft.com", 443, "tcp", "Microsoft Container Registry: system images",
                     ("MicrosoftContainerRegistry", "AzureCloud")),
    RequiredEndpoint("*.data.mcr.microsoft.com", 443, "tcp", "MCR storage backed by the Azure CDN",
                     ("MicrosoftContainerRegistry", "AzureFrontDoor.FirstParty")),
    RequiredEndpoint("management.azure.com", 443, "tcp", "Azure Resource Manager (Kubernetes operations)",
                     ("AzureResourceManager", "AzureCloud")),
    RequiredEndpoint("login.microsoftonline.com", 443, "tcp", "Microsoft Entra ID authentication",
                     ("AzureActiveDirectory",)),
    RequiredEndpoint("packages.microsoft.com", 443, "tcp", "Microsoft packages (apt)"),
    RequiredEndpoint("acs-mirror.azureedge.net", 443, "tcp", "Kubernetes and CNI binaries (legacy mirror)"),
    RequiredEndpoint("packages.aks.azure.com", 443, "tcp", "Kubernetes and CNI binaries"),
)


def for_host(host: str | None) -> RequiredEndpoint | None:
    """The required endpoint a host named in the error is (wildcards match one label or more)."""
    if not host:
        return None
    h = host.strip().lower().rstrip(".")
    for r in REQUIRED:
        pat = r.host.lower()
        if h == pat or (pat.startswith("*.") and h.endswith(pat[1:])):
            return r
    return None


def self_test() -> None:
    seen: set[str] = set()
    for r in REQUIRED:
        assert r.host and r.host not in seen, r.host
        seen.add(r.host)
        assert 0 < r.port < 65536 and r.protocol in ("tcp", "udp"), r
        assert all(t and " " not in t for t in r.tags), r
