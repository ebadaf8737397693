"""atheris fuzz target: the Event Grid / CloudEvents parser (shared.events) and the work item.

Run bounded:  python tests/fuzz/fuzz_events.py -runs=20000 -max_total_time=20 [corpus_dir]
(tests/security/test_fuzz.py runs it in CI). A crash is any exception other than the declared
EventError, or a broken invariant of what the parser returns:
  * a FailedOperation's cluster id is a well-formed AKS cluster id (re-parses to the same parts),
  * its correlation id / tenant id are GUIDs or None (they end up in ARM filters and KQL),
  * it serialises into a WorkItem and back unchanged (the queue message contract).
Inputs come two ways (first byte decides): raw bytes straight into the payload reader, or a
well-formed envelope whose fields are fuzzed, so the fuzzer gets past json.loads quickly.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, run as a script

with atheris.instrument_imports(include=["shared"]):
    from shared.events import EventError, Ignored, iter_payload, parse_cluster_id, parse_event
    from shared.models import FailedOperation
    from shared.pipeline import WorkItem

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TYPES = ["Microsoft.Resources.ResourceWriteFailure", "Microsoft.Resources.ResourceActionFailure",
         "Microsoft.Resources.ResourceDeleteFailure", "Microsoft.Resources.ResourceWriteSuccess",
         "Microsoft.ContainerService.NodePoolRollingFailed", "Microsoft.Storage.BlobCreated"]
PREFIX = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
URIS = [PREFIX + "Microsoft.ContainerService/managedClusters/", PREFIX + "Microsoft.Network/virtualNetworks/",
        "/subscriptions/", ""]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _value(fdp: atheris.FuzzedDataProvider) -> object:
    kind = fdp.ConsumeIntInRange(0, 7)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeInt(8)
    if kind == 2:
        return fdp.ConsumeBool()
    if kind == 3:
        return [fdp.ConsumeUnicodeNoSurrogates(16)]
    if kind == 4:
        return {fdp.ConsumeUnicodeNoSurrogates(8): fdp.ConsumeUnicodeNoSurrogates(16)}
    return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 300))


def _structured(fdp: atheris.FuzzedDataProvider) -> dict[str, object]:
    cloud = fdp.ConsumeBool()
    uri = fdp.PickValueInList(URIS) + fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 200))
    data: dict[str, object] = {
        "resourceUri": uri if fdp.ConsumeBool() else _value(fdp),
        "operationName": _value(fdp),
        "correlationId": fdp.ConsumeUnicodeNoSurrogates(40) if fdp.ConsumeBool() else _value(fdp),
        "tenantId": _value(fdp),
        "status": _value(fdp),
        "claims": {"name": _value(fdp)} if fdp.ConsumeBool() else _value(fdp),
        "httpRequest": {"method": _value(fdp), "url": _value(fdp)} if fdp.ConsumeBool() else _value(fdp),
        "nodePoolName": _value(fdp),
    }
    time_value = "2026-11-21T10:00:00.1234567Z" if fdp.ConsumeBool() else _value(fdp)
    event: dict[str, object] = {
        "id": fdp.ConsumeUnicodeNoSurrogates(40) if fdp.ConsumeBool() else _value(fdp),
        "subject": _value(fdp),
        "data": data if fdp.ConsumeProbability() > 0.1 else _value(fdp),
    }
    etype = fdp.PickValueInList(TYPES) if fdp.ConsumeBool() else _value(fdp)
    if cloud:
        event.update({"specversion": "1.0", "type": etype, "time": time_value,
                      "source": uri if fdp.ConsumeBool() else _value(fdp)})
    else:
        event.update({"eventType": etype, "eventTime": time_value, "topic": uri if fdp.ConsumeBool() else _value(fdp),
                      "dataVersion": "1"})
    return event


def check_operation(op: FailedOperation) -> None:
    sub, rg, name, _pool = parse_cluster_id(op.cluster_id)
    assert (sub, rg, name) == (op.subscription_id, op.resource_group, op.cluster_name), op.cluster_id
    assert op.correlation_id is None or GUID.match(op.correlation_id), op.correlation_id
    assert op.tenant_id is None or GUID.match(op.tenant_id), op.tenant_id
    assert len(op.event_id) <= 128
    item = WorkItem(op=op, enqueued_at=T0)
    again = WorkItem.model_validate_json(item.model_dump_json())
    assert again == item, "work item does not round-trip"


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeIntInRange(0, 3) == 0:
        payload: object = fdp.ConsumeBytes(fdp.remaining_bytes())
    else:
        payload = json.dumps(_structured(fdp))
    try:
        events = list(iter_payload(payload))
    except EventError:
        return
    for event in events:
        try:
            parsed = parse_event(event)
        except EventError as err:
            assert str(err).startswith("invalid event: ")
            continue
        if isinstance(parsed, Ignored):
            assert isinstance(parsed.reason, str) and parsed.reason
            continue
        check_operation(parsed)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
