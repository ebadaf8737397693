"""Teams cards: 28 KB budget, escaping, Adaptive Cards 1.5 schema, Microsoft's JS renderer.

Three independent judges for every card variant:
1. the official 1.5 JSON schema (vendored; branch-filtered errors, `msteams` stripped);
2. the `adaptivecards` npm parser/validator in plain Node;
3. the same renderer with markdown-it in headless Chromium; the PNG goes to
   test-artifacts/cards/ for a human to look at. Rendering must not throw or report problems.
Chromium or node missing: skipped locally, a failure in CI (CI=true).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.local.card_files import find_chromium, find_node_modules, render_card, render_cards
from shared.models import CheckStatus
from shared.render.card import (
    MAX_CARD_BYTES,
    ResolvedGroup,
    card_of,
    encode_message,
    escalation_card,
    finding_card,
    md_escape,
    portal_url,
    resolved_card,
)
from tests.conftest import ROOT
from tests.factories import T0, cluster_id, make_check, make_finding, make_operation
from tests.sinks.cards.ac_schema import validate_card

ARTIFACTS = ROOT / "test-artifacts" / "cards"
HOSTILE = ("Error [click me](https://evil.example/phish) ![img](https://evil.example/x.png) "
           "<at>Platform Team</at> <script>alert(1)</script> **bold** _it_ `code` &lt;b&gt; "
           "\u202eevil\u202c zero\u200bwidth \x07bell <https://evil.example/auto>")


def _needs(tool: str, found: object) -> None:
    if found:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{tool} is required in CI (.ci/run installs it)")
    pytest.skip(f"{tool} not installed")


def variants() -> dict[str, dict[str, Any]]:
    big_checks = tuple(
        make_check(f"check_{i}", summary=f"check {i} failed because of reasons " * 3,
                   evidence=[(f"properties.item{j}", "v" * 2500) for j in range(8)],
                   remediation=f"az aks nodepool update --name np{i}")
        for i in range(8)
    )
    hostile_op = make_operation(cluster="aks-[evil](https://x)", rg="rg_<at>x</at>")
    return {
        "subnet-full": finding_card(make_finding(), workbook_url="https://portal.azure.com/#blade/wb"),
        "warning-agentpool": finding_card(make_finding(op=make_operation(agent_pool="np1"), severity="warning",
                                                       code="ZonalAllocationFailed", transient="true",
                                                       occurrence_count=3),
                                          window_min=60, total_occurrences=7, first_seen=T0),
        "info-no-checks": finding_card(make_finding(severity="info", checks=(), docs=(), code="Unknown",
                                                    remediation="")),
        "huge-evidence": finding_card(make_finding(checks=big_checks, message="m" * 20_000)),
        "hostile-text": finding_card(make_finding(op=hostile_op, message=HOSTILE, summary=HOSTILE,
                                                  checks=(make_check(summary=HOSTILE,
                                                                     evidence=[("x[0]", HOSTILE)],
                                                                     remediation="echo '[x](y)' | grep **"),),
                                                  docs=("javascript:alert(1)", "https://learn.microsoft.com/a"))),
        "escalation": escalation_card(make_finding(code="AllocationFailed", transient="true"), open_since=T0,
                                      now=T0 + timedelta(hours=26), occurrences=9,
                                      workbook_url="https://portal.azure.com/#blade/wb"),
        "resolved": resolved_card(cluster_name="aks-prod-01", cluster_id=cluster_id(), resolved_at=T0,
                                  groups=[ResolvedGroup("SubnetIsFull", T0, 4),
                                          ResolvedGroup("AllocationFailed", T0, 2, "escalated")]),
        "unicode": finding_card(make_finding(summary="Überlastung: 名前 — ñ 🚀 " * 20, message="é" * 5000)),
    }


@pytest.fixture(scope="module")
def cards() -> dict[str, dict[str, Any]]:
    return variants()


# --- size and content ---------------------------------------------------------------------------


def test_every_card_fits_28kb(cards: dict[str, dict[str, Any]]) -> None:
    sizes = {name: len(encode_message(m)) for name, m in cards.items()}
    assert all(size <= MAX_CARD_BYTES for size in sizes.values()), sizes


def test_trimming_drops_evidence_and_keeps_the_cause() -> None:
    summary = "SubnetIsFull: subnet aks-subnet has 0 free IPs of 251 — the cause line"
    checks = tuple(make_check(f"c{i}", evidence=[(f"p{j}", "v" * 3000) for j in range(10)]) for i in range(6))
    message = finding_card(make_finding(checks=checks, summary=summary))
    text = json.dumps(card_of(message), ensure_ascii=False)
    assert len(encode_message(message)) <= MAX_CARD_BYTES
    assert md_escape(summary) in text
    assert "Details trimmed to fit" in text
    assert "v" * 301 not in text  # evidence values were shortened
    assert "Details trimmed" not in json.dumps(finding_card(make_finding()))


def test_a_cause_longer_than_the_card_is_cut_not_dropped() -> None:
    message = finding_card(make_finding(summary="S" * 40_000))
    assert len(encode_message(message)) <= MAX_CARD_BYTES
    assert "SSSS" in json.dumps(message)


def test_card_has_everything_the_issue_asks_for(cards: dict[str, dict[str, Any]]) -> None:
    card = card_of(cards["subnet-full"])
    text = json.dumps(card)
    header = card["body"][0]
    assert card["version"] == "1.5" and header["style"] == "attention"
    # The headline is the cause; the error code is in the subtitle.
    assert header["items"][0]["text"].startswith("aks-prod-01: Subnet aks-subnet has 0 free IPs")
    assert "SubnetIsFull" in header["items"][1]["text"]
    assert card["body"][1]["text"].startswith("SubnetIsFull: Subnet aks-subnet has 0 free IPs")  # one-line cause
    assert "Failing checks, most likely first" in text and "ipConfigurations.count" in text  # ranked + evidence
    assert "az network vnet subnet update" in text  # remediation command, verbatim
    doc_buttons = next(n["actions"] for n in card["body"] if n.get("type") == "ActionSet")
    # A URL the titles file does not know is named by host and page (the factory URL is not a real page);
    # a known one by the article's title.
    titles = [a["title"] for a in doc_buttons][:2]
    assert titles[0] == "learn.microsoft.com/subnetisfull-upgrade-error"
    assert titles[1].startswith("Configure Azure CNI Networking in Azure Kubernetes Service"), titles
    urls = [a["url"] for a in card["actions"]]
    assert portal_url(cluster_id()) in urls and "https://portal.azure.com/#blade/wb" in urls
    assert portal_url(cluster_id()) == ("https://portal.azure.com/#@/resource/subscriptions/00000000-0000-0000-0000-"
                                        "000000000000/resourceGroups/rg-aks-prod/providers/Microsoft.ContainerService/"
                                        "managedClusters/aks-prod-01/overview")
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Occurrences"] == "1"
    warning = card_of(cards["warning-agentpool"])
    assert warning["body"][0]["style"] == "warning"
    assert {f["title"]: f["value"] for f in warning["body"][2]["facts"]}["Occurrences"] == (
        "3 in the last 60 min (7 since 2026-11-21 12:00 UTC)")


@pytest.mark.security
def test_user_text_cannot_inject_links_mentions_or_html(cards: dict[str, dict[str, Any]]) -> None:
    card = card_of(cards["hostile-text"])
    markdown_fields: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                markdown_fields.append(node["text"])
            if "facts" in node:
                markdown_fields.extend(f["value"] for f in node["facts"])
                markdown_fields.extend(f["title"] for f in node["facts"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    for text in markdown_fields:
        assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(", text), text  # no [text](url)
        assert not re.search(r"(?<!\\)<", text), text  # no raw < (HTML, <at>, autolinks)
        assert not re.search("[\u202a-\u202e\u200b\x07]", text), text
    assert all(a["url"].startswith("https://") for a in card["actions"])  # javascript: doc link dropped
    assert "javascript:" not in json.dumps(card["actions"])
    assert "msteams" in card and "entities" not in card["msteams"]  # no mention entities, ever


def test_md_escape_examples() -> None:
    assert md_escape("[a](http://x)") == "\\[a\\](http://x)"
    assert md_escape("<at>bob</at>") == "\\<at\\>bob\\</at\\>"
    assert md_escape("# title") == "\\# title" and md_escape("1. item") == "1\\. item"
    assert md_escape("line1\nline2\r\n\tx") == "line1 line2 x"
    assert md_escape("a\u202eb\u200bc\x00d") == "abcd"


# --- schema and renderer --------------------------------------------------------------------------


def test_cards_match_the_adaptive_cards_1_5_schema(cards: dict[str, dict[str, Any]]) -> None:
    problems = {name: validate_card(card_of(m)) for name, m in cards.items()}
    assert problems == {name: [] for name in cards}


def test_schema_helper_reports_precise_errors() -> None:
    bad = {"type": "AdaptiveCard", "version": "1.5", "body": [
        {"type": "TextBlok", "text": "typo"}, {"type": "TextBlock", "size": "Huge", "text": "x"},
        {"type": "TextBlock"}, {"type": "FactSet", "facts": [{"title": "a"}]}],
        "actions": [{"type": "Action.OpenUrl", "title": "no url"}]}
    problems = "\n".join(validate_card(bad))
    assert "/body/0: unknown or invalid element type 'TextBlok'" in problems
    assert "/body/2: 'text' is a required property" in problems
    assert "/body/3/facts/0: 'value' is a required property" in problems
    assert "/actions/0: 'url' is a required property" in problems
    assert validate_card({"type": "AdaptiveCard", "body": []}) == ["/version: expected '1.5', got None"]


@pytest.mark.node
def test_adaptivecards_js_parses_without_events(cards: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    node = shutil.which("node")
    modules = find_node_modules(ROOT)
    _needs("node", node)
    _needs("node_modules/adaptivecards (npm ci)", modules)
    batch = tmp_path / "cards.json"
    names = list(cards)
    batch.write_text(json.dumps([card_of(cards[n]) for n in names]), encoding="utf-8")
    script = Path(__file__).parent / "cards" / "validate_card.js"
    out = subprocess.run([str(node), str(script), str(batch)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "NODE_MODULES": str(modules)}, check=True)
    results = dict(zip(names, json.loads(out.stdout), strict=True))
    assert results == {n: [] for n in names}
    # The JS validator does catch things: a broken card reports problems.
    batch.write_text(json.dumps([{"type": "AdaptiveCard", "version": "1.5",
                                  "body": [{"type": "TextBlock", "text": "x", "size": "Huge"}],
                                  "actions": [{"type": "Action.OpenUrl", "title": "no url"}]}]))
    out = subprocess.run([str(node), str(script), str(batch)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "NODE_MODULES": str(modules)}, check=True)
    assert json.loads(out.stdout)[0] != []


@pytest.mark.chromium
@pytest.mark.slow
def test_cards_render_in_chromium(cards: dict[str, dict[str, Any]]) -> None:
    chromium = find_chromium()
    modules = find_node_modules(ROOT)
    _needs("chromium", chromium)
    _needs("node_modules/adaptivecards (npm ci)", modules)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, message in cards.items():
        (ARTIFACTS / f"{name}.json").write_text(json.dumps(message, indent=2, ensure_ascii=False), encoding="utf-8")
    results = render_cards(cards, ARTIFACTS, chromium=chromium, node_modules=modules)
    failures = {name: r.problems for name, r in results.items()
                if not r.ok or r.png is None or r.png.stat().st_size < 2000 or r.height < 150}
    hostile = results["hostile-text"].dom
    # Only the action buttons may link anywhere; user text never becomes a link, image or mention.
    assert "<a " not in hostile and "<img" not in hostile and "<script" not in hostile
    assert "<at>" not in hostile and "evil.example/phish" in hostile  # shown, but inert
    assert "[click me](https://evil.example/phish)" in hostile
    assert "ipConfigurations.count" in results["subnet-full"].dom
    assert failures == {}


@pytest.mark.chromium
def test_render_failure_is_detected(tmp_path: Path) -> None:
    """The harness is not a rubber stamp: a card the renderer cannot handle fails."""
    chromium = find_chromium()
    modules = find_node_modules(ROOT)
    _needs("chromium", chromium)
    _needs("node_modules/adaptivecards (npm ci)", modules)
    broken = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                  "content": {"type": "AdaptiveCard", "version": "1.5",
                                                              "body": [{"type": "TextBlock", "text": "x",
                                                                        "size": "Huge"},
                                                                       {"type": "Nonsense"}]}}]}
    result = render_card(broken, tmp_path / "broken.png", chromium=chromium, node_modules=modules)
    assert not result.ok and result.problems
    missing = render_card({"type": "message", "attachments": []}, None, chromium=chromium, node_modules=modules)
    assert not missing.ok


def test_check_status_enum_is_what_cards_rank() -> None:
    """Only FAIL results are shown as failing checks, root causes first."""
    checks = (make_check("a", status=CheckStatus.PASS), make_check("b"), make_check("c"))
    f = make_finding(checks=checks, root_causes=("c", "b"))
    text = json.dumps(card_of(finding_card(f)))
    assert text.index("**1. C**") < text.index("**2. B**") and "(a)" not in text
