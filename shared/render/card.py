"""A Finding as a Teams message carrying an Adaptive Card (schema 1.5), for a Workflows webhook.

Owns: the card layout, the 28 KB budget, and the escaping of user-controlled text.

- Layout: the headline "<cluster>: <top cause>" in the severity colour with the operation and
  error code in the subtitle, facts, the ranked failing checks with their evidence under labels a
  person reads, the remediation command, the error message, at most three docs titled by the
  article's title (the root-cause check's first), the cluster's portal overview, Activity Log and
  Diagnose and solve problems blades (with the tenant), the workbook, occurrences.
- Budget: Power Automate Workflows webhooks reject payloads over 28 KB. The message is measured
  exactly as the notifier posts it (`encode_message`). Over budget, evidence goes first (shorter
  values, fewer items, none), then lower-ranked checks, then the error message; the cause line
  is never cut unless it alone would not fit.
- Escaping: error messages, names, evidence values and commands come from ARM or users. Text
  that Teams renders as markdown (TextBlock, Fact values) is sanitised and backslash-escaped so
  it cannot form links, images, mentions (`<at>`), HTML or headings; verbatim text (remediation
  command, error message) goes into RichTextBlock TextRuns, which never process markdown.
Pure: no I/O.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.models import Finding
from shared.render import docs as doc_links_module
from shared.render.present import (
    cause_line,
    code_label,
    evidence_label,
    ranked_failures,
    remediation_text,
    shown_evidence,
)
from shared.textsafe import INVISIBLE

MAX_CARD_BYTES = 28_000  # Workflows webhook limit is 28 KB; stay under both 28,000 and 28,672
PORTAL_BASE = doc_links_module.PORTAL_BASE
MAX_ACTIONS = 6  # Teams shows at most 6 card-level actions
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

# --- escaping ---------------------------------------------------------------------------------

# The ASCII punctuation that opens or closes inline markdown in Teams/markdown-it: links and
# images need `[` `]` (so `(` `)` and `!` stay readable), emphasis * _ ~, code `, HTML, autolinks
# and mentions < >, entities &, and the escape character itself.
_MD_INLINE = re.compile(r"([\\`*_\[\]<>~&])")
# Block syntax that only matters at the start of a line: headings, lists, quotes, rules.
_MD_LINE_START = re.compile(r"^(\s*)(\d*)([#+\-=>.)])", re.MULTILINE)


def clean_text(value: object, *, single_line: bool = False, limit: int | None = None) -> str:
    """Printable text: controls and invisible characters removed, optionally one line and cut."""
    text = unicodedata.normalize("NFC", str(value))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = INVISIBLE.sub("", text)
    if single_line:
        text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return text


def md_escape(value: object, *, single_line: bool = True, limit: int | None = None) -> str:
    """User text made inert for a markdown-rendering field (TextBlock.text, Fact.value)."""
    text = clean_text(value, single_line=single_line, limit=limit)
    text = _MD_INLINE.sub(r"\\\1", text)
    return _MD_LINE_START.sub(lambda m: m.group(1) + m.group(2) + "\\" + m.group(3), text)


def encode_message(message: dict[str, Any]) -> bytes:
    """The exact bytes the notifier posts (compact UTF-8 JSON); what the 28 KB budget measures."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- links --------------------------------------------------------------------------------------


def portal_url(cluster_id: str, portal_base: str = PORTAL_BASE, tenant_id: str | None = None) -> str:
    return doc_links_module.portal_url(cluster_id, tenant_id=tenant_id, portal_base=portal_base)


_safe_url = doc_links_module.safe_url
DOC_BUTTON_CHARS = 60  # Teams cuts longer button titles itself, mid-word


def doc_title(url: str) -> str:
    """The article's title (shared/catalog/doc_titles.json), cut to fit a button."""
    return clean_text(doc_links_module.doc_title(url), single_line=True, limit=DOC_BUTTON_CHARS)


# --- card pieces --------------------------------------------------------------------------------

