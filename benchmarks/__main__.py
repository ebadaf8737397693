"""`python -m benchmarks [--json] [--fast] [--only NAME ...] [--samples N]`

Runs each component in a fresh interpreter (`python -m benchmarks._child NAME`), joins their
figures, compares them with the targets and prints a table (or, with --json, one JSON object:
the issue's keys, `targets_met` per key, the machine, and per-component details and errors).

Exit status: 0 whenever the benchmark ran, targets met or not (misses are printed); 1 when a
component crashed. A component whose prerequisite is missing (a module not written yet, Azurite
not installed) reports its keys as null with the reason, and does not fail the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

from benchmarks import KEYS, TARGETS
from benchmarks.infra import ROOT

# component -> the issue keys it produces
COMPONENTS: dict[str, tuple[str, ...]] = {
    "cold_import": ("cold_import_s", "cold_import_rss_mb"),
    "intake": ("intake_p99_ms",),
    "diagnose": ("diagnose_latency_ratio",),
    "burst": ("burst_reads_ratio", "peak_rss_mb"),
    "classify": ("classify_msgs_per_s", "classify_1mb_ms", "classify_10kb_msgs_per_s", "classify_worst_ms"),
    "e2e": ("card_latency_ratio", "row_latency_ratio"),
    "scale": ("scale_items_per_s_ratio", "scale_cpu_per_item_ratio", "scale_reads_ratio", "scale_rss_growth_mb",
              "scale_unanswered_429"),
    "state": ("state_resolve_flat_ratio", "state_timer_flat_ratio"),
    "cold_wiring": ("cold_intake_first_event_cpu_s", "cold_intake_rss_mb", "cold_first_finding_cpu_s",
                    "cold_http_stacks"),
    "queue_hop": ("queue_hop_p50_s",),
}
# Every component key is reported, also one not (yet) listed in benchmarks.KEYS.
ALL_KEYS: tuple[str, ...] = KEYS + tuple(k for keys in COMPONENTS.values() for k in keys if k not in KEYS)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    mem_gb = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "cpus": os.cpu_count(), "mem_gb": mem_gb, "loadavg_at_start": load}


def run_component(name: str, fast: bool, samples: int | None, timeout: float) -> dict[str, Any]:
    from benchmarks._child import MODULES

    if name not in MODULES:  # registered here but not in the child's table: say so, invent nothing
        return {"status": "unavailable", "error": f"benchmarks._child.MODULES has no entry for {name!r}"}
    cmd = [sys.executable, "-m", "benchmarks._child", name] + (["--fast"] if fast else [])
    if samples:
        cmd += ["--samples", str(samples)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"status": "crashed", "error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip()[-3000:]
        return {"status": "crashed", "error": f"exit {proc.returncode}: {tail}"}
    out: dict[str, Any] = json.loads(lines[-1])
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out


def met(key: str, value: Any) -> bool | None:
    if key not in TARGETS or not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    op, target = TARGETS[key]
    return value <= target if op == "<=" else value >= target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--fast", action="store_true", help="CI smoke: fewer samples/events, same code paths")
    p.add_argument("--only", nargs="+", choices=sorted(COMPONENTS), help="run only these components")
    p.add_argument("--samples", type=int, default=None, help="override the sample/event count (tiny smoke runs)")
    args = p.parse_args(argv)

    selected = args.only or list(COMPONENTS)
    timeout = 180.0 if args.fast else 2400.0  # the 10,000-event scale run alone takes ~10 min on 2 busy vCPUs
    started = time.monotonic()
    host = machine()  # before the run: the load average says how busy the machine already was
    figures: dict[str, Any] = {k: None for k in ALL_KEYS}
    details: dict[str, Any] = {}
    errors: dict[str, str] = {}
    crashed = False
    for name in COMPONENTS:
        if name not in selected:
            errors[name] = "not selected (--only)"
            continue
        if not args.json:
            print(f"running {name} ...", file=sys.stderr, flush=True)
        res = run_component(name, args.fast, args.samples, timeout)
        status = res.pop("status", "ok")
        if status != "ok":
            errors[name] = res.pop("error", status)
            crashed = crashed or status == "crashed"
        for key in COMPONENTS[name]:
            figures[key] = res.pop(key, None)
            if figures[key] is None and name not in errors:
                errors[name] = f"{key} missing from the component's result"
        details[name] = res

    targets_met = {k: met(k, figures[k]) for k in ALL_KEYS}
    report: dict[str, Any] = {
        **figures,
        "targets_met": targets_met,
        "targets": {k: f"{op} {v:g}" for k, (op, v) in TARGETS.items()},
        "fast": args.fast,
        "machine": {**host, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "details": details,
        "errors": errors,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    misses = [k for k, ok in targets_met.items() if ok is False]
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=False))
    else:
        print(render_table(report))
    if misses:
        print("targets missed: " + ", ".join(f"{k}={figures[k]} (target {report['targets'][k]})" for k in misses),
              file=sys.stderr)
    for name, why in errors.items():
        if why != "not selected (--only)":
            print(f"{name}: {why.splitlines()[0] if why else why}", file=sys.stderr)
    return 1 if crashed else 0


def render_table(report: dict[str, Any]) -> str:
    rows = [("key", "value", "target", "met")]
    for k in ALL_KEYS:
        v = report[k]
        ok = report["targets_met"][k]
        rows.append((k, "null" if v is None else f"{v:g}" if isinstance(v, (int, float)) else str(v),
                     report["targets"].get(k, "-"), {True: "yes", False: "NO", None: "-"}[ok]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    m = report["machine"]
    lines.append("")
    lines.append(f"machine: {m['cpu']} x{m['cpus']}, {m['mem_gb']} GB, Python {m['python']}, {m['platform']}, "
                 f"load average {m['loadavg_at_start']} -> {m['loadavg_at_end']}"
                 f"{'  (fast mode)' if report['fast'] else ''}; {report['elapsed_s']} s")
    for name, d in report["details"].items():
        if d:
            lines.append(f"{name}: " + ", ".join(f"{k}={v}" for k, v in d.items() if not isinstance(v, (dict, list))))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
