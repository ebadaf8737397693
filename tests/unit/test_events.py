"""Intake parsing over the real public payloads (tests/fixtures/events, copied from ../shared)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.events import ACCEPTED_EVENT_TYPES, EventError, Ignored, parse_event, parse_events
from shared.models import FailedOperation, OperationKind

EVENTS = Path(__file__).resolve().parent.parent / "fixtures" / "events"


# Public samples carry placeholders where ids go; real events carry GUIDs and names ARM accepts.
PLACEHOLDERS = {"{subscription-id}": "9f3c1f4e-8a8b-4c55-9d51-3c2d2b0b7e11", "{resource-group}": "rg-aks",
                "{cluster}": "aks-1"}


def load(name: str) -> object:
    text = (EVENTS / name).read_text(encoding="utf-8")
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return json.loads(text)


@pytest.mark.parametrize(
    ("name", "kind", "verb", "schema"),
    [
        ("eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json",
         OperationKind.WRITE_FAILURE, "update", "eventgrid"),
        ("ce.resources.ResourceWriteFailure.aks.rg-topic.constructed.json",
         OperationKind.WRITE_FAILURE, "update", "cloudevents"),
        ("eg.resources.ResourceActionFailure.aks.subscription-topic.constructed.json",
         OperationKind.ACTION_FAILURE, None, "eventgrid"),
        ("ce.resources.ResourceActionFailure.aks.rg-topic.constructed.json",
         OperationKind.ACTION_FAILURE, None, "cloudevents"),
        ("eg.resources.ResourceDeleteFailure.aks.subscription-topic.constructed.json",
         OperationKind.DELETE_FAILURE, "delete", "eventgrid"),
        ("ce.resources.ResourceDeleteFailure.aks.rg-topic.constructed.json",
         OperationKind.DELETE_FAILURE, "delete", "cloudevents"),
    ],
)
def test_resource_failure_events_become_failed_operations(name: str, kind: OperationKind, verb: str | None,
                                                          schema: str) -> None:
    (op,) = parse_events(load(name))
    assert isinstance(op, FailedOperation)
    assert op.kind is kind
    assert op.event_schema == schema
    suffix = "/providers/microsoft.containerservice/managedclusters/" + op.cluster_name.lower()
    assert op.cluster_id.lower().endswith(suffix)
    assert op.correlation_id and len(op.correlation_id) == 36
    if verb:
        assert op.verb == verb
    raw = load(name)
    data = (raw[0] if isinstance(raw, list) else raw)["data"]  # type: ignore[index]
    assert op.operation_name == data["operationName"]
    assert op.subscription_id == data["subscriptionId"]


def test_action_failure_keeps_agent_pool_and_action_verb() -> None:
    (op,) = parse_events(load("eg.resources.ResourceActionFailure.aks.subscription-topic.constructed.json"))
    assert isinstance(op, FailedOperation)
    if "/agentpools/" in op.resource_id.lower():
        assert op.agent_pool
        assert op.resource_id.lower().startswith(op.cluster_id.lower())


@pytest.mark.parametrize("name", [
    "eg.containerservice.NodePoolRollingFailed.eventgrid-schema.sdk-fixture.go.json",
    "ce.containerservice.NodePoolRollingFailed.constructed.json",
])
def test_nodepool_rolling_failed_takes_cluster_from_topic(name: str) -> None:
    (op,) = parse_events(load(name))
    assert isinstance(op, FailedOperation)
    assert op.kind is OperationKind.NODEPOOL_ROLLING_FAILED
    assert op.cluster_name == "aks-1"  # the subject is only the name; the id came from topic/source
    assert op.subscription_id == PLACEHOLDERS["{subscription-id}"]
    assert op.agent_pool == "nodepool1"
    assert op.resource_id.endswith("/agentPools/nodepool1")


def test_failure_sample_that_says_succeeded_is_still_a_failure() -> None:
    """Public failure samples carry status Succeeded: the event type decides, never data.status."""
    raw = load("eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json")
    raw[0]["data"]["status"] = "Succeeded"  # type: ignore[index]
    (op,) = parse_events(raw)
    assert isinstance(op, FailedOperation) and op.kind is OperationKind.WRITE_FAILURE


@pytest.mark.parametrize("name", [
    "eg.resources.ResourceWriteFailure.subscription-topic.sdk-fixture.dotnet.json",  # Event Grid RP, not AKS
    "ce.resources.ResourceWriteFailure.subscription-topic.sdk-fixture.go.json",
    "eg.containerservice.NodePoolRollingStarted.eventgrid-schema.sdk-fixture.go.json",
    "eg.containerservice.NewKubernetesVersionAvailable.eventgrid-schema.docs.json",
    "ce.resources.ResourceActionCancel.rg-topic.spec-example.json",
    "eg.resources.ResourceDeleteSuccess.rg-topic.eventgrid-schema.json",
])
def test_other_events_are_ignored_with_a_reason(name: str) -> None:
    for parsed in parse_events(load(name)):
        assert isinstance(parsed, Ignored)
        assert parsed.reason


def test_write_success_on_aks_is_kept_for_resolution() -> None:
    raw = load("eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json")
    raw[0]["eventType"] = "Microsoft.Resources.ResourceWriteSuccess"  # type: ignore[index]
    (op,) = parse_events(raw)
    assert isinstance(op, FailedOperation) and op.kind is OperationKind.WRITE_SUCCESS


def test_event_types_are_case_insensitive_and_ids_any_case() -> None:
    raw = load("eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json")[0]  # type: ignore[index]
    raw["eventType"] = raw["eventType"].upper()
    raw["data"]["resourceUri"] = raw["data"]["resourceUri"].lower()
    op = parse_event(raw)
    assert isinstance(op, FailedOperation)
    assert op.cluster_name == "aks-prod-01"


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda e: e.pop("id"), "id"),
    (lambda e: e.update(eventTime="yesterday"), "eventTime"),
    (lambda e: e.update(eventTime=12), "eventTime"),
    (lambda e: e.update(data="not an object"), "data"),
    (lambda e: e.update(id=""), "id"),
    (lambda e: e.update(eventType=None), "eventType"),
])
def test_malformed_events_name_the_field(mutate, field) -> None:  # type: ignore[no-untyped-def]
    raw = load("eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json")[0]  # type: ignore[index]
    mutate(raw)
    with pytest.raises(EventError) as info:
        parse_event(raw)
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize("payload", [b"\xff\xfe not utf8", "{not json", "42", "[1, 2]", '"a string"'])
def test_payloads_that_are_not_events_raise_event_error(payload: bytes | str) -> None:
    with pytest.raises(EventError):
        parse_events(payload)


def test_placeholder_ids_of_public_samples_are_not_arm_ids() -> None:
    raw = json.loads((EVENTS / "ce.containerservice.NodePoolRollingFailed.constructed.json").read_text())
    with pytest.raises(EventError) as info:
        parse_event(raw)
    assert info.value.field == "source"


def test_nodepool_event_with_bad_topic_is_rejected() -> None:
    raw = load("ce.containerservice.NodePoolRollingFailed.constructed.json")
    raw["source"] = "/subscriptions/x/resourceGroups/y"  # type: ignore[index]
    with pytest.raises(EventError) as info:
        parse_event(raw)  # type: ignore[arg-type]
    assert info.value.field == "source"


def test_accepted_types_cover_what_the_parser_handles() -> None:
    assert len(ACCEPTED_EVENT_TYPES) == 5
    for t in ACCEPTED_EVENT_TYPES:
        raw = load("eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json")[0]  # type: ignore[index]
        raw["eventType"] = t
        if "ContainerService" in t:
            raw["topic"] = raw["subject"]
            raw["subject"] = "aks-prod-01"
            raw["data"] = {"nodePoolName": "np1"}
        assert isinstance(parse_event(raw), FailedOperation)


def test_non_guid_correlation_id_is_dropped_not_trusted() -> None:
    raw = load("eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json")[0]  # type: ignore[index]
    raw["data"]["correlationId"] = "x' or 1==1 //"
    op = parse_event(raw)
    assert isinstance(op, FailedOperation) and op.correlation_id is None


def test_idempotency_key_is_stable_for_redeliveries() -> None:
    raw = load("eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json")
    a = parse_events(raw)[0]
    b = parse_events(json.loads(json.dumps(raw)))[0]
    assert isinstance(a, FailedOperation) and isinstance(b, FailedOperation)
    assert a.idempotency_key == b.idempotency_key


# --- AKS naming rules and invisible characters (issue 15.9) ------------------------------------

SUB_ID = "9f3c1f4e-8a8b-4c55-9d51-3c2d2b0b7e11"


def _write_failure(uri: str, **data: object) -> dict[str, object]:
    return {"id": "e-1", "eventType": "Microsoft.Resources.ResourceWriteFailure",
            "eventTime": "2024-11-21T12:35:10Z", "subject": uri,
            "data": {"resourceUri": uri, "operationName": "Microsoft.ContainerService/managedClusters/write",
                     "subscriptionId": SUB_ID, **data}}


def _uri(rg: str = "rg-aks", cluster: str = "aks-1", pool: str | None = None) -> str:
    base = f"/subscriptions/{SUB_ID}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{cluster}"
    return f"{base}/agentPools/{pool}" if pool is not None else base


@pytest.mark.parametrize("cluster", ["a", "A1", "aks_prod-01", "x" * 63, "a-b_c"])
def test_cluster_names_aks_accepts(cluster: str) -> None:
    op = parse_event(_write_failure(_uri(cluster=cluster)))
    assert isinstance(op, FailedOperation) and op.cluster_name == cluster


@pytest.mark.parametrize("cluster", ["x" * 64, "-aks", "aks-", "_aks", "aks_", "aks.1", "ak\u015b", "\uff41ks",
                                     "aks\u3164", "ak\u202es"])
def test_cluster_names_aks_rejects(cluster: str) -> None:
    with pytest.raises(EventError) as err:
        parse_event(_write_failure(_uri(cluster=cluster)))
    assert err.value.field == "resourceUri"


@pytest.mark.parametrize("pool", ["a", "nodepool1", "NP1", "abcdefghijkl", "win1"])
def test_pool_names_aks_accepts(pool: str) -> None:
    op = parse_event(_write_failure(_uri(pool=pool)))
    assert isinstance(op, FailedOperation) and op.agent_pool == pool


@pytest.mark.parametrize("pool", ["abcdefghijklm", "1pool", "np-1", "np_1", "n\u00e9", ""])
def test_pool_names_aks_rejects(pool: str) -> None:
    with pytest.raises(EventError):
        parse_event(_write_failure(_uri(pool=pool)))


@pytest.mark.parametrize("uri", [
    _uri(rg=".."), _uri(rg="."), _uri(rg="rg."),
    f"/subscriptions/{SUB_ID}/resourceGroups/rg/../rg2/providers/Microsoft.ContainerService/managedClusters/aks-1",
    _uri() + "/agentPools/..", _uri(rg="rg\u3164x"), _uri(rg="rg\u200ex"),
])
def test_dot_segments_and_invisible_characters_in_ids_are_rejected(uri: str) -> None:
    with pytest.raises(EventError) as err:
        parse_event(_write_failure(uri))
    assert err.value.field == "resourceUri"
    assert not any(c in str(err.value) for c in "\u3164\u200e")  # the message itself is clean


def test_nodepool_event_pool_name_follows_aks_rules() -> None:
    topic = _uri()
    good = {"id": "n1", "eventType": "Microsoft.ContainerService.NodePoolRollingFailed", "topic": topic,
            "eventTime": "2024-11-21T12:35:10Z", "data": {"nodePoolName": "np1"}}
    assert isinstance(parse_event(good), FailedOperation)
    for bad in ("np-1", "x" * 13, "np\u202e1"):
        with pytest.raises(EventError) as err:
            parse_event({**good, "data": {"nodePoolName": bad}})
        assert err.value.field == "data.nodePoolName"


INVISIBLES = ("\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066",
              "\u2067", "\u2068", "\u2069", "\U000e0041", "\U000e007f", "\u3164", "\uffa0", "\u2800", "\u2028",
              "\u2029", "\u200b", "\ufeff", "\x1b", "\x00")


@pytest.mark.parametrize("ch", INVISIBLES)
def test_invisible_and_bidi_characters_never_reach_the_operation(ch: str) -> None:
    op = parse_event(_write_failure(
        _uri(), claims={"name": f"ev{ch}il@contoso.example"},
        operationName=f"Microsoft.ContainerService/managedClusters/{ch}write") | {"id": f"e{ch}-1"})
    assert isinstance(op, FailedOperation)
    kept = [op.caller or "", op.operation_name or "", op.event_id]
    assert all(ch not in text for text in kept), kept
    assert op.caller == "evil@contoso.example" and op.event_id == "e-1"


def test_an_id_of_only_invisible_characters_is_rejected() -> None:
    with pytest.raises(EventError) as err:
        parse_event({**_write_failure(_uri()), "id": "\u202e\u200b"})
    assert err.value.field == "id"


def test_accepted_event_types_are_the_event_grid_sdk_system_event_names() -> None:
    from azure.eventgrid import SystemEventNames

    from shared.events import ACCEPTED_EVENT_TYPES, AKS_SYSTEM_TYPES, RESOURCE_FAILURE_TYPES

    sdk = [SystemEventNames.ResourceWriteFailureEventName, SystemEventNames.ResourceActionFailureEventName,
           SystemEventNames.ResourceDeleteFailureEventName, SystemEventNames.ResourceWriteSuccessEventName,
           SystemEventNames.ContainerServiceNodePoolRollingFailedEventName]
    assert list(ACCEPTED_EVENT_TYPES) == [str(n.value) for n in sdk]
    assert set(RESOURCE_FAILURE_TYPES) | set(AKS_SYSTEM_TYPES) == {t.lower() for t in ACCEPTED_EVENT_TYPES}
