"""Cold start with the production wiring: a fresh interpreter per sample runs what a
new Functions instance runs for its first event and its first finding.

Setup (this process): Azurite, the HTTPS ARM emulator and benchmarks.sink_server (Teams, Logs
Ingestion, the managed-identity token endpoint), no injected latency (this measures CPU and memory);
`AKS_TRIAGE_*` settings and IDENTITY_ENDPOINT in the environment as in benchmarks.e2e_bench, so
`shared.handlers.get_deps()` builds the production wiring (ManagedIdentityCredential, the Azure
ARM reader, Table state, the ingestion sink, the Teams notifier, Storage queues built on first use).
Every sample uses a new cluster (a new finding).

The probes run on an interpreter with only requirements.lock installed (`.venv-runtime`, built on
first use and whenever the lock changes; `cold_interpreter` says which ran), because the Function App
has only those distributions and OpenTelemetry's set-up scans every installed one.

Per sample, two fresh processes (`_PROBE`), timed inside with time.process_time (user + sys of that
process) and VmHWM from /proc/self/status:
1. intake instance: `import function_app`, then the indexed `on_aks_event` with the decoded Event
   Grid event and two real `func.Out[str]` objects for its queue outputs (its first invocation).
   The host writes the outputs after the function returns; this benchmark process does that write
   (outside the probe: it is the host's work, not the Python worker's), with the worker's
   QueueMessageOutConverter and the text as-is. `cold_intake_first_event_cpu_s` (<= 0.2 s) is that
   invocation's CPU; `cold_intake_rss_mb` (<= 45 MB) the VmHWM after it.
2. worker instance, OpenTelemetry on as the Python worker sets it up when
   PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true (infra/app/function.bicep, host.json
   telemetryMode OpenTelemetry): the worker's own call, OTEL_EXPERIMENTAL_RESOURCE_DETECTORS
   defaulted to azure_functions, then `configure_azure_monitor(connection_string=...,
   logger_name="")`, with the OTEL_* / APPLICATIONINSIGHTS_* app settings that
   infra/app/function.bicep deploys, read from the Bicep (`deployed_telemetry_settings`); then
   `import function_app`, then the indexed `on_work_item` with the work item the intake instance
   set (written and received by this benchmark process and handed over, so the probe imports
   nothing for the receive). `cold_first_finding_cpu_s` (<= 0.6 s) = OpenTelemetry set-up + import
   + that first invocation; the same without OpenTelemetry and the set-up alone are reported next
   to it. The exporter and live metrics point at the sink server (loopback).

3. SDK import floor, right after each worker probe with OpenTelemetry: a fresh process runs the same
   OpenTelemetry set-up, then imports every module outside the app (not `shared.*`, not
   `function_app`) that the worker probe ended with, in the order they were loaded. No app code
   runs. `cold_finding_sdk_floor_cpu_s` is its median; `cold_finding_own_cpu_s` the median of the
   paired differences (finding minus its floor): our imports and everything the first invocation
   does, the SDKs' work on our calls included. CPU time on this kind of shared machine moves by
   +-30 % between runs; a paired difference moves far less.

Every probe first does what the Python worker does before it loads anything: the root logger at
INFO with a handler that formats each record for the host (`cold_finding_log_records` counts what
the first finding forwarded, `cold_finding_log_records_azure_sdk` those from `azure.*` loggers).

Reported with each: modules loaded, and which HTTP stacks are imported (aiohttp, httpx, anyio,
requests, urllib3, msal) - `cold_http_stacks` is the number of client stacks (aiohttp, httpx,
requests) loaded after the first finding with OpenTelemetry on; `cold_stack_forced_by` names, for
each stack loaded, the first importer outside it (which SDK forces it). One extra run of each
probe under `python -X importtime` gives `cold_import_top`: the packages whose imports cost the
most (self time summed per package, ms of wall time under that run's own overhead).
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
forced = {}
class _Who:
    # which module first imports each HTTP stack (the frame that asked, outside the stack itself)
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in STACKS and top not in forced and name == top:
            f = sys._getframe(1)
            while f is not None:
                mod = f.f_globals.get("__name__", "")
                if not mod.startswith(("importlib", "_frozen")) and mod.split(".")[0] != top and mod != "__main__":
                    break
                f = f.f_back
            forced[top] = f.f_globals.get("__name__", "?") if f is not None else "?"
        return None
sys.meta_path.insert(0, _Who())
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
import logging
class _Forward(logging.Handler):
    # The worker's gRPC log handler: the root logger at INFO, every record formatted and queued
    # for the host (azure_functions_worker.dispatcher sets this up before anything else runs).
    def __init__(self):
        super().__init__()
        self.sent = []
    def emit(self, record):
        self.sent.append((record.levelno, record.name, self.format(record)))
forward = _Forward()
logging.getLogger().setLevel(logging.INFO)
logging.getLogger().addHandler(forward)
if mode in ("otel", "floor"):
    # What azure_functions_worker's Dispatcher.initialize_azure_monitor does.
    os.environ.setdefault("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "azure_functions")
    from azure.monitor.opentelemetry import configure_azure_monitor
    configure_azure_monitor(connection_string=os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"),
                            logger_name=os.environ.get("PYTHON_AZURE_MONITOR_LOGGER_NAME", ""))
    pts["otel"] = point()
if mode == "floor":
    # The OpenTelemetry set-up, then every module outside the app that the first finding loaded,
    # imported in the order it was loaded: what any app on these SDKs and this worker pays.
    failed = 0
    for name in json.loads(sys.stdin.read())["modules"]:
        try:
            __import__(name)
        except Exception:
            failed += 1
    pts["import"] = pts["invoke_start"] = pts["invoked"] = point(failed=failed)
    print(json.dumps(pts))
    sys.exit(0)
import function_app
import azure.functions as func
pts["import"] = point()
fns = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
import asyncio
payload = json.loads(sys.stdin.read())
class Out(func.Out):
    def __init__(self):
        self.value = None
    def set(self, val):
        self.value = val
    def get(self):
        return self.value
async def main():
    if mode == "intake":
        from azure.functions.eventgrid import EventGridEventInConverter
        ev = EventGridEventInConverter.decode(func.meta.Datum(json.dumps(payload["event"]), "json"),
                                              trigger_metadata={})
        work, poison = Out(), Out()
        c = point()
        await fns["on_aks_event"](ev, work, poison)
        pts["invoke_start"], pts["invoked"] = c, point()
        pts["outputs"] = {"work": work.get(), "poison": poison.get()}
    else:
        from azure.functions.queue import QueueMessageInConverter
        meta = {"Id": func.meta.Datum(payload["id"], "string"), "DequeueCount": func.meta.Datum(1, "int")}
        msg = QueueMessageInConverter.decode(func.meta.Datum(payload["body"], "string"), trigger_metadata=meta)
        c = point()
        await fns["on_work_item"](msg)
        pts["invoke_start"], pts["invoked"] = c, point()
asyncio.run(main())
pts["forced_by"] = forced
pts["log_records"] = len(forward.sent)
pts["log_records_azure"] = sum(1 for _, name, _ in forward.sent if name.split(".")[0] == "azure")
OURS = ("shared", "function_app", "benchmarks", "tests", "__main__", "__mp_main__")
pts["loaded"] = [m for m in list(sys.modules) if m.split(".")[0] not in OURS]
print(json.dumps(pts))
sys.stdout.flush()
"""

