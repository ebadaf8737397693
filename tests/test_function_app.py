"""The Functions app as the host sees it: indexed bindings, and invocations with binding objects
decoded from real JSON by the converters the Python worker uses. Queues are Azurite's.

Intake writes through two queue output bindings: each test passes a real `func.Out` (HostOut),
encodes what the function set with the worker's QueueMessageOutConverter, and writes each string
to Azurite as the host does after the function returns (`deliver`); the queue trigger then reads
those messages back through QueueMessageInConverter."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.queue import QueueMessageInConverter, QueueMessageOutConverter
from azure.functions.timer import TimerRequestConverter

import function_app
from shared import handlers
from shared.azure.queue import StorageWorkQueue
from shared.events import ACCEPTED_EVENT_TYPES, Ignored
from shared.pipeline import Deps, parse_work_item
from shared.settings import Settings
from tests.azurite_support import Azurite
from tests.conftest import indexed_functions

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "fixtures" / "events"
WRITE_FAILURE = "eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json"
Queues = tuple[StorageWorkQueue, StorageWorkQueue]


def functions() -> dict[str, Any]:
    return indexed_functions()


def test_indexed_bindings_are_what_the_host_reads() -> None:
    fns = functions()
    assert set(fns) == {"on_aks_event", "on_work_item", "on_escalation_timer"}
    eg = {b["name"]: b for b in (json.loads(raw) for raw in fns["on_aks_event"].get_raw_bindings())}
    assert eg["event"] == {"direction": "IN", "type": "eventGridTrigger", "name": "event"}
    assert set(eg) == {"event", "work", "poison"}
    for name, queue in (("work", Settings().work_queue), ("poison", f"{Settings().work_queue}-poison")):
        assert eg[name] == {"direction": "OUT", "type": "queue", "name": name, "queueName": queue,
                            "connection": "AzureWebJobsStorage"}
    # The worker accepts the annotation for a queue output (it refuses the function otherwise):
    # str, not the builtin list[str] its typing_inspect check rejects.
    hints = fns["on_aks_event"].get_user_function().__annotations__
    assert not QueueMessageOutConverter.check_output_type_annotation(list[str])
    for name in ("work", "poison"):
        (arg,) = hints[name].__args__
        assert arg is str and QueueMessageOutConverter.check_output_type_annotation(arg), hints[name]
    q = [json.loads(b) for b in fns["on_work_item"].get_raw_bindings()]
    assert q[0]["type"] == "queueTrigger" and q[0]["queueName"] == Settings().work_queue
    assert q[0]["connection"] == "AzureWebJobsStorage"
    t = [json.loads(b) for b in fns["on_escalation_timer"].get_raw_bindings()]
    assert t[0]["type"] == "timerTrigger" and t[0]["runOnStartup"] is False
    for f in fns.values():
        assert json.loads(f.get_function_json())["scriptFile"] == "function_app.py"


def _ncrontab_ok(expr: str) -> bool:
    """NCrontab with seconds (what the Functions host parses): 6 fields, each a list of ranges/steps."""
    fields = expr.split()
    if len(fields) != 6:
        return False
    bounds = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]
    for text, (lo, hi) in zip(fields, bounds, strict=True):
        for part in text.split(","):
            m = re.fullmatch(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?", part)
            if not m:
                return False
            if m[1] != "*":
                nums = [int(n) for n in m[1].split("-")]
                if any(n < lo or n > hi for n in nums):
                    return False
            if m[2] is not None and int(m[2]) == 0:
                return False
    return True


def test_timer_schedule_is_a_valid_ncrontab_expression() -> None:
    assert _ncrontab_ok(function_app.ESCALATION_SCHEDULE)
    assert not _ncrontab_ok("not a cron")
    assert not _ncrontab_ok("0 */5 * * *")  # 5 fields: the host wants seconds too


def test_host_json_reads_plain_json_queue_messages() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["queues"]["messageEncoding"] == "none"
    assert host["extensions"]["queues"]["maxDequeueCount"] >= 3


def decode_event(payload: dict[str, Any]) -> Any:
    return EventGridEventInConverter.decode(func.meta.Datum(json.dumps(payload), "json"), trigger_metadata={})


class _NoPublisher:
    async def publish(self, finding: Any) -> None:
        raise AssertionError("intake must not publish")


class HostOut(func.Out[str]):
    """What the Python worker hands an output-binding parameter: `set` stores, `get` returns."""

    def __init__(self) -> None:
        self._value: str | None = None

    def set(self, val: str) -> None:
        self._value = val

    def get(self) -> str:
        return self._value  # type: ignore[return-value]


def outputs() -> tuple[HostOut, HostOut]:
    return HostOut(), HostOut()


async def deliver(out: HostOut, queue: StorageWorkQueue) -> list[str]:
    """The host's side of a queue output binding: the worker encodes the value (a string, or a
    collection of strings), the host writes each string as one message, text as it is
    (messageEncoding "none")."""
    value = out.get()
    if value is None:
        return []
    datum = QueueMessageOutConverter.encode(value, expected_type=None)
    texts = json.loads(datum.value) if datum.type == "json" else [datum.value]
    assert all(isinstance(t, str) for t in texts), texts
    for text in texts:
        await queue.send_text(text)
    return texts


@pytest.fixture
def queues(azurite: Azurite, request: pytest.FixtureRequest) -> Queues:
    name = re.sub(r"[^a-z0-9]", "", request.node.name.lower())[:40] or "q"
    return (StorageWorkQueue(f"w{name}", connection_string=azurite.connection_string),
            StorageWorkQueue(f"w{name}-poison", connection_string=azurite.connection_string))


@pytest.mark.azurite
@pytest.mark.parametrize("name", [
    "eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json",
    "ce.resources.ResourceWriteFailure.aks.rg-topic.constructed.json",
    "eg.containerservice.NodePoolRollingFailed.eventgrid-schema.sdk-fixture.go.json",
    "ce.containerservice.NodePoolRollingFailed.constructed.json",
])
async def test_event_grid_trigger_writes_one_work_item_through_the_output_binding(name: str, queues: Queues) -> None:
    work, poison = queues
    from tests.unit.test_events import load

    raw: Any = load(name)
    payload: dict[str, Any] = raw[0] if isinstance(raw, list) else raw
    event = decode_event(payload)
    work_out, poison_out = outputs()
    await functions()["on_aks_event"].get_user_function()(event, work_out, poison_out)
    assert poison_out.get() is None  # nothing set: the host writes nothing to the poison queue
    (text,) = await deliver(work_out, work)
    got = await work.receive()
    assert [body for body, _ in got] == [text]  # the trigger reads exactly the text intake set
    item = parse_work_item(decode_queue_message(got[0][0]).get_body())
    assert item.op.event_id == payload["id"]
    assert item.op.event_type in ACCEPTED_EVENT_TYPES
    assert await poison.receive() == []
    await work.aclose()
    await poison.aclose()


@pytest.mark.azurite
async def test_malformed_event_is_dead_lettered_with_its_reason(queues: Queues) -> None:
    work, poison = queues
    payload = json.loads((EVENTS / WRITE_FAILURE).read_text())[0]
    payload["data"]["resourceUri"] = 42
    payload["subject"] = None
    work_out, poison_out = outputs()
    await functions()["on_aks_event"].get_user_function()(decode_event(payload), work_out, poison_out)
    assert work_out.get() is None
    await deliver(poison_out, poison)
    assert await work.receive() == []
    (body, _), = await poison.receive()
    msg = json.loads(body)
    assert "resourceUri" in msg["reason"]
    assert payload["id"] in msg["payload"]
    await work.aclose()
    await poison.aclose()


@pytest.mark.azurite
async def test_work_item_over_64_kb_is_dead_lettered_not_written(queues: Queues) -> None:
    """A work item the queue could not hold (a 70 KB cluster name) is dead-lettered with the reason,
    as the Storage client's 64 KB rule would; the binding never gets a message the host cannot write."""
    work, poison = queues
    payload = json.loads((EVENTS / WRITE_FAILURE).read_text())[0]
    huge = payload["data"]["resourceUri"] + "a" * 70_000
    payload["data"]["resourceUri"] = payload["subject"] = huge
    work_out, poison_out = outputs()
    await functions()["on_aks_event"].get_user_function()(decode_event(payload), work_out, poison_out)
    assert work_out.get() is None
    (text,) = await deliver(poison_out, poison)
    assert len(text.encode()) < 64 * 1024
    (body, _), = await poison.receive()
    assert payload["id"] in json.loads(body)["payload"]
    await work.aclose()
    await poison.aclose()


