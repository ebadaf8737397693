"""Cold start with the production wiring (issue 19, item 4): a fresh interpreter per sample runs what a
new Functions instance runs for its first event and its first finding.

Setup (this process): Azurite, the HTTPS ARM emulator and benchmarks.sink_server (Teams, Logs
Ingestion, the managed-identity token endpoint), no injected latency (this measures CPU and memory);
`AKS_TRIAGE_*` settings and IDENTITY_ENDPOINT in the environment as in benchmarks.e2e_bench, so
`shared.handlers.get_deps()` builds the production wiring (ManagedIdentityCredential, the Azure
ARM reader, Table state, the ingestion sink, the Teams notifier, Storage queues). Every sample uses
a new cluster (a new finding).

Per sample, two fresh processes (`_PROBE`), timed inside with time.process_time (user + sys of that
process) and VmHWM from /proc/self/status:
1. intake instance: `import function_app`, then the indexed `on_aks_event` with the decoded Event
   Grid event (its first invocation: settings, wiring, the queue client, one enqueue).
   `cold_intake_first_event_cpu_s` (<= 0.2 s) is that invocation's CPU; `cold_intake_rss_mb`
   (<= 45 MB) the VmHWM after it.
2. worker instance, OpenTelemetry on as the Python worker sets it up when
   PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true (infra/app/function.bicep, host.json
   telemetryMode OpenTelemetry): `configure_azure_monitor(connection_string=...)` first, then
   `import function_app`, then the indexed `on_work_item` with the work item the intake instance
   enqueued (received by this benchmark process and handed over, so the probe imports nothing for
   the receive). `cold_first_finding_cpu_s` (<= 0.6 s) = OpenTelemetry set-up + import + that first
   invocation; the same without OpenTelemetry and the set-up alone are reported next to it.
   The exporter points at the sink server (loopback), statsbeat is off and the resource detectors
   are limited to App Service's (environment only: no IMDS probe).

Reported with each: modules loaded, and which HTTP stacks are imported (aiohttp, httpx, anyio,
requests, urllib3) - `cold_http_stacks` is the number of those client stacks (aiohttp, httpx,
requests) loaded after the first finding.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.infra import ROOT, arm_emulator, azurite, sink_server, trust_benchmark_ca

STACKS = ("aiohttp", "httpx", "anyio", "requests", "urllib3", "msal", "h11", "httpcore")
CLIENT_STACKS = ("aiohttp", "httpx", "requests")

_PROBE = r"""
import json, os, sys, time
mode = sys.argv[1]
STACKS = %(stacks)r
def mem():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = round(int(v.split()[0]) / 1024, 1)
    return out
def point(**kw):
    return {"cpu_s": time.process_time(), "wall_s": time.perf_counter(), "modules": len(sys.modules),
            "stacks": [s for s in STACKS if s in sys.modules], **mem(), **kw}
pts = {"start": point()}
if mode == "otel":
    from azure.monitor.opentelemetry import configure_azure_monitor
    configure_azure_monitor(connection_string=os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"],
                            disable_offline_storage=True)
    pts["otel"] = point()
import function_app
import azure.functions as func
pts["import"] = point()
fns = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
import asyncio
payload = json.loads(sys.stdin.read())
async def main():
    if mode == "intake":
        from azure.functions.eventgrid import EventGridEventInConverter
        ev = EventGridEventInConverter.decode(func.meta.Datum(json.dumps(payload["event"]), "json"),
                                              trigger_metadata={})
        c = point()
        await fns["on_aks_event"](ev)
        pts["invoke_start"], pts["invoked"] = c, point()
    else:
        from azure.functions.queue import QueueMessageInConverter
        meta = {"Id": func.meta.Datum(payload["id"], "string"), "DequeueCount": func.meta.Datum(1, "int")}
        msg = QueueMessageInConverter.decode(func.meta.Datum(payload["body"], "string"), trigger_metadata=meta)
        c = point()
        await fns["on_work_item"](msg)
        pts["invoke_start"], pts["invoked"] = c, point()
