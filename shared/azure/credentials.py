"""The process-wide async credential (managed identity in Azure, developer login locally).

Owns: choosing the credential. In Azure (App Service identity endpoint present) with
`AZURE_CLIENT_ID` set -> ManagedIdentityCredential for that user-assigned identity, skipping the
DefaultAzureCredential probing chain on a Functions cold start. Otherwise DefaultAzureCredential
(which also honours AZURE_CLIENT_ID for managed identity / environment credentials). Tests inject
their own credential instead of calling this.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

ARM_SCOPE = "https://management.azure.com/.default"
LOGS_AUDIENCE = "https://api.loganalytics.io"

_SECRET_VARS = ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE")


def make_async_credential(**kwargs: Any) -> AsyncTokenCredential:
    """A new async credential. The caller owns it and must `await cred.close()`."""
    client_id = os.environ.get("AZURE_CLIENT_ID") or None
    in_app_service = bool(os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT"))
    if client_id and in_app_service and not any(os.environ.get(v) for v in _SECRET_VARS):
        from azure.identity.aio import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=client_id, **kwargs)
    from azure.identity.aio import DefaultAzureCredential

    if client_id:
        kwargs.setdefault("managed_identity_client_id", client_id)
    return DefaultAzureCredential(**kwargs)
