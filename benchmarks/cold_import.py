"""Cold start: a fresh interpreter imports `function_app`, as the Functions worker does when it indexes.

Method (testing-real-components.md §3): one new process per sample, the timer inside the process
around the import, RSS from /proc/self/status right after it; median of 7 (3 with --fast). One
warm-up run first, with PYTHONDONTWRITEBYTECODE removed from its environment, so the app's own
__pycache__ exists like on a deployed app (site-packages was byte-compiled by pip at install time).

`cold_import_s` is the CPU time (time.process_time: user + sys of that process) of the import: on
an idle machine it equals the wall time within a few ms (the import is CPU-bound once files are in
the page cache), and unlike the wall time it does not grow with whatever else the machine runs.
The wall time is reported next to it (`cold_import_wall_s`, median, and `_wall_min_s`).

Besides the two keys the issue asks for, the same method measures what the *first invocation* of
each trigger adds on top (the handlers import lazily): `first_intake_import_s` (shared.handlers and
the message encoding; intake writes through queue output bindings, so no Storage queue SDK) and
`first_diagnose_import_s` (the ARM reader, classifier, checks, sinks).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.infra import ROOT

_PROBE = r"""
import json, sys, time
c0 = time.process_time()
t0 = time.perf_counter()
import function_app
t1 = time.perf_counter()
c1 = time.process_time()
def status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0]) / 1024
    return out
s1 = status()
extra = {}
mode = sys.argv[1]
if mode != "app":
    t2, c2 = time.perf_counter(), time.process_time()
    import shared.handlers, shared.azure.queue  # intake path: output bindings, no storage SDK
    t3, c3 = time.perf_counter(), time.process_time()
    extra["first_intake_import_s"] = t3 - t2
    extra["first_intake_import_cpu_s"] = c3 - c2
    if mode == "all":
        mods = ["shared.azure.arm", "azure.mgmt.resource.resources.aio", "azure.identity.aio",
                "shared.classify", "shared.checks.registry", "shared.checklib.ranking", "shared.errors",
                "shared.noise", "shared.azure.tables", "shared.azure.ingestion", "shared.notify.teams"]
        missing = []
        t4, c4 = time.perf_counter(), time.process_time()
        for m in mods:
            try:
                __import__(m)
            except ImportError as err:
                missing.append(f"{m}: {err}")
        extra["first_diagnose_import_s"] = time.perf_counter() - t4
        extra["first_diagnose_import_cpu_s"] = time.process_time() - c4
        extra["first_diagnose_missing"] = missing
    extra["all_rss_mb"] = status()["VmRSS"]
print(json.dumps({"import_s": t1 - t0, "import_cpu_s": c1 - c0, "rss_mb": s1["VmRSS"], "hwm_mb": s1["VmHWM"],
                  "modules": len(sys.modules), **extra}))
"""


def _env(write_bytecode: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _sample(mode: str, write_bytecode: bool = False) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, mode], cwd=str(ROOT), env=_env(write_bytecode),
                          capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"import probe failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(fast: bool = False, samples: int | None = None) -> dict[str, Any]:
    n = samples or (3 if fast else 7)
    _sample("all", write_bytecode=True)  # warm-up: writes the app's __pycache__ and warms the page cache
    app = [_sample("app") for _ in range(n)]
    full = [_sample("all") for _ in range(1 if fast else n)]
    missing = full[-1].get("first_diagnose_missing") or []
    med = statistics.median
    return {
        "cold_import_s": round(med(s["import_cpu_s"] for s in app), 4),
        "cold_import_rss_mb": round(med(s["hwm_mb"] for s in app), 1),
        "cold_import_wall_s": round(med(s["import_s"] for s in app), 4),
        "cold_import_wall_min_s": round(min(s["import_s"] for s in app), 4),
        "cold_import_modules": app[-1]["modules"],
        "first_intake_import_s": round(med(s["first_intake_import_cpu_s"] for s in full), 4),
        "first_intake_import_wall_s": round(med(s["first_intake_import_s"] for s in full), 4),
        "first_diagnose_import_s": round(med(s["first_diagnose_import_cpu_s"] for s in full), 4),
        "first_diagnose_import_wall_s": round(med(s["first_diagnose_import_s"] for s in full), 4),
        "all_paths_rss_mb": round(med(s["all_rss_mb"] for s in full), 1),
        "cold_import_samples": n,
        **({"first_diagnose_missing": missing} if missing else {}),
    }
