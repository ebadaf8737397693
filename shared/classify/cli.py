"""`aks-triage classify [--json] [TEXT | -]`: output formatting for the classifier.

Owns: turning a Classification into the JSON contract (code, category, subcategory, transient,
exit_status, docs, families, subcode, facts, confidence, matched_on first, then the remaining fields) or a
short human-readable block. shared.cli reads the input and prints what this returns.
"""

from __future__ import annotations

import json
from typing import Any

from shared.classify.engine import classify_text
from shared.models import Classification

CONTRACT_KEYS = ("code", "subcode", "category", "subcategory", "families", "transient", "exit_status", "docs",
                 "facts", "confidence", "matched_on")


def as_dict(c: Classification) -> dict[str, Any]:
    data = c.model_dump(mode="json")
    ordered = {k: data[k] for k in CONTRACT_KEYS}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    return ordered


def render_text(c: Classification) -> str:
    lines = [f"{c.code}  ({c.category}{'/' + c.subcategory if c.subcategory else ''})  {c.title}"]
    meta = [f"transient: {c.transient}", f"confidence: {c.confidence}", f"matched on: {c.matched_on}"]
    if c.exit_status is not None:
        meta.insert(0, f"exit status: {c.exit_status}")
    lines.append("  " + " | ".join(meta))
    if c.wrapper_codes:
        lines.append("  wrapped in: " + " > ".join(c.wrapper_codes))
    if c.causes:
        lines.append("  likely cause: " + c.causes[0])
    if c.guidance:
        lines.append("  what to do: " + c.guidance)
    if c.families:
        lines.append("  families: " + ", ".join(c.families))
    facts = c.facts.model_dump(mode="json", exclude_defaults=True)
    if facts:
        lines.append("  facts: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
    for url in c.docs[:5]:
        lines.append("  doc: " + url)
    return "\n".join(lines) + "\n"


def main_classify(text: str, as_json: bool) -> tuple[str, int]:
    """(output, exit code). 0 = classified (even at low confidence), 2 = nothing to classify."""
    if not text or not text.strip():
        return ("classify: empty input\n", 2)
    result = classify_text(text)
    if as_json:
        return (json.dumps(as_dict(result), indent=2, ensure_ascii=False) + "\n", 0)
    return (render_text(result), 0)
