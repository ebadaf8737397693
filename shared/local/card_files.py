"""Cards as files: the offline Notifier (CLI, demo) and HTML/PNG previews of Adaptive Cards.

Owns:
- `FileNotifier(folder)`: Notifier.notify writes each notice's Teams message as
  `NNN-<slug>-<notice tag>.json` (the same notice again replaces its file), so `diagnose` and the demo
  show what would have been posted.
- `render_card(message, png)`: renders a card with Microsoft's `adaptivecards` JS renderer and
  markdown-it (the npm packages of the repo's package.json, inlined into one HTML page) in
  headless Debian Chromium, checks that rendering did not throw (a marker in the DOM), and takes
  a screenshot sized to the card. Used by the demo and the card tests.
Previews need node_modules/ (npm ci) and `chromium`; without them `render_card` raises
PreviewUnavailable and callers treat the JSON file as the artefact.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.notify.cards import teams_message
from shared.notify.notice import Notice
from shared.render.card import encode_message

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
AC_JS = Path("adaptivecards/dist/adaptivecards.min.js")
AC_CSS = Path("adaptivecards/dist/adaptivecards.css")
MD_JS = Path("markdown-it/dist/browser/markdown-it.umd.min.js")
# Flags from the feasibility study: no network, no profile, no sandbox (CI containers run as root).
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--allow-file-access-from-files", "--hide-scrollbars",
)


class PreviewUnavailable(RuntimeError):
    """Chromium or the npm renderer packages are missing."""


def _slug(message: dict[str, Any]) -> str:
    try:
        first = message["attachments"][0]["content"]["body"][0]
        text = first["items"][0]["text"] if first.get("type") == "Container" else first.get("text", "")
    except (KeyError, IndexError, TypeError, AttributeError):
        text = "card"
    text = str(text).replace("\\", "").lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60] or "card"


class FileNotifier:
    """Notifier that writes each notice's Teams card to `folder` instead of posting it."""

    name = "card_files"

    def __init__(self, folder: str | Path, *, workbook_url: str | None = None) -> None:
        self.folder = Path(folder)
        self.workbook_url = workbook_url
        self.written: list[Path] = []

    def _write(self, card_message: dict[str, Any], tag: str = "") -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        # A notice written again (a run killed between writing its card and recording that, then
        # rerun) replaces its own file: unlike a webhook, a folder can be written idempotently.
        same = sorted(self.folder.glob(f"[0-9][0-9][0-9]-*-{tag}.json")) if tag else []
        if same:
            path = same[0]
        else:
            seq = len(list(self.folder.glob("[0-9][0-9][0-9]-*.json"))) + 1
            path = self.folder / f"{seq:03d}-{_slug(card_message)}{'-' + tag if tag else ''}.json"
        path.write_bytes(json.dumps(card_message, ensure_ascii=False, indent=2).encode("utf-8"))
        return path

    async def notify(self, notice: Notice) -> None:
        message = teams_message(notice, workbook_url=self.workbook_url)
        encode_message(message)  # same serialisability check the Teams notifier makes
        tag = hashlib.sha256(notice.notice_id.encode("utf-8")).hexdigest()[:8]
        self.written.append(await asyncio.to_thread(self._write, message, tag))

    async def send(self, card_message: dict[str, Any]) -> None:
        encode_message(card_message)  # same serialisability check the Teams notifier makes
        self.written.append(await asyncio.to_thread(self._write, card_message))


