"""Facts for check tests, the way production gets them: from the error, through the classifier."""

from __future__ import annotations

from typing import Any

from shared.models import ErrorFacts, OperationError


def typed_facts(err: OperationError, overrides: dict[str, Any] | None) -> ErrorFacts:
    """The facts production would have: the classifier's, from the error itself; `overrides` only
    name typed ErrorFacts fields (an unknown name fails, so tests cannot plant facts no code makes)."""
    from shared.armid import kind_of
    from shared.classify import classify_error
    from shared.models import ArmRef

    facts = classify_error(err).facts
    if not overrides:
        return facts
    update: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "resource_ids":
            update["resources"] = tuple(ArmRef(kind=str(kind_of(i)), id=i) for i in value)
        elif key in ErrorFacts.model_fields:
            update[key] = tuple(value) if isinstance(value, list) else value
        else:
            raise KeyError(f"ErrorFacts has no field {key!r}")
    return ErrorFacts.model_validate({**facts.model_dump(), **update})
