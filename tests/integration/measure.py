"""Print the world matrix's measure: `python -m tests.integration.measure [world id ...]`.

Runs every world of tests/integration/worlds.py through the same production path as the test
(shared.offline -> shared.pipeline.process, full registry, snapshot ARM) and prints, per world, the
first-ranked check, whether it is the planted one and which decoys were blamed; then the totals
(planted first / total, worlds with a decoy blamed)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from tests.integration import worlds as W


async def measure(only: set[str]) -> int:
    first = blamed_worlds = total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for build in W.BUILDERS:
            world = build()
            if only and world.id not in only:
                continue
            total += 1
            finding = await W.diagnose(world, Path(tmp) / world.id)
            ranked = finding.root_causes
            ok = bool(ranked) and ranked[0] == world.planted
            blamed = [d.check for d in world.decoys if d.check in ranked]
            first += ok
            blamed_worlds += bool(blamed)
            top = ranked[0] if ranked else "-"
            sys.stdout.write(
                f"{'ok  ' if ok else 'MISS'} {world.id:52s} planted {world.planted:30s} first {top:30s}"
                f"{' decoys blamed: ' + ', '.join(blamed) if blamed else ''}\n"
            )
    sys.stdout.write(f"\nplanted cause first: {first}/{total}; worlds with a decoy blamed: {blamed_worlds}\n")
    return 0 if first == total and not blamed_worlds else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(measure(set(sys.argv[1:]))))
