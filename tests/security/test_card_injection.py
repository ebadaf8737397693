"""Issue 8.3: Teams card injection. Anyone who can make a deployment fail chooses resource names,
tag values and parts of the error message, and those reach our Teams channel. Asserted on the real
card builder (shared.render.card) for findings full of hostile text:
  * markdown-rendering fields (TextBlock.text, Fact.title/value), rendered by markdown-it (the
    renderer the Adaptive Cards SDK uses) with raw HTML *enabled*: no links, images, HTML tags,
    mentions, headings or lists come out of attacker text;
  * verbatim fields (RichTextBlock TextRun) carry no control, bidi or zero-width characters;
  * no element the attacker could add: no Image, no mention entities, only https Action.OpenUrl
    buttons to hosts we chose;
  * the message stays under Teams' 28 KB whatever the input size.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from shared.models import CheckStatus, Evidence
from shared.render.card import MAX_CARD_BYTES, encode_message, finding_card, md_escape
from tests.factories import make_check, make_finding, make_operation

pytestmark = pytest.mark.security

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = [
    "[click here](https://evil.example/login)",
    "![img](https://evil.example/pixel.png)",
    "<at>General</at> <at id=\"0\">everyone</at>",
    "<img src=x onerror=alert(1)> <script>alert(1)</script> <a href='https://evil.example'>x</a>",
    "# Heading\n- list item\n> quote\n1. one\n---",
    "**bold** _it_ `code` ~~strike~~ [ref]: https://evil.example",
    "<https://evil.example/autolink>",
    "\u202egnp.exe\u202c \u200bhidden\u200b \ufeffbom \x00nul \x1b[31mansi\x07bell",
    "&lt;at&gt;entity&lt;/at&gt; &#60;b&#62;",
    "{{DATE(2017-02-14T06:08:39Z, SHORT)}} ${expression}",
    "a" * 200_000,
]
MD_TAGS = ("<a", "<img", "<h1", "<h2", "<h3", "<ul", "<ol", "<li", "<blockquote", "<strong", "<em", "<code",
           "<script", "<at", "<hr", "<s>", "<del")
INVISIBLE = set(chr(c) for c in [*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, *range(0x80, 0xA0),
                                 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
                                 0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF])
ALLOWED_HOSTS = {"portal.azure.com", "learn.microsoft.com", "aka.ms", "docs.microsoft.com", "github.com",
                 "workbook.example"}


def hostile_finding(text: str) -> Any:
    op = make_operation(cluster="aks-" + text[:40].replace("/", ""), caller=text[:256],
                        operation_name=text[:256], rg="rg-" + text[:40].replace("/", ""))
    checks = (make_check("node_subnet_capacity", summary=text, remediation=text,
                         evidence=[(text[:100], text), ("x", {"k": text})]),
              make_check("max_pods", status=CheckStatus.FAIL, summary=text))
    return make_finding(op=op, code="SubnetIsFull", message=text, summary=text, checks=checks,
                        remediation=text, region=text[:40])


def walk(node: Any, out: dict[str, list[str]]) -> None:
    if isinstance(node, dict):
        t = node.get("type")
        if t == "TextBlock":
            out["md"].append(node["text"])
        elif t == "TextRun":
            out["verbatim"].append(node["text"])
        elif t == "FactSet":
            for f in node["facts"]:
                out["md"].extend([f["title"], f["value"]])
        elif t == "Image":
            out["images"].append(json.dumps(node))
        elif t and t.startswith("Action."):
            out["actions"].append(node)
        if "entities" in node:
            out["entities"].append(json.dumps(node["entities"]))
        for v in node.values():
            walk(v, out)
    elif isinstance(node, list):
        for v in node:
            walk(v, out)


def render_markdown(texts: list[str], linkify: bool = False) -> list[str]:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "markdown-it").exists():
        pytest.fail("node + node_modules/markdown-it are needed (npm ci)")
    script = str(Path(__file__).with_name("render_markdown.js"))
    proc = subprocess.run(["node", script, *(["linkify"] if linkify else [])],
                          input=json.dumps(texts), capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    return json.loads(proc.stdout)


def fields(message: dict[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"md": [], "verbatim": [], "images": [], "actions": [], "entities": []}
    walk(message, out)
    return out


@pytest.mark.parametrize("text", HOSTILE, ids=[f"h{i}" for i in range(len(HOSTILE))])
def test_hostile_text_is_inert_in_the_card(text: str) -> None:
    message = finding_card(hostile_finding(text), workbook_url="https://workbook.example/wb")
    assert len(encode_message(message)) <= MAX_CARD_BYTES
    f = fields(message)
    assert not f["images"] and not f["entities"]
    for action in f["actions"]:
        assert action["type"] == "Action.OpenUrl"
        parts = urlsplit(action["url"])
        assert parts.scheme == "https" and parts.hostname in ALLOWED_HOSTS, action["url"]
    for s in f["md"] + f["verbatim"]:
        assert not (set(s) & INVISIBLE), repr(s[:200])
    html = render_markdown(f["md"])
    for src, out in zip(f["md"], html, strict=True):
        # Our own markup (bold headings/ranks) is allowed; anything from attacker text is not.
        cleaned = out.replace("<strong>", "").replace("</strong>", "")
        bad = [tag for tag in MD_TAGS if tag in cleaned]
        assert not bad, f"{bad} rendered from {src[:200]!r}: {out[:300]!r}"


def test_md_escape_output_renders_as_plain_text() -> None:
    """1,000 random strings over a markdown/HTML-heavy alphabet, escaped, rendered in one node call."""
    import random

    rng = random.Random(8)
    alphabet = [*"[]()!<>*_~`#-+=.|&;:/\\\"' \n\t", "https://", "<at>", "</at>", "javascript:", "a", "1",
                "\u202e"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 60))) for _ in range(1000)]
    escaped = [md_escape(t) for t in texts]
    for src, esc, out in zip(texts, escaped, render_markdown(escaped), strict=True):
        cleaned = out.replace("<p>", "").replace("</p>", "")
        assert not any(tag in cleaned for tag in MD_TAGS), (src, esc, out)


def test_bare_urls_in_attacker_text_with_autolinking_renderer() -> None:
    """Advisory: if the Teams client autolinks bare URLs, attacker URLs in fact values become links.
    md_escape does not break bare URLs; this documents what a linkify renderer produces."""
    escaped = md_escape("reset your password at https://evil.example/login")
    out = render_markdown([escaped], linkify=True)[0]
    if "<a" in out:
        pytest.xfail(f"a linkify renderer turns bare attacker URLs into links: {out!r}")


def test_evidence_values_and_huge_checks_still_fit() -> None:
    checks = tuple(make_check(f"check_{i}", summary="x" * 5000,
                              evidence=[(f"p{j}", "y" * 5000) for j in range(10)]) for i in range(20))
    f = make_finding(checks=checks, message="z" * 500_000)
    message = finding_card(f)
    assert len(encode_message(message)) <= MAX_CARD_BYTES
    assert Evidence  # imported model kept for readers of the factories
