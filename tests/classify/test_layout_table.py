"""The layout table: every documented example, in every layout, whole and cut at its tail,
classifies to its own entry. Built from the catalog's examples and tests/classify/layouts.py, not written
per code."""

from __future__ import annotations

import pytest

from shared.catalog import catalog_index, load_catalog
from shared.classify import classify_error, classify_text
from shared.classify.text import code_shaped
from shared.models import OperationError
from tests.classify.layouts import CODELESS, LAYOUTS

CATALOG = load_catalog()
ROWS = [(e.id, i, name) for e in CATALOG.entries if e.role != "fallback" for i, ex in enumerate(e.examples)
        for name in LAYOUTS if not (name in CODELESS and not ex.message_only) and (ex.code or ex.message_only)]


def _case(entry_id: str, index: int, layout: str) -> tuple[str | None, str]:
    ex = CATALOG.entry(entry_id).examples[index]
    return (None if layout in CODELESS else ex.code), ex.message


@pytest.mark.parametrize("entry_id,index,layout", ROWS)
def test_documented_example_in_layout(entry_id: str, index: int, layout: str) -> None:
    code, message = _case(entry_id, index, layout)
    result = classify_text(LAYOUTS[layout](code, message))
    assert result.entry_id == entry_id, result.matched_on
    if code is not None and CATALOG.entry(entry_id).role == "cause":
        assert result.confidence in ("high", "medium"), result.matched_on


def _code_alone_identifies(entry_id: str, index: int) -> bool:
    code = CATALOG.entry(entry_id).examples[index].code
    return bool(code) and classify_error(OperationError(code=code or "", message="")).entry_id == entry_id


@pytest.mark.parametrize("entry_id,index,layout",
                         [r for r in ROWS if r[2] not in CODELESS and _code_alone_identifies(r[0], r[1])])
def test_documented_example_in_layout_cut_at_its_tail(entry_id: str, index: int, layout: str) -> None:
    """A copy that lost the end of the paste (after the code) still classifies by its code."""
    code, message = _case(entry_id, index, layout)
    assert code is not None
    text = LAYOUTS[layout](code, message)
    end = text.find(code) + len(code)
    cut = text[: end + (len(text) - end) // 2]
    result = classify_text(cut)
    assert result.entry_id == entry_id, result.matched_on


def _title_case(entry_id: str, index: int) -> bool:
    """A generic code in prose counts only when CamelCase (`Conflict` alone is an English word)."""
    code = CATALOG.entry(entry_id).examples[index].code or ""
    return CATALOG.entry(entry_id).role != "generic" or sum(ch.isupper() for ch in code) >= 2


@pytest.mark.parametrize("entry_id,index", sorted({(r[0], r[1]) for r in ROWS
                                                   if _code_alone_identifies(r[0], r[1]) and _title_case(r[0], r[1])}))
def test_issue_title_naming_only_the_code(entry_id: str, index: int) -> None:
    """`az aks create fails with <code>`: a title carries the code and nothing else."""
    code = CATALOG.entry(entry_id).examples[index].code
    result = classify_text(f"[BUG] az aks create fails with {code}")
    assert result.entry_id == entry_id, result.matched_on


@pytest.mark.parametrize("code", sorted(c for c in {*CATALOG.generic_codes, *CATALOG.wrapper_codes}
                                         if sum(ch.isupper() for ch in c) >= 2))  # CamelCase names only
def test_issue_title_naming_a_container_or_generic_code(code: str) -> None:
    result = classify_text(f"AKS upgrade fails with {code}")
    default = CATALOG.generic_codes.get(code)
    assert result.code == (CATALOG.entry(default).code if default else code), result.matched_on
    assert result.confidence == "low"


def test_an_english_word_that_is_a_generic_code_is_not_read_as_one() -> None:
    assert classify_text("my cluster has a conflict with another one").code == "Unknown"


def test_table_covers_every_layout_and_every_entry() -> None:
    assert {r[2] for r in ROWS} == set(LAYOUTS)
    assert {r[0] for r in ROWS} == {e.id for e in CATALOG.entries if e.role != "fallback"}
    assert len(ROWS) > 2500


def test_no_layout_round_trip_needs_a_handwritten_expectation() -> None:
    """Each layout function prints the example's code or message verbatim (no per-code handling)."""
    for name, layout in LAYOUTS.items():
        text = layout("QuotaExceeded", "Operation could not be completed as it results in exceeding approved quota.")
        squeezed = "".join(text.split()).lower()
        assert "exceedingapproved" in squeezed, name
        if name not in CODELESS:
            assert "quotaexceeded" in squeezed, name


# --- truncated codes ----------------------------------------------------------------------------

_IDX = catalog_index()
_SPELLING = {c.lower(): c for e in CATALOG.entries for c in (e.code, *e.aliases, *e.variant_codes)}
_SPELLING.update({r.code.lower(): r.code for r in (*CATALOG.cse_exit_statuses.linux, *CATALOG.cse_exit_statuses.windows)
                  if r.code})
# A cut counts when it is unique, not a code of its own, and still code-shaped (a plain word such as
# `Principal` is never completed).
_PREFIXES = sorted({(code[:n], code) for code in _IDX.codes for n in range(8, len(code))
                    if _IDX.prefix_code(code[:n]) == code and not _IDX.known(code[:n])
                    and code_shaped(_SPELLING.get(code, code)[:n])})


@pytest.mark.parametrize("prefix,code", _PREFIXES[:: max(1, len(_PREFIXES) // 1500)])
def test_truncated_code_in_a_title_resolves_to_its_unique_completion(prefix: str, code: str) -> None:
    reported = _IDX.codes[code][1]
    cut = _SPELLING[code][: len(prefix)]
    result = classify_text(f"AKS cluster create fails with {cut}")
    assert result.code == reported, (cut, result.matched_on)


@pytest.mark.parametrize("prefix,code", _PREFIXES[:: max(1, len(_PREFIXES) // 300)])
def test_truncated_code_in_a_code_field_resolves(prefix: str, code: str) -> None:
    reported = _IDX.codes[code][1]
    cut = _SPELLING[code][: len(prefix)]
    result = classify_text(f'{{"error": {{"code": "{cut}", "message": ""}}}}')
    assert result.code == reported, (cut, result.matched_on)


def test_a_plain_last_word_is_not_completed() -> None:
    assert classify_text("the role assignment failed for the service Principal").code != "PrincipalNotFound"
    assert classify_text("type: ManagedCluster").code != "ManagedClusterCountExceedsQuotaLimit"


def test_an_ambiguous_prefix_does_not_guess() -> None:
    assert _IDX.prefix_code("VMExtensionError_K8S") is None
    result = classify_text("AKS cluster create fails with VMExtensionError_K8S")
    assert result.code != "VMExtensionError_K8SAPIServerConnFail"


def test_prefix_property_holds_for_every_code() -> None:
    """Every catalog code's own full spelling and every unique prefix of it map back to it."""
    for code in _IDX.sorted_codes:
        for n in range(8, len(code) + 1):
            hit = _IDX.prefix_code(code[:n])
            assert hit is None or hit == code or not code.startswith(hit) or hit.startswith(code[:n])