asyncio.run(main())
print(json.dumps(pts))
"""


def _probe(mode: str, payload: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE % {"stacks": STACKS}, mode],
        cwd=str(ROOT),
        env=env,
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} probe failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    pts: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return pts


def _figures(pts: dict[str, Any]) -> dict[str, Any]:
    start, imp, a, b = pts["start"], pts["import"], pts["invoke_start"], pts["invoked"]
    otel = pts.get("otel")
    return {
        "otel_setup_cpu_s": round(otel["cpu_s"] - start["cpu_s"], 4) if otel else None,
        "otel_setup_rss_mb": round(otel["VmRSS"] - start["VmRSS"], 1) if otel else None,
        "import_cpu_s": round(imp["cpu_s"] - (otel or start)["cpu_s"], 4),
        "first_invocation_cpu_s": round(b["cpu_s"] - a["cpu_s"], 4),
        "first_invocation_wall_s": round(b["wall_s"] - a["wall_s"], 4),
        # process start -> after the first invocation, minus the probe's own decoding between import and call
        "total_cpu_s": round((imp["cpu_s"] - start["cpu_s"]) + (b["cpu_s"] - a["cpu_s"]), 4),
        "rss_after_import_mb": imp["VmRSS"],
        "hwm_after_invocation_mb": b["VmHWM"],
        "modules_after_import": imp["modules"],
        "modules_after_invocation": b["modules"],
        "stacks_after_invocation": b["stacks"],
    }


def run(fast: bool = False, samples: int | None = None) -> dict[str, Any]:
    from benchmarks.e2e_bench import QUEUE, _make_variant, _production_env
    from benchmarks.scenario import load_scenario

    n = samples or (1 if fast else 5)
    scn = load_scenario("connfail")
    pooled = trust_benchmark_ca()  # SSL_CERT_FILE: the probes inherit it (pooled, verified TLS)
    merged: dict[str, Any] = {"resources": {}, "activity_log": []}
    events = []
    for i in range(3 * n):  # intake, finding with OpenTelemetry, finding without: a new cluster each
        snap, ev = _make_variant(scn, 500 + i, "cluster_status")
        merged["resources"].update(snap["resources"])
        merged["activity_log"].extend(snap.get("activity_log", []))
        events.append(ev)
    runs: dict[str, list[dict[str, Any]]] = {"intake": [], "finding_otel": [], "finding": []}
    with azurite() as az, arm_emulator() as emu, sink_server(az) as sinks:
        emu.serve(merged)
        emu.set_latency(0.0)
        sinks.set_sink_latency(0.0, 0.0, 0.0)
        _production_env(emu, sinks)
        os.environ["AKS_TRIAGE_ARM_CACHE_TTL_S"] = "60"  # the default, as deployed
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(
            {
                "APPLICATIONINSIGHTS_CONNECTION_STRING": (
                    "InstrumentationKey=00000000-0000-0000-0000-0000000000a1;"
                    f"IngestionEndpoint={sinks.base_url}/;LiveEndpoint={sinks.base_url}/"
                ),
                "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_app_service",
            }
        )

        async def receive_one() -> dict[str, Any]:
            from shared.azure.queue import StorageWorkQueue

            q = StorageWorkQueue(QUEUE, connection_string=sinks.storage.connection_string)
            try:
                got = await q.receive(max_messages=1, visibility_timeout=600)
                if len(got) != 1:
                    raise RuntimeError(f"the intake probe enqueued {len(got)} work items")
                body, receipt = got[0]
                await q.delete(receipt)  # what the host does once the invocation returns
                return {"body": body, "id": str(receipt.id)}
            finally:
                await q.aclose()

        _probe("intake", {"event": events[-1]}, env)  # warm-up: __pycache__, page cache, the queue and table
        asyncio.run(receive_one())
        k = 0
        for _ in range(n):
            for kind in ("finding_otel", "finding"):
                runs["intake"].append(_figures(_probe("intake", {"event": events[k]}, env)))
                k += 1
                item = asyncio.run(receive_one())
                runs[kind].append(_figures(_probe("otel" if kind == "finding_otel" else "worker", item, env)))
        log, _ = sinks.sink_log()
    med = statistics.median

    def m(kind: str, key: str) -> Any:
        vals = [r[key] for r in runs[kind] if r[key] is not None]
        return round(med(vals), 4) if vals else None

    last = runs["finding_otel"][-1]
    return {
        "cold_intake_first_event_cpu_s": m("intake", "first_invocation_cpu_s"),
        "cold_intake_rss_mb": m("intake", "hwm_after_invocation_mb"),
        "cold_first_finding_cpu_s": m("finding_otel", "total_cpu_s"),
        "cold_http_stacks": sum(1 for s in CLIENT_STACKS if s in last["stacks_after_invocation"]),
        "cold_intake_import_cpu_s": m("intake", "import_cpu_s"),
        "cold_intake_modules": runs["intake"][-1]["modules_after_invocation"],
        "cold_intake_stacks": runs["intake"][-1]["stacks_after_invocation"],
        "cold_finding_no_otel_cpu_s": m("finding", "total_cpu_s"),
        "cold_finding_invocation_cpu_s": m("finding_otel", "first_invocation_cpu_s"),
        "cold_finding_invocation_wall_s": m("finding_otel", "first_invocation_wall_s"),
        "cold_otel_setup_cpu_s": m("finding_otel", "otel_setup_cpu_s"),
        "cold_otel_setup_rss_mb": m("finding_otel", "otel_setup_rss_mb"),
        "cold_finding_rss_mb": m("finding_otel", "hwm_after_invocation_mb"),
        "cold_finding_no_otel_rss_mb": m("finding", "hwm_after_invocation_mb"),
        "cold_finding_modules": last["modules_after_invocation"],
        "cold_finding_stacks": last["stacks_after_invocation"],
        "cold_cards_posted": sum(1 for r in log if r[0] == "teams"),
        "cold_samples": n,
        "cold_runs": runs,
        "tls_verify_default_store": pooled,
    }