@pytest.mark.azurite
async def test_ignored_event_sets_no_output(queues: Queues) -> None:
    work, poison = queues
    payload = json.loads((EVENTS / "eg.resources.ResourceWriteSuccess.rg-topic.eventgrid-schema.json").read_text())
    payload = payload[0] if isinstance(payload, list) else payload
    work_out, poison_out = outputs()
    await functions()["on_aks_event"].get_user_function()(decode_event(payload), work_out, poison_out)
    assert work_out.get() is None and poison_out.get() is None
    assert await work.receive() == []
    assert await poison.receive() == []
    await work.aclose()
    await poison.aclose()


async def test_output_binding_queue_refuses_a_delay() -> None:
    """The binding cannot set a visibility delay; only the worker's Storage client defers."""
    q = handlers.OutputBindingQueue("work")
    with pytest.raises(ValueError, match="cannot delay"):
        await q.enqueue({"a": 1}, delay_s=30)
    await q.enqueue({"a": 1})
    assert q.messages == ['{"a":1}']


def decode_queue_message(body: str) -> func.QueueMessage:
    meta = {"Id": func.meta.Datum("m1", "string"), "DequeueCount": func.meta.Datum(1, "int")}
    message: func.QueueMessage = QueueMessageInConverter.decode(func.meta.Datum(body, "string"),
                                                                trigger_metadata=meta)
    return message


