"""Pasted error text in any shape -> best-effort OperationError tree.

Owns: finding the ARM error structure in what users paste: raw ARM JSON, Activity Log entries and
their JSON-string `statusMessage`, DeploymentFailed trees with JSON strings nested in
`details[].message`, Python dict reprs, and free text (az CLI old/new layouts, PowerShell-wrapped
az output, Terraform azurerm output, `Code="X" Message="Y"`), truncated or not.

Structured JSON goes through shared.errortree (the pipeline's own ARM-body parser); this module adds
locating JSON inside prose, tolerating Activity-Log / deployment-operation envelopes, and the text
layouts. Everything is bounded: a fixed number of JSON parse attempts, a node budget, an
iterative walk, and the text window from shared.classify.text.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

from shared.catalog.loader import CatalogIndex, catalog_index
from shared.classify.text import code_shaped, find_codes, flatten, preclean, window
from shared.errortree import error_from_obj
from shared.models import OperationError

MAX_JSON_ATTEMPTS = 12
MAX_JSON_CHARS = 256 * 1024  # an ARM error body is kilobytes; larger text is windowed first
MAX_LITERAL_CHARS = 128 * 1024
MAX_WALK = 4000  # dict/list nodes visited while looking for errors inside an envelope
MAX_ROOTS = 20
MAX_TEXT_CODES = 40
MAX_MESSAGE = 4000

_ERROR_KEYS = ("statusmessage", "provisioningerror", "error", "properties_d", "properties", "status",
               "responsebody", "value", "body", "response", "records", "row")


def _lower_keys(obj: dict[Any, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in obj.items()}


_JSON_START = re.compile(r'\{[ \t\r\n]{0,40}"')


def _json_values(text: str) -> list[Any]:
    """JSON values found in `text`: the whole text, or objects starting at a few '{' positions."""
    stripped = text.strip()
    if not stripped:
        return []
    if len(stripped) <= MAX_JSON_CHARS and stripped[0] in "{[":
        try:
            return [json.loads(stripped)]
        except (ValueError, RecursionError):
            pass
    out: list[Any] = []
    decoder = json.JSONDecoder()
    attempts = 0
    # Only object starts that look like JSON ({"key" ...) are worth a parse attempt; the regex skips
    # to them at C speed (a megabyte of `{'code': ` has no such start and costs one scan).
    m = _JSON_START.search(stripped)
    while m is not None and attempts < MAX_JSON_ATTEMPTS and len(out) < MAX_ROOTS:
        pos = m.start()
        attempts += 1
        try:
            value, end = decoder.raw_decode(stripped, pos)
        except (ValueError, RecursionError):
            m = _JSON_START.search(stripped, pos + 1)
            continue
        out.append(value)
        m = _JSON_START.search(stripped, end)
    return out


def _literal_values(text: str) -> list[Any]:
    """Python dict reprs ({'code': 'X', ...}, with True/None): ast.literal_eval on the outer braces."""
    start = text.find("{'")
    end = text.rfind("}")
    if start < 0 or end <= start or end - start > MAX_LITERAL_CHARS:
        return []
    try:
        value = ast.literal_eval(text[start: end + 1])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return []
    return [value]


def _error_roots(value: Any) -> list[OperationError]:
    """Errors inside an arbitrary JSON value (ARM body, Activity Log list, AzureActivity row, ...).

    Walks iteratively. A dict with `code` or `error` is an error; a JSON string in an envelope
    field (statusMessage, responseBody, Properties) is parsed and walked in turn.
    """
    roots: list[OperationError] = []
    stack: list[Any] = [value]
    visited = 0
    while stack and visited < MAX_WALK and len(roots) < MAX_ROOTS:
        item = stack.pop()
        visited += 1
        if isinstance(item, str):
            s = item.strip()
            if s[:1] in "{[" and len(s) <= MAX_JSON_CHARS:
                try:
                    stack.append(json.loads(s))
                except (ValueError, RecursionError):
                    continue
            continue
        if isinstance(item, list):
            stack.extend(reversed(item[:200]))
            continue
        if not isinstance(item, dict):
            continue
        low = _lower_keys(item)
        code = low.get("code")
        # {"code": "Running"} (powerState) is not an error: an error carries a message or details.
        has_body = "message" in low or "details" in low
        if isinstance(low.get("error"), (dict, str)) or (isinstance(code, str) and code.strip() and has_body):
            node = error_from_obj(item, source="text")
            if node is not None:
                roots.append(node)
                continue
        # Envelopes: look in the fields that carry errors first, then everything else.
        rest = [v for k, v in low.items() if k not in _ERROR_KEYS and isinstance(v, (dict, list, str))]
        stack.extend(reversed(rest))
        stack.extend(low[k] for k in reversed(_ERROR_KEYS) if k in low)
    return roots


def text_codes(flat: str, idx: CatalogIndex | None = None) -> list[tuple[str, int, int]]:
    """Explicit codes in free text: (code, start, end-of-match), in order, consecutive repeats dropped."""
    idx = idx or catalog_index()
    out: list[tuple[str, int, int]] = []
    for code, start, end in find_codes(flat, MAX_TEXT_CODES * 2):
        if not (idx.known(code) or code_shaped(code)):
            continue
        if out and out[-1][0].lower() == code.lower():
            continue
        out.append((code, start, end))
        if len(out) >= MAX_TEXT_CODES:
            break
    return out


_MSG_LEAD = re.compile(r"""^[\s"',:;=\])}]{0,20}(?i:(?:error)?message["']?[ \t]{0,3}[:=][ \t]{0,3}["']?)?""")


def _strip_message(fragment: str) -> str:
    frag = _MSG_LEAD.sub("", fragment[: MAX_MESSAGE + 100], count=1)
    return frag.strip().strip("\"'").strip()[:MAX_MESSAGE]


def chain_from_text(flat: str, idx: CatalogIndex | None = None) -> OperationError | None:
    """Explicit codes in text, nested in order of appearance (outer wrapper first, cause last)."""
    found = text_codes(flat, idx)
    if not found:
        return None
    nodes: list[tuple[str, str]] = []
    for i, (code, _start, end) in enumerate(found):
        nxt = found[i + 1][1] if i + 1 < len(found) else len(flat)
        nodes.append((code, _strip_message(flat[end:nxt])))
    tree: OperationError | None = None
    for code, message in reversed(nodes):
        tree = OperationError(code=code, message=message, details=(tree,) if tree else (), source="text")
    return tree


def _expand(node: OperationError, idx: CatalogIndex, budget: list[int]) -> OperationError:
    """Attach codes embedded in a node's message text (`Code="X" Message="Y"`) as its children."""
    kids = tuple(_expand(d, idx, budget) for d in node.details)
    extra: tuple[OperationError, ...] = ()
    if budget[0] > 0 and node.message and len(node.message) < MAX_JSON_CHARS:
        budget[0] -= 1
        inner = chain_from_text(flatten(node.message), idx)
        if inner is not None and inner.code.lower() != node.code.lower():
            extra = (inner,)
        elif inner is not None and inner.details:
            extra = inner.details
    if not extra and kids == node.details:
        return node
    return node.model_copy(update={"details": extra + kids})


