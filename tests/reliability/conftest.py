"""Fixtures for the reliability tests: the ARM emulator, the sink receivers, Azurite, real clients."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server  # noqa: F401 (fixtures)
from tests.reliability.receivers import IngestionReceiver, TeamsReceiver


def _server(tls: Any) -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=tls.server_context, threaded=True)
    server.start()
    return server


@pytest.fixture(scope="session")
def _ingestion_server(tls: Any) -> Iterator[HTTPServer]:
    server = _server(tls)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _teams_server(tls: Any) -> Iterator[HTTPServer]:
    server = _server(tls)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ingestion(_ingestion_server: HTTPServer) -> Iterator[IngestionReceiver]:
    _ingestion_server.clear()
    yield IngestionReceiver(_ingestion_server)
    _ingestion_server.clear()


@pytest.fixture
def teams(_teams_server: HTTPServer) -> Iterator[TeamsReceiver]:
    _teams_server.clear()
    yield TeamsReceiver(_teams_server)
    _teams_server.clear()


@dataclass
class Queues:
    work: Any  # azure.storage.queue.aio.QueueClient the host loop uses
    poison: Any
    name: str


@pytest.fixture
async def queues(azurite: Any) -> AsyncIterator[Queues]:
    from azure.storage.queue.aio import QueueClient

    name = f"rel-{uuid.uuid4().hex[:12]}"
    work = QueueClient.from_connection_string(azurite.connection_string, name)
    poison = QueueClient.from_connection_string(azurite.connection_string, f"{name}-poison")
    await work.create_queue()
    await poison.create_queue()
    try:
        yield Queues(work, poison, name)
    finally:
        for q in (work, poison):
            await q.delete_queue()
            await q.close()


@pytest.fixture
def credential() -> FakeAsyncCredential:
    return FakeAsyncCredential()