def test_timer_binding_decodes() -> None:
    timer = TimerRequestConverter.decode(
        func.meta.Datum(json.dumps({"IsPastDue": True, "Schedule": {}, "ScheduleStatus": {}}), "json"),
        trigger_metadata={})
    assert timer.past_due is True


@pytest.mark.azurite
async def test_event_to_finding_through_both_functions(queues: Queues, tmp_path: Path) -> None:
    """Event Grid trigger -> output binding -> Azurite queue (written as the host does) -> queue
    trigger (binding decoded from the real message) -> diagnosis on the seed snapshot -> one row in
    the local findings store, one card file."""
    from shared.compose import Parts, build_deps
    from shared.demo import scenarios
    from shared.local.card_files import FileNotifier
    from shared.local.snapshot import SnapshotArmReader
    from shared.local.sqlite_sink import SqliteFindingsSink, list_findings
    from shared.local.state import MemoryStateStore

    work, poison = queues
    (folder,) = [p for p in scenarios() if p.name == "apiserver-connfail-authorized-ranges"]
    expected = json.loads((folder / "expected.json").read_text())
    event = json.loads((folder / "event.json").read_text())
    event = event[0] if isinstance(event, list) else event
    handlers.set_deps(build_deps(Settings(), Parts(
        arm=SnapshotArmReader.from_file(folder / "snapshot.json"), state=MemoryStateStore(),
        sink=SqliteFindingsSink(tmp_path / "findings.db"), notifiers=[FileNotifier(tmp_path / "cards")],
        queue=work, dead_letters=poison)))
    try:
        work_out, poison_out = outputs()
        await functions()["on_aks_event"].get_user_function()(decode_event(event), work_out, poison_out)
        assert poison_out.get() is None
        await deliver(work_out, work)
        (body, receipt), = await work.receive()
        message = decode_queue_message(body)
        await functions()["on_work_item"].get_user_function()(message)
        await work.delete(receipt)
        # At-least-once: the same message delivered again must not add a row or a card.
        await functions()["on_work_item"].get_user_function()(decode_queue_message(body))
        timer = TimerRequestConverter.decode(
            func.meta.Datum(json.dumps({"IsPastDue": False, "Schedule": {}, "ScheduleStatus": {}}), "json"),
            trigger_metadata={})
        await functions()["on_escalation_timer"].get_user_function()(timer)
    finally:
        handlers.set_deps(None)
    rows = list_findings(tmp_path / "findings.db")
    assert len(rows) == 1
    assert rows[0]["ErrorCode"] == expected["code"] and rows[0]["RootCause"] == expected["first_root_cause"]
    assert len(list((tmp_path / "cards").glob("*.json"))) == 1
    assert await work.receive() == [] and await poison.receive() == []
    await work.aclose()
    await poison.aclose()


def test_handler_dead_letter_threshold_matches_host_json() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == handlers.MAX_DEQUEUE_COUNT


class _FailingErrors:
    async def fetch(self, op: Any, arm: Any = None, *, attempt: int = 0) -> Any:
        raise RuntimeError("ARM is on fire")


@pytest.mark.azurite
async def test_work_item_failing_on_its_last_attempt_is_dead_lettered_with_reason(queues: Queues) -> None:
    from shared.events import parse_events
    from shared.local.snapshot import Snapshot, SnapshotArmReader
    from shared.pipeline import WorkItem
    from tests.unit.test_events import load

    work, poison = queues
    (op,) = parse_events(load(WRITE_FAILURE))
    assert not isinstance(op, Ignored)
    body = WorkItem(op=op, enqueued_at=op.event_time).model_dump_json()
    handlers.set_deps(Deps(settings=Settings(), arm=SnapshotArmReader(Snapshot({}, [])), errors=_FailingErrors(),
                           publisher=_NoPublisher(), queue=work, dead_letters=poison))  # type: ignore[arg-type]
    fn = functions()["on_work_item"].get_user_function()
    try:
        early = decode_queue_message(body)
        with pytest.raises(RuntimeError):
            await fn(early)  # not the last attempt: raise so the host retries
        last = QueueMessageInConverter.decode(func.meta.Datum(body, "string"), trigger_metadata={
            "Id": func.meta.Datum("m1", "string"), "DequeueCount": func.meta.Datum(5, "int")})
        await fn(last)  # last attempt: dead-lettered with the reason, the host deletes it
        await fn(decode_queue_message("{not a work item"))  # unreadable: dead-lettered at once
    finally:
        handlers.set_deps(None)
    got = [json.loads(b) for b, _ in await poison.receive()]
    assert len(got) == 2
    assert "ARM is on fire" in got[0]["reason"] and "failed 5 times" in got[0]["reason"]
    assert op.event_id in got[0]["payload"]
    assert "invalid work item" in got[1]["reason"]
    await work.aclose()
    await poison.aclose()


