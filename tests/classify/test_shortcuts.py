"""Each per-text shortcut of the classifier answers like the long way round it replaced.

- `unique_parts`: a literal without the separator is in the distinct pieces exactly when it is in the
  text, and the word set read from them is the text's word set.
- `Probe` on the distinct pieces (line breaks for the lower-cased text, quotes for the squeezed one) says
  what `in` says.
- `_collapse` (one walk) drops the lines the two-pass version dropped.
- `join_wrapped_codes` (distinct line ends checked first) and `_wrapped_words` (candidate lines picked
  in one comprehension) give what the plain walks over every line give.
- `flatten` (squashing only runs of two or more backslashes) gives what squashing every run gives.
- `_Alt.first` (each present alternative searched on its own, the leftmost wins) finds what the
  alternation of the present alternatives finds.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.classify_bench import padded
from shared.catalog import catalog_index
from shared.classify import engine, facts, text
from shared.classify.text import (
    MIN_WRAP_WIDTH,
    PROBE_MIN_CHARS,
    REPEAT_KEEP,
    REPEAT_MIN_LINE,
    Probe,
    squeeze,
    unique_parts,
    word_split,
)

IDX = catalog_index()
SLOW = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Lines and pieces a log is made of: repeated lines, lines differing only in hex digits, quotes, wrapped
# code halves, non-ASCII letters, backslash escapes.
PIECES = [
    "cli.azure.cli.core.sdk.policies: Request URL: 'https://management.azure.com/subscriptions/x'",
    "cli.azure.cli.core.sdk.policies:     'x-ms-request-id': '0a1b2c3d-4e5f-6789-abcd-ef0123456789'",
    "cli.azure.cli.core.sdk.policies:     'x-ms-request-id': '9f8e7d6c-5b4a-3210-fedc-ba9876543210'",
    "2026-11-20T10:00:01Z polling the operation 7c3e9f21 status InProgress still running",
    "ERROR: (VMExtensionError_K8SAPIServerC", "onnFail) the node could not reach the API server",
    "x" * 45 + " SubnetIsF", "ull) no room", "Code: QuotaExceeded", "status code: 409 region westeurope",
    "{\\\"error\\\": {\\\"code\\\": \\\"X\\\", \\\"message\\\": \\\"a\\\\\\\\nb\\\"}}", "r\u00e9gion \u00e9 caf\u00e9",
    "", " ", "{", "}", "'", "''", "\t", "a short line", "another line that is longer than forty characters",
]
LINES = st.lists(st.sampled_from(PIECES), min_size=0, max_size=120)
LITERALS = st.text(alphabet=st.sampled_from(list("ab_ .:'\"-/\n\tAZ9\u00e9")), min_size=0, max_size=30)


@SLOW
@given(LINES, LITERALS, st.sampled_from(["\n", "'", ":"]))
def test_unique_parts_hold_the_words_and_the_literals(lines: list[str], literal: str, sep: str) -> None:
    joined = "\n".join(lines)
    for sample in (joined, joined.replace(" ", sep)):  # long pieces, and pieces too short to split
        uniq = unique_parts(sample, sep)
        assert set(word_split(uniq)) == set(word_split(sample))
        if sep not in literal:
            assert (literal in uniq) == (literal in sample)


@SLOW
@given(LINES, LITERALS, st.integers(0, 3000))
def test_probe_on_distinct_pieces_answers_like_in(lines: list[str], literal: str, pad: int) -> None:
    joined = padded("\n".join(lines), 2 * PROBE_MIN_CHARS + pad)  # the squeezed text is shorter
    low = joined.lower()
    sq = squeeze(joined)
    for probe, target in ((Probe(low), low), (Probe(low, set(word_split(unique_parts(low))), unique_parts(low)), low),
                          (Probe(sq, sep="'"), sq)):
        assert probe.long
        for lit in (literal, literal.lower(), squeeze(literal)):
            assert probe.has(lit) == (lit in target)
            assert probe.has(lit) == (lit in target)  # the kept answer


def _collapse_two_pass(src: str) -> str:
    """The collapse as first written: count the keys, list every position of each repeated key, drop."""
    keyed = src.encode("utf-8", "surrogatepass").translate(None, text._HEX_BYTES).split(b"\n")
    lines = src.split("\n")
    counts = Counter([k for k, line in zip(keyed, lines, strict=True) if len(line) >= REPEAT_MIN_LINE])
    wanted = {k for k, n in counts.items() if n > REPEAT_KEEP}
    if not wanted:
        return src
    at: dict[bytes, list[int]] = {}
    for i, k in enumerate(keyed):
        if k in wanted and len(lines[i]) >= REPEAT_MIN_LINE:
            at.setdefault(k, []).append(i)
    drop: set[int] = set()
    for positions in at.values():
        drop.update(positions[REPEAT_KEEP:-1])
    return "\n".join([line for i, line in enumerate(lines) if i not in drop])


@SLOW
@given(LINES)
def test_one_walk_collapse_drops_what_the_two_pass_one_dropped(lines: list[str]) -> None:
    src = "\n".join(lines)
    assert text._collapse(src) == _collapse_two_pass(src)


def _join_walk(src: str) -> str:
    """join_wrapped_codes without the distinct-line-end check: the walk over every line break."""
    known = IDX.wrap_words
    out: list[str] = []
    last = joins = lines = line_start = 0
    pos = src.find("\n")
    while pos >= 0 and lines < text.MAX_WRAP_LINES and joins < text.MAX_WRAP_JOINS:
        lines += 1
        if pos - line_start >= MIN_WRAP_WIDTH and (src[pos - 1].isalnum() or src[pos - 1] == "_"):
            tail = src[max(last, pos - 121): pos]
            a = tail[len(tail.rstrip(text._WORD_CHARS)):]
            after = text._WORD_AFTER.match(src, pos + 1) if len(a) >= 3 and IDX.is_prefix_of_known(a) else None
            if after is not None and a[0].isalpha():
                b = after.group(1)
                if (a + b).lower() in known and a.lower() not in known:
                    out.extend((src[last: pos - len(a)], a + b))
                    last = after.end()
                    joins += 1
        line_start = pos + 1
        pos = src.find("\n", pos + 1)
    return src if not out else "".join([*out, src[last:]])


def _wrapped_walk(src: str) -> set[str]:
    out: set[str] = set()
    if "\n" not in src:
        return out
    for line, nxt in itertools.pairwise(src.lower().split("\n", engine.MAX_WRAP_LINES)):
        if len(line) >= MIN_WRAP_WIDTH and line[-1:].isalnum():
            rest = nxt.lstrip(" \t")
            first = rest[: len(rest) - len(rest.lstrip(engine._WORD_CHARS))]
            if first:
                out.add(line[len(line.rstrip(engine._WORD_CHARS)):] + first)
    return out


@SLOW
@given(LINES, st.integers(MIN_WRAP_WIDTH, 140))
def test_wrap_joins_and_wrapped_words_match_the_walks(lines: list[str], width: int) -> None:
    src = "\n".join(lines)
    rewrapped = "\n".join(src[i: i + width] for i in range(0, len(src), width))
    for sample in (src, rewrapped, src.upper()):
        assert text.join_wrapped_codes(sample) == _join_walk(sample)
        assert engine._wrapped_words(sample) == _wrapped_walk(sample)
        assert engine._wrapped_words(sample, sample.lower()) == _wrapped_walk(sample)


def _flatten_every_run(src: str) -> str:
    if "\\" not in src:
        return src
    src = re.sub(r"\\+", r"\\", src)
    for old, new in text._ESCAPES:
        src = src.replace(old, new)
    return src


@SLOW
@given(st.text(alphabet=st.sampled_from(list('\\"\'nrtu/0c3eE27a x\n')), min_size=0, max_size=200))
def test_flatten_squashing_runs_of_two_gives_the_same_text(src: str) -> None:
    text._LAST_FLAT[0] = ("", "")
    assert text.flatten(src) == _flatten_every_run(src)
    big = src * 30  # past the 2,000-backslash bound, where every escape is tried
    text._LAST_FLAT[0] = ("", "")
    assert text.flatten(big) == _flatten_every_run(big)


ALTS = [facts._NODE_IP_ALT, facts._FAMILY_ALT, facts._CORRELATION_ALT, facts._PRINCIPAL_ALT, facts._CLIENT_ALT,
        facts._SCOPE_ALT, facts._HTTP_ALT, facts._API_IP_ALT, *facts._QUOTA_ALTS.values()]
FACT_PIECES = [
    "node ip 10.0.0.4", "node 10.1.2.3", "from node 10.2.3.4", "source ip: 10.9.9.9", "private ip '10.0.0.7'",
    "standardDSv3Family", "total regional cores", "total regional low priority cores", "lowPriorityCores",
    "regional vcpu", "correlation id: a1b2c3d4-0000-4000-8000-0123456789ab",
    "x-ms-correlation-request-id': 'b1b2c3d4-0000-4000-8000-0123456789ab", "tracking id is "
    "c1b2c3d4-0000-4000-8000-0123456789ab", "activity id = d1b2c3d4-0000-4000-8000-0123456789ab",
    "object id 'e1b2c3d4-0000-4000-8000-0123456789ab'", "principal id: f1b2c3d4-0000-4000-8000-0123456789ab",
    "the client '01b2c3d4-0000-4000-8000-0123456789ab'", "app 11b2c3d4-0000-4000-8000-0123456789ab",
    "over scope '/subscriptions/x'", "on the linked scope(s) '/subscriptions/y'", "on scope '/subscriptions/z'",
    "status: 409", "status code 429", "statuscode=400", "http 503", "api server at 20.1.2.3", "apiserver: 20.4.5.6",
    "connect to 20.7.8.9", "dial tcp 20.1.1.1", "additional required: 8", "requested quota 12",
    "vcpu quota requested: 4", "remaining: 3", "left regional vcpu quota 2", "Current Limit: 10", "status",
    "node", "client", "scope", "noise words here", "\n", " ", "'", ":",
]


@SLOW
@given(st.lists(st.sampled_from(FACT_PIECES), min_size=0, max_size=40), st.integers(0, 2500))
def test_alternatives_searched_alone_find_what_the_alternation_finds(parts: list[str], pad: int) -> None:
    src = " ".join(parts)
    for sample in (src, padded(src, len(src) + pad)):
        low = sample.lower()
        t = facts._Text(sample, low)
        probe = Probe(low)
        for alt in ALTS:
            assert alt.first(probe, t) == facts._first(alt.pick(probe), t), (alt.full.pattern, sample[:200])


@SLOW
@given(st.lists(st.sampled_from([*PIECES, "see https://aka.ms/aks-sp-help.", "AKA.MS/x", "https://learn.microsoft.com/"
                                 "en-us/azure/aks/x", "learn.microsoft.com/"]), min_size=0, max_size=60))
def test_quoted_links_gated_by_the_probe_are_the_links(lines: list[str]) -> None:
    src = padded("\n".join(lines), PROBE_MIN_CHARS + 100)
    assert engine._quoted_links(src, Probe(src.lower())) == engine._quoted_links(src)
