"""`aks-triage snapshot --cluster ID --out FILE --redact` as a user runs it: a real subprocess, the
production credential path (ManagedIdentityCredential, App Service flavour, against a loopback token
endpoint) and the real ARM reader over HTTPS against the local ARM emulator serving a demo world.

What must hold for the file to go into a support ticket: no subscription id, resource group or
resource name and no public IP of the original survives; private addresses stay (the diagnosis needs
them); the same original always becomes the same placeholder (references between resources still
resolve); the file says it is redacted and loads as a snapshot.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from shared.local.snapshot import Snapshot
from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.plugin import arm_emulator, arm_server  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "shared" / "demo" / "scenarios" / "apiserver-connfail-authorized-ranges" / "snapshot.json"
SUB = "00000000-0000-0000-0000-000000000000"
CLUSTER = (
    f"/subscriptions/{SUB}/resourceGroups/rg-aks-weu/providers/Microsoft.ContainerService/managedClusters/aks-weu-02"
)
ORIGINAL_NAMES = ("aks-weu-02", "rg-aks-weu", "rg-network-weu", "vnet-aks-weu", "snet-aks-nodes", "nsg-aks-weu-nodes")
CLIENT_ID = "22222222-2222-2222-2222-222222222222"
PUBLIC_IP = re.compile(r"\b(?:198\.51\.100|203\.0\.113)\.\d+\b")


def run_snapshot(
    out: Path, *extra: str, arm: ArmEmulator, token_url: str, home: Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKS_TRIAGE_", "AZURE_", "MSI_", "IDENTITY_"))}
    env |= {
        "AKS_TRIAGE_HOME": str(home),
        "AKS_TRIAGE_ARM_ENDPOINT": arm.base_url,
        "AKS_TRIAGE_ARM_RETRY_TOTAL": "0",
        "SSL_CERT_FILE": arm.ca_file,  # the emulator's CA, through the default SSL context
        "IDENTITY_ENDPOINT": token_url,
        "IDENTITY_HEADER": "secret-header",
        "AZURE_CLIENT_ID": CLIENT_ID,
    }
    return subprocess.run(
        [sys.executable, "-m", "shared", "snapshot", "--cluster", CLUSTER, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=180,
        check=False,
    )


@pytest.fixture
def served(arm_emulator: ArmEmulator, httpserver: Any) -> tuple[ArmEmulator, str]:  # noqa: F811
    arm_emulator.serve(Snapshot.load(WORLD))
    httpserver.expect_request("/msi/token", method="GET").respond_with_json(
        {
            "access_token": "msi-token",
            "expires_on": str(int(time.time()) + 3600),
            "resource": "https://management.azure.com",
            "token_type": "Bearer",
            "client_id": CLIENT_ID,
        }
    )
    return arm_emulator, httpserver.url_for("/msi/token")


@pytest.fixture
def files(served, tmp_path: Path) -> tuple[Path, Path, str]:
    """One unredacted and one redacted snapshot of the same world, both through the CLI."""
    arm, token_url = served
    plain_file, redacted_file = tmp_path / "plain.json", tmp_path / "redacted.json"
    plain = run_snapshot(plain_file, arm=arm, token_url=token_url, home=tmp_path / "home")
    assert plain.returncode == 0, plain.stderr
    redacted = run_snapshot(redacted_file, "--redact", arm=arm, token_url=token_url, home=tmp_path / "home")
    assert redacted.returncode == 0, redacted.stderr
    assert arm.authorization_headers and set(arm.authorization_headers) == {"Bearer msi-token"}
    return plain_file, redacted_file, redacted.stderr


def test_redacted_snapshot_is_a_consistent_redacted_file(files) -> None:
    plain_file, redacted_file, stderr = files
    assert "Traceback" not in stderr
    assert re.search(r"wrote \d+ resources to .*redacted\.json \(redacted\)", stderr), stderr

    # The control: the unredacted file does hold what the redacted one must not.
    plain_text = plain_file.read_text(encoding="utf-8")
    assert SUB in plain_text and "aks-weu-02" in plain_text and PUBLIC_IP.search(plain_text)

    text = redacted_file.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["redacted"] is True and doc["format_version"] == 2
    assert not PUBLIC_IP.search(text), PUBLIC_IP.findall(text)[:5]
    assert "10.241.0.4" in plain_text and "10.241.0.4" in text  # private addresses stay

    before, after = Snapshot.load(plain_file), Snapshot.load(redacted_file)
    assert len(after.resources) == len(before.resources) > 3
    for rid in after.resources:  # every stored id is rewritten: no original subscription, group or name
        assert SUB not in rid and not any(n in rid for n in ORIGINAL_NAMES), rid
    # One subscription in, one placeholder out: every id that had SUB has the same new GUID.
    subs = {rid.split("/")[2].lower() for rid in after.resources if rid.lower().startswith("/subscriptions/")}
    assert len(subs) == 1 and subs != {SUB}

    # References between resources still resolve: as many ids named in bodies are snapshot keys as before.
    def refs(obj: Any) -> set[str]:
        return {m.lower() for m in re.findall(r'"(/subscriptions/[^"]+)"', json.dumps(obj))}

    before_keys = {k.lower() for k in before.resources}
    after_keys = {k.lower() for k in after.resources}
    resolved_before = refs(json.loads(plain_text)["resources"]) & before_keys
    assert len(refs(doc["resources"]) & after_keys) == len(resolved_before) > 0


def test_no_original_subscription_group_or_name_survives_anywhere(files) -> None:
    _plain, redacted_file, _stderr = files
    text = redacted_file.read_text(encoding="utf-8")
    leaks = {n: text.count(n) for n in (SUB, *ORIGINAL_NAMES) if n in text}
    assert not leaks, leaks