_STYLE = {  # severity -> (container style, text colour)
    "critical": ("attention", "Attention"),
    "error": ("attention", "Attention"),
    "warning": ("warning", "Warning"),
    "info": ("accent", "Accent"),
}


@dataclass(frozen=True)
class Budget:
    """How much detail a card carries; `finding_card` walks LEVELS until the message fits."""

    evidence_chars: int
    evidence_per_check: int
    max_checks: int
    message_chars: int
    remediation_chars: int
    summary_chars: int = 4000


LEVELS: tuple[Budget, ...] = (
    Budget(300, 6, 5, 1500, 3000),
    Budget(150, 3, 5, 800, 3000),
    Budget(80, 1, 3, 400, 2000),
    Budget(0, 0, 3, 200, 1500),
    Budget(0, 0, 1, 0, 1000),
    Budget(0, 0, 0, 0, 500),
    Budget(0, 0, 0, 0, 300, summary_chars=1000),
)


def _text(text: str, **props: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **props}


def _verbatim(text: str, *, monospace: bool = False, subtle: bool = False) -> dict[str, Any]:
    """Text shown exactly as given: a TextRun never processes markdown."""
    run: dict[str, Any] = {"type": "TextRun", "text": text}
    if monospace:
        run["fontType"] = "Monospace"
    if subtle:
        run["isSubtle"] = True
    return {"type": "RichTextBlock", "inlines": [run]}


def _fact(title: str, value: object, limit: int = 300) -> dict[str, str]:
    return {"title": md_escape(title, limit=80), "value": md_escape(value, limit=limit) or "-"}


