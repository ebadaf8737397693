"""The classifier's shortcuts give the answers of the long way round.

- The literal probe (`Probe.has`) says exactly what `literal in text` says.
- `word_split` splits like the catalog's tokenizer (`TOKEN_TABLE`).
- `collapse_repeats` output is a fixed point (the classifier's second call returns it as is).
- The template prefilter (anchor words, longest piece of unanchored templates) never drops a template
  the full scan (every template of the catalog tried on the squeezed text) matches, so the entry the
  classifier picks is the one the full scan picks: over every catalog example in every layout, padded
  with log text past the probe threshold, and over random wrappings at console widths (>= MIN_WRAP_WIDTH).
  Narrower hard wraps are outside the anchors' contract: a line break there is not read as a wrap, an
  anchor word cut by it is not joined back, and its templates go untried (as before this prefilter).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.classify_bench import padded
from shared.catalog import catalog_index, load_catalog
from shared.catalog.loader import TOKEN_TABLE
from shared.classify import engine
from shared.classify.engine import MIN_WRAP_WIDTH
from shared.classify.normalizer import parse_with_clean
from shared.classify.text import PROBE_MIN_CHARS, Probe, collapse_repeats, word_split
from tests.classify.layouts import CODELESS, LAYOUTS

CATALOG = load_catalog()
IDX = catalog_index()
EXAMPLES = [(e.id, ex.code, ex.message) for e in CATALOG.entries if e.role != "fallback" for ex in e.examples]


def _full_scan(text: str) -> tuple[engine.Evidence, engine.Evidence]:
    """Evidence as the classifier gathers it, and the same with every catalog template tried."""
    tree, clean = parse_with_clean(text)
    ev = engine._gather(tree, text, IDX, clean)
    full = engine._gather(tree, text, IDX, clean)
    full.pattern_scores, full.pattern_best, full.pattern_max = {}, {}, {}
    for p in IDX.patterns:  # catalog order, as the classifier scores its candidates
        if engine._pattern_hit(p, full.squeezed):
            engine._score(full, p)
    return ev, full


def _assert_same(text: str, scores: bool = True) -> None:
    ev, full = _full_scan(text)
    if scores:
        assert ev.pattern_scores == full.pattern_scores, text[:300]
        assert {k: p.text for k, p in ev.pattern_best.items()} == {k: p.text for k, p in full.pattern_best.items()}
    a, b = engine._decide(ev, IDX), engine._decide(full, IDX)
    assert (a.entry_id, a.code) == (b.entry_id, b.code), (a.matched_on, b.matched_on, text[:300])
    if scores:
        assert a.matched_on == b.matched_on


def _cases() -> list[tuple[str, str]]:
    out = []
    for entry_id, code, message in EXAMPLES:
        for name, layout in LAYOUTS.items():
            out.append((f"{entry_id}/{name}", layout(None if name in CODELESS else code, message)))
    return out


CASES = _cases()


@pytest.mark.parametrize("case", range(0, len(CASES), 7))
def test_prefilter_keeps_every_template_the_full_scan_matches(case: int) -> None:
    _name, text = CASES[case]
    _assert_same(text)


@pytest.mark.parametrize("case", range(3, len(CASES), 23))
def test_prefilter_on_long_text(case: int) -> None:
    """Past PROBE_MIN_CHARS the probe answers from the text's words: az --debug output around the error."""
    _name, text = CASES[case]
    long = padded(text, 6 * 1024)
    assert len(long) > PROBE_MIN_CHARS
    _assert_same(long)
    _assert_same(padded(text, 6 * 1024, distinct=True))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLES), st.integers(MIN_WRAP_WIDTH, 140), st.sampled_from(["", "  ", "\t", "> "]),
       st.integers(0, 4000), st.booleans())
def test_prefilter_under_random_wrapping(example: tuple[str, str | None, str], width: int, indent: str,
                                         pad: int, upper: bool) -> None:
    _entry, code, message = example
    text = f"ERROR: ({code}) {message}" if code else message
    text = text.upper() if upper else text
    wrapped = ("\n" + indent).join(text[i: i + width] for i in range(0, len(text), width))
    # Scores may differ here: a wrap can fall where two words make a catalog code name (`authorization` /
    # `failed`), which the cleaner joins (a code cut by the wrap), and an anchor word is gone. The entry
    # picked must be the full scan's.
    _assert_same(padded(wrapped, len(wrapped) + pad) if pad else wrapped, scores=False)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab_ .:'\"-/\n\tAZ9é\u00a0")), min_size=0, max_size=60),
       st.integers(0, 3000))
def test_probe_answers_like_in(literal: str, pad: int) -> None:
    rng = random.Random(pad)
    base = padded("Code: QuotaExceeded - failed: a_b c.d 'x' \"y\" r\u00e9gion", PROBE_MIN_CHARS + pad)
    at = rng.randrange(len(base))
    for text in (base, base[:at] + literal + base[at:]):
        low = text.lower()
        probe = Probe(low, set(word_split(low)))
        assert probe.has(literal) == (literal in low)
        assert probe.has(literal.lower()) == (literal.lower() in low)
        assert Probe(text).has(literal) == (literal in text)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=200))
def test_word_split_is_the_catalog_tokenizer(text: str) -> None:
    assert word_split(text) == text.translate(TOKEN_TABLE).split()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    "2026-11-20T10:00:01Z polling the operation 7c3e9f21 status InProgress still running",
    "2026-11-20T10:00:02Z polling the operation 8d4fa032 status InProgress still running",
    "cli.azure.cli.core.sdk.policies: Request URL: 'https://management.azure.com/x'",
    "{", "}", "", "a short line", "another line that is longer than forty characters, quite",
]), min_size=0, max_size=200))
def test_collapse_output_is_a_fixed_point(lines: list[str]) -> None:
    text = "\n".join(lines)
    once = collapse_repeats(text)
    fresh = once[:] + ""  # an equal string that is not the cached object
    assert collapse_repeats(once) == once
    assert collapse_repeats("".join([fresh])) == once


def test_gate_literals_lead_their_regexes() -> None:
    """A regex skipped because its literal is absent must start with that literal (else it could match)."""
    from shared.classify import text

    pairs = [*zip(text._CODE_RXS, text._CODE_LITERALS, strict=True),
             *zip(engine._HTTP_RXS, engine._HTTP_LITERALS, strict=True)]
    for rx, lit in pairs:
        assert rx.pattern.startswith(lit.replace("(", "\\(")), (rx.pattern, lit)
