"""A finding as text for a terminal (`aks-triage diagnose`, `findings show`, the demo table).

Owns the human layout: the cause headline first ("<cluster>: <top cause>"), then the code, the
ranked checks, the fix indented as its own block (multi-line commands stay readable), the docs by
title and the portal links; findings separated by a blank line. Same wording as the Teams card
(shared.render.present). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from shared.models import CheckStatus, Finding
from shared.render.docs import doc_links, portal_links
from shared.render.present import (
    cause_line,
    code_label,
    evidence_label,
    indented,
    remediation_text,
    shown_evidence,
)

_MARK = {CheckStatus.FAIL: "FAIL", CheckStatus.PASS: "pass", CheckStatus.ERROR: "ERR ",
         CheckStatus.SKIPPED: "skip", CheckStatus.NOT_APPLICABLE: "n/a "}
EVIDENCE_VALUE_CHARS = 200


def _value(value: object) -> str:
    if isinstance(value, list):
        text = ", ".join(map(str, value)) or "(none)"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= EVIDENCE_VALUE_CHARS else text[: EVIDENCE_VALUE_CHARS - 1] + "…"


def finding_text(f: Finding) -> str:
    op = f.operation
    c = f.classification
    lines = [
        f"{op.cluster_name}: {cause_line(f)}",
        f"  {op.verb} failed with {code_label(f)} (resource group {op.resource_group}); "
        f"severity {f.severity}, category {c.category}, confidence {c.confidence}",
        f"  finding {f.finding_id}",
    ]
    if f.checks:
        lines.append("  checks (root causes first):")
    ranked = {cid: n for n, cid in enumerate(f.root_causes)}
    for r in sorted(f.checks, key=lambda r: (ranked.get(r.id, len(ranked)), r.status is not CheckStatus.FAIL)):
        lines.append(f"    [{_MARK[r.status]}] {r.id}: {' '.join(r.summary.split())}")
        if r.status is CheckStatus.FAIL:
            for e in shown_evidence(r)[:4]:
                lines.append(f"           {evidence_label(r.id, e.property)}: {_value(e.value)}")
    fix = remediation_text(f)
    if fix:
        lines.append("  fix:")
        lines += list(indented(fix))
    docs = doc_links(f)
    if docs:
        lines.append("  docs:")
        lines += [f"    {d.title}: {d.url}" for d in docs]
    lines.append("  portal:")
    lines += [f"    {link.title}: {link.url}" for link in portal_links(f)]
    return "\n".join(lines)


def findings_text(findings: Sequence[Finding]) -> str:
    """Several findings, a blank line between them."""
    return "\n\n".join(finding_text(f) for f in findings)


def table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart, the first row the header."""
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip() for r in rows)
