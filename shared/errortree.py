"""Structured ARM error bodies -> OperationError trees. Pure; never raises.

Owns: turning the error shapes ARM and the Activity Log hand out into one normalised tree:
    {"error": {...}}                       (ARM error response / CloudError)
    {"status": "Failed", "error": {...}}   (LRO status body, Activity Log statusMessage)
    {"code", "message", "target", "details", "additionalInfo"}   (ErrorDetail, any key casing)
    a *string* holding any of the above, nested up to several levels
      (Activity Log `properties.statusMessage`, DeploymentFailed `details[].message`)
Free-text error messages (pasted CLI output) are the classifier's text normaliser's job, not this.

Hostile input is bounded: JSON strings longer than MAX_JSON_CHARS are not parsed, recursion
stops at MAX_DEPTH levels, at most MAX_NODES nodes are built and messages are cut at MAX_MESSAGE.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shared.models import OperationError

MAX_DEPTH = 24  # recursion levels (a JSON-string level of {"error":{..}} costs 3)
MAX_NODES = 200
MAX_DETAILS = 50  # children kept per node
MAX_JSON_CHARS = 512 * 1024
MAX_MESSAGE = 16 * 1024
MAX_CODE = 200

# Codes that only wrap the real cause; a leaf with one of these is not "specific".
GENERIC_CODES = frozenset(
    c.lower()
    for c in (
        "DeploymentFailed", "ResourceDeploymentFailure", "ResourceOperationFailure", "Conflict", "BadRequest",
        "InternalServerError", "InternalOperationError", "Failed", "Failure", "OperationFailed", "Unknown",
        "MultipleErrorsOccurred", "ServiceUnavailable", "GatewayTimeout", "Canceled", "",
    )
)


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0


def _ci_get(obj: Mapping[str, Any], *names: str) -> Any:
    """Case-insensitive key lookup (some RPs answer {"Code":..,"Message":..})."""
    for n in names:
        if n in obj:
            return obj[n]
    lowered = {str(k).lower(): v for k, v in obj.items()}
    for n in names:
        if n.lower() in lowered:
            return lowered[n.lower()]
    return None


def _short(value: Any, limit: int) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _try_json(text: str) -> Any:
    """The JSON value a string holds, or None. Tolerates leading prose before the first '{'."""
    if len(text) > MAX_JSON_CHARS:
        return None
    stripped = text.strip()
    if not stripped:
        return None
    if stripped[0] in "{[\"":
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):
            pass
    start = stripped.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(stripped[start:])
    except (ValueError, RecursionError):
        return None
    return value


def _looks_like_error(obj: Mapping[str, Any]) -> bool:
    return any(_ci_get(obj, k) is not None for k in ("error", "code", "message", "details"))


def _from_any(obj: Any, source: str, depth: int, budget: _Budget) -> OperationError | None:
    if depth > MAX_DEPTH or budget.nodes >= MAX_NODES:
        return None
    if isinstance(obj, str):
        parsed = _try_json(obj)
        if parsed is None or isinstance(parsed, str):
            return None
        return _from_any(parsed, source, depth + 1, budget)
    if isinstance(obj, list):
        # A bare list of errors: wrap it so nothing is lost.
        kids = _details(obj, source, depth, budget)
        if not kids:
            return None
        if len(kids) == 1:
            return kids[0]
        return OperationError(code="MultipleErrorsOccurred", message="", details=kids, source=source)
    if not isinstance(obj, Mapping):
        return None
    inner = _ci_get(obj, "error", "odata.error")
    if inner is not None and _ci_get(obj, "code") is None:
        # {"error": {...}} / {"status": "Failed", "error": {...}}
        return _from_any(inner, source, depth + 1, budget)
    if not _looks_like_error(obj):
        return None
    return _from_detail(obj, source, depth, budget)


def _details(items: Any, source: str, depth: int, budget: _Budget) -> tuple[OperationError, ...]:
    if not isinstance(items, list):
        return ()
    out: list[OperationError] = []
    for item in items[:MAX_DETAILS]:
        node = _from_any(item, source, depth + 1, budget)
        if node is not None:
            out.append(node)
    return tuple(out)


def _from_detail(obj: Mapping[str, Any], source: str, depth: int, budget: _Budget) -> OperationError | None:
    budget.nodes += 1
    code_raw = _ci_get(obj, "code")
    message_raw = _ci_get(obj, "message")
    target_raw = _ci_get(obj, "target")
    details = list(_details(_ci_get(obj, "details"), source, depth, budget))

    message = ""
    if isinstance(message_raw, str):
        # DeploymentFailed.details[].message is itself a JSON-encoded status/error body.
        embedded = _try_json(message_raw) if "{" in message_raw else None
        nested = _from_any(embedded, source, depth + 1, budget) if isinstance(embedded, (dict, list)) else None
        if nested is not None:
            details.insert(0, nested)
            message = nested.message
        else:
            message = message_raw
    elif isinstance(message_raw, (dict, list)):
        nested = _from_any(message_raw, source, depth + 1, budget)
        if nested is not None:
            details.insert(0, nested)
            message = nested.message
    elif message_raw is not None:
        message = str(message_raw)

    code = _short(code_raw, MAX_CODE).strip() if code_raw is not None else ""
    if not code:
        if not message and not details:
            return None
        code = details[0].code if details and not message else "Unknown"
    target = _short(target_raw, 1024) if isinstance(target_raw, (str, int)) and str(target_raw) else None
    # AKS puts the specific cause in `subcode` or an `innerError`; as a child it is what the
    # classifier's "most specific code wins" sees.
    inner = _ci_get(obj, "innerError", "innererror")
    inner_code = _ci_get(inner, "code") if isinstance(inner, Mapping) else None
    for specific, text in ((_ci_get(obj, "subcode"), ""),
                           (inner_code, _ci_get(inner, "message") if isinstance(inner, Mapping) else "")):
        sub = _short(specific, MAX_CODE).strip() if isinstance(specific, str) else ""
        if sub and sub.lower() != code.lower() and all(d.code.lower() != sub.lower() for d in details):
            budget.nodes += 1
            details.append(OperationError(code=sub, message=_short(text if isinstance(text, str) else "", MAX_MESSAGE),
                                          source=source))
    return OperationError(code=code, message=_short(message, MAX_MESSAGE), target=target,
                          details=tuple(details[:MAX_DETAILS]), source=source)


def error_from_obj(obj: Any, source: str = "unknown") -> OperationError | None:
    """An OperationError tree from any ARM error shape (or a JSON string of one); None if none found."""
    try:
        return _from_any(obj, source, 0, _Budget())
    except Exception:  # never raise on any input (hostile bodies included)
        return None


def error_from_status_message(status_message: Any, status_code: Any = None,
                              source: str = "unknown") -> OperationError | None:
    """Activity Log / deployment-operation `statusMessage` (+ `statusCode` string or int) -> tree.

    The statusCode alone ("Conflict", 429) is used only when the message holds no error.
    """
    node = error_from_obj(status_message, source)
    if node is not None:
        return node
    try:
        code = status_code.get("value") if isinstance(status_code, Mapping) else status_code
        if isinstance(code, bool) or code is None:
            return None
        text = str(code).strip()
        if not text or text.lower() in ("ok", "created", "accepted", "nocontent", "200", "201", "202", "204"):
            return None
        message = status_message if isinstance(status_message, str) and len(status_message) < MAX_MESSAGE else ""
        return OperationError(code=_short(text, MAX_CODE), message=message, source=source)
    except Exception:
        return None


def depth_of(err: OperationError) -> int:
    if not err.details:
        return 1
    return 1 + max(depth_of(d) for d in err.details)


def leaf_codes(err: OperationError) -> list[str]:
    return [n.code for n in err.walk() if not n.details]


def specificity(err: OperationError) -> tuple[int, int, int]:
    """Sort key: (has a non-generic leaf code, depth, node count). Higher is more specific."""
    specific = any(code.lower() not in GENERIC_CODES for code in leaf_codes(err))
    return (1 if specific else 0, depth_of(err), len(err.walk()))
