"""The composition root: the one place where the app's edges are chosen and wired.

Every entry point builds its `Deps` here: the Functions handlers (`shared.handlers`), the CLI and
the demo (through `shared.offline`), the benchmarks and the tests. They differ only in the `Parts`
they hand in (a snapshot reader, a local home for SQLite and card files, a fixed clock, emulator
clients); every part not handed in is built from `Settings`:

| edge          | Azure (settings present)                       | local (a `home` given)           |
| ------------- | ---------------------------------------------- | -------------------------------- |
| ARM           | `AzureArmReader` (process-wide, cached)        | `SnapshotArmReader` (handed in)  |
| error source  | `ArmErrorSource` (+ AzureActivity workspace)   | same, over the snapshot          |
| state         | `TableStateStore` (storage account / Azurite)  | `SqliteStateStore` (home)        |
| findings sink | `LogsIngestionSink` (DCE + DCR)                | `SqliteFindingsSink` (home)      |
| notifiers     | Teams webhook, Event Grid topic                | card files, unless Teams is set  |
| queues        | Storage queues (work + poison), built on use   | none (no deferral offline)       |
| history       | findings table via Logs Query (workspace id)   | the local findings store (home)  |

One credential per process is shared by every Azure client. Azure SDK modules are imported only
when the edge that needs them is built, so a local run never loads them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.pipeline import Deps, IntakeDeps, Publisher
from shared.ports import ArmReader, Clock, ErrorSource, FindingsSink, Notifier, StateStore, WorkQueue
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.models import FailedOperation, Finding

    History = Callable[[FailedOperation], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class SystemClock:
    """The app's one clock: wall time in UTC, or a fixed moment (replays, tests, the demo)."""

    fixed: datetime | None = None

    def now(self) -> datetime:
        return self.fixed or datetime.now(UTC)


class CompositionError(ValueError):
    """The settings do not say how to build a required edge (message names the setting)."""


@dataclass
class Parts:
    """Edges the caller supplies instead of having them built from settings.

    `home` selects the local edges (SQLite state and findings, card files) for whatever Azure
    settings do not configure; a snapshot reader comes in as `arm`. `queues=False` builds
    no work/poison queue (a one-shot run: errors not found yet become `Unknown` at once).
    """

    credential: Any = None  # AsyncTokenCredential shared by every Azure client
    arm: ArmReader | None = None
    errors: ErrorSource | None = None
    state: StateStore | None = None
    sink: FindingsSink | None = None
    notifiers: Sequence[Notifier] | None = None
    publisher: Publisher | None = None
    queue: WorkQueue | None = None
    dead_letters: WorkQueue | None = None
    queues: bool = True
    clock: Clock | None = None
    history: History | None = None
    home: Path | None = None
    cards_dir: Path | None = None
    noise_options: dict[str, Any] = field(default_factory=dict)  # NoiseControl keyword arguments


def _credential(parts: Parts) -> Any:
    if parts.credential is None:
        from shared.azure.credentials import make_async_credential

        parts.credential = make_async_credential()
    return parts.credential


def build_arm_reader(settings: Settings, parts: Parts) -> ArmReader:
    """ARM alone (the snapshot recorder needs nothing else)."""
    if parts.arm is not None:
        return parts.arm
    from shared.azure.arm import get_arm_reader

    return get_arm_reader(settings, credential=_credential(parts))


def _errors(settings: Settings, parts: Parts, arm: ArmReader, clock: Clock) -> ErrorSource:
    if parts.errors is not None:
        return parts.errors
    from shared.errors import ArmErrorSource

    workspace = None
    if parts.arm is None:  # the Azure reader: the AzureActivity workspace may back it up
        from shared.azure.activity_workspace import get_workspace_source

        workspace = get_workspace_source(settings, credential=_credential(parts))
    return ArmErrorSource(arm, workspace_query=workspace, now=clock.now,
                          activity_log_source=settings.activity_log_source)


def _state(settings: Settings, parts: Parts) -> StateStore:
    if parts.state is not None:
        return parts.state
    if parts.home is not None:  # a local run keeps its dedup state next to its findings
        from shared.local.state import SqliteStateStore

        return SqliteStateStore(parts.home / "state.db")
    if settings.storage_connection_string is not None or settings.storage_account_url:
        from shared.azure.tables import build_table_state_store

        return build_table_state_store(settings, None if settings.storage_connection_string else _credential(parts))
    raise CompositionError("no state store: set AKS_TRIAGE_STORAGE_ACCOUNT_URL (or run locally with a home)")


def _sink(settings: Settings, parts: Parts) -> FindingsSink:
    if parts.sink is not None:
        return parts.sink
    if settings.logs_ingestion_endpoint and settings.dcr_immutable_id:
        from shared.azure.ingestion import build_ingestion_sink

        return build_ingestion_sink(settings, _credential(parts))
    if parts.home is not None:
        from shared.local.sqlite_sink import SqliteFindingsSink

        return SqliteFindingsSink(parts.home / "findings.db")
    raise CompositionError("no findings sink: set AKS_TRIAGE_LOGS_INGESTION_ENDPOINT and AKS_TRIAGE_DCR_IMMUTABLE_ID")


def _notifiers(settings: Settings, parts: Parts) -> list[Notifier]:
    if parts.notifiers is not None:
        return list(parts.notifiers)
    out: list[Notifier] = []
    if settings.teams_webhook_url is not None:
        from shared.notify.teams import TeamsNotifier

        out.append(TeamsNotifier(settings.teams_webhook_url, max_per_second=settings.teams_max_per_second,
                                 workbook_url=settings.workbook_url))
    elif parts.home is not None:
        from shared.local.card_files import FileNotifier

        out.append(FileNotifier(parts.cards_dir or parts.home / "cards", workbook_url=settings.workbook_url))
    if settings.findings_topic_endpoint:
        from shared.azure.eventgrid import EventGridNotifier

        out.append(EventGridNotifier(settings.findings_topic_endpoint, _credential(parts),
                                     namespace_topic=settings.findings_namespace_topic))
    if not out:
        from shared.notify.teams import LogOnlyNotifier

        out.append(LogOnlyNotifier())
    return out