# The OpenTelemetry app settings the Function App deploys (the rest of its settings are the
# AKS_TRIAGE_* ones the benchmark points at the emulators).
TELEMETRY_PREFIXES = ("OTEL_", "APPLICATIONINSIGHTS_", "PYTHON_APPLICATIONINSIGHTS_")
NOT_TELEMETRY_TUNING = ("APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING")


def deployed_telemetry_settings() -> dict[str, str]:
    """OTEL_* / APPLICATIONINSIGHTS_* app settings of infra/app/function.bicep, parsed from the Bicep
    (pycep), with literal values only (connection and authentication strings excluded)."""
    import re

    from pycep import BicepParser

    tpl = BicepParser().parse(file_path=ROOT / "infra" / "app" / "function.bicep")
    site = tpl["resources"]["functionApp"]["config"]
    out: dict[str, str] = {}
    for entry in site["properties"]["siteConfig"]["appSettings"]:
        name, value = entry["name"], entry["value"]
        if not name.startswith(TELEMETRY_PREFIXES) or name in NOT_TELEMETRY_TUNING:
            continue
        if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9_,]+", value):
            raise ValueError(f"{name}: not a literal setting value in function.bicep: {value!r}")
        out[name] = value
    if out.get("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY") != "true":
        raise ValueError("function.bicep does not turn the worker's OpenTelemetry on")
    return out