def _combine(roots: list[OperationError]) -> OperationError:
    # The same error often appears twice in one paste (AzureActivity `Properties` and `Properties_d`).
    seen: set[tuple[str, str]] = set()
    unique: list[OperationError] = []
    for r in roots:
        key = (r.code.lower(), r.message[:500])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    roots = unique
    if len(roots) == 1:
        return roots[0]
    return OperationError(code="MultipleErrorsOccurred", message="", details=tuple(roots), source="text")


def iter_structured(text: str) -> Iterator[Any]:
    yield from _json_values(text)


def parse_error_text(text: str) -> OperationError:
    """Best-effort OperationError tree from any pasted error text. Never raises.

    No code found -> code "Unknown" with the text as message, so the classifier can still match the
    message alone.
    """
    try:
        return _parse(text)
    except Exception:  # hostile input must never break the pipeline
        return OperationError(code="Unknown", message=str(text)[:MAX_MESSAGE], source="text")


def parse_with_clean(text: str) -> tuple[OperationError, str | None]:
    """parse_error_text plus the cleaned text it parsed (None when the input was not cleaned whole), so
    the classifier does not clean the same paste twice."""
    try:
        raw = text if isinstance(text, str) else str(text)
        clean = preclean(window(raw) if len(raw) > MAX_JSON_CHARS else raw)
        return _parse(raw, clean), (clean if len(raw) <= MAX_JSON_CHARS else None)
    except Exception:  # hostile input must never break the pipeline
        return OperationError(code="Unknown", message=str(text)[:MAX_MESSAGE], source="text"), None


def _parse(text: str, clean: str | None = None) -> OperationError:
    idx = catalog_index()
    raw = text if isinstance(text, str) else str(text)
    if clean is None:
        clean = preclean(window(raw) if len(raw) > MAX_JSON_CHARS else raw)
    roots: list[OperationError] = []
    for value in _json_values(clean):
        roots.extend(_error_roots(value))
    if not roots and "{'" in clean:
        for value in _literal_values(clean):
            roots.extend(_error_roots(value))
    if not roots:
        # Escaped or truncated JSON that did not parse: a flattened copy often does.
        flat = flatten(window(clean))
        if flat != clean:
            for value in _json_values(flat):
                roots.extend(_error_roots(value))
        if not roots:
            chain = chain_from_text(flat, idx)
            if chain is not None:
                roots.append(chain)
    if not roots:
        return OperationError(code="Unknown", message=window(clean).strip()[:MAX_MESSAGE], source="text")
    budget = [200]
    tree = _combine([_expand(r, idx, budget) for r in roots[:MAX_ROOTS]])
    return tree
