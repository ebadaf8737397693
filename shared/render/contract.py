"""The CLI's JSON contract: one key style (snake_case), typed values, one shape per command.

Owns the conversion of models and findings-table rows into the documents `aks-triage` prints
with `-o json` (and every other output format, which are views of the same documents).
"""

from __future__ import annotations

import re
from typing import Any

from shared.models import Classification, Finding

SCHEMA_VERSION = 1
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def transient_value(value: Any) -> bool | None:
    """The catalog's "true" / "false" / "depends" as a boolean, or null when it depends."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if text == "true":
        return True
    if text == "false":
        return False
    return None


def snake_case(name: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def classification_doc(c: Classification) -> dict[str, Any]:
    doc: dict[str, Any] = c.model_dump(mode="json")
    doc["transient"] = transient_value(c.transient)
    return doc


def finding_doc(f: Finding) -> dict[str, Any]:
    doc: dict[str, Any] = f.model_dump(mode="json")
    doc["schema_version"] = SCHEMA_VERSION
    doc["code"] = f.classification.code
    doc["classification"] = classification_doc(f.classification)
    doc["transient"] = doc["classification"]["transient"]
    return doc


def row_doc(row: dict[str, Any]) -> dict[str, Any]:
    """A findings-table row (PascalCase columns, as Log Analytics stores it) in the CLI's key style."""
    doc = {snake_case(k): v for k, v in row.items()}
    if "transient" in doc:
        doc["transient"] = transient_value(doc["transient"])
    return doc