def _evidence_value(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _when(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _transient_label(value: str) -> str:
    return {"true": "transient", "false": "not transient"}.get(value, "may be transient")


def _message(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "msteams": {"width": "Full"},
        "body": body,
    }
    if actions:
        card["actions"] = actions[:MAX_ACTIONS]
    return card


def _link_actions(f: Finding, portal_base: str, workbook_url: str | None) -> list[dict[str, Any]]:
    """Portal blades and the workbook as buttons (Teams shows at most six); docs are listed in the body."""
    actions = [{"type": "Action.OpenUrl", "title": link.title, "url": link.url}
               for link in doc_links_module.portal_links(f, portal_base)]
    wb = _safe_url(workbook_url) if workbook_url else None
    if wb:
        actions.append({"type": "Action.OpenUrl", "title": "Open workbook", "url": wb})
    return actions


def _doc_block(f: Finding) -> list[dict[str, Any]]:
    """At most three docs as buttons titled by the article's title, in the body (card actions hold the portal)."""
    links = doc_links_module.doc_links(f)
    if not links:
        return []
    buttons = [{"type": "Action.OpenUrl", "title": doc_title(link.url), "url": link.url} for link in links]
    return [_text("Documentation", weight="Bolder", separator=True, spacing="Medium"),
            {"type": "ActionSet", "actions": buttons, "spacing": "Small"}]


def _check_blocks(f: Finding, b: Budget) -> tuple[list[dict[str, Any]], bool]:
    """Failing checks in rank order (root_causes first, then other FAIL results). -> (blocks, trimmed)."""
    ordered = ranked_failures(f)
    trimmed = len(ordered) > b.max_checks
    blocks: list[dict[str, Any]] = []
    for rank, check in enumerate(ordered[: b.max_checks], 1):
        title = md_escape(check.title or check.id, limit=120)
        items: list[dict[str, Any]] = [
            _text(f"**{rank}. {title}** ({md_escape(check.id, limit=80)}): {md_escape(check.summary, limit=600)}")
        ]
        evidence = shown_evidence(check)
        shown = evidence[: b.evidence_per_check] if b.evidence_chars > 0 else []
        trimmed = trimmed or len(shown) < len(evidence)
        if shown:
            facts = []
            for e in shown:
                raw = _evidence_value(e.value)
                trimmed = trimmed or len(raw) > b.evidence_chars
                facts.append(_fact(evidence_label(check.id, e.property), raw, b.evidence_chars))
            items.append({"type": "FactSet", "facts": facts, "spacing": "Small"})
        blocks.append({"type": "Container", "items": items, "spacing": "Medium"})
    return blocks, trimmed


def _finding_body(f: Finding, b: Budget, *, headline: str, style: str, colour: str, subtitle: str,
                  occurrences: str) -> list[dict[str, Any]]:
    op = f.operation
    body: list[dict[str, Any]] = [
        {"type": "Container", "style": style, "bleed": True, "items": [
            _text(headline, size="Large", weight="Bolder", color=colour),
            _text(subtitle, isSubtle=True, spacing="None"),
        ]},
        _text(md_escape(f.summary, limit=b.summary_chars), weight="Bolder", spacing="Medium"),
    ]
    facts = [
        _fact("Cluster", op.cluster_name, 100),
        _fact("Resource group", op.resource_group, 100),
        _fact("Subscription", op.subscription_id, 64),
    ]
    if op.agent_pool:
        facts.append(_fact("Agent pool", op.agent_pool, 64))
    facts += [
        _fact("Operation", f"{op.verb} ({op.operation_name})" if op.operation_name else op.verb, 200),
        _fact("Error code", code_label(f), 200),
        _fact("Occurrences", occurrences, 100),
        _fact("Time", _when(op.event_time), 40),
    ]
    if op.correlation_id:
        facts.append(_fact("Correlation ID", op.correlation_id, 64))
    if f.region:
        facts.append(_fact("Region", f.region, 40))
    body.append({"type": "FactSet", "facts": facts})

    checks, trimmed = _check_blocks(f, b)
    if checks:
        body.append(_text("Failing checks, most likely first", weight="Bolder", separator=True, spacing="Medium"))
        body.extend(checks)
    fix = remediation_text(f)
    if fix and b.remediation_chars > 0:
        body.append(_text("Remediation", weight="Bolder", separator=True, spacing="Medium"))
        body.append(_verbatim(clean_text(fix, limit=b.remediation_chars), monospace=True))
    if f.error.message and b.message_chars > 0:
        body.append(_text("Error message", weight="Bolder", separator=True, spacing="Medium"))
        body.append(_verbatim(clean_text(f.error.message, limit=b.message_chars), subtle=True))
    elif f.error.message:
        trimmed = True
    body.extend(_doc_block(f))
    if trimmed:
        body.append(_text(md_escape(f"Details trimmed to fit Teams' 28 KB card limit. All check results are "
                                    f"in Log Analytics: FindingId {f.finding_id}."),
                          isSubtle=True, size="Small", separator=True))
    return body


def _fit(build: Any) -> dict[str, Any]:
    """The first budget level whose message fits MAX_CARD_BYTES."""
    message: dict[str, Any] = {}
    for level in LEVELS:
        message = build(level)
        if len(encode_message(message)) <= MAX_CARD_BYTES:
            return message
    raise ValueError(f"card does not fit {MAX_CARD_BYTES} bytes even at the smallest level "
                     f"({len(encode_message(message))} bytes)")


def _occurrences(count: int, window_min: int | None, total: int | None, first_seen: datetime | None) -> str:
    text = f"{count}" + (f" in the last {window_min} min" if window_min and count > 1 else "")
    if total and total > count:
        text += f" ({total} since {_when(first_seen)})" if first_seen else f" ({total} in all)"
    return text


def finding_card(f: Finding, *, portal_base: str = PORTAL_BASE, workbook_url: str | None = None,
                 window_min: int | None = None, total_occurrences: int | None = None,
                 first_seen: datetime | None = None) -> dict[str, Any]:
    """The Teams message for a new finding (or a new window of a recurring one)."""
    style, colour = _STYLE.get(f.severity, _STYLE["error"])
    op = f.operation
    headline = f"{md_escape(op.cluster_name, limit=80)}: {md_escape(cause_line(f), limit=240)}"
    c = f.classification
    subtitle = (f"AKS {md_escape(op.verb, limit=20)} failed \u00b7 {md_escape(code_label(f), limit=160)}"
                f" \u00b7 severity {md_escape(f.severity)} \u00b7 {_transient_label(c.transient)}"
                f" \u00b7 confidence {md_escape(c.confidence)}")
    occ = _occurrences(f.occurrence_count, window_min, total_occurrences, first_seen)

    def build(level: Budget) -> dict[str, Any]:
        body = _finding_body(f, level, headline=headline, style=style, colour=colour, subtitle=subtitle,
                             occurrences=occ)
        return _message(_card(body, _link_actions(f, portal_base, workbook_url)))

    return _fit(build)


def escalation_card(f: Finding, *, open_since: datetime, now: datetime, occurrences: int,
                    portal_base: str = PORTAL_BASE, workbook_url: str | None = None) -> dict[str, Any]:
    """Still failing after the escalation threshold: the full finding under an escalation banner."""
    hours = max(0.0, (now - open_since).total_seconds() / 3600)
    op = f.operation
    headline = (f"Escalated: {md_escape(op.cluster_name, limit=80)}: {md_escape(cause_line(f), limit=240)}")
    subtitle = (f"Still failing after {hours:.0f} h \u00b7 {md_escape(code_label(f), limit=160)} \u00b7 "
                f"open since {_when(open_since)} \u00b7 {occurrences} occurrence(s) \u00b7 "
                f"{_transient_label(f.classification.transient)}, but it has not cleared on its own")
    style, colour = _STYLE["critical"]

    def build(level: Budget) -> dict[str, Any]:
        body = _finding_body(f, level, headline=headline, style=style, colour=colour, subtitle=subtitle,
                             occurrences=f"{occurrences} since {_when(open_since)}")
        return _message(_card(body, _link_actions(f, portal_base, workbook_url)))

    return _fit(build)


@dataclass(frozen=True)
class ResolvedGroup:
    """One (cluster, error code) group closed by a later successful operation."""

    error_code: str
    first_seen: datetime
    occurrences: int
    status: str = "open"  # what it was before: open / escalated
    summary: str = ""


def resolved_card(*, cluster_name: str, cluster_id: str, groups: Sequence[ResolvedGroup], resolved_at: datetime,
                  event_type: str = "Microsoft.Resources.ResourceWriteSuccess", portal_base: str = PORTAL_BASE,
                  workbook_url: str | None = None) -> dict[str, Any]:
    """A short notice: the cluster's open findings are resolved by a later successful write."""
    headline = f"Resolved: {md_escape(cluster_name, limit=80)}"
    n = len(groups)
    lead = (f"A later successful operation ({md_escape(event_type.rsplit('.', 1)[-1], limit=60)}) at "
            f"{_when(resolved_at)} closed {n} open finding{'s' if n != 1 else ''}.")
    facts = [
        _fact(g.error_code,
              f"{g.occurrences} occurrence(s) since {_when(g.first_seen)}"
              + (" (was escalated)" if g.status == "escalated" else ""), 200)
        for g in list(groups)[:20]
    ]
    if n > 20:
        facts.append(_fact("More", f"{n - 20} more"))
    body: list[dict[str, Any]] = [
        {"type": "Container", "style": "good", "bleed": True,
         "items": [_text(headline, size="Large", weight="Bolder", color="Good")]},
        _text(lead),
    ]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    actions = [{"type": "Action.OpenUrl", "title": "Open cluster in portal",
                "url": portal_url(cluster_id, portal_base)}]  # no tenant: a resolution event carries none
    wb = _safe_url(workbook_url) if workbook_url else None
    if wb:
        actions.append({"type": "Action.OpenUrl", "title": "Open workbook", "url": wb})
    message = _message(_card(body, actions))
    if len(encode_message(message)) > MAX_CARD_BYTES:  # 20 short facts never get here; be safe anyway
        body[-1] = _text(f"{n} findings closed.")
        message = _message(_card(body, actions))
    return message


def card_of(message: dict[str, Any]) -> dict[str, Any]:
    """The AdaptiveCard inside a Teams message (tests and previews)."""
    content = message["attachments"][0]["content"]
    assert isinstance(content, dict)
    return content