def _importtime_top(stderr: str, n: int = 12) -> list[tuple[str, float]]:
    """Self time per package from `python -X importtime` output (azure.x / shared.x kept apart)."""
    per: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = [f.strip() for f in line[len("import time:"):].split("|")]
        if len(fields) != 3 or not fields[0].isdigit():
            continue  # the header line
        parts = fields[2].split(".")
        key = ".".join(parts[:2]) if parts[0] in ("azure", "shared", "opentelemetry") else parts[0]
        per[key] = per.get(key, 0) + int(fields[0])
    return [(k, round(v / 1000, 1)) for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:n]]


RUNTIME_VENV = ROOT / ".venv-runtime"


def runtime_python() -> tuple[str, str]:
    """An interpreter with only the runtime lock installed, as the Function App has (the dev venv's
    test and lint tools add distributions that OpenTelemetry's entry-point scan reads at set-up).
    Built once per requirements.lock (hash-checked, from the same indexes as setup); the dev
    interpreter, said so, when it cannot be built."""
    import hashlib

    want = hashlib.sha256((ROOT / "requirements.lock").read_bytes()).hexdigest()[:16]
    py = RUNTIME_VENV / "bin" / "python"
    stamp = RUNTIME_VENV / ".runtime-lock"
    if py.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return str(py), f"runtime-only venv ({RUNTIME_VENV.name}, requirements.lock {want})"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(RUNTIME_VENV)], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--require-hashes", "-r",
                        str(ROOT / "requirements.lock")], check=True, capture_output=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as err:
        return sys.executable, f"dev venv (a runtime-only venv could not be built: {str(err)[:200]})"
    stamp.write_text(want + "\n")
    return str(py), f"runtime-only venv ({RUNTIME_VENV.name}, requirements.lock {want}, built now)"


PROBE_PYTHON = sys.executable


def _probe(mode: str, payload: dict[str, Any], env: dict[str, str], importtime: bool = False) -> dict[str, Any]:
    proc = subprocess.run(
        [PROBE_PYTHON, *(["-X", "importtime"] if importtime else []), "-c", _PROBE % {"stacks": STACKS}, mode],
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
    if importtime:
        pts["importtime_top"] = _importtime_top(proc.stderr)
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
        "forced_by": pts.get("forced_by", {}),
        "failed_imports": pts["invoked"].get("failed"),
        "log_records": pts.get("log_records"),
        "log_records_azure": pts.get("log_records_azure"),
    }


