"""Shared test plumbing: fixture loading, a trustme CA for local HTTPS emulators, Azurite.

Real components only: Azurite is the storage emulator Microsoft ships (npm, pinned in
package.json), HTTPS emulators use a real TLS stack with a throwaway CA passed explicitly as
`connection_verify` (the machine's REQUESTS_CA_BUNDLE / SSL_CERT_FILE are never relied on).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.azurite_support import Azurite, AzuriteMissing, run_azurite

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

_INDEXED: dict[str, Any] = {}


def indexed_functions() -> dict[str, Any]:
    """function_app as the worker indexes it. get_functions() refuses a second call in one process
    (it would register the names twice), so every test shares this one index."""
    if not _INDEXED:
        import function_app

        _INDEXED.update({f.get_function_name(): f for f in function_app.app.get_functions()})
    return _INDEXED


def load_json(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class TlsMaterial:
    ca_file: str  # pass as connection_verify=
    server_context: ssl.SSLContext


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return TlsMaterial(str(ca_file), ctx)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One in-memory Azurite for the session, on loopback with ephemeral ports."""
    try:
        with run_azurite() as ports:
            yield ports
    except AzuriteMissing as err:
        pytest.fail(str(err))