@pytest.mark.parametrize(("cluster_state", "escalated"), [("Failed", True), ("Succeeded", False)])
async def test_timer_function_rechecks_the_cluster_before_escalating(cluster_state: str, escalated: bool,
                                                                     tmp_path: Path) -> None:
    """The indexed timer function re-reads the cluster: a group fixed by a later operation whose success
    event never arrived is resolved, not escalated."""
    from shared.compose import Parts, build_deps
    from shared.local.snapshot import Snapshot, SnapshotArmReader
    from shared.local.state import MemoryStateStore
    from tests.factories import T0, make_finding, make_operation
    from tests.sinks.conftest import FakeClock, RecordingNotifier, RecordingSink

    op = make_operation(cluster="aks-timer")
    arm = SnapshotArmReader(Snapshot.from_obj({"format_version": 2, "resources": {
        op.cluster_id: {"id": op.cluster_id, "properties": {"provisioningState": cluster_state}}}}))
    clock, notifier, sink = FakeClock(T0), RecordingNotifier(), RecordingSink()
    deps = build_deps(Settings(), Parts(arm=arm, state=MemoryStateStore(), sink=sink, notifiers=[notifier],
                                        clock=clock, queues=False))
    handlers.set_deps(deps)
    try:
        await deps.publisher.publish(make_finding(op=op, code="AllocationFailed", transient="true",
                                                  category="capacity"))
        clock.advance(hours=25)
        timer = TimerRequestConverter.decode(
            func.meta.Datum(json.dumps({"IsPastDue": False, "Schedule": {}, "ScheduleStatus": {}}), "json"),
            trigger_metadata={})
        await functions()["on_escalation_timer"].get_user_function()(timer)
    finally:
        handlers.set_deps(None)
    headlines = notifier.headlines()
    assert len(headlines) == (2 if escalated else 1), headlines
    assert any(h.startswith("Escalated: aks-timer") for h in headlines) is escalated
    assert sink.rows[-1]["Status"] == ("escalated" if escalated else "resolved"), sink.rows[-1]


_FRESH_INTAKE = r"""
import asyncio, json, sys
import azure.functions as func
from azure.functions.eventgrid import EventGridEventInConverter
import function_app
from tests.conftest import indexed_functions
from tests.test_function_app import HostOut

payload = json.loads(sys.argv[1])
event = EventGridEventInConverter.decode(func.meta.Datum(json.dumps(payload), "json"), trigger_metadata={})
work, poison = HostOut(), HostOut()
asyncio.run(indexed_functions()["on_aks_event"].get_user_function()(event, work, poison))
loaded = sorted(m for m in sys.modules if m.startswith(("azure.storage", "azure.identity", "azure.core", "msal"))
                or m in ("shared.checks.registry", "shared.classify", "shared.noise", "shared.azure.arm",
                         "azure.mgmt.resource", "azure.data.tables", "shared.notify.teams", "aiohttp",
                         "requests", "urllib3", "httpx"))
print(json.dumps({"loaded": loaded, "work": work.get(), "poison": poison.get()}))
"""


@pytest.mark.azurite
async def test_first_event_in_a_fresh_worker_builds_nothing_but_intake(queues: Queues, azurite: Azurite) -> None:
    """Production settings, nothing injected: the first Event Grid delivery in a fresh worker loads no
    storage SDK, no credential, no HTTP stack, no diagnosis; the host writes what it set."""
    import asyncio
    import os
    import subprocess
    import sys

    work, poison = queues
    payload = json.loads((EVENTS / WRITE_FAILURE).read_text())[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKS_TRIAGE_", "AZURE_", "IDENTITY_", "MSI_"))}
    env |= {"AKS_TRIAGE_STORAGE_ACCOUNT_URL": "https://127.0.0.1:9/", "AZURE_CLIENT_ID": "0000",
            "IDENTITY_ENDPOINT": "http://127.0.0.1:9/token"}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", _FRESH_INTAKE, json.dumps(payload)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["loaded"] == [] and got["poison"] is None
    assert isinstance(got["work"], str)
    out = HostOut()
    out.set(got["work"])
    await deliver(out, work)
    received = await work.receive()
    assert len(received) == 1 and parse_work_item(received[0][0]).op.event_id == payload["id"]
    await work.aclose()
    await poison.aclose()