def run(fast: bool = False, samples: int | None = None) -> dict[str, Any]:
    from benchmarks.e2e_bench import QUEUE, _make_variant, _production_env
    from benchmarks.intake_bench import HostOut, host_write
    from benchmarks.scenario import load_scenario

    global PROBE_PYTHON
    n = samples or (1 if fast else 5)
    PROBE_PYTHON, interpreter = runtime_python()
    scn = load_scenario("connfail")
    telemetry = deployed_telemetry_settings()
    pooled = trust_benchmark_ca()  # SSL_CERT_FILE: the probes inherit it (pooled, verified TLS)
    merged: dict[str, Any] = {"resources": {}, "activity_log": []}
    events = []
    # intake, finding with OpenTelemetry, finding without (a new cluster each), then the two
    # importtime runs (intake, finding with OpenTelemetry)
    for i in range(3 * n + 2):
        snap, ev = _make_variant(scn, 500 + i, "cluster_status")
        merged["resources"].update(snap["resources"])
        merged["activity_log"].extend(snap.get("activity_log", []))
        events.append(ev)
    runs: dict[str, list[dict[str, Any]]] = {"intake": [], "finding_otel": [], "finding": [], "floor": []}
    with azurite() as az, arm_emulator() as emu, sink_server(az) as sinks:
        emu.serve(merged)
        emu.set_latency(0.0)
        sinks.set_sink_latency(0.0, 0.0, 0.0)
        _production_env(emu, sinks)
        os.environ["AKS_TRIAGE_ARM_CACHE_TTL_S"] = "60"  # the default, as deployed
        env = {k: v for k, v in os.environ.items()
               if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_"))}
        env.update(telemetry)  # exactly what infra/app/function.bicep deploys
        env.update({"FUNCTIONS_WORKER_RUNTIME": "python", "WEBSITE_SITE_NAME": "func-aks-triage-bench"})  # platform-set
        env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = (
            "InstrumentationKey=00000000-0000-0000-0000-0000000000a1;"
            f"IngestionEndpoint={sinks.base_url}/;LiveEndpoint={sinks.base_url}/"
        )

        async def host_side(outputs: dict[str, Any]) -> dict[str, Any]:
            """The host writes the intake outputs, then the queue trigger receives the work item."""
            from shared.azure.queue import StorageWorkQueue

            q = StorageWorkQueue(QUEUE, connection_string=sinks.storage.connection_string)
            try:
                if outputs.get("poison") is not None:
                    raise RuntimeError(f"intake dead-lettered the event: {outputs['poison'][:300]}")
                out = HostOut()
                out.set(outputs.get("work"))
                if len(await host_write(out, q)) != 1:
                    raise RuntimeError("the intake probe set no work item")
                got = await q.receive(max_messages=1, visibility_timeout=600)
                if len(got) != 1:
                    raise RuntimeError(f"the queue holds {len(got)} work items")
                body, receipt = got[0]
                await q.delete(receipt)  # what the host does once the invocation returns
                return {"body": body, "id": str(receipt.id)}
            finally:
                await q.aclose()

        warm = _probe("intake", {"event": events[-1]}, env)  # warm-up: __pycache__, page cache, queue, table
        asyncio.run(host_side(warm["outputs"]))
        k = 0
        for _ in range(n):
            for kind in ("finding_otel", "finding"):
                pts = _probe("intake", {"event": events[k]}, env)
                runs["intake"].append(_figures(pts))
                k += 1
                item = asyncio.run(host_side(pts["outputs"]))
                pts = _probe("otel" if kind == "finding_otel" else "worker", item, env)
                runs[kind].append(_figures(pts))
                if kind == "finding_otel":  # the floor right after the finding it mirrors
                    runs["floor"].append(_figures(_probe("floor", {"modules": pts["loaded"]}, env)))
        # One more of each under -X importtime (not in the medians: its own overhead is large).
        pts = _probe("intake", {"event": events[k]}, env, importtime=True)
        intake_top = pts["importtime_top"]
        item = asyncio.run(host_side(pts["outputs"]))
        finding_top = _probe("otel", item, env, importtime=True)["importtime_top"]
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
        "cold_finding_sdk_floor_cpu_s": m("floor", "total_cpu_s"),
        # our code's share, paired sample by sample (a machine that runs slower moves both alike)
        "cold_finding_own_cpu_s": round(med([a["total_cpu_s"] - b["total_cpu_s"]
                                             for a, b in zip(runs["finding_otel"], runs["floor"], strict=True)]), 4),
        "cold_finding_floor_failed_imports": runs["floor"][-1]["failed_imports"],
        # records the worker would forward to the host during set-up, import and the first finding
        "cold_finding_log_records": last["log_records"],
        "cold_finding_log_records_azure_sdk": last["log_records_azure"],
        "cold_finding_no_otel_cpu_s": m("finding", "total_cpu_s"),
        "cold_finding_invocation_cpu_s": m("finding_otel", "first_invocation_cpu_s"),
        "cold_finding_invocation_wall_s": m("finding_otel", "first_invocation_wall_s"),
        "cold_otel_setup_cpu_s": m("finding_otel", "otel_setup_cpu_s"),
        "cold_otel_setup_rss_mb": m("finding_otel", "otel_setup_rss_mb"),
        "cold_finding_rss_mb": m("finding_otel", "hwm_after_invocation_mb"),
        "cold_finding_no_otel_rss_mb": m("finding", "hwm_after_invocation_mb"),
        "cold_finding_modules": last["modules_after_invocation"],
        "cold_finding_stacks": last["stacks_after_invocation"],
        "cold_stack_forced_by": last["forced_by"],
        "cold_finding_no_otel_stacks": runs["finding"][-1]["stacks_after_invocation"],
        "cold_finding_no_otel_forced_by": runs["finding"][-1]["forced_by"],
        "cold_telemetry_settings": telemetry,
        "cold_interpreter": interpreter,
        "cold_import_top_intake_ms": intake_top,
        "cold_import_top_finding_ms": finding_top,
        "cold_cards_posted": sum(1 for r in log if r[0] == "teams"),
        "cold_samples": n,
        "cold_runs": runs,
        "tls_verify_default_store": pooled,
    }
