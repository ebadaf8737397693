"""Issue 15.9: invisible and bidi characters in ARM error text never reach the finding.

Error messages quote names anyone with write access chose (resources, tags, policy assignments);
the pipeline strips the characters that reorder or hide text before classification, so cards,
rows and logs built from the finding carry none of them.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.events import INVISIBLE
from shared.models import OperationError
from shared.pipeline import WorkItem, clean_error, process

CHARS = ("\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067",
         "\u2068", "\u2069", "\U000e0001", "\U000e0041", "\U000e007f", "\u3164", "\uffa0", "\u2800", "\u2028",
         "\u2029", "\u200b", "\ufeff", "\x1b", "\x07")


def _tree(ch: str) -> OperationError:
    leaf = OperationError(code=f"Sub{ch}Code", message=f"policy 'deny{ch}-all' blocked it", target=f"tag{ch}")
    return OperationError(code="RequestDisallowedByPolicy", message=f"Resource 'aks{ch}1' was disallowed",
                          details=(OperationError(code="Inner", message=f"x{ch}y", details=(leaf,)),))


@pytest.mark.parametrize("ch", CHARS)
def test_clean_error_strips_every_invisible_character_at_every_depth(ch: str) -> None:
    cleaned = clean_error(_tree(ch))
    texts = [t for e in cleaned.walk() for t in (e.code, e.message, e.target or "")]
    assert not any(INVISIBLE.search(t) for t in texts), texts
    assert cleaned.message == "Resource 'aks1' was disallowed"
    assert cleaned.walk()[-1].message == "policy 'deny-all' blocked it"


def test_clean_error_leaves_clean_trees_alone() -> None:
    tree = _tree("")
    assert clean_error(tree) is tree
    text = "línea\tcon acentos y 中文"
    assert clean_error(OperationError(code="X", message=text)).message == text


async def test_process_diagnoses_the_cleaned_error(monkeypatch: Any) -> None:
    from datetime import UTC, datetime

    import shared.pipeline as pipeline
    from tests.factories import make_operation

    seen: list[OperationError] = []

    async def fetch(item: Any, deps: Any) -> tuple[OperationError, tuple[str, ...]]:
        return _tree("\u202e"), ()

    async def diagnose(op: Any, error: OperationError, deps: Any, notes: Any = ()) -> Any:
        seen.append(error)
        raise RuntimeError("stop here")

    class Arm:
        def for_run(self) -> Any:
            return self

    class Deps:
        arm = Arm()

    monkeypatch.setattr(pipeline, "fetch_error", fetch)
    monkeypatch.setattr(pipeline, "diagnose", diagnose)
    monkeypatch.setattr(pipeline, "replace", lambda deps, **kw: deps)
    with pytest.raises(RuntimeError, match="stop here"):
        await process(WorkItem(op=make_operation(), enqueued_at=datetime.now(UTC)), Deps())  # type: ignore[arg-type]
    assert seen and not any(INVISIBLE.search(e.message) for e in seen[0].walk())


@pytest.mark.parametrize("ch", CHARS)
def test_the_card_renderer_strips_every_invisible_character_too(ch: str) -> None:
    """The card is the last line of defence for text that did not come through intake."""
    from shared.render.card import clean_text, md_escape

    assert clean_text(f"aks{ch}-weu") == "aks-weu"
    assert not INVISIBLE.search(md_escape(f"deny{ch} all"))
