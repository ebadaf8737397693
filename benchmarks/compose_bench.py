"""Composition root build time: what `shared.compose.build_deps` costs each entry point.

`python -m benchmarks.compose_bench [--json] [--samples N]`

Two edges, each measured two ways:
- local (a home and a snapshot reader: the CLI / demo path): SQLite state + findings, card files,
  the local failure history;
- azure (settings of a deployed app: Table state, Logs Ingestion sink, Teams + Event Grid notifiers,
  Storage queues, the findings-table history), built with a credential that never asks for a token,
  so no network is touched: this is client construction only.

`*_first_s`: a fresh interpreter per sample (one warm-up first, so byte code exists), the timer inside
it around the first `build_deps`, which includes the lazy imports of every edge it builds: the cost a
cold Functions instance or a CLI run pays once. Median of the samples, CPU time (process_time) and
wall. `*_again_us`: the same process building again (imports done): the cost per build after that,
median of 200.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.infra import ROOT

_PROBE = r"""
import asyncio, json, sys, tempfile, time
from pathlib import Path
edge = sys.argv[1]

class NoTokenCredential:
    async def get_token(self, *scopes, **kw):
        raise RuntimeError("the benchmark never asks for a token")
    async def close(self):
        pass

def parts_and_settings():
    from shared.compose import Parts
    from shared.settings import Settings
    if edge == "local":
        from shared.local.snapshot import Snapshot, SnapshotArmReader
        home = Path(tempfile.mkdtemp(prefix="compose-bench-"))
        return Settings(), lambda: Parts(arm=SnapshotArmReader(Snapshot.from_obj({"resources": {}})),
                                         home=home, queues=False)
    settings = Settings(
        storage_account_url="https://acct.queue.core.windows.net",
        logs_ingestion_endpoint="https://dce-x.westeurope-1.ingest.monitor.azure.com",
        dcr_immutable_id="dcr-00000000000000000000000000000000",
        findings_workspace_id="00000000-0000-0000-0000-000000000000",
        teams_webhook_url="https://example.invalid/teams",
        findings_topic_endpoint="https://evgt-x.westeurope-1.eventgrid.azure.net/api/events",
    )
    from shared.local.snapshot import Snapshot, SnapshotArmReader
    return settings, lambda: Parts(credential=NoTokenCredential(),
                                   arm=SnapshotArmReader(Snapshot.from_obj({"resources": {}})))

async def main():
    c0, t0 = time.process_time(), time.perf_counter()
    from shared.compose import build_deps
    settings, parts = parts_and_settings()
    build_deps(settings, parts())
    first_cpu, first_wall = time.process_time() - c0, time.perf_counter() - t0
    again = []
    for _ in range(200):
        p = parts()
        t = time.perf_counter()
        build_deps(settings, p)
        again.append(time.perf_counter() - t)
    again.sort()
    print(json.dumps({"first_cpu_s": first_cpu, "first_wall_s": first_wall,
                      "again_us": again[len(again) // 2] * 1e6, "modules": len(sys.modules)}))

asyncio.run(main())
"""


def _sample(edge: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, edge], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"compose probe ({edge}) failed: {proc.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(samples: int = 5) -> dict[str, float]:
    out: dict[str, float] = {}
    for edge in ("local", "azure"):
        _sample(edge)  # warm-up: byte code on disk
        runs = [_sample(edge) for _ in range(samples)]
        out[f"compose_{edge}_first_s"] = round(statistics.median(r["first_cpu_s"] for r in runs), 4)
        out[f"compose_{edge}_first_wall_s"] = round(statistics.median(r["first_wall_s"] for r in runs), 4)
        out[f"compose_{edge}_again_us"] = round(statistics.median(r["again_us"] for r in runs), 1)
        out[f"compose_{edge}_modules"] = float(statistics.median(r["modules"] for r in runs))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compose_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = run(args.samples)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:32} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