def _history(settings: Settings, parts: Parts, clock: Clock) -> History | None:
    """The failure history the capacity check reads (Deps.history), from our own findings.

    A local run reads its findings store; in Azure the findings table when
    AKS_TRIAGE_FINDINGS_WORKSPACE_ID is set. Without either the check says the history is unknown.
    """
    if parts.history is not None:
        return parts.history
    if parts.home is not None:
        from shared.local.sqlite_sink import SqliteFailureHistory

        return SqliteFailureHistory(parts.home / "findings.db", capacity_codes(), now=clock.now)
    if settings.findings_workspace_id:
        from shared.azure.findings_history import FindingsHistory

        return FindingsHistory(settings.findings_workspace_id, capacity_codes(), credential=_credential(parts),
                               now=clock.now)
    return None


def capacity_codes() -> tuple[str, ...]:
    """Error codes the catalog puts in the capacity family: other clusters' rows the history returns."""
    import re

    from shared.catalog.loader import catalog_index
    from shared.models import Family

    idx = catalog_index()
    codes = {reported for entry_id, reported in idx.codes.values()
             if (entry := idx.by_id.get(entry_id)) is not None and Family.CAPACITY in entry.families}
    return tuple(sorted(c for c in codes if re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]{0,99}", c)))


def _queues(settings: Settings, parts: Parts) -> tuple[WorkQueue | None, WorkQueue | None]:
    if not parts.queues or (parts.queue is not None and parts.dead_letters is not None):
        return parts.queue, parts.dead_letters
    if not settings.storage_account_url and settings.storage_connection_string is None:
        return parts.queue, parts.dead_letters
    # Built on first use: the worker enqueues only to defer or dead-letter a work item, so its usual
    # first finding imports no storage-queue SDK.
    from shared.azure.queue import LazyStorageWorkQueue

    conn = settings.storage_connection_string.get_secret_value() if settings.storage_connection_string else None
    credential = None if conn else _credential(parts)
    queue = parts.queue or LazyStorageWorkQueue(settings.work_queue, account_url=settings.storage_account_url,
                                                connection_string=conn, credential=credential)
    poison = parts.dead_letters or LazyStorageWorkQueue(f"{settings.work_queue}-poison",
                                                        account_url=settings.storage_account_url,
                                                        connection_string=conn, credential=credential)
    return queue, poison


def build_intake_deps(settings: Settings, parts: Parts | None = None) -> IntakeDeps:
    """Intake alone over Storage queue clients: the two queues and the clock, no ARM reader,
    classifier, checks or sinks. `shared.handlers.on_event` (the reliability harness, local runs);
    the Functions entry point writes through its queue output bindings instead and builds nothing."""
    parts = parts or Parts()
    clock = parts.clock or SystemClock()
    queue, dead_letters = _queues(settings, parts)
    return IntakeDeps(settings=settings, queue=queue, dead_letters=dead_letters, now=clock.now,
                      credential=parts.credential)


def build_deps(settings: Settings, parts: Parts | None = None) -> Deps:
    """The app, wired. The only function that chooses implementations for the ports."""
    parts = parts or Parts()
    if parts.home is not None:
        parts.home.mkdir(parents=True, exist_ok=True)
    clock = parts.clock or SystemClock()
    arm = build_arm_reader(settings, parts)
    errors = _errors(settings, parts, arm, clock)
    publisher = parts.publisher
    if publisher is None:
        from shared.noise import NoiseControl

        notifiers = _notifiers(settings, parts)
        notifier: Notifier = notifiers[0]
        if len(notifiers) > 1:
            from shared.notify.fanout import FanOutNotifier

            notifier = FanOutNotifier(notifiers)
        publisher = NoiseControl(_state(settings, parts), _sink(settings, parts), notifier, clock, settings,
                                 **parts.noise_options)
    queue, dead_letters = _queues(settings, parts)
    return Deps(settings=settings, arm=arm, errors=errors, publisher=publisher, queue=queue,
                dead_letters=dead_letters, now=clock.now, history=_history(settings, parts, clock))


def build_recheck(arm: ArmReader) -> Callable[[Finding], Awaitable[bool]]:
    """`recheck(finding) -> still failing?` for NoiseControl.escalate_due: re-read the cluster first.

    The timer escalates a group that stayed open past the escalation period; before it pages anyone it
    reads the cluster (and the agent pool the failed operation targeted) again. `Succeeded` means a
    later operation fixed it without a success event reaching us: the group is resolved, not escalated.
    A cluster that is gone is not failing either. Any other state (Failed, Updating, ...) or a read
    that fails (403, 5xx: cannot tell) keeps the old behaviour: still failing.
    """

    async def still_failing(finding: Finding) -> bool:
        from shared.checklib.base import API
        from shared.ports import ArmError, ArmNotFound

        op = finding.operation
        reader = arm.for_run()
        targets = [(op.cluster_id, API["managedClusters"])]
        if op.agent_pool:
            targets.append((f"{op.cluster_id}/agentPools/{op.agent_pool}", API["agentPools"]))
        for resource_id, api_version in targets:
            try:
                body = await reader.get(resource_id, api_version)
            except ArmNotFound:
                return False
            except ArmError:
                return True
            state = str((body.get("properties") or {}).get("provisioningState") or "")
            if state.casefold() != "succeeded":
                return True
        return False

    return still_failing
