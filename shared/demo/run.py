"""`aks-triage demo`: every bundled scenario through the embedded default, and a table of what it found.

Owns the demo's loop and its output: per scenario the finding document (the CLI's JSON contract),
the card files (and PNG previews when Chromium is there), and one table row with the error code,
the top cause's one-line summary and whether it matched the scenario's expectation. Each scenario
is diagnosed at its snapshot's capture time, so "minutes since the event" means what it says.
Exit 0 when every scenario found its planted fault, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shared.demo import scenarios
from shared.local.snapshot import Snapshot

SUMMARY_CHARS = 90


def _cut(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def run_demo(out: Path, *, render_png: bool = True) -> int:
    from shared import offline
    from shared.render.contract import finding_doc
    from shared.render.present import cause_line, top_cause
    from shared.render.text import table

    out.mkdir(parents=True, exist_ok=True)
    cards_dir = out / "cards"
    for stale in ("findings.db", "state.db"):
        (out / stale).unlink(missing_ok=True)
    paths = scenarios()
    rows: list[tuple[str, ...]] = [("scenario", "code", "top cause", "expected", "ok")]
    ok_all = True
    errors = 0
    for i, folder in enumerate(paths, 1):
        sys.stderr.write(f"[{i}/{len(paths)}] diagnosing {folder.name} ...\n")
        sys.stderr.flush()
        event = json.loads((folder / "event.json").read_text(encoding="utf-8"))
        expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
        snapshot = folder / "snapshot.json"
        findings = await offline.diagnose_payload(event, snapshot=snapshot, error_text=None, home=out,
                                                  now=Snapshot.load(snapshot).captured_at,
                                                  cards_dir=cards_dir / folder.name)
        f = findings[0]
        top = top_cause(f)
        ok = f.classification.code == expected.get("code") and (top.id if top else None) == expected.get(
            "first_root_cause")
        ok_all = ok_all and ok
        errors += sum(1 for c in f.checks if c.status.value == "error")
        rows.append((folder.name, f.classification.code, _cut(f"{top.id}: {cause_line(f)}" if top else "-"),
                     str(expected.get("first_root_cause")), "yes" if ok else "NO"))
        (out / f"{folder.name}.finding.json").write_text(json.dumps(finding_doc(f), indent=2, default=str) + "\n",
                                                         encoding="utf-8")
        if render_png:
            try:
                from shared.render.preview import render_card_pngs

                render_card_pngs(cards_dir / folder.name)
            except Exception as err:  # the preview is a convenience; the JSON card is the artefact
                sys.stderr.write(f"  card preview skipped: {err}\n")
    sys.stdout.write(table(rows) + "\n")
    if errors:
        sys.stdout.write(f"\n{errors} check(s) could not decide (ERR): see the finding files\n")
    sys.stdout.write(f"\nfindings: {out / 'findings.db'} (aks-triage findings --home {out})\n")
    sys.stdout.write(f"cards:    {cards_dir}/\n")
    return 0 if ok_all else 1
