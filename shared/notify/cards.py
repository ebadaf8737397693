"""A notice as a Teams message: the card renderer (shared.render.card) chosen by notice kind.

Shared by the Teams sink and the card-file sink, so both show the same cards."""

from __future__ import annotations

from typing import Any

from shared.notify.notice import Notice
from shared.render.card import PORTAL_BASE, ResolvedGroup, escalation_card, finding_card, resolved_card


class NoticeNotRenderable(ValueError):
    """A notice without the finding its card needs (its stored copy was unreadable)."""


def teams_message(notice: Notice, *, portal_base: str = PORTAL_BASE, workbook_url: str | None = None) -> dict[str, Any]:
    if notice.kind == "resolved":
        return resolved_card(
            cluster_name=notice.cluster_name, cluster_id=notice.cluster_id, resolved_at=notice.at,
            event_type=notice.event_type or "Microsoft.Resources.ResourceWriteSuccess", portal_base=portal_base,
            workbook_url=workbook_url,
            groups=[ResolvedGroup(i.error_code, i.first_seen, i.total, i.prev_status) for i in notice.items])
    item = notice.items[0]
    if item.finding is None:
        raise NoticeNotRenderable(f"{notice.kind} notice {notice.notice_id}: no finding to show")
    if notice.kind == "escalated":
        return escalation_card(item.finding, open_since=item.first_seen, now=notice.at, occurrences=item.total,
                               portal_base=portal_base, workbook_url=workbook_url)
    return finding_card(item.finding, portal_base=portal_base, workbook_url=workbook_url,
                        window_min=notice.window_min, total_occurrences=item.total, first_seen=item.first_seen)
