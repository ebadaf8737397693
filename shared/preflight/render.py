"""Pre-flight output: the JSON document, rows for table/tsv, text for people, and SARIF 2.1.0.

Owns the views of one Report. SARIF puts each prediction on the template line that declares the
resource (GitHub code scanning and Azure DevOps show it there): will_fail -> level error, at_risk ->
warning; rules are the checks, with their docs as helpUri.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from shared.preflight.model import Report

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_VERDICT_LINE = {"will_fail": "WILL FAIL", "at_risk": "AT RISK", "ok": "OK"}


def report_doc(report: Report) -> dict[str, Any]:
    doc: dict[str, Any] = report.model_dump(mode="json")
    return doc


def rows(report: Report) -> list[dict[str, Any]]:
    """One row per prediction (table / tsv); a single verdict row when nothing is predicted."""
    if not report.predictions:
        return [{"verdict": report.verdict, "operation": report.operation, "target": report.target.cluster_name,
                 "check": None, "code": None, "summary": "no failure predicted"}]
    return [{"verdict": p.status, "operation": report.operation, "target": report.target.cluster_name,
             "check": p.id, "code": p.predicted_code, "summary": p.summary} for p in report.predictions]


def text(report: Report) -> str:
    t = report.target
    where = f" (pool {t.agent_pool})" if t.agent_pool else ""
    lines = [f"{t.cluster_name}{where}: {report.operation} {_VERDICT_LINE[report.verdict]}",
             f"  target    {t.cluster_id}",
             f"  region    {t.region or '?'}   version {t.kubernetes_version or '(AKS default)'}"]
    lines += [f"  change    {c}" for c in report.changes]
    for i, p in enumerate(report.predictions, 1):
        code = f" -> {p.predicted_code}" if p.predicted_code else ""
        lines += ["", f"{i}. [{p.status}] {p.id}{code}", f"   {p.summary}"]
        if p.why_uncertain:
            lines.append(f"   uncertain: {p.why_uncertain}")
        if p.confirm_by:
            lines.append(f"   confirm by: {p.confirm_by}")
        if p.remediation:
            lines.append("   fix:")
            lines += [f"     {line}" for line in p.remediation.splitlines()]
        lines += [f"   doc: {d}" for d in p.docs[:3]]
    passed = sum(1 for c in report.checks if c.status.value == "pass")
    lines += ["", f"checks: {len(report.checks)} run, {passed} passed, {len(report.predictions)} predicted failures"]
    if report.unresolved:
        lines.append("not resolved (not guessed):")
        lines += [f"  {u.path}: {u.reason}" for u in report.unresolved[:20]]
        if len(report.unresolved) > 20:
            lines.append(f"  ... and {len(report.unresolved) - 20} more (-o json lists all)")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def _uri(file: str) -> str:
    """A repository-relative URI when the file is under the working directory (what code scanning maps)."""
    p = Path(file)
    try:
        rel = p.resolve().relative_to(Path(os.getcwd()).resolve())
        return rel.as_posix()
    except (ValueError, OSError):
        return p.as_posix()


def sarif(report: Report, *, tool_version: str = "unknown") -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    by_id = {c.id: c for c in report.checks}
    for p in report.predictions:
        if p.id not in index:
            index[p.id] = len(rules)
            check = by_id.get(p.id)
            rule: dict[str, Any] = {
                "id": p.id,
                "name": "".join(w.title() for w in p.id.split("_")),
                "shortDescription": {"text": (check.title if check and check.title else p.id)},
                "properties": {"tags": ["aks", "preflight"]},
            }
            if p.docs:
                rule["helpUri"] = p.docs[0]
                rule["help"] = {"text": "See " + ", ".join(p.docs[:3])}
            rules.append(rule)
        code = f" (AKS would fail with {p.predicted_code})" if p.predicted_code else ""
        message = f"{report.operation} {report.target.cluster_name}: {p.summary}{code}"
        if p.remediation:
            message += "\nFix: " + p.remediation
        loc: dict[str, Any] = {"logicalLocations": [{"name": report.target.cluster_name,
                                                     "fullyQualifiedName": report.target.cluster_id,
                                                     "kind": "resource"}]}
        if report.location is not None:
            loc["physicalLocation"] = {"artifactLocation": {"uri": _uri(report.location.file)},
                                       "region": {"startLine": max(1, report.location.line)}}
        item: dict[str, Any] = {
            "ruleId": p.id, "ruleIndex": index[p.id], "level": "error" if p.status == "will_fail" else "warning",
            "message": {"text": message}, "locations": [loc],
            "partialFingerprints": {"aksTriagePreflight/v1": f"{report.target.cluster_id.lower()}|{p.id}"},
            "properties": {"status": p.status, "confidence": p.confidence, "predictedCode": p.predicted_code,
                           "operation": report.operation},
        }
        results.append(item)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "aks-triage preflight", "version": tool_version, "rules": rules}},
            "results": results,
            "invocations": [{"executionSuccessful": True,
                             "properties": {"verdict": report.verdict, "operation": report.operation}}],
        }],
    }
