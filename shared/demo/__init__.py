"""The bundled demo scenarios: one folder per seed failure under `scenarios/<slug>/` with
`event.json` (Event Grid ResourceWriteFailure), `snapshot.json` (the SnapshotArmReader format) and
`expected.json` ({"code": ..., "first_root_cause": ...})."""

from __future__ import annotations

from pathlib import Path

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"
FILES = ("event.json", "snapshot.json", "expected.json")


def scenarios() -> list[Path]:
    """Scenario folders (those with all three files), sorted by slug."""
    if not SCENARIOS_DIR.is_dir():
        return []
    return sorted(p for p in SCENARIOS_DIR.iterdir() if p.is_dir() and all((p / f).is_file() for f in FILES))
