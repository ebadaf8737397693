"""The Event Grid sink: the real EventGridPublisherClient over HTTPS to a local receiver; every event
checked against the CloudEvents 1.0 rules; same noise rules as Teams (one event per notice, the same
CloudEvents id on redelivery)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from shared.local.state import MemoryStateStore
from shared.noise import NoiseControl
from tests.emulators.plugin import FakeAsyncCredential
from tests.factories import make_finding, make_operation, make_success
from tests.sinks.conftest import FakeClock, NoiseTestSettings, RecordingSink

# CloudEvents 1.0 (spec section 3): required context attributes and the rules on each.
REQUIRED = ("id", "source", "specversion", "type")
NAME = re.compile(r"^[a-z0-9]{1,20}$")  # attribute names: lower-case letters and digits (<= 20 recommended)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
MEDIA_TYPE = re.compile(r"^[a-z]+/[a-z0-9.+-]+(;.*)?$")


def cloudevents_violations(ev: dict[str, Any]) -> list[str]:
    bad = [f"missing required attribute {a}" for a in REQUIRED if a not in ev]
    for name in ev:
        if name in ("data", "data_base64"):
            continue
        if not NAME.match(name):
            bad.append(f"attribute name {name!r} is not [a-z0-9]{{1,20}}")
    for a in ("id", "source", "type"):
        if a in ev and (not isinstance(ev[a], str) or not ev[a]):
            bad.append(f"{a} must be a non-empty string")
    if ev.get("specversion") != "1.0":
        bad.append(f"specversion {ev.get('specversion')!r} != '1.0'")
    if "subject" in ev and (not isinstance(ev["subject"], str) or not ev["subject"]):
        bad.append("subject, when present, must be a non-empty string")
    if "time" in ev and not (isinstance(ev["time"], str) and RFC3339.match(ev["time"])):
        bad.append(f"time {ev.get('time')!r} is not RFC 3339")
    if "datacontenttype" in ev and not MEDIA_TYPE.match(str(ev["datacontenttype"])):
        bad.append("datacontenttype is not an RFC 2046 media type")
    if "data" in ev and "data_base64" in ev:
        bad.append("data and data_base64 are exclusive")
    return bad


def test_the_validator_rejects_what_the_spec_rejects() -> None:
    assert cloudevents_violations({"id": "", "source": "s", "type": "t", "specversion": "0.3",
                                   "Time": "yesterday", "subject": ""}) == [
        "attribute name 'Time' is not [a-z0-9]{1,20}", "id must be a non-empty string",
        "specversion '0.3' != '1.0'", "subject, when present, must be a non-empty string"]
    assert cloudevents_violations({"source": "s", "type": "t", "specversion": "1.0", "time": "2026-13"}) == [
        "missing required attribute id", "time '2026-13' is not RFC 3339"]


class TopicReceiver:
    """An Event Grid custom topic: POST /api/events with a CloudEvents batch; 200 on success."""

    def __init__(self, server: HTTPServer) -> None:
        self.events: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        self.auth: list[str] = []
        self.fail_next = 0
        self.lock = threading.Lock()
        server.expect_request("/api/events", method="POST").respond_with_handler(self._handle)
        self.url = f"https://127.0.0.1:{server.port}/api/events"

    def _handle(self, request: Request) -> Response:
        with self.lock:
            self.auth.append(request.headers.get("Authorization", ""))
            if self.fail_next:
                self.fail_next -= 1
                return Response("busy", status=503)
            self.content_types.append(request.headers.get("Content-Type", ""))
            self.events.extend(json.loads(request.get_data()))
        return Response(status=200)


@pytest.fixture
def topic(tls: Any) -> Iterator[TopicReceiver]:
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=tls.server_context, threaded=True)
    server.start()
    try:
        yield TopicReceiver(server)
    finally:
        server.stop()


def make_notifier(topic: TopicReceiver, tls: Any) -> Any:
    from shared.azure.eventgrid import EventGridNotifier

    return EventGridNotifier(topic.url, FakeAsyncCredential("eg-token"), connection_verify=tls.ca_file,
                             retry_total=2, retry_backoff_factor=0.01)


async def test_noise_rules_give_one_valid_cloudevent_per_notice(topic: TopicReceiver, tls: Any,
                                                                sink: RecordingSink, clock: FakeClock) -> None:
    eg = make_notifier(topic, tls)
    nc = NoiseControl(MemoryStateStore(), sink, eg, clock, NoiseTestSettings())
    f = make_finding(op=make_operation(event_id="evt-eg-1"))
    try:
        await nc.publish(f)
        await nc.publish(f)  # redelivery: no second event
        clock.advance(minutes=5)
        await nc.publish(make_finding(op=make_operation(event_id="evt-eg-2")))  # grouped: no event
        clock.advance(minutes=5)
        await nc.resolve(make_success(event_id="evt-eg-ok"))
    finally:
        await eg.close()
    assert [e["type"] for e in topic.events] == ["AksTriage.Finding.Opened", "AksTriage.Finding.Resolved"]
    for ev in topic.events:
        assert cloudevents_violations(ev) == []
        assert ev["source"] == "/aks-triage/findings" and ev["subject"] == f.operation.cluster_id
        datetime.fromisoformat(ev["time"].replace("Z", "+00:00"))
    opened = topic.events[0]["data"]
    assert opened["notice"] == "opened" and opened["findings"][0]["finding_id"] == f.finding_id
    assert opened["findings"][0]["code"] == f.classification.code
    assert opened["findings"][0]["remediation"] == f.remediation and opened["findings"][0]["links"]
    assert all(ct.startswith("application/cloudevents-batch+json") for ct in topic.content_types)
    assert all(a == "Bearer eg-token" for a in topic.auth)


async def test_a_retried_notice_keeps_its_cloudevents_id(topic: TopicReceiver, tls: Any) -> None:
    from shared.notify.notice import Notice, NoticeItem, notice_id

    f = make_finding()
    notice = Notice(kind="opened", notice_id=notice_id("opened", "evt-x"), at=f.diagnosed_at,
                    cluster_id=f.operation.cluster_id, cluster_name=f.operation.cluster_name, window_min=60,
                    items=(NoticeItem(error_code=f.classification.code, finding=f, first_seen=f.diagnosed_at,
                                      occurrences=1, total=1),))
    eg = make_notifier(topic, tls)
    topic.fail_next = 1  # the first POST answers 503: the SDK retries it
    try:
        await eg.notify(notice)
        await eg.notify(notice)  # a retry of the whole notice (e.g. after a crash)
    finally:
        await eg.close()
    assert [e["id"] for e in topic.events] == [notice.notice_id, notice.notice_id]
    assert all(cloudevents_violations(e) == [] for e in topic.events)
