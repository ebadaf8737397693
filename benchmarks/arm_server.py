"""Child process: the tests' HTTPS ARM emulator, driven by JSON lines on stdin (see benchmarks.infra).

    python -m benchmarks.arm_server CERT KEY
prints {"port": N}, then answers one JSON line per command:
    {"cmd": "serve", "snapshot": {...}} | {"cmd": "latency", "seconds": 0.05} | {"cmd": "log"}
    {"cmd": "clear_log"} | {"cmd": "quit"}
    {"cmd": "rate_limit", "capacity": 250, "refill_per_s": 25} (capacity 0/absent: off) | {"cmd": "throttled"}
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
from typing import Any


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
                    emu.rate_limit = (SubscriptionRateLimit(float(msg["capacity"]), float(msg["refill_per_s"]))
                                      if msg.get("capacity") else None)
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
