"""Local infrastructure for the benchmarks: Azurite, a TLS CA, and the HTTPS ARM emulator in its own process.

The ARM emulator (tests/emulators/arm_emulator.py) runs in a child process (`benchmarks.arm_server`) so
its werkzeug threads neither compete for this interpreter's GIL nor count towards its RSS. It is driven
over the child's stdin/stdout with one JSON object per line. Request timestamps in its log are
time.monotonic() values, which on Linux is CLOCK_MONOTONIC: comparable across processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.azurite_support import Azurite, AzuriteMissing, run_azurite

ROOT = Path(__file__).resolve().parent.parent

class Unavailable(RuntimeError):
    """A prerequisite of one benchmark is missing (the figure is reported as null with this reason)."""


@contextlib.contextmanager
def azurite() -> Iterator[Azurite]:
    """In-memory Azurite on loopback with ephemeral ports (the launcher the tests use)."""
    try:
        with run_azurite() as ports:
            yield ports
    except AzuriteMissing as err:
        raise Unavailable(str(err)) from err


@dataclass(frozen=True)
class Tls:
    ca_file: str
    cert_file: str
    key_file: str


def make_tls(directory: Path) -> Tls:
    """A throwaway trustme CA and a 127.0.0.1 server certificate, written as PEM files."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = Tls(str(directory / "ca.pem"), str(directory / "cert.pem"), str(directory / "key.pem"))
    ca.cert_pem.write_to_path(paths.ca_file)
    cert.private_key_pem.write_to_path(paths.key_file)
    with open(paths.cert_file, "wb") as f:
        for blob in cert.cert_chain_pems:
            f.write(blob.bytes())
    return paths


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    started: float
    finished: float
    status: int


class ArmEmulatorProcess:
    """The HTTPS ARM emulator in a child process. `base_url` + `ca_file` go to the ARM reader."""

    def __init__(self, tls: Tls) -> None:
        self.ca_file = tls.ca_file
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.arm_server", tls.cert_file, tls.key_file],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=str(ROOT), env=env,
            text=True, bufsize=1,
        )
        hello = self._read()
        self.port = int(hello["port"])
        self.base_url = f"https://127.0.0.1:{self.port}"

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"ARM emulator process exited (code {self._proc.poll()})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"ARM emulator: {reply['error']}")
        return reply

    def call(self, cmd: str, **kw: Any) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def serve(self, snapshot: dict[str, Any]) -> None:
        self.call("serve", snapshot=snapshot)

    def set_latency(self, seconds: float) -> None:
        self.call("latency", seconds=seconds)

    def clear_log(self) -> None:
        self.call("clear_log")

    def log(self) -> list[LoggedRequest]:
        return [LoggedRequest(*row) for row in self.call("log")["log"]]

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(Exception):
                self.call("quit")
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


class SinkServerProcess(ArmEmulatorProcess):
    """benchmarks.sink_server in a child process: Teams, Logs Ingestion, the managed-identity token
    endpoint and delay lines in front of Azurite's queue and table ports (see that module)."""

    def __init__(self, tls: Tls, storage: Azurite) -> None:
        self.ca_file = tls.ca_file
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sink_server", tls.cert_file, tls.key_file, str(storage.queue_port),
             str(storage.table_port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=str(ROOT), env=env,
            text=True, bufsize=1,
        )
        hello = self._read()
        self.port = int(hello["https_port"])
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.token_url = f"http://127.0.0.1:{hello['token_port']}/msi/token"
        # Azurite as the app sees it: every request through the delay lines.
        self.storage = Azurite(storage.blob_port, int(hello["queue_port"]), int(hello["table_port"]))

    def set_sink_latency(self, teams: float, ingestion: float, storage: float) -> None:
        self.call("latency", teams=teams, ingestion=ingestion, storage=storage)

    def sink_log(self) -> tuple[list[tuple[str, float, float, int]], dict[str, int]]:
        reply = self.call("log")
        return [tuple(r) for r in reply["log"]], dict(reply["storage_requests"])


@contextlib.contextmanager
def sink_server(storage: Azurite) -> Iterator[SinkServerProcess]:
    srv = SinkServerProcess(tls_material(), storage)
    try:
        yield srv
    finally:
        srv.close()


_TLS: Tls | None = None
_TLS_DIR: tempfile.TemporaryDirectory[str] | None = None
DEFAULT_CA_TRUSTED = False  # True once the benchmark CA is in the default trust store of this process


def tls_material() -> Tls:
    """This process's throwaway CA and server certificate (created once)."""
    global _TLS, _TLS_DIR
    if _TLS is None:
        try:
            import trustme  # noqa: F401
        except ImportError as err:
            raise Unavailable(f"the ARM emulator needs the dev requirements ({err.name} missing)") from err
        _TLS_DIR = tempfile.TemporaryDirectory(prefix="aks-triage-bench-tls-")
        _TLS = make_tls(Path(_TLS_DIR.name))
    return _TLS


def trust_benchmark_ca() -> bool:
    """Add the benchmark CA to the default trust store (SSL_CERT_FILE = system bundle + our CA).

    Why: with `connection_verify=<ca file>` azure-core builds a new SSLContext for every request, and
    aiohttp keys its connection pool on the context, so every ARM GET would open a new TCP + TLS
    connection - an artefact of testing with a private CA that production (connection_verify=True,
    pooled keep-alive connections) does not have. aiohttp builds its default verified context when
    `aiohttp.connector` is imported, so this must run before that; returns False if it is too late.
    """
    global DEFAULT_CA_TRUSTED
    if "aiohttp.connector" in sys.modules:
        return False
    import ssl

    tls = tls_material()
    system = ssl.get_default_verify_paths().cafile or os.environ.get("SSL_CERT_FILE") or ""
    bundle = Path(tls.ca_file).with_name("bundle.pem")
    parts = []
    if system and Path(system).is_file():
        parts.append(Path(system).read_bytes())
    parts.append(Path(tls.ca_file).read_bytes())
    bundle.write_bytes(b"\n".join(parts))
    os.environ["SSL_CERT_FILE"] = str(bundle)
    DEFAULT_CA_TRUSTED = True
    return True


@contextlib.contextmanager
def arm_emulator() -> Iterator[ArmEmulatorProcess]:
    try:
        import pytest_httpserver  # noqa: F401
    except ImportError as err:
        raise Unavailable(f"the ARM emulator needs the dev requirements ({err.name} missing)") from err
    emu = ArmEmulatorProcess(tls_material())
    try:
        yield emu
    finally:
        emu.close()


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB (1 MB = 2**20 bytes)."""
    now = peak = 0.0
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return now, peak


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 1,000 samples is the 990th smallest)."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return ordered[int(rank) - 1]
