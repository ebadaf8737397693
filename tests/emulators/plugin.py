"""pytest fixtures for the local ARM / Log Analytics query emulator.

Register once in tests/conftest.py:  pytest_plugins = ["tests.emulators.plugin"]
(Until then, test modules import the fixtures they use from here.)
Needs the session `tls` fixture from tests/conftest.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.https_server import KeepAliveHTTPSServer


class FakeAsyncCredential:
    """An AsyncTokenCredential that hands out a fixed token and records the scopes asked for."""

    def __init__(self, token: str = "fake-token") -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(self, *scopes: str, **_kw: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> FakeAsyncCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@pytest.fixture(scope="session")
def arm_server(tls: Any) -> Iterator[ArmEmulator]:
    """One threaded keep-alive HTTPS server for the whole session."""
    server = KeepAliveHTTPSServer(host="127.0.0.1", port=0, ssl_context=tls.server_context)
    server.start()
    try:
        yield ArmEmulator(server, tls.ca_file)
    finally:
        server.stop()


@pytest.fixture
def arm_emulator(arm_server: ArmEmulator) -> Iterator[ArmEmulator]:
    """The emulator with empty state; serve a snapshot with `arm_emulator.serve(...)`."""
    arm_server.reset()
    yield arm_server
    arm_server.reset()


@pytest.fixture
def fake_credential() -> FakeAsyncCredential:
    return FakeAsyncCredential()
