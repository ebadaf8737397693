"""Classification: OperationError tree (+ raw text) -> the most specific catalog entry.

Owns: gathering evidence (codes with their depth, subcodes, CSE exit status / name, HTTP status,
message fragments) and deciding between candidates. Decision order, most specific first
(docs/classifier.md has the full rules):

1. Node bootstrap (CSE): a CSE code in a code field (its exit status and AgentBaker constant from
   the table), then the first exit status (documented -> its entry; 124 -> decided from the output,
   both readings in matched_on; any other -> its own VMExtensionError_* / WINDOWS_CSE_ERROR_* code),
   then a CSE code named in a link or the text.
2. A specific catalog code: a subcode / innerError code first, else the innermost code field; unless
   an entry that supersedes it matches its own fragments (PDB drain under 429 / UpgradeFailed).
3. A literal code the catalog does not know: reported as written (with the best message match's
   meaning when there is one).
4. Message fragments alone (no code, or only a generic one such as OperationNotAllowed / BadRequest).
5. Low-confidence fallbacks: an exit status without a table row, a wrapper, a generic code (its own
   entry and category), a container's fixed text, the HTTP status, a container / generic code named in
   prose; Unknown only when the text carries nothing.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.catalog.loader import CatalogIndex, CompiledPattern, catalog_index
from shared.catalog.schema import Entry, Subcategory
from shared.classify.facts import error_facts
from shared.classify.normalizer import parse_with_clean, text_codes
from shared.classify.text import (
    PROBE_MIN_CHARS,
    WINDOWS_HINTS,
    Probe,
    code_shaped,
    collapse_repeats,
    exit_statuses,
    flatten,
    preclean,
    squeeze,
    unique_parts,
    window,
    word_split,
)
from shared.models import Classification, Confidence, OperationError, Transient

MAX_NODES = 400
MAX_TEXT = 256 * 1024  # characters of node text gathered from a tree before windowing
_GAP = 80  # max squeezed characters between the pieces of a '*' pattern
_URL_RX = re.compile(r"https?://(?:aka\.ms|learn\.microsoft\.com)/[A-Za-z0-9/_#.%?=&-]{2,200}")


@dataclass(frozen=True)
class CodeObs:
    code: str  # as written in the error
    depth: float  # tree depth; codes found inside a node's message sit half a level below it
    order: int  # position in reading order (tie-break: first seen wins)
    # "field" (a code field / explicit Code= layout) | "mention" (word in free text) | "truncated"
    # (a cut-off word completed by unique prefix) | "subcode" (a subcode / innerError.code field)
    origin: str


@dataclass
class Evidence:
    codes: list[CodeObs] = field(default_factory=list)
    text: str = ""  # flattened, windowed text of the whole error
    squeezed: str = ""
    exit_statuses: list[int] = field(default_factory=list)
    windows: bool = False
    pattern_scores: dict[str, int] = field(default_factory=dict)
    pattern_best: dict[str, CompiledPattern] = field(default_factory=dict)
    pattern_max: dict[str, int] = field(default_factory=dict)
    tree: OperationError | None = None
    http_status: str | None = None  # generic code named by an HTTP status in the text (409 -> Conflict)
    generic_mention: str | None = None  # a generic / wrapper code named in prose (`... fails with BadRequest`)
    subcodes: list[str] = field(default_factory=list)  # subcode / innerError.code values, in order
    probe: Probe = field(default_factory=lambda: Probe(""))  # literals of text.lower()
    sq_probe: Probe = field(default_factory=lambda: Probe(""))  # literals of the squeezed text


@dataclass(frozen=True)
class Decision:
    entry_id: str
    code: str
    confidence: Confidence
    matched_on: str
    exit_status: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    subcode: str | None = None


# --- evidence ---------------------------------------------------------------------------------


def _walk(err: OperationError) -> list[tuple[OperationError, int]]:
    """(node, depth) in reading order; iterative so a deep tree cannot exhaust the stack."""
    out: list[tuple[OperationError, int]] = []
    stack: list[tuple[OperationError, int]] = [(err, 0)]
    while stack and len(out) < MAX_NODES:
        node, depth = stack.pop()
        out.append((node, depth))
        stack.extend((d, depth + 1) for d in reversed(node.details))
    return out


def _gather(err: OperationError, raw: str | None, idx: CatalogIndex, clean: str | None = None) -> Evidence:
    """Evidence from a tree; with `raw` (the pasted text the tree came from) the text is taken from
    the paste alone, which already holds every message, instead of from the nodes a second time."""
    ev = Evidence(tree=err)
    parts: list[str] = []
    size = 0
    order = 0
    for node, depth in _walk(err):
        code = node.code.strip()
        if code and code.lower() not in ("unknown", "multipleerrorsoccurred"):
            ev.codes.append(CodeObs(code, float(depth), order, "field"))
            order += 1
        if node.message and size < MAX_TEXT:
            msg = node.message[: MAX_TEXT - size]
            size += len(msg)
            if raw is None:
                parts.append(f"{code}: {msg}" if code else msg)
            # `Code="X"` text inside a message sits half a level below the node that holds it.
            # (parse_error_text already turned such text into child nodes when `raw` is given.)
            if raw is None and ("ode" in msg or "(" in msg or "rror" in msg):
                flat_msg = flatten(window(msg))
                for inner, _s, _e in text_codes(flat_msg, idx):
                    ev.codes.append(CodeObs(inner, depth + 0.5, order, "field"))
                    order += 1
        elif code and raw is None:
            parts.append(code)
    if raw is not None and clean is not None and len(raw) <= MAX_TEXT:
        ev.text = collapse_repeats(flatten(window(clean)))  # the normaliser already cleaned this text
    else:
        if raw is not None:
            parts.append(raw[:MAX_TEXT])
        ev.text = collapse_repeats(flatten(window(preclean("\n".join(parts)))))
    low = ev.text.lower()
    ev.squeezed = "".join(low.split())  # squeeze(ev.text), from the lower-cased text already made
    # Known codes named anywhere in the text (URLs included: error-code-<name> doc links). The set
    # intersection runs in C; only the few hits are looked at one by one.
    # The word set is read from the distinct lines (a line break separates words: the same set).
    uniq = unique_parts(low) if len(low) >= PROBE_MIN_CHARS else low
    tokens = set(word_split(uniq))
    probe = ev.probe = Probe(low, tokens, uniq)
    ev.sq_probe = Probe(ev.squeezed, sep="'")  # no line breaks left: the pieces between quotes
    ev.windows = probe.any(WINDOWS_HINTS)

    hits = tokens & idx.code_names
    for g in sorted(tokens & idx.container_names):
        name = idx.generics[g][0] if g in idx.generics else idx.wrappers[g][0]
        pos = _word_at(low, g, ev.text)
        written = ev.text[pos: pos + len(g)] if pos >= 0 and len(low) == len(ev.text) else ""
        # CamelCase as written only (BadRequest, PreConditionFailed): `conflict` / `failed` are English words.
        if sum(ch.isupper() for ch in written) >= 2:
            ev.generic_mention = name
            break
    if hits:
        seen: set[str] = {c.code.lower() for c in ev.codes}
        found_at: list[tuple[int, str]] = []
        for hit in hits - seen:
            pos = _word_at(low, hit, ev.text)
            if pos >= 0:
                word = ev.text[pos: pos + len(hit)] if len(low) == len(ev.text) else hit
                if _mention_matches(word, idx):
                    found_at.append((pos, word))
        for _pos, word in sorted(found_at):
            ev.codes.append(CodeObs(word, 99.0, order, "mention"))
            order += 1
    # A title or paste cut off mid-code: the last word, or a word before an ellipsis.
    # Only when the error has no code field of its own: a title cut mid-code, not a paste that already
    # names its code and was cut somewhere after it.
    tail = None
    if not any(c.origin == "field" for c in ev.codes):
        last = ev.text[-400:]
        # A match ends at the end of the text and is at most _TRUNC_REACH long: starting the search
        # there finds the same leftmost match without trying (and backtracking from) every position.
        tail = _TRUNC_RX.search(last, max(0, len(last) - _TRUNC_REACH))
    if tail is not None:
        word = tail.group(1)
        # Only a code-shaped cut (`SubnetIsF`, `VMExtensionError_K8SAPIServerC`): a plain last word
        # (`principal`, `ManagedCluster`) is not a code cut short, whatever code starts with it.
        full = idx.prefix_code(word) if not idx.known(word) and code_shaped(word) else None
        if full is not None and all(c.code.lower() != full for c in ev.codes):
            ev.codes.append(CodeObs(word, 98.0, order, "truncated"))
            order += 1

    # Kubernetes operator conditions (ASO, CAPZ, Crossplane): `reason: SubnetIsFull`. Only a reason that is a
    # catalog code counts (`ReconcileError`, `Reconciling` are the operator's own states).
    if probe.has("reason"):
        seen_codes = {c.code.lower() for c in ev.codes}
        for rm in itertools.islice(_REASON_FIELD_RX.finditer(low), 20):
            value = ev.text[rm.start(1): rm.end(1)] if len(low) == len(ev.text) else rm.group(1)
            if _resolve_code(value, idx) is not None and value.lower() not in seen_codes:
                seen_codes.add(value.lower())
                ev.codes.append(CodeObs(value, 0.5, order, "field"))
                order += 1

    ev.http_status = _http_status(ev.text, idx, probe)
    if probe.any(_SUBCODE_HINTS):
        for sm in _SUBCODE_RX.finditer(low, 0, min(len(low), 128 * 1024)):
            sub = ev.text[sm.start(1): sm.end(1)] if len(low) == len(ev.text) else sm.group(1)
            sl = sub.lower()
            if sl in idx.generics or sl in idx.wrappers or not (idx.known(sub) or code_shaped(sub)):
                continue
            if sub not in ev.subcodes:
                ev.subcodes.append(sub)
                ev.codes.append(CodeObs(sub, 50.0, order, "subcode"))
                order += 1
            if len(ev.subcodes) >= 5:
                break

    ev.exit_statuses = exit_statuses(low, probe)

    # Message fragments. Each pattern is tried only when its anchor word is among the text's words
    # (a set intersection in C), plus words a line wrap cut in two; the match itself runs on the
    # squeezed text, so wrapping and re-indenting never matter.
    sq = ev.squeezed
    wrapped = _wrapped_words(ev.text, low)
    # Unanchored patterns are tried only when their longest piece is in the squeezed text. All
    # candidates run in catalog order, so ties (equal weights, equal scores) break the same way in
    # every process (set iteration order depends on the string hash seed).
    present = tokens & idx.anchor_words
    if wrapped:
        present |= wrapped & idx.anchor_words
    cands = [p for anchor in present for p in idx.anchored[anchor]
             if p.also is None or p.also in tokens or p.also in wrapped]
    for piece in ev.sq_probe.present(idx.unanchored_pieces):
        cands.extend(idx.unanchored_of[piece])
    cands.sort(key=_ORDER)
    # On a long text every piece must be in the squeezed text (the probe rules most out from the word
    # set) before the order and spacing of the pieces are checked.
    has_sq = ev.sq_probe.has
    long = ev.sq_probe.long  # a short text: the ordered match's own find is as cheap
    for p in cands:
        # The probe answers `in` exactly, which is the whole match of a one-piece template.
        if (not long or all(map(has_sq, p.parts))) and ((long and len(p.parts) == 1) or _pattern_hit(p, sq)):
            _score(ev, p)
    return ev


MAX_OCCURRENCES = 50  # occurrences of one word examined
_ORDER = operator.attrgetter("order")


MIN_WRAP_WIDTH = 40  # a line shorter than this was not cut by a terminal
_WORD_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
MAX_WRAP_LINES = 4000


def _wrapped_words(text: str, low: str | None = None) -> set[str]:
    """Words a hard line wrap cut in two, joined back: the last word of a long line + the first of the next.
    `low`: text.lower(), when the caller has it."""
    out: set[str] = set()
    if "\n" not in text:
        return out
    lines = (text.lower() if low is None else low).split("\n", MAX_WRAP_LINES)
    # The long lines ending in a letter or digit, picked in one comprehension (most lines are not).
    for line, nxt in [pair for pair in itertools.pairwise(lines)
                      if len(pair[0]) >= MIN_WRAP_WIDTH and pair[0][-1:].isalnum()]:
        rest = nxt.lstrip(" \t")
        first = rest[: len(rest) - len(rest.lstrip(_WORD_CHARS))]
        if first:
            out.add(line[len(line.rstrip(_WORD_CHARS)):] + first)
    return out


def _word_at(low: str, word: str, text: str) -> int:
    """Position of the first whole-word occurrence of `word` that is not a `NAME=NN` constant listing
    (`ERR_OUTBOUND_CONN_FAIL=50` is CSE printing its table, not the failure); -1 if none."""
    pos = low.find(word)
    n = 0
    while pos >= 0 and n < MAX_OCCURRENCES:
        n += 1
        end = pos + len(word)
        before_ok = pos == 0 or not (low[pos - 1].isalnum() or low[pos - 1] == "_")
        after_ok = end >= len(low) or not (low[end].isalnum() or low[end] == "_")
        if before_ok and after_ok and not (low.startswith("=", end) and low[end + 1: end + 2].isdigit()):
            return pos
        pos = low.find(word, pos + 1)
    return -1


def _score(ev: Evidence, p: CompiledPattern) -> None:
    ev.pattern_scores[p.entry_id] = ev.pattern_scores.get(p.entry_id, 0) + p.weight
    if p.weight > ev.pattern_max.get(p.entry_id, 0):
        ev.pattern_max[p.entry_id] = p.weight
        ev.pattern_best[p.entry_id] = p


def _mention_matches(word: str, idx: CatalogIndex) -> bool:
    """A bare word naming a catalog code. Plain English words (Throttled) must match case exactly."""
    low = word.lower()
    if low not in idx.codes:
        return False
    entry_id, reported = idx.codes[low]
    distinctive = "_" in word or sum(ch.isupper() for ch in word) >= 2 or len(word) >= 14
    if distinctive:
        return True
    entry = idx.by_id[entry_id]
    return word in (entry.code, *entry.aliases, *entry.variant_codes, reported)


def _pattern_hit(p: CompiledPattern, squeezed: str) -> bool:
    pos = squeezed.find(p.parts[0])
    if len(p.parts) == 1 or pos < 0:
        return pos >= 0
    while pos >= 0:
        cur = pos + len(p.parts[0])
        ok = True
        for part in p.parts[1:]:
            nxt = squeezed.find(part, cur, cur + _GAP + len(part))
            if nxt < 0:
                ok = False
                break
            cur = nxt + len(part)
        if ok:
            return True
        pos = squeezed.find(p.parts[0], pos + 1)
    return False


# --- resolution -------------------------------------------------------------------------------


def _resolve_code(code: str, idx: CatalogIndex) -> tuple[str, str] | None:
    """(entry id, reported code) for a specific catalog code; None for wrappers, generics, unknowns."""
    low = code.lower()
    if low in idx.wrappers or low in idx.generics:
        return None
    hit = idx.codes.get(low)
    if hit is not None:
        return hit
    regex_entry = idx.regex_entry(code)
    if regex_entry is not None:
        return regex_entry, code
    return None


def _pattern_candidates(ev: Evidence, idx: CatalogIndex, generic_present: set[str]) -> list[tuple[int, int, str]]:
    """(score, max weight, entry id) of entries whose fragments qualify, best first."""
    out: list[tuple[int, int, str]] = []
    for entry_id, score in ev.pattern_scores.items():
        entry = idx.by_id[entry_id]
        if entry.role != "cause":
            continue
        hosted = any(h.lower() in generic_present for h in entry.generic_hosts)
        if ev.pattern_max.get(entry_id, 0) >= 3 or score >= 4 or (hosted and score >= 2):
            out.append((score, ev.pattern_max.get(entry_id, 0), entry_id))
    out.sort(key=lambda t: (-t[0], -t[1]))
    return out


def _exit_entry(status: int, ev: Evidence, idx: CatalogIndex) -> str | None:
    if ev.windows and status in idx.windows_exit_entry:
        return idx.windows_exit_entry[status]
    if not ev.windows:
        return idx.linux_exit_entry.get(status)
    return None


def _decide(ev: Evidence, idx: CatalogIndex) -> Decision:
    field_codes = [c for c in ev.codes if c.origin in ("field", "subcode")]
    generic_present = {c.code.lower() for c in ev.codes if c.code.lower() in idx.generics}
    if ev.http_status:
        generic_present.add(ev.http_status.lower())
    specific: list[tuple[CodeObs, str, str]] = []
    for obs in ev.codes:
        hit = _resolve_code(obs.code, idx) if obs.origin != "truncated" else _resolve_prefix(obs.code, idx)
        if hit is None and obs.origin in ("field", "subcode") and obs.code.lower() not in idx.generics \
                and obs.code.lower() not in idx.wrappers:
            hit = _resolve_prefix(obs.code, idx)  # `Code: SubnetIsF` in a cut-off paste
        if hit is not None:
            specific.append((obs, hit[0], hit[1]))
    patterns = _pattern_candidates(ev, idx, generic_present)
    subcode = ev.subcodes[0] if ev.subcodes else None

    # 1. Node bootstrap (CSE).
    cse_field = [s for s in specific if s[1] in idx.cse_entries and s[0].origin in ("field", "subcode")]
    if cse_field:
        obs, entry_id, reported = max(cse_field, key=lambda s: (s[0].depth, -s[0].order))
        return _cse_code_decision(obs, entry_id, reported, f"cse_name:{obs.code}", "high", ev, idx, subcode)
    for status in ev.exit_statuses:
        if status == 124 and not ev.windows:
            return _exit_124(ev, idx)
        exit_entry = _exit_entry(status, ev, idx)
        if exit_entry is not None:
            return Decision(exit_entry, idx.by_id[exit_entry].code, "high", f"exit_status:{status}", status,
                            subcode=subcode)
        row = (idx.windows_exit if ev.windows else idx.linux_exit).get(status)
        if row is not None and row.code and status != 0:
            # Every AgentBaker status has its own code (34 -> VMExtensionError_KubeletStartFail).
            return Decision("VMExtensionProvisioningError", row.code, "high", f"exit_status:{status}", status,
                            {"cse_constant": row.name, "cse_meaning": row.meaning},
                            f"Node bootstrap (CSE) failed: exit status {status} ({row.name}: {row.meaning})", subcode)
    cse_mention = [s for s in specific if s[1] in idx.cse_entries]
    if cse_mention:
        obs, entry_id, reported = cse_mention[0]
        # A doc link naming the failure plus the entry's own message text is as good as a code.
        conf1: Confidence = "high" if ev.pattern_max.get(entry_id, 0) >= 3 else "medium"
        return _cse_code_decision(obs, entry_id, reported, f"cse_mention:{obs.code}", conf1, ev, idx, subcode)

    # 2. Specific codes: a subcode / innerError code, else the innermost explicit one; a literal code
    # always beats message heuristics unless an entry that supersedes it matches its own text.
    explicit = [s for s in specific if s[0].origin in ("field", "subcode")]
    mentioned = [s for s in specific if s[0].origin in ("mention", "truncated")]
    subs = [s for s in explicit if s[0].origin == "subcode"]
    chosen = None
    if subs:
        chosen = subs[0]
    elif explicit:
        chosen = max(explicit, key=lambda s: (s[0].depth, -s[0].order))
    elif mentioned:
        chosen = mentioned[0]
    if chosen is not None:
        obs, entry_id, reported = chosen
        for _score_total, top, pid in patterns:
            entry = idx.by_id[pid]
            supersedes = {c.lower() for c in entry.supersedes}
            beats_code = obs.code.lower() in supersedes or idx.by_id[entry_id].code.lower() in supersedes
            if pid != entry_id and top >= 3 and (beats_code or obs.origin == "mention"):
                best = ev.pattern_best[pid]
                return Decision(pid, entry.code, "high" if beats_code else "medium",
                                f"message:{best.text}", subcode=subcode)
        conf2: Confidence = "high" if obs.origin in ("field", "subcode") else "medium"
        layer = _LAYERS[obs.origin]
        return Decision(entry_id, reported, conf2, f"{layer}:{obs.code}", subcode=subcode)

    # 2b. A literal code the catalog does not know still is the code AKS emitted: report it; the best
    # message match (if any) supplies what it means.
    unknown = [c for c in field_codes
               if c.code.lower() not in idx.wrappers and c.code.lower() not in idx.generics
               and not idx.known(c.code) and _CODE_OK.fullmatch(c.code) and code_shaped(c.code)
               and not _cut_off(c.code, ev, idx)]
    if unknown:
        obs = max(unknown, key=lambda c: (c.origin == "subcode", c.depth, -c.order))
        if patterns:
            pid = patterns[0][2]
            best = ev.pattern_best[pid]
            return Decision(pid, obs.code, "medium", f"unknown_code:{obs.code}|message:{best.text}", subcode=subcode)
        return Decision(idx.fallback_id, obs.code, "low", f"unknown_code:{obs.code}", subcode=subcode)

    # 3. Message fragments.
    if patterns:
        score, _top, pid = patterns[0]
        entry = idx.by_id[pid]
        host = next((h for h in entry.generic_hosts if h.lower() in generic_present), None)
        best = ev.pattern_best[pid]
        conf3: Confidence = "high" if host or score >= 6 else "medium"
        layer = f"generic+message:{host}|" if host else "message:"
        return Decision(pid, entry.code, conf3, f"{layer}{best.text}", subcode=subcode)

    # 4. Fallbacks.
    for status in ev.exit_statuses:
        row = (idx.windows_exit if ev.windows else idx.linux_exit).get(status)
        if row is not None and status != 0:
            facts = {"cse_constant": row.name, "cse_meaning": row.meaning}
            title = f"Node bootstrap (CSE) failed: exit status {status} ({row.name})"
            return Decision("VMExtensionProvisioningError", "VMExtensionProvisioningError", "medium",
                            f"exit_status_table:{status}", status, facts, title)
    containers = [c for c in field_codes if c.code.lower() in idx.wrappers or c.code.lower() in idx.generics]
    if containers:
        obs = max(containers, key=lambda c: (_container_rank(c.code, idx), c.depth, -c.order))
        low = obs.code.lower()
        if low in idx.wrappers:
            name, entry_id = idx.wrappers[low]
            return Decision(entry_id, name, "low", f"wrapper:{name}", _first_exit(ev))
        if low in _ENVELOPES and ev.http_status:
            return _generic(ev.http_status, idx, f"http_status:{ev.http_status}")
        name = idx.generics[low][0]
        return _generic(name, idx, f"generic_code:{name}")
    for frag, container in idx.container_templates:
        if ev.sq_probe.has(frag):
            low_c = container.lower()
            if low_c in idx.wrappers:
                name, entry_id = idx.wrappers[low_c]
                return Decision(entry_id, name, "low", f"wrapper_message:{name}", _first_exit(ev))
            return _generic(container, idx, f"wrapper_message:{container}")
    if ev.http_status:
        return _generic(ev.http_status, idx, f"http_status:{ev.http_status}")
    if ev.generic_mention:
        low_g = ev.generic_mention.lower()
        if low_g in idx.wrappers:
            name, entry_id = idx.wrappers[low_g]
            return Decision(entry_id, name, "low", f"wrapper_mention:{name}", _first_exit(ev))
        return _generic(ev.generic_mention, idx, f"generic_mention:{ev.generic_mention}")
    return Decision(idx.fallback_id, idx.by_id[idx.fallback_id].code, "low", "fallback")


def _cut_off(code: str, ev: Evidence, idx: CatalogIndex) -> bool:
    """A code cut off by truncation: the start of a catalog code or of another code the error names."""
    low = code.lower()
    return idx.is_prefix_of_known(code) or any(
        o.code.lower().startswith(low) and len(o.code) > len(code) for o in ev.codes)


def _generic(code: str, idx: CatalogIndex, matched_on: str) -> Decision:
    """A generic code (named by the error or by its HTTP status): its own entry, low confidence."""
    low = code.lower()
    if low in idx.generics:
        name, default = idx.generics[low]
        entry_id = default or idx.fallback_id
        reported = idx.by_id[entry_id].code if default else name
        return Decision(entry_id, reported, "low", matched_on)
    hit = _resolve_code(code, idx)  # 429 -> TooManyRequests, a variant of TooManyRequestsReceived
    if hit is not None:
        return Decision(hit[0], hit[1], "low", matched_on)
    return Decision(idx.fallback_id, code, "low", matched_on)


def _resolve_prefix(token: str, idx: CatalogIndex) -> tuple[str, str] | None:
    if not code_shaped(token):
        return None
    full = idx.prefix_code(token)
    return idx.codes.get(full) if full is not None else None


def _cse_code_decision(obs: CodeObs, entry_id: str, reported: str, matched_on: str, conf: Confidence,
                       ev: Evidence, idx: CatalogIndex, subcode: str | None) -> Decision:
    """A CSE failure named by its code: the exit status and AgentBaker constant come from the table."""
    exit_status = _first_exit(ev)
    facts: dict[str, Any] = {}
    title = None
    hit = idx.exit_codes.get(reported.lower()) or idx.exit_codes.get(obs.code.lower())
    if hit is not None:
        os_name, status = hit
        row = (idx.windows_exit if os_name == "windows" else idx.linux_exit).get(status)
        if exit_status is None:
            exit_status = status
        if row is not None and entry_id == "VMExtensionProvisioningError":
            facts = {"cse_constant": row.name, "cse_meaning": row.meaning, "os": os_name}
            title = f"Node bootstrap (CSE) failed: {row.name} ({row.meaning})"
    return Decision(entry_id, reported, conf, matched_on, exit_status, facts, title, subcode)


# Output of a retry loop that ran until CSE's global `timeout` killed the script (exit 124).
_RETRY_LOOP_HINTS = ("timed out", "timeout", "retrying", "retry", "could not resolve", "connection refused",
                     "no route to host", "nslookup", "curl", "i/o timeout", "temporary failure in name resolution")
_VHD_HINTS = ("vhd log file", "vhd-install.complete", "file_not_found", "vhd file", "/opt/azure/vhd")


def _exit_124(ev: Evidence, idx: CatalogIndex) -> Decision:
    """Exit 124 is ambiguous: the `timeout` command killing CSE (AgentBaker's cse_helpers.sh says so)
    versus the pre-65 meaning ERR_VHD_FILE_NOT_FOUND. The output decides; both readings are reported."""
    low = ev.text.lower()
    vhd = any(h in low for h in _VHD_HINTS)
    loop = any(h in low for h in _RETRY_LOOP_HINTS)
    if vhd and not loop:
        entry = idx.linux_exit_entry.get(124, "VMExtensionError_VHDFileNotFound")
        return Decision(entry, idx.by_id[entry].code, "medium",
                        "exit_status:124(vhd_file_not_found;ambiguous_with:timeout)", 124,
                        {"cse_constant": "ERR_VHD_FILE_NOT_FOUND", "cse_meaning":
                         "VHD log file not found (exit 124 before ERR_VHD_FILE_NOT_FOUND=65; also the timeout exit)"})
    conf: Confidence = "medium" if loop else "low"
    return Decision("VMExtensionProvisioningTimeout", "VMExtensionProvisioningError", conf,
                    "exit_status:124(timeout;ambiguous_with:ERR_VHD_FILE_NOT_FOUND)", 124,
                    {"cse_constant": "timeout", "cse_meaning":
                     "the `timeout` command killed the CSE script (global CSE timeout); 124 was also "
                     "ERR_VHD_FILE_NOT_FOUND before that moved to 65"},
                    "Node bootstrap (CSE) timed out (exit status 124)")


# `"subcode": "X"`, `SubCode: X`, `"innerError": {"code": "X"`, Python's `Exception Details: (X) ...`.
_REASON_FIELD_RX = re.compile(r"reason[\"']?[ \t]{0,3}[:=][ \t]{0,3}[\"']?([a-z][a-z0-9_]{2,100})")
_SUBCODE_HINTS = ("subcode", "sub_code", "sub code", "sub-code", "innererror", "inner_error", "exception details")
_SUBCODE_RX = re.compile(
    r"(?:\bsub[_ -]?code[\"']?[ \t]{0,3}[:=][ \t]{0,3}[\"']?|inner_?error[\"']?[ \t]{0,3}:[ \t]{0,3}\{[ \t\n]{0,20}"
    r"[\"']code[\"'][ \t]{0,3}:[ \t]{0,3}[\"']|exception details:[ \t\n]{0,10}\()([a-z][a-z0-9_.]{2,100})"
)
_LAYERS = {"field": "code", "subcode": "subcode", "mention": "code_mention", "truncated": "truncated_code"}
_CODE_OK = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{1,100}")
# The last code-shaped word of the text (optionally before an ellipsis): a title cut mid-code.
_TRUNC_RX = re.compile(r"([A-Za-z][A-Za-z0-9_]{7,120})(?:\.\.\.|…)?[\s\"'`)\]]{0,4}$")
_TRUNC_REACH = 1 + 120 + 3 + 4 + 1 + 8  # the longest _TRUNC_RX match (word, ellipsis, closers, a final \n) + slack
# HTTP status carried by the layout: Go `RESPONSE 409: 409 Conflict`, autorest `StatusCode=409`, old az CLI
# `Operation failed with status: 'Bad Request'`, Python `(409) Conflict` / `Status code: 409`.
# Each alternative starts with a literal (fast scan) and runs on the lower-cased text.
_HTTP_RXS = (
    re.compile(r"response[ \t]{1,3}([1-5]\d\d)(?!\d)"),
    re.compile(r"statuscode[ \t]{0,2}[=:][ \t]{0,2}\"?([1-5]\d\d)(?!\d)"),
    re.compile(r"status code[ \t]{0,2}:?[ \t]{0,2}([1-5]\d\d)(?!\d)"),
    re.compile(r"status[ \t]{0,2}[=:][ \t]{0,2}([1-5]\d\d)(?!\d)"),
    re.compile(r"unexpected status ([1-5]\d\d)(?!\d)"),
)
_HTTP_LITERALS = ("response", "statuscode", "status code", "status", "unexpected status ")
_REASON_RX = re.compile(
    r"(?i:operation failed with status:?|returned an invalid status(?: code)?:?)[ \t]{0,2}"
    r"(?:'([A-Za-z ]{3,40})'|\"([A-Za-z ]{3,40})\"|([A-Za-z]{3,20}(?: [A-Za-z]{3,20})?))"
)


def _http_status(text: str, idx: CatalogIndex, probe: Probe | None = None) -> str | None:
    has: Callable[[str], bool]
    if probe is not None and len(text) <= 65536:
        head, has = probe.text, probe.has  # the probe's text is text.lower()
    else:
        head = text[:65536].lower()
        has = head.__contains__
    if has("status") or has("response "):
        for lit, rx in zip(_HTTP_LITERALS, _HTTP_RXS, strict=True):
            if not has(lit):  # the regex's leading literal is not in the text: it cannot match
                continue
            for n, m in enumerate(rx.finditer(head)):
                if n >= 20:
                    break
                code = idx.http_statuses.get(int(m.group(1)))
                if code:
                    return code
    if not has("operation failed with status") and not has("returned an invalid status"):
        return None
    m2 = _REASON_RX.search(head)
    if m2 is not None:
        reason = m2.group(1) or m2.group(2) or m2.group(3) or ""
        return idx.http_reasons.get("".join(reason.lower().split()))
    return None
# ARM deployment envelopes say nothing about the cause; HTTP-status names say little more.
_ENVELOPES = frozenset({"deploymentfailed", "invalidtemplatedeployment", "resourceoperationfailure",
                        "resourcedeploymentfailure", "multipleerrorsoccurred"})


def _container_rank(code: str, idx: CatalogIndex) -> int:
    """Which container says most when nothing specific was found: a CSE wrapper (node bootstrap)
    beats an agent-pool wrapper or a generic code with a default entry, which beat HTTP-ish
    generics (Conflict, BadRequest), which beat deployment envelopes."""
    low = code.lower()
    if low in _ENVELOPES:
        return 0
    if low in idx.wrappers:
        return 3 if idx.wrappers[low][1] == "VMExtensionProvisioningError" else 2
    return 2 if idx.generics.get(low, ("", None))[1] else 1


def _first_exit(ev: Evidence) -> int | None:
    return ev.exit_statuses[0] if ev.exit_statuses else None


# --- result -----------------------------------------------------------------------------------


def _subcategory(entry: Entry, sq_probe: Probe) -> Subcategory | None:
    """First sub-cause whose telling phrase appears; then the same on the weaker phrases."""
    has = sq_probe.has
    for sub, frags in _sub_phrases(entry):
        if any(map(has, frags)):
            return sub
    return None


_SubPhrases = tuple[tuple[Subcategory, tuple[str, ...]], ...]
_SUB_PHRASES: dict[str, tuple[Entry, _SubPhrases]] = {}


def _sub_phrases(entry: Entry) -> _SubPhrases:
    """(sub-cause, its squeezed phrases): every sub-cause's telling phrases, then every one's weaker ones.
    Cached per entry object (the catalog is loaded once per process)."""
    hit = _SUB_PHRASES.get(entry.id)
    if hit is not None and hit[0] is entry:
        return hit[1]
    out = tuple((sub, tuple(squeeze(f) for f in getattr(sub, attr)))
                for attr in ("match", "weak_match") for sub in entry.subcategories)
    _SUB_PHRASES[entry.id] = (entry, out)
    return out


def _quoted_links(text: str, probe: Probe | None = None) -> list[str]:
    """Documentation links the message quotes. `probe`: the literals of text.lower() (a literal absent
    from the lower-cased text is absent from the text)."""
    out: list[str] = []
    if probe is not None and not probe.has("aka.ms/") and not probe.has("learn.microsoft.com/"):
        return out
    if "aka.ms/" not in text and "learn.microsoft.com/" not in text:
        return out
    for m in _URL_RX.finditer(text[:65536]):
        url = m.group(0).rstrip(".,;)'\"]")
        if url.lower().startswith("http://"):
            url = "https://" + url[7:]
        out.append(url)
        if len(out) >= 8:
            break
    return out


def _build(decision: Decision, ev: Evidence, idx: CatalogIndex) -> Classification:
    entry = idx.by_id[decision.entry_id]
    sub = _subcategory(entry, ev.sq_probe)
    sub_id = sub.id if sub else entry.default_subcategory
    transient: Transient = sub.transient if sub and sub.transient else entry.transient
    causes = list(entry.causes)
    if sub and sub.cause:
        causes.sort(key=lambda c: c.id != sub.cause)
    docs: list[str] = []
    seen: set[str] = set()
    for url in (*entry.docs, *_quoted_links(ev.text, ev.probe)):
        key = url.lower().rstrip("/")
        if key not in seen:
            seen.add(key)
            docs.append(url)
    known: dict[str, Any] = dict(decision.facts)
    exit_status = decision.exit_status
    exit_row = None
    if exit_status is not None:
        known["os"] = "windows" if ev.windows else "linux"
        exit_row = (idx.windows_exit if ev.windows else idx.linux_exit).get(exit_status)
        if exit_row is not None:
            known.setdefault("cse_constant", exit_row.name)
            known.setdefault("cse_meaning", exit_row.meaning)
    if sub and sub.cause:
        known["cause"] = sub.cause
    codes = list(dict.fromkeys(obs.code for obs in sorted(ev.codes, key=lambda o: (o.depth, o.order))))
    outer = next((obs.code for obs in sorted(ev.codes, key=lambda o: (o.depth, o.order)) if obs.origin == "field"),
                 None)
    facts = error_facts(ev.text, tree=ev.tree, probe=ev.probe, outer_code=outer, specific_code=decision.code,
                        subcode=decision.subcode, codes=tuple(codes[:25]), exit_status=exit_status,
                        subcategory=sub_id, **known)
    families = idx.families_for(entry, sub, exit_row)
    wrappers: list[str] = []
    for obs in ev.codes:
        low = obs.code.lower()
        if obs.origin == "field" and (low in idx.wrappers or low in idx.generics) \
                and low != decision.code.lower() and obs.code not in wrappers:
            wrappers.append(obs.code)
    return Classification(
        code=decision.code,
        entry_id=entry.id,
        title=decision.title or entry.title,
        category=entry.category,
        subcategory=sub_id,
        severity=entry.severity,
        transient=transient,
        exit_status=exit_status,
        docs=tuple(docs),
        families=families,
        subcode=decision.subcode,
        facts=facts,
        confidence=decision.confidence,
        matched_on=decision.matched_on,
        causes=tuple(c.text for c in causes),
        guidance=entry.guidance,
        wrapper_codes=tuple(wrappers[:10]),
    )


def _fallback(message: str = "") -> Classification:
    idx = catalog_index()
    entry = idx.by_id[idx.fallback_id]
    return Classification(code=entry.code, entry_id=entry.id, title=entry.title, category=entry.category,
                          transient=entry.transient, docs=entry.docs, confidence="low",
                          families=idx.families_for(entry, None, None),
                          matched_on="fallback", guidance=entry.guidance)


def classify_error(err: OperationError) -> Classification:
    """Classify a normalised ARM error tree. Never raises."""
    try:
        idx = catalog_index()
        ev = _gather(err, None, idx)
        return _build(_decide(ev, idx), ev, idx)
    except Exception:  # a classification must always come back; the pipeline depends on it
        return _fallback()


def classify_text(text: str) -> Classification:
    """Classify pasted error text in any shape (JSON, az CLI, Terraform, PowerShell, prose). Never raises."""
    try:
        idx = catalog_index()
        raw = text if isinstance(text, str) else str(text)
        tree, clean = parse_with_clean(raw)
        ev = _gather(tree, raw, idx, clean)
        return _build(_decide(ev, idx), ev, idx)
    except Exception:
        return _fallback()
