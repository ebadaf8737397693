"""A small threaded HTTPS/1.1 server with keep-alive, for the emulators.

Why not pytest-httpserver alone: werkzeug's dev server answers every request with
`Connection: close`, so each request pays a new TCP + TLS handshake (10-20 ms on a loaded VM) that
real ARM does not charge; latency benchmarks then measure the emulator. This server keeps
connections alive (requests are fully drained: Content-Length bodies only, which is all the SDKs
send), runs each connection in its own thread (so injected latency overlaps like on a real
service), and hands handlers a real `werkzeug.Request`, answering with a `werkzeug.Response` - the
same interface `respond_with_handler` uses, so emulators work on either server.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

Handler = Callable[[Request], Response]


class _TlsThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], handler_cls: type[BaseHTTPRequestHandler],
                 ssl_context: ssl.SSLContext | None) -> None:
        super().__init__(addr, handler_cls)
        self.ssl_context = ssl_context
        self.app: Handler | None = None

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        if self.ssl_context is not None:
            # Handshake in the connection's thread (setup), not in the accept loop.
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections are dropped after this
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall
    server: _TlsThreadingServer

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path, _, query = self.path.partition("?")
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in ("content-length",)]
        builder = EnvironBuilder(path=path, method=self.command, query_string=query, headers=headers,
                                 data=body, base_url=f"https://{self.headers.get('Host', '127.0.0.1')}")
        try:
            request = builder.get_request()
        finally:
            builder.close()
        app = self.server.app
        if app is None:
            response = Response("no handler", status=500)
        else:
            try:
                response = app(request)
            except Exception as err:  # an emulator bug: answer 500 and keep serving
                response = Response(f"emulator error: {type(err).__name__}: {err}", status=500)
        data = response.get_data()
        self.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class KeepAliveHTTPSServer:
    """`HTTPServer`-like: `.port`, `.start()`, `.stop()`, `.url_for(path)`, and `set_handler(fn)`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self._server = _TlsThreadingServer((host, port), _RequestHandler, ssl_context)
        self.port = int(self._server.server_address[1])
        self.ssl_context = ssl_context
        self._thread: threading.Thread | None = None

    def set_handler(self, handler: Handler) -> None:
        self._server.app = handler

    def url_for(self, path: str) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}{path}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"emulator-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

