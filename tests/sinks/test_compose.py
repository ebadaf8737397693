"""The composition root picks the notifiers from Settings: Teams, the CloudEvents findings topic
(Settings.findings_topic_endpoint, the AKS_TRIAGE_FINDINGS_TOPIC_ENDPOINT app setting), both at once
behind the fan-out, card files for a local home, a log line when nothing is configured; and a
missing required edge is one error naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.azure.eventgrid import EventGridNotifier
from shared.compose import CompositionError, Parts, build_deps
from shared.local.card_files import FileNotifier
from shared.local.snapshot import Snapshot, SnapshotArmReader
from shared.notify.fanout import FanOutNotifier
from shared.notify.teams import LogOnlyNotifier, TeamsNotifier
from shared.settings import Settings
from tests.emulators.plugin import FakeAsyncCredential

TOPIC = "https://evgt-findings.westeurope-1.eventgrid.azure.net/api/events"
AZURE = dict(
    storage_account_url="https://acct.queue.example",
    logs_ingestion_endpoint="https://dce.example",
    dcr_immutable_id="dcr-1",
)


def notifier_of(settings: Settings, **parts: object):
    arm = SnapshotArmReader(Snapshot.from_obj({"resources": {}}))
    deps = build_deps(settings, Parts(arm=arm, credential=FakeAsyncCredential(), queues=False, **parts))
    return deps.publisher.notifier


def test_the_findings_topic_setting_adds_the_event_grid_sink() -> None:
    notifier = notifier_of(Settings(findings_topic_endpoint=TOPIC, **AZURE))
    assert isinstance(notifier, EventGridNotifier)


def test_teams_and_the_topic_fan_out_to_both() -> None:
    notifier = notifier_of(
        Settings(findings_topic_endpoint=TOPIC, teams_webhook_url="https://example.invalid/hook", **AZURE)
    )
    assert isinstance(notifier, FanOutNotifier)
    assert [type(n) for n in notifier.notifiers] == [TeamsNotifier, EventGridNotifier]


def test_local_home_writes_card_files_and_nothing_configured_logs(tmp_path: Path) -> None:
    assert isinstance(notifier_of(Settings(), home=tmp_path / "home"), FileNotifier)
    assert isinstance(notifier_of(Settings(**AZURE)), LogOnlyNotifier)


def test_a_missing_required_edge_names_its_setting() -> None:
    with pytest.raises(CompositionError, match="AKS_TRIAGE_STORAGE_ACCOUNT_URL"):
        notifier_of(Settings(logs_ingestion_endpoint="https://dce.example", dcr_immutable_id="dcr-1"))
    with pytest.raises(CompositionError, match="AKS_TRIAGE_LOGS_INGESTION_ENDPOINT"):
        notifier_of(Settings(storage_account_url="https://acct.queue.example"))
