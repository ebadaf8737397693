"""ARM client hardening against the local HTTPS emulator, real azure-mgmt-resource client: a redirect
is an error (never followed, so the bearer token cannot follow it), and a Retry-After that is not a
number or a date falls back to the backoff instead of failing the read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.azure.arm import AzureArmReader, env_proxy_for
from shared.ports import ArmError
from shared.settings import Settings
from tests.emulators.arm_emulator import ArmEmulator, Fault
from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server, fake_credential  # noqa: F401
from tests.emulators.sample_data import CLUSTER_ID, failed_world

API = "2025-05-01"


@pytest.fixture
async def reader(arm_emulator: ArmEmulator,  # noqa: F811
                 fake_credential: FakeAsyncCredential) -> AsyncIterator[AzureArmReader]:  # noqa: F811
    arm_emulator.serve(failed_world())
    r = AzureArmReader(Settings(arm_retry_after_cap_s=0.2, arm_retry_total=2), credential=fake_credential,
                       base_url=arm_emulator.base_url, connection_verify=arm_emulator.ca_file,
                       retry_backoff_factor=0.01)
    yield r
    await r.aclose()


@pytest.mark.security
async def test_a_redirect_is_an_error_not_followed(reader: AzureArmReader,
                                                   arm_emulator: ArmEmulator) -> None:  # noqa: F811
    target = f"{arm_emulator.base_url}/elsewhere{CLUSTER_ID}?api-version={API}"
    arm_emulator.faults.append(Fault(CLUSTER_ID.lower(), 302, 1, headers={"Location": target}))
    with pytest.raises(ArmError) as err:
        await reader.get(CLUSTER_ID, API)
    assert err.value.status == 302
    assert not any(r.path.startswith("/elsewhere") for r in arm_emulator.log)


async def test_garbage_retry_after_falls_back_to_backoff(reader: AzureArmReader,
                                                         arm_emulator: ArmEmulator) -> None:  # noqa: F811
    arm_emulator.throttle(CLUSTER_ID, times=1, retry_after="soon, maybe")
    body = await reader.get(CLUSTER_ID, API)
    assert body["name"] == "aks-prod-01"
    assert [r.status for r in arm_emulator.requests_for(CLUSTER_ID)] == [429, 200]


async def test_a_read_has_a_total_deadline(arm_emulator: ArmEmulator,  # noqa: F811
                                           fake_credential: FakeAsyncCredential) -> None:  # noqa: F811
    # The socket read timeout (5 s) restarts with every byte; the whole read still ends at its
    # deadline (here: retry budget 1.2 s + 1 s < the 2.5 s the answer takes).
    arm_emulator.serve(failed_world())
    arm_emulator.latency_s = 2.5
    settings = Settings(check_timeout_s=1, arm_retry_total=0, arm_retry_after_cap_s=0.2)
    r = AzureArmReader(settings, credential=fake_credential, base_url=arm_emulator.base_url,
                       connection_verify=arm_emulator.ca_file)
    try:
        with pytest.raises(ArmError) as err:
            await r.get(CLUSTER_ID, API)
        assert err.value.code == "Timeout"
    finally:
        await r.aclose()


@pytest.mark.security
async def test_a_netrc_entry_for_the_arm_host_neither_breaks_reads_nor_replaces_the_token(
        reader: AzureArmReader, arm_emulator: ArmEmulator,  # noqa: F811
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session does not read the environment per request (no ~/.netrc, no proxy lookup, each a
    thread-pool hop per request): a .netrc naming the ARM host changes nothing, the bearer token goes."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-for-arm\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    body = await reader.get(CLUSTER_ID, API)
    assert body["id"].lower() == CLUSTER_ID.lower()
    assert arm_emulator.authorization_headers[-1].startswith("Bearer ")


def test_the_environment_proxy_for_arm_is_resolved_once_as_the_environment_says(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy_for("https://management.azure.com") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert env_proxy_for("https://management.azure.com") == "http://proxy.internal:3128"
    assert env_proxy_for("http://management.azure.com") is None  # no HTTP_PROXY
    monkeypatch.setenv("NO_PROXY", "localhost,.azure.com")
    assert env_proxy_for("https://management.azure.com") is None
    assert env_proxy_for("https://management.usgovcloudapi.net") == "http://proxy.internal:3128"


def test_the_reader_hands_the_environment_proxy_to_the_client_pipeline(
        monkeypatch: pytest.MonkeyPatch, fake_credential: FakeAsyncCredential) -> None:  # noqa: F811
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    r = AzureArmReader(Settings(), credential=fake_credential, base_url="https://management.azure.com")
    assert r._client._config.proxy_policy.proxies == {"https": "http://proxy.internal:3128"}
