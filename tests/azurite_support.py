"""Start Microsoft's Azurite storage emulator (npm, pinned in package.json) on loopback.

One launcher for the test session (tests/conftest.py) and the benchmarks (benchmarks/infra.py):
in-memory, ephemeral ports, the documented development account.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Azurite's published development account (documented, not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzuriteMissing(RuntimeError):
    """Azurite (or node) is not installed; the message says how to install it."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


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


@contextlib.contextmanager
def run_azurite() -> Iterator[Azurite]:
    binary = ROOT / "node_modules" / ".bin" / "azurite"
    if not binary.exists() or shutil.which("node") is None:
        raise AzuriteMissing("Azurite is not installed: run `npm ci` in the repo root (scripts/setup.sh does)")
    ports = Azurite(free_port(), free_port(), free_port())
    proc = subprocess.Popen(
        [str(binary), "--silent", "--skipApiVersionCheck", "--disableProductStyleUrl", "--inMemoryPersistence",
         "--blobHost", "127.0.0.1", "--blobPort", str(ports.blob_port),
         "--queueHost", "127.0.0.1", "--queuePort", str(ports.queue_port),
         "--tableHost", "127.0.0.1", "--tablePort", str(ports.table_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        for p in (ports.blob_port, ports.queue_port, ports.table_port):
            wait_port(p, deadline)
        yield ports
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
