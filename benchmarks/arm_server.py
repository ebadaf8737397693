"""Child process: the tests' HTTPS ARM emulator, driven by JSON lines on stdin (see benchmarks.infra).

    python -m benchmarks.arm_server CERT KEY
prints {"port": N}, then answers one JSON line per command:
    {"cmd": "serve", "snapshot": {...}} | {"cmd": "latency", "seconds": 0.05} | {"cmd": "log"}
    {"cmd": "clear_log"} | {"cmd": "quit"}
    {"cmd": "rate_limit", "capacity": 250, "refill_per_s": 25} (capacity 0/absent: off) | {"cmd": "throttled"}
    "rate_limit" may add "clock_file": PATH, a 16-byte file the benchmark maps and writes (base, mark)
    doubles into (benchmarks.scale_bench.SharedSimClock): the bucket then runs on the benchmark's
    simulated time, base + (CLOCK_MONOTONIC now - mark), instead of this process's real time.
"""

from __future__ import annotations

import json
import logging
import mmap
import ssl
import struct
import sys
import time
from collections.abc import Callable
from typing import Any


def _file_clock(path: str) -> Callable[[], float]:
    """Simulated seconds shared by another process: (base, mark) doubles at the start of `path`."""
    with open(path, "r+b") as f:
        mm = mmap.mmap(f.fileno(), 16)

    def now() -> float:
        while True:  # the writer may be half-way through: read until two reads agree
            a = mm[:16]
            if a == mm[:16]:
                base, mark = struct.unpack("2d", a)
                return float(base + (time.monotonic() - mark))

    return now


def main(argv: list[str]) -> int:
    from tests.emulators.arm_emulator import ArmEmulator, SubscriptionRateLimit
    from tests.emulators.https_server import KeepAliveHTTPSServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # Keep-alive like ARM: werkzeug's `Connection: close` made every request pay a new TCP + TLS
    # handshake (~20 ms), which is not what production sees (diagnose_request_floor_ms still reports it).
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(argv[0], argv[1])
    server = KeepAliveHTTPSServer(host="127.0.0.1", port=0, ssl_context=ctx)
    server.start()
    emu = ArmEmulator(server, "")
    out = sys.stdout
    out.write(json.dumps({"port": server.port}) + "\n")
    out.flush()
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            reply: dict[str, Any] = {"ok": True}
            try:
                msg = json.loads(line)
                cmd = msg.get("cmd")
                if cmd == "serve":
                    emu.serve(msg["snapshot"])
                elif cmd == "latency":
                    emu.latency_s = float(msg["seconds"])
                elif cmd == "rate_limit":
                    clock = _file_clock(msg["clock_file"]) if msg.get("clock_file") else time.monotonic
                    emu.rate_limit = (
                        SubscriptionRateLimit(float(msg["capacity"]), float(msg["refill_per_s"]), clock=clock)
                        if msg.get("capacity")
                        else None
                    )
                elif cmd == "throttled":
                    reply = {"throttled": emu.rate_limit.throttled if emu.rate_limit else 0}
                elif cmd == "clear_log":
                    with emu._lock:
                        emu.log = []
                        emu.max_in_flight = 0
                elif cmd == "log":
                    with emu._lock:
                        rows = [[r.method, r.path, r.query, r.started, r.finished, r.status] for r in emu.log]
                    reply = {"log": rows, "max_in_flight": emu.max_in_flight}
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
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
