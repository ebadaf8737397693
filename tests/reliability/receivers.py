"""Local HTTPS stand-ins for the two outbound sinks, with fault plans (reliability tests only).

* `IngestionReceiver`: the Logs Ingestion API as the real `LogsIngestionClient` talks to it:
  POST /dataCollectionRules/{rule}/streams/{stream}?api-version=..., gzip JSON array body. Accepted
  rows are kept; a request answered with an injected fault keeps nothing (as the service does).
* `TeamsReceiver`: a Teams Workflows webhook: POST a message with an Adaptive Card; 202 on success.
  Only cards answered 2xx count as delivered.
Both run on real TLS (the session trustme CA) through pytest-httpserver, threaded. A fault plan is
a callable (receiver, request) -> (status, headers) | None, evaluated under the receiver's lock.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

Fault = tuple[int, dict[str, str]] | None


@dataclass
class Hit:
    at: float
    status: int
    path: str


@dataclass
class _Receiver:
    server: HTTPServer
    plan: Callable[[Any, Request], Fault] | None = None
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    def statuses(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for h in self.hits:
            out[h.status] = out.get(h.status, 0) + 1
        return out

    def _fault(self, request: Request) -> Fault:
        return self.plan(self, request) if self.plan is not None else None


class IngestionReceiver(_Receiver):
    def __init__(self, server: HTTPServer) -> None:
        super().__init__(server)
        self.rows: list[dict[str, Any]] = []
        self.authorization: list[str] = []
        server.expect_request("/dataCollectionRules/dcr-test/streams/Custom-AKSTriageFindings_CL",
                              method="POST").respond_with_handler(self._handle)

    def _handle(self, request: Request) -> Response:
        with self.lock:
            fault = self._fault(request)
            self.authorization.append(request.headers.get("Authorization", ""))
            if fault is not None:
                status, headers = fault
                self.hits.append(Hit(time.monotonic(), status, request.path))
                return Response(json.dumps({"error": {"code": "Throttled" if status == 429 else "ServiceUnavailable",
                                                      "message": "injected"}}),
                                status=status, headers=headers, content_type="application/json")
            raw = request.get_data()
            if request.headers.get("Content-Encoding", "").lower() == "gzip":
                raw = gzip.decompress(raw)
            rows = json.loads(raw)
            self.rows.extend(rows)
            self.hits.append(Hit(time.monotonic(), 204, request.path))
        return Response(status=204)


class TeamsReceiver(_Receiver):
    PATH = "/workflows/abc/triggers/manual/paths/invoke"

    def __init__(self, server: HTTPServer) -> None:
        super().__init__(server)
        self.cards: list[dict[str, Any]] = []
        server.expect_request(self.PATH, method="POST").respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        # A realistic Workflows URL: the sig= query parameter is the secret that grants posting.
        return (f"{self.base_url}{self.PATH}?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"
                "&sig=SECRETsig0123456789abcdef")

    def _handle(self, request: Request) -> Response:
        with self.lock:
            fault = self._fault(request)
            status = fault[0] if fault is not None else 202
            self.hits.append(Hit(time.monotonic(), status, request.path))
            if fault is not None:
                return Response("throttled" if status == 429 else "error", status=status, headers=fault[1])
            self.cards.append(json.loads(request.get_data()))
        return Response(status=202)


def card_facts(message: dict[str, Any]) -> dict[str, str]:
    """Fact title -> value of the first FactSet of a finding card (markdown-escaped text)."""
    body = message["attachments"][0]["content"]["body"]
    for block in body:
        if block.get("type") == "FactSet":
            return {f["title"]: f["value"] for f in block["facts"]}
    return {}


def unescape_md(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)
