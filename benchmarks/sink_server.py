"""Child process: the outbound edges of the app with injected latency, for the end-to-end benchmarks.

    python -m benchmarks.sink_server CERT KEY QUEUE_PORT TABLE_PORT
prints {"https_port", "token_port", "queue_port", "table_port"}, then answers one JSON line per
command on stdin: {"cmd": "latency", "teams": 0.3, "ingestion": 0.1, "storage": 0.01} | {"cmd": "log"}
| {"cmd": "clear_log"} | {"cmd": "quit"}.

* HTTPS (keep-alive, the benchmark CA): a Teams Workflows webhook (POST /workflows/... -> 202) and
  the Logs Ingestion API (POST /dataCollectionRules/{dcr}/streams/{stream} -> 204), each answering
  after its injected latency; the log holds (kind, arrival, finish) in time.monotonic() seconds
  (CLOCK_MONOTONIC: comparable with the benchmark's own process) and the number of rows ingested.
* HTTP: an App Service managed-identity endpoint (IDENTITY_ENDPOINT): a fixed token, so the
  production credential (ManagedIdentityCredential) runs without leaving loopback.
* Two delay lines in front of Azurite (queue and table ports): every byte from the client reaches
  Azurite `storage` seconds after it was sent (a one-way network delay, so each request/response
  round trip costs that much more; bodies that arrive together are delayed once, not per chunk).
  The number of requests is counted per service (a request = the first client bytes after a reply).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TEAMS_PATH = "/workflows/bench/triggers/manual/paths/invoke"
INGESTION_PREFIX = "/dataCollectionRules/"


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency = {"teams": 0.3, "ingestion": 0.1, "storage": 0.01}
        self.log: list[list[Any]] = []  # [kind, started, finished, rows]
        self.storage_requests = {"queue": 0, "table": 0}


def _https_handler(state: State) -> Any:
    from werkzeug.wrappers import Request, Response

    def handle(request: Request) -> Response:
        started = time.monotonic()
        if request.method == "POST" and request.path == TEAMS_PATH:
            kind, status, rows = "teams", 202, 1
        elif request.method == "POST" and request.path.startswith(INGESTION_PREFIX):
            raw = request.get_data()
            if request.headers.get("Content-Encoding", "").lower() == "gzip":
                raw = gzip.decompress(raw)
            kind, status, rows = "ingestion", 204, len(json.loads(raw))
        else:
            return Response("not found", status=404)
        time.sleep(state.latency[kind])
        with state.lock:
            state.log.append([kind, started, time.monotonic(), rows])
        return Response(status=status)

    return handle


class _TokenHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"access_token": "bench-token", "expires_on": str(int(time.time()) + 3600),
                           "resource": "https://management.azure.com", "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        return None


async def _delay_line(state: State, kind: str, target_port: int, ready: asyncio.Future[int]) -> None:
    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delayed: bool,
                   peer: list[bool]) -> None:
        loop = asyncio.get_running_loop()
        pending: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await pending.get()
                if not data:
                    break
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(forward())
        try:
            while True:
                data = await reader.read(65536)
                if delayed and data and peer[0]:  # first bytes after a reply: a new request
                    peer[0] = False
                    with state.lock:
                        state.storage_requests[kind] += 1
                elif not delayed and data:
                    peer[0] = True
                await pending.put((loop.time() + (state.latency["storage"] if delayed else 0.0), data))
                if not data:
                    break
        finally:
            await pending.put((0.0, b""))
            await sender

    async def on_client(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_w.close()
            return
        replied = [True]
        await asyncio.gather(pump(client_r, up_w, True, replied), pump(up_r, client_w, False, replied),
                             return_exceptions=True)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    ready.set_result(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def _start_delay_lines(state: State, queue_port: int, table_port: int) -> tuple[int, int]:
    loop = asyncio.new_event_loop()
    ports: dict[str, int] = {}
    started = threading.Event()
    lines: list[asyncio.Future[None]] = []  # the two servers' tasks, kept referenced

    def main() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            q: asyncio.Future[int] = loop.create_future()
            t: asyncio.Future[int] = loop.create_future()
            lines.append(asyncio.ensure_future(_delay_line(state, "queue", queue_port, q)))
            lines.append(asyncio.ensure_future(_delay_line(state, "table", table_port, t)))
            ports["queue"], ports["table"] = await q, await t
            started.set()

        loop.run_until_complete(boot())
        loop.run_forever()

    threading.Thread(target=main, daemon=True).start()
    started.wait(10)
    return ports["queue"], ports["table"]


def main(argv: list[str]) -> int:
    from tests.emulators.https_server import KeepAliveHTTPSServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    state = State()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(argv[0], argv[1])
    https = KeepAliveHTTPSServer(host="127.0.0.1", port=0, ssl_context=ctx)
    https.set_handler(_https_handler(state))
    https.start()
    token = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    token.daemon_threads = True
    threading.Thread(target=token.serve_forever, daemon=True).start()
    queue_port, table_port = _start_delay_lines(state, int(argv[2]), int(argv[3]))
    out = sys.stdout
    out.write(json.dumps({"https_port": https.port, "token_port": token.server_address[1],
                          "queue_port": queue_port, "table_port": table_port}) + "\n")
    out.flush()
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            reply: dict[str, Any] = {"ok": True}
            try:
                msg = json.loads(line)
                cmd = msg.get("cmd")
                if cmd == "latency":
                    with state.lock:
                        for k in ("teams", "ingestion", "storage"):
                            if k in msg:
                                state.latency[k] = float(msg[k])
                elif cmd == "log":
                    with state.lock:
                        reply = {"log": list(state.log), "storage_requests": dict(state.storage_requests)}
                elif cmd == "clear_log":
                    with state.lock:
                        state.log = []
                        state.storage_requests = {"queue": 0, "table": 0}
                elif cmd == "quit":
                    out.write(json.dumps(reply) + "\n")
                    out.flush()
                    break
                else:
                    reply = {"error": f"unknown command {cmd!r}"}
            except Exception as err:  # report and keep serving
                reply = {"error": f"{type(err).__name__}: {err}"}
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        https.stop()
        token.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
