"""Load the packaged error catalog once per process.

Owns: reading shared/catalog/catalog.json (the only I/O the classifier does) and the lookup indexes
built from it. Both are cached: the catalog is immutable data shipped with the code.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from shared.catalog.schema import Catalog, Entry, ExitStatus, Subcategory
from shared.models import Family

CATALOG_PATH = Path(__file__).with_name("catalog.json")
MIN_PREFIX = 8  # a shorter cut-off token is too ambiguous to complete


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    return Catalog.model_validate(json.loads(CATALOG_PATH.read_text(encoding="utf-8")))


def squeeze(text: str) -> str:
    """Lower-case text with all whitespace removed: patterns survive line wrapping and re-indenting."""
    return "".join(text.lower().split())


@dataclass(frozen=True)
class CompiledPattern:
    entry_id: str
    text: str
    weight: int
    parts: tuple[str, ...]  # squeezed pieces between '*' wildcards
    # A whole word inside the pattern (not at an edge of a piece, where the text may continue the word):
    # the pattern can only match a text whose words include it. None = no such word; always tried.
    anchor: str | None = None
    also: str | None = None  # a second inner word the text must also contain (fewer false candidates)
    order: int = 0  # position in the catalog: candidates are tried, and ties broken, in catalog order


@dataclass
class CatalogIndex:
    """Lookups derived from the catalog; built once."""

    catalog: Catalog
    by_id: dict[str, Entry] = field(default_factory=dict)
    # lower-cased code -> (entry id, reported code). Canonical codes and aliases report the canonical
    # code; variant codes report themselves.
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    code_regexes: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    wrappers: dict[str, tuple[str, str]] = field(default_factory=dict)  # lower -> (code, entry id)
    generics: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    patterns: list[CompiledPattern] = field(default_factory=list)
    anchored: dict[str, list[CompiledPattern]] = field(default_factory=dict)  # anchor word -> patterns
    anchor_words: frozenset[str] = frozenset()
    unanchored: list[CompiledPattern] = field(default_factory=list)
    # Unanchored patterns grouped by their longest squeezed piece (computed from the pattern): a
    # pattern can only match a squeezed text holding that piece, so one `in` per distinct piece
    # decides which of them are tried at all.
    unanchored_pieces: tuple[str, ...] = ()  # the distinct pieces, in catalog order
    unanchored_of: dict[str, tuple[CompiledPattern, ...]] = field(default_factory=dict)  # piece -> patterns
    container_names: frozenset[str] = frozenset()  # generic + wrapper codes, lower-cased
    code_names: frozenset[str] = frozenset()  # the keys of `codes` (a set operand without a copy per message)
    linux_exit: dict[int, ExitStatus] = field(default_factory=dict)
    windows_exit: dict[int, ExitStatus] = field(default_factory=dict)
    linux_exit_entry: dict[int, str] = field(default_factory=dict)
    windows_exit_entry: dict[int, str] = field(default_factory=dict)
    cse_entries: frozenset[str] = frozenset()  # entries that are a specific CSE failure
    fallback_id: str = "Unclassified"
    # lower-cased CSE code or AgentBaker constant -> (os, status): VMExtensionError_KubeletStartFail,
    # ERR_KUBELET_START_FAIL, WINDOWS_CSE_ERROR_DOWNLOAD_CNI_PACKAGE ...
    exit_codes: dict[str, tuple[str, int]] = field(default_factory=dict)
    # every code name (specific, wrapper, generic; lower-cased), sorted: a truncated code resolves by
    # unique prefix, and a prefix a wrapper or generic name shares is ambiguous
    sorted_codes: tuple[str, ...] = ()
    http_statuses: dict[int, str] = field(default_factory=dict)
    http_reasons: dict[str, str] = field(default_factory=dict)
    container_templates: tuple[tuple[str, str], ...] = ()  # (squeezed fragment, container code)
    wrap_words: frozenset[str] = frozenset()  # every code name (lower case) a console wrap may cut in two

    def is_prefix_of_known(self, token: str) -> bool:
        """True when some catalog code name starts with `token` (and is longer): a cut-off code."""
        low = token.lower()
        i = bisect.bisect_left(self.sorted_codes, low)
        while i < len(self.sorted_codes) and self.sorted_codes[i] == low:
            i += 1
        return i < len(self.sorted_codes) and self.sorted_codes[i].startswith(low)

    def prefix_code(self, token: str) -> str | None:
        """The one specific catalog code starting with `token` (a code cut off mid-word), else None."""
        low = token.lower()
        if len(low) < MIN_PREFIX:
            return None
        i = bisect.bisect_left(self.sorted_codes, low)
        hits: list[str] = []
        while i < len(self.sorted_codes) and self.sorted_codes[i].startswith(low) and len(hits) < 2:
            hits.append(self.sorted_codes[i])
            i += 1
        if len(hits) != 1 or hits[0][len(low):].isdigit():
            return None  # ambiguous, or a number cut short (AADSTS700021 is a code of its own)
        return hits[0]

    def known(self, code: str) -> bool:
        low = code.lower()
        return low in self.codes or low in self.wrappers or low in self.generics or self.regex_entry(code) is not None

    def families_for(self, entry: Entry, sub: Subcategory | None, exit_row: ExitStatus | None) -> tuple[Family, ...]:
        """The failure families, most specific first: the sub-cause, the CSE exit status, the entry."""
        out: list[Family] = []
        for fam in (sub.family if sub else None, exit_row.family if exit_row else None, *entry.families):
            if fam is not None and fam not in out:
                out.append(fam)
        return tuple(out)

    def regex_entry(self, code: str) -> str | None:
        for rx, entry_id in self.code_regexes:
            if rx.fullmatch(code):
                return entry_id
        return None


# Every ASCII character that can't be part of a word becomes a space (shared with the classifier's
# tokenizer, so pattern anchors and text words split the same way).
TOKEN_TABLE = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")})


def _inner_words(text: str) -> list[str]:
    """Words of a pattern that have words on both sides within their piece (an edge word may continue
    into the text around it: `region` of `in region` also matches `regions`)."""
    out: list[str] = []
    for piece in text.lower().split("*"):
        words = piece.translate(TOKEN_TABLE).split()
        out.extend(w for w in words[1:-1] if len(w) >= 3)
    return out


def _pick_anchors(texts: list[str]) -> list[tuple[str | None, str | None]]:
    """Per pattern, its two rarest inner words across all patterns (ties: the longest): the fewer
    patterns share an anchor, the fewer are tried per message."""
    inner = [_inner_words(t) for t in texts]
    df: dict[str, int] = {}
    for words in inner:
        for w in set(words):
            df[w] = df.get(w, 0) + 1
    out: list[tuple[str | None, str | None]] = []
    for words in inner:
        ranked = sorted(set(words), key=lambda w: (df[w], -len(w), w))
        out.append((ranked[0] if ranked else None, ranked[1] if len(ranked) > 1 else None))
    return out


@lru_cache(maxsize=1)
def catalog_index() -> CatalogIndex:
    cat = load_catalog()
    idx = CatalogIndex(catalog=cat)
    for e in cat.entries:
        idx.by_id[e.id] = e
        if e.role == "fallback":
            idx.fallback_id = e.id
            continue
        for c in (e.code, *e.aliases):
            idx.codes.setdefault(c.lower(), (e.id, e.code))
        for c in e.variant_codes:
            idx.codes.setdefault(c.lower(), (e.id, c))
        for rx in e.code_regexes:
            idx.code_regexes.append((re.compile(rx), e.id))
        for p in e.patterns:
            parts = tuple(squeeze(x) for x in p.text.split("*") if squeeze(x))
            if parts:
                idx.patterns.append(CompiledPattern(e.id, p.text, p.weight, parts))
        for s in e.linux_exit_statuses:
            idx.linux_exit_entry[s] = e.id
        for s in e.windows_exit_statuses:
            idx.windows_exit_entry[s] = e.id
    for code, entry_id in cat.wrapper_codes.items():
        idx.wrappers[code.lower()] = (code, entry_id)
    for code, default in cat.generic_codes.items():
        idx.generics[code.lower()] = (code, default)
    # A wrapper or generic name must never shadow as a specific code (AgentPoolOperationWrappers'
    # canonical code is itself a wrapper).
    for low in list(idx.codes):
        if low in idx.wrappers or low in idx.generics:
            del idx.codes[low]
    anchors = _pick_anchors([cp.text for cp in idx.patterns])
    idx.patterns = [CompiledPattern(cp.entry_id, cp.text, cp.weight, cp.parts, a, b, i)
                    for i, (cp, (a, b)) in enumerate(zip(idx.patterns, anchors, strict=True))]
    by_piece: dict[str, list[CompiledPattern]] = {}
    for cp in idx.patterns:
        if cp.anchor is None:
            idx.unanchored.append(cp)
            by_piece.setdefault(max(cp.parts, key=len), []).append(cp)
        else:
            idx.anchored.setdefault(cp.anchor, []).append(cp)
    idx.unanchored_pieces = tuple(by_piece)
    idx.unanchored_of = {piece: tuple(ps) for piece, ps in by_piece.items()}
    idx.anchor_words = frozenset(idx.anchored)
    idx.linux_exit = {x.status: x for x in cat.cse_exit_statuses.linux}
    idx.windows_exit = {x.status: x for x in cat.cse_exit_statuses.windows}
    for os_name, rows in (("linux", cat.cse_exit_statuses.linux), ("windows", cat.cse_exit_statuses.windows)):
        for row in rows:
            if row.status == 0 or not (row.name.startswith("ERR_") or row.name.startswith("WINDOWS_CSE_ERROR_")):
                continue
            for name in (row.name, row.code):
                if name:
                    idx.exit_codes.setdefault(name.lower(), (os_name, row.status))
            # Undocumented statuses report their own VMExtensionError_* / WINDOWS_CSE_ERROR_* code under the
            # generic node-bootstrap entry; documented ones already resolve through their entry's aliases.
            if row.code and row.entry_id is None:
                idx.codes.setdefault(row.code.lower(), ("VMExtensionProvisioningError", row.code))
    idx.cse_entries = frozenset({*idx.linux_exit_entry.values(), *idx.windows_exit_entry.values(),
                                 "VMExtensionProvisioningTimeout", "VMExtensionProvisioningError"})
    idx.container_names = frozenset({*idx.generics, *idx.wrappers})
    idx.code_names = frozenset(idx.codes)
    idx.sorted_codes = tuple(sorted({*idx.codes, *idx.wrappers, *idx.generics}))
    idx.wrap_words = frozenset({*idx.codes, *idx.wrappers, *idx.generics, *idx.exit_codes})
    idx.container_templates = tuple((squeeze(frag), code) for code, frags in cat.container_templates.items()
                                    for frag in frags)
    idx.http_statuses = {int(k): v for k, v in cat.http_statuses.items()}
    idx.http_reasons = {"".join(k.lower().split()): v for k, v in cat.http_reasons.items()}
    return idx
