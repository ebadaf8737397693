"""The links a finding shows: documentation titled as Microsoft Learn names it, and portal blades.

Owns: reading shared/catalog/doc_titles.json (URL -> article title, with where the title was taken
from; schema shared/schema/doc_titles.schema.json), choosing at most MAX_DOCS documentation links
for a finding (the root-cause check's own docs first, then the other failing checks', then the
catalog entry's), and the portal links for the cluster (overview, Activity Log, Diagnose and solve
problems) with the tenant in the URL so a reader signed in to several directories lands right.
Pure apart from reading the packaged titles file once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from urllib.parse import quote, urlsplit

from shared.models import CheckStatus, Finding

MAX_DOCS = 3
PORTAL_BASE = "https://portal.azure.com"
# Resource-menu blade ids of the portal's resource view.
BLADE_OVERVIEW = "overview"
BLADE_ACTIVITY_LOG = "activitylog"
BLADE_DIAGNOSE = "troubleshoot"


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@lru_cache(maxsize=1)
def doc_titles() -> dict[str, str]:
    """URL -> title, from the packaged shared/catalog/doc_titles.json."""
    text = (resources.files("shared") / "catalog" / "doc_titles.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    return {str(url): str(entry["title"]) for url, entry in doc["titles"].items()}


def safe_url(url: str) -> str | None:
    """Only absolute https URLs become links (never javascript:, data:, or relative links)."""
    candidate = url.strip()
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    # split() breaks on exactly the characters str.isspace() names, in C (this runs for every link of
    # every card, before the post).
    if parts.scheme != "https" or not parts.netloc or candidate.split(maxsplit=1) != [candidate]:
        return None
    return candidate


def doc_title(url: str) -> str:
    """The article's title; for a URL the titles file does not know, its host and last path segment."""
    known = doc_titles().get(url) or doc_titles().get(url.replace("/en-us/", "/"))
    if known:
        return known
    parts = urlsplit(url)
    tail = parts.path.rstrip("/").rsplit("/", 1)[-1]
    return f"{parts.netloc}/{tail}" if tail else parts.netloc


def doc_urls(f: Finding) -> list[str]:
    """Documentation URLs, most useful first: the top root cause's, other failing checks', the catalog's."""
    by_id = {c.id: c for c in f.checks}
    ordered: list[str] = []
    for check_id in f.root_causes:
        if check_id in by_id:
            ordered += by_id[check_id].docs
    ordered += [u for c in f.checks if c.status is CheckStatus.FAIL for u in c.docs]
    ordered += [*f.docs, *f.classification.docs]
    seen: dict[str, None] = {}
    for raw in ordered:
        url = safe_url(raw)
        if url is not None:
            seen.setdefault(url, None)
    return list(seen)


def doc_links(f: Finding, limit: int = MAX_DOCS) -> list[Link]:
    return [Link(doc_title(u), u) for u in doc_urls(f)[:limit]]


def portal_url(resource_id: str, blade: str = BLADE_OVERVIEW, *, tenant_id: str | None = None,
               portal_base: str = PORTAL_BASE) -> str:
    path = quote(resource_id.strip(), safe="/-_.~")
    tenant = quote(tenant_id.strip(), safe="-.") if tenant_id else ""
    return f"{portal_base.rstrip('/')}/#@{tenant}/resource{path}/{blade}"


def portal_links(f: Finding, portal_base: str = PORTAL_BASE) -> list[Link]:
    """Cluster overview, its Activity Log (where the correlation id's entries are), Diagnose and solve."""
    op = f.operation
    links = [Link("Open cluster in portal", portal_url(op.cluster_id, tenant_id=op.tenant_id,
                                                       portal_base=portal_base))]
    if op.correlation_id:
        links.append(Link("Activity Log", portal_url(op.cluster_id, BLADE_ACTIVITY_LOG, tenant_id=op.tenant_id,
                                                     portal_base=portal_base)))
    links.append(Link("Diagnose and solve problems", portal_url(op.cluster_id, BLADE_DIAGNOSE,
                                                                tenant_id=op.tenant_id, portal_base=portal_base)))
    return links
