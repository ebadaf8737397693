"""`-o/--output` and `--query` as az does them: one document, several views.

json (indented), jsonc (json coloured on a terminal), yaml, tsv (values only, tab-separated, one
line per item; nested values as compact JSON), table (columns of the scalar fields), none.
`--query` is a JMESPath expression (the `jmespath` package az uses) applied before formatting.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, TextIO

OUTPUT_FORMATS = ("json", "jsonc", "table", "tsv", "yaml", "none")
_YAML_PLAIN = re.compile(r"^[A-Za-z_./][A-Za-z0-9_./:@ -]*$")
_YAML_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "~", ""}
TABLE_CELL_MAX = 60
_JSON_KEY = re.compile(r'^(\s*)("(?:[^"\\]|\\.)*")(:)', re.MULTILINE)


class QueryError(ValueError):
    """The --query expression is not valid JMESPath (message is user-facing)."""


def apply_query(doc: Any, query: str | None) -> Any:
    if not query:
        return doc
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.search(query, doc)
    except JMESPathError as err:
        raise QueryError(f"--query {query!r}: {str(err).splitlines()[0]}") from err


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _jsonc(doc: Any) -> str:
    text = json.dumps(doc, indent=2, ensure_ascii=False, default=str)
    return _JSON_KEY.sub(lambda m: f"{m.group(1)}\x1b[94m{m.group(2)}\x1b[0m{m.group(3)}", text)


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if _YAML_PLAIN.match(text) and text.lower() not in _YAML_RESERVED and not text.endswith(" ") \
            and ": " not in text and " #" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def _yaml(doc: Any, indent: int = 0) -> list[str]:
    pad = "  " * indent
    if isinstance(doc, dict):
        if not doc:
            return [pad + "{}"]
        lines: list[str] = []
        for key, value in doc.items():
            k = _yaml_scalar(str(key))
            if isinstance(value, (dict, list)) and value:
                lines.append(f"{pad}{k}:")
                lines.extend(_yaml(value, indent + 1))
            else:
                lines.append(f"{pad}{k}: {_yaml(value, 0)[0]}")
        return lines
    if isinstance(doc, list):
        if not doc:
            return [pad + "[]"]
        lines = []
        for item in doc:
            sub = _yaml(item, indent + 1)
            lines.append(f"{pad}- {sub[0].lstrip()}")
            lines.extend(sub[1:])
        return lines
    return [pad + _yaml_scalar(doc)]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value).replace("\t", " ").replace("\n", " ")


def _items(doc: Any) -> list[Any]:
    return doc if isinstance(doc, list) else [doc]


def _tsv(doc: Any) -> str:
    lines = []
    for item in _items(doc):
        if isinstance(item, dict):
            lines.append("\t".join(_cell(v) for v in item.values()))
        elif isinstance(item, list):
            lines.append("\t".join(_cell(v) for v in item))
        else:
            lines.append(_cell(item))
    return "\n".join(lines)


def _table(doc: Any) -> str:
    items = _items(doc)
    if not items:
        return ""
    if not all(isinstance(i, dict) for i in items):
        return "\n".join(_cell(i) for i in items)
    columns: list[str] = []
    for item in items:  # scalar fields only, as az's table does
        for key, value in item.items():
            if not isinstance(value, (dict, list)) and key not in columns:
                columns.append(key)
    if not columns:
        return ""
    rows = [[_cell(i.get(c))[:TABLE_CELL_MAX] for c in columns] for i in items]
    header = [c.replace("_", " ").title().replace(" ", "") for c in columns]
    widths = [max(len(r[n]) for r in [header, *rows]) for n in range(len(columns))]
    out = ["  ".join(h.ljust(widths[n]) for n, h in enumerate(header)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(widths[n]) for n, v in enumerate(r)).rstrip() for r in rows]
    return "\n".join(out)


def render(doc: Any, fmt: str, *, colour: bool = False) -> str:
    """The text to print for `doc` in `fmt` (empty for none), without a trailing newline."""
    if fmt == "none":
        return ""
    if fmt == "json" or (fmt == "jsonc" and not colour):
        return json.dumps(doc, indent=2, ensure_ascii=False, default=str)
    if fmt == "jsonc":
        return _jsonc(doc)
    if fmt == "yaml":
        return "\n".join(_yaml(doc))
    if fmt == "tsv":
        return _tsv(doc)
    if fmt == "table":
        return _table(doc)
    raise ValueError(f"unknown output format {fmt!r}")
