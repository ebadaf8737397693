"""Adaptive Card validation against the official 1.5 JSON schema, with readable errors.

Raw jsonschema output for a card is one useless top-level `anyOf` error; this walks the error's
context and keeps only the branch whose `type` enum accepts the element's own `type`, giving
messages like `/body/2: 'text' is a required property`. Teams host extensions (`msteams`) are not
in the public schema and are stripped first. A missing `version` is not a schema error, so it is
checked here explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]

SCHEMA_PATH = Path(__file__).with_name("schema-1.5.json")
HOST_EXTENSIONS = frozenset({"msteams"})


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft6Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft6Validator.check_schema(schema)
    return jsonschema.Draft6Validator(schema)


def _leaves(err: jsonschema.ValidationError) -> Iterator[jsonschema.ValidationError]:
    if not err.context:
        yield err
        return
    inst = err.instance
    branches: dict[Any, list[jsonschema.ValidationError]] = {}
    for sub in err.context:
        branches.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
    chosen: list[jsonschema.ValidationError] = []
    for errs in branches.values():
        type_mismatch = any(e.validator == "enum" and list(e.relative_path) == ["type"] for e in errs)
        if isinstance(inst, dict) and "type" in inst and not type_mismatch:
            chosen.extend(errs)
    if not chosen:
        what = f"unknown or invalid element type {inst.get('type')!r}" if isinstance(inst, dict) else err.message
        yield jsonschema.ValidationError(what, path=err.absolute_path)
        return
    for e in chosen:
        yield from _leaves(e)


def validate_card(card: dict[str, Any]) -> list[str]:
    """Problems with an AdaptiveCard (the `content`, not the Teams message); [] when valid."""
    problems = []
    if card.get("version") != "1.5":
        problems.append(f"/version: expected '1.5', got {card.get('version')!r}")
    public = {k: v for k, v in card.items() if k not in HOST_EXTENSIONS}
    for err in _validator().iter_errors(public):
        for leaf in _leaves(err):
            problems.append(f"/{'/'.join(map(str, leaf.absolute_path))}: {leaf.message}")
    return sorted(set(problems))
