"""Shared test plumbing: fixture loading, a trustme CA for local HTTPS emulators, Azurite.

Real components only: Azurite is the storage emulator Microsoft ships (npm, pinned in
package.json), HTTPS emulators use a real TLS stack with a throwaway CA passed explicitly as
`connection_verify` (the machine's REQUESTS_CA_BUNDLE / SSL_CERT_FILE are never relied on).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Azurite's published development account (documented, not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@dataclass(frozen=True)
class Azurite:
    blob_port: int
    queue_port: int
    table_port: int

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{AZURITE_ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{AZURITE_ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{AZURITE_ACCOUNT};"
        )

    @property
    def queue_url(self) -> str:
        return f"http://127.0.0.1:{self.queue_port}/{AZURITE_ACCOUNT}"

    @property
    def table_url(self) -> str:
        return f"http://127.0.0.1:{self.table_port}/{AZURITE_ACCOUNT}"


def _wait_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"Azurite did not open port {port}")


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One in-memory Azurite for the session, on loopback with ephemeral ports."""
    binary = ROOT / "node_modules" / ".bin" / "azurite"
    if not binary.exists() or shutil.which("node") is None:
        pytest.fail("Azurite is not installed: run `npm ci` in the repo root (the README's test command does)")
    ports = Azurite(free_port(), free_port(), free_port())
    proc = subprocess.Popen(
        [str(binary), "--silent", "--skipApiVersionCheck", "--disableProductStyleUrl", "--inMemoryPersistence",
         "--blobHost", "127.0.0.1", "--blobPort", str(ports.blob_port),
         "--queueHost", "127.0.0.1", "--queuePort", str(ports.queue_port),
         "--tableHost", "127.0.0.1", "--tablePort", str(ports.table_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ},
    )
    try:
        deadline = time.monotonic() + 30
        for p in (ports.blob_port, ports.queue_port, ports.table_port):
            _wait_port(p, deadline)
        yield ports
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
