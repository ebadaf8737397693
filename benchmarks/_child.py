"""One benchmark component in a fresh interpreter; prints one JSON line (see benchmarks.__main__)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import traceback
from typing import Any

MODULES = {
    "cold_import": ("benchmarks.cold_import", "samples"),
    "intake": ("benchmarks.intake_bench", "events"),
    "diagnose": ("benchmarks.diagnose_bench", "samples"),
    "burst": ("benchmarks.burst_bench", "events"),
    "classify": ("benchmarks.classify_bench", None),
    "e2e": ("benchmarks.e2e_bench", "samples"),
    "scale": ("benchmarks.scale_bench", "events"),
    "state": ("benchmarks.state_bench", "samples"),
    "cold_wiring": ("benchmarks.cold_wiring", "samples"),
    "queue_hop": ("benchmarks.queue_hop_bench", "samples"),
}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("name", choices=sorted(MODULES))
    p.add_argument("--fast", action="store_true")
    p.add_argument("--samples", type=int, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    module_name, size_arg = MODULES[args.name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            print(json.dumps({"status": "unavailable", "error": f"{module_name} does not exist yet"}))
            return 0
        raise
    from benchmarks.infra import Unavailable

    kwargs: dict[str, Any] = {"fast": args.fast}
    if args.samples and size_arg:
        kwargs[size_arg] = args.samples
    try:
        result = module.run(**kwargs)
    except Unavailable as err:
        print(json.dumps({"status": "unavailable", "error": str(err)}))
        return 0
    except Exception:
        traceback.print_exc()
        return 1
    print(json.dumps({"status": "ok", **result}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