# --- previews -----------------------------------------------------------------------------------


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def find_node_modules(start: Path | None = None) -> Path | None:
    """The nearest node_modules with the renderer, from `start` (or cwd) and this file upwards."""
    seeds = [start or Path.cwd(), Path(__file__).resolve().parent]
    for seed in seeds:
        for folder in (seed, *seed.parents):
            candidate = folder / "node_modules"
            if (candidate / AC_JS).is_file() and (candidate / MD_JS).is_file():
                return candidate
    return None


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>card preview</title>
<style>{css}</style>
<style>body{{font-family:"Segoe UI",Arial,sans-serif;background:#f3f2f1;margin:0;padding:16px}}
.card{{max-width:{width}px;background:#fff;border-radius:6px;box-shadow:0 1px 4px rgba(0,0,0,.2);margin-bottom:16px}}
pre.status{{display:none}}</style>
<script>
window.__errors = [];
window.addEventListener("error", function (e) {{ window.__errors.push(String(e.message || e)); }});
</script>
<script>{markdown_it}</script>
<script>{adaptivecards}</script>
</head><body><div id="cards"></div>
<script>
(function () {{
  var MESSAGES = {messages};
  var md = window.markdownit();
  AdaptiveCards.AdaptiveCard.onProcessMarkdown = function (text, result) {{
    result.outputHtml = md.render(text); result.didProcess = true; }};
  MESSAGES.forEach(function (MESSAGE, n) {{
    var holder = document.createElement("div"); holder.className = "card"; holder.id = "card-" + n;
    var status = document.createElement("pre"); status.className = "status"; status.id = "status-" + n;
    document.getElementById("cards").appendChild(holder);
    var before = window.__errors.length;
    try {{
      var content = MESSAGE.attachments[0].content;
      var card = new AdaptiveCards.AdaptiveCard();
      card.hostConfig = new AdaptiveCards.HostConfig({host_config});
      var ctx = new AdaptiveCards.SerializationContext();
      card.parse(content, ctx);
      var events = [];
      for (var i = 0; i < ctx.eventCount; i++) {{ events.push(ctx.getEventAt(i).message); }}
      var failures = card.validateProperties().validationEvents.map(function (ev) {{ return ev.message; }});
      var rendered = card.render();
      if (!rendered) {{ throw new Error("render() returned nothing"); }}
      holder.appendChild(rendered);
      var problems = events.concat(failures).concat(window.__errors.slice(before));
      status.textContent = JSON.stringify(problems);
      status.setAttribute("data-height", String(Math.ceil(holder.getBoundingClientRect().height)));
      status.setAttribute("data-render", problems.length ? "error" : "ok");
    }} catch (err) {{
      status.textContent = JSON.stringify([String(err && err.stack || err)].concat(window.__errors.slice(before)));
      status.setAttribute("data-height", "0");
      status.setAttribute("data-render", "error");
    }}
    document.body.appendChild(status);
  }});
}})();
</script></body></html>
"""

# Teams-like host configuration (light theme) so previews look close to what Teams shows.
HOST_CONFIG: dict[str, Any] = {
    "fontFamily": "Segoe UI, Arial, sans-serif",
    "supportsInteractivity": True,
    "actions": {"maxActions": 6, "actionsOrientation": "Horizontal", "buttonSpacing": 8},
    "containerStyles": {
        "default": {"backgroundColor": "#FFFFFF", "foregroundColors": {
            "default": {"default": "#252423", "subtle": "#605E5C"}, "attention": {"default": "#C4314B"},
            "warning": {"default": "#835C00"}, "good": {"default": "#237B4B"}, "accent": {"default": "#6264A7"}}},
        "attention": {"backgroundColor": "#FCE8EA", "foregroundColors": {
            "default": {"default": "#252423", "subtle": "#605E5C"}, "attention": {"default": "#C4314B"}}},
        "warning": {"backgroundColor": "#FFF4CE", "foregroundColors": {
            "default": {"default": "#252423", "subtle": "#605E5C"}, "warning": {"default": "#835C00"}}},
        "good": {"backgroundColor": "#E7F2DA", "foregroundColors": {
            "default": {"default": "#252423", "subtle": "#605E5C"}, "good": {"default": "#237B4B"}}},
        "accent": {"backgroundColor": "#E8EBFA", "foregroundColors": {
            "default": {"default": "#252423", "subtle": "#605E5C"}, "accent": {"default": "#6264A7"}}},
    },
}


def _script_safe(text: str) -> str:
    """Inline JS/JSON must not close the <script> element early."""
    return text.replace("</", "<\\/")


def preview_html(messages: Sequence[dict[str, Any]], node_modules: Path, *, width: int = 640) -> str:
    """One self-contained page rendering `messages` (Teams messages) one below the other."""
    css = (node_modules / AC_CSS).read_text(encoding="utf-8") if (node_modules / AC_CSS).is_file() else ""
    return _PAGE.format(
        css=css.replace("</", ""),
        width=width,
        markdown_it=_script_safe((node_modules / MD_JS).read_text(encoding="utf-8")),
        adaptivecards=_script_safe((node_modules / AC_JS).read_text(encoding="utf-8")),
        messages=_script_safe(json.dumps(list(messages), ensure_ascii=False)),
        host_config=_script_safe(json.dumps(HOST_CONFIG)),
    )


@dataclass(frozen=True)
class RenderResult:
    ok: bool
    problems: tuple[str, ...]  # parse/validation events and JS errors; empty when ok
    height: int
    png: Path | None
    html: Path
    dom: str = ""  # this card's rendered HTML as Chromium serialised it (--dump-dom)


_STATUS = re.compile(r'<pre class="status" id="status-(?P<n>\d+)"[^>]*>(?P<text>.*?)</pre>', re.DOTALL)
_ATTR = re.compile(r'data-(?P<k>render|height)="(?P<v>[^"]*)"')


def _run(chromium: str, args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="aks-triage-chromium-") as profile:
        return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout_s, check=False)


def _card_dom(dom: str, n: int) -> str:
    start = dom.find(f'<div class="card" id="card-{n}">')
    if start < 0:
        return ""
    end = dom.find('<div class="card" id="card-', start + 10)
    if end < 0:
        end = dom.find('<pre class="status"', start)
    return dom[start:end if end > 0 else None]


def render_cards(messages: dict[str, dict[str, Any]], out_dir: Path, *, chromium: str | None = None,
                 node_modules: Path | None = None, width: int = 640, screenshots: bool = True,
                 workers: int | None = None, timeout_s: float = 120) -> dict[str, RenderResult]:
    """Render named cards: one Chromium pass checks them all, then one screenshot per card (in parallel).

    A card is `ok` only when the renderer parsed, validated and drew it without any event or error.
    PNGs go to `out_dir/<name>.png`, sized to the card.
    """
    chromium = chromium or find_chromium()
    node_modules = node_modules or find_node_modules()
    if chromium is None:
        raise PreviewUnavailable("chromium not found (Debian: apt-get install -y chromium)")
    if node_modules is None:
        raise PreviewUnavailable("node_modules with adaptivecards and markdown-it not found (run npm ci)")
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(messages)
    page = out_dir / "_all-cards.html"
    page.write_text(preview_html([messages[n] for n in names], node_modules, width=width), encoding="utf-8")
    dom = _run(chromium, ["--dump-dom", page.resolve().as_uri()], timeout_s).stdout
    statuses: dict[int, tuple[str, int, tuple[str, ...]]] = {}
    for found in _STATUS.finditer(dom):
        head = dom[found.start():found.start() + 200]
        attrs = {m["k"]: m["v"] for m in _ATTR.finditer(head.split(">", 1)[0])}
        text = html.unescape(found["text"])
        try:
            problems = tuple(str(p) for p in json.loads(text or "[]"))
        except ValueError:
            problems = (text[:2000],)
        statuses[int(found["n"])] = (attrs.get("render", "missing"), int(attrs.get("height") or 0), problems)

    def shoot(n: int) -> tuple[int, Path | None]:
        name = names[n]
        single = out_dir / f"{name}.html"
        single.write_text(preview_html([messages[name]], node_modules, width=width), encoding="utf-8")
        png = out_dir / f"{name}.png"
        png.unlink(missing_ok=True)
        height = statuses[n][1]
        try:
            _run(chromium, [f"--window-size={width + 32},{max(200, height + 40)}", f"--screenshot={png.resolve()}",
                            single.resolve().as_uri()], timeout_s)
        finally:
            single.unlink(missing_ok=True)  # _all-cards.html stays as the browsable preview
        return n, png if png.is_file() else None

    pngs: dict[int, Path | None] = {}
    todo = [n for n in range(len(names)) if screenshots and statuses.get(n, ("", 0, ()))[0] == "ok"]
    with ThreadPoolExecutor(max_workers=workers or max(1, min(4, os.cpu_count() or 1))) as pool:
        for n, png in pool.map(shoot, todo):
            pngs[n] = png
    results: dict[str, RenderResult] = {}
    for n, name in enumerate(names):
        state, height, problems = statuses.get(n, ("missing", 0, ("no render status in the DOM",)))
        ok = state == "ok" and not problems and (not screenshots or pngs.get(n) is not None)
        if screenshots and state == "ok" and pngs.get(n) is None:
            problems = (*problems, "screenshot failed")
        results[name] = RenderResult(ok, problems, height, pngs.get(n), page, _card_dom(dom, n))
    return results


def render_card(message: dict[str, Any], png: Path | None, *, chromium: str | None = None,
                node_modules: Path | None = None, width: int = 640, timeout_s: float = 120) -> RenderResult:
    """One card; `png` None checks rendering without a screenshot."""
    out_dir = png.parent if png is not None else Path(tempfile.mkdtemp(prefix="aks-triage-card-"))
    name = png.stem if png is not None else "card"
    return render_cards({name: message}, out_dir, chromium=chromium, node_modules=node_modules, width=width,
                        screenshots=png is not None, timeout_s=timeout_s)[name]


def render_card_pngs(folder: str | Path) -> list[Path]:
    """A PNG next to every card JSON under `folder`. Raises PreviewUnavailable or RuntimeError."""
    by_dir: dict[Path, dict[str, dict[str, Any]]] = {}
    for path in sorted(Path(folder).rglob("*.json")):
        by_dir.setdefault(path.parent, {})[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    pngs: list[Path] = []
    failures: list[str] = []
    for out_dir, messages in by_dir.items():
        for name, result in render_cards(messages, out_dir).items():
            if result.png is not None:
                pngs.append(result.png)
            if not result.ok:
                failures.append(f"{name}: {'; '.join(result.problems)[:300]}")
    if failures:
        raise RuntimeError("card rendering failed: " + " | ".join(failures))
    return pngs
