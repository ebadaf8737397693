"""ARM template expressions: `[concat(parameters('prefix'), '-aks')]` and friends, evaluated without Azure.

Owns the expression language only (tokens, parser, the functions pre-flight can evaluate offline).
Anything that needs Azure or a deployment to exist (`reference()`, `list*()`, `uniqueString()`,
`newGuid()`, `utcNow()`, a resource group's location we could not read) evaluates to `Unresolved`
with the reason; an expression with an `Unresolved` argument is `Unresolved` too, so the caller can
list what it could not resolve instead of guessing.

Functions: parameters, variables, resourceId, subscriptionResourceId, tenantResourceId,
extensionResourceId, subscription, resourceGroup, deployment, concat, format, toLower, toUpper,
string, int, bool, if, equals, not, and, or, empty, length, contains, coalesce, replace, split,
first, last, substring, startsWith, endsWith, trim, take, skip, createArray, array, createObject,
union, json, add, sub, mul, div, mod, min, max, less, lessOrEquals, greater, greaterOrEquals,
null, true, false, indexOf, padLeft. (Docs: https://learn.microsoft.com/azure/azure-resource-manager/templates/template-functions)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Unresolved:
    """A value pre-flight could not compute offline, and why."""

    reason: str


class ExpressionError(ValueError):
    """The expression text is not valid ARM expression syntax."""


_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>[(),.\[\]]))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExpressionError(f"unexpected {text[pos:pos + 20]!r} in expression")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


# AST: ("lit", value) | ("call", lower-case name, [args], name as written) | ("prop", node, name)
#      | ("index", node, node)
Node = tuple[Any, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ExpressionError(f"expected {value or 'a value'}, got {tok[1] if tok else 'the end'}")
        self.i += 1
        return tok

    def expr(self) -> Node:
        kind, text = self.take()
        node: Node
        if kind == "str":
            node = ("lit", text[1:-1].replace("''", "'"))
        elif kind == "num":
            node = ("lit", float(text) if "." in text else int(text))
        elif kind == "id":
            nxt = self.peek()
            if nxt is not None and nxt[1] == "(":
                self.take("(")
                args: list[Node] = []
                if self.peek() is not None and self.peek() != ("op", ")"):
                    args.append(self.expr())
                    while self.peek() == ("op", ","):
                        self.take(",")
                        args.append(self.expr())
                self.take(")")
                node = ("call", text.lower(), args, text)
            elif text.lower() in ("true", "false", "null"):
                node = ("lit", {"true": True, "false": False, "null": None}[text.lower()])
            else:
                raise ExpressionError(f"bare name {text!r} (functions need parentheses)")
        else:
            raise ExpressionError(f"unexpected {text!r}")
        while True:
            nxt = self.peek()
            if nxt == ("op", "."):
                self.take(".")
                node = ("prop", node, self.take()[1])
            elif nxt == ("op", "["):
                self.take("[")
                idx = self.expr()
                self.take("]")
                node = ("index", node, idx)
            else:
                return node


def parse(text: str) -> Node:
    p = _Parser(text)
    node = p.expr()
    if p.peek() is not None:
        raise ExpressionError(f"unexpected {p.peek()[1]!r} after the expression")  # type: ignore[index]
    return node


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[[")


@dataclass
class Scope:
    """What expressions in one template can see."""

    subscription_id: str | Unresolved
    resource_group: str | Unresolved
    resource_group_location: str | Unresolved
    parameters: dict[str, Any] = field(default_factory=dict)
    raw_variables: Mapping[str, Any] = field(default_factory=dict)
    deployment_name: str = "preflight"
    tenant_id: str | Unresolved = Unresolved("tenant id is not known offline")
    _variables: dict[str, Any] = field(default_factory=dict)
    _resolving: set[str] = field(default_factory=set)

    def variable(self, name: str) -> Any:
        key = name.lower()
        if key in self._variables:
            return self._variables[key]
        raw = next((v for k, v in self.raw_variables.items() if k.lower() == key), _MISSING)
        if raw is _MISSING:
            return Unresolved(f"variables('{name}') is not declared")
        if key in self._resolving:
            return Unresolved(f"variables('{name}') refers to itself")
        self._resolving.add(key)
        try:
            value = evaluate_value(raw, self)
        finally:
            self._resolving.discard(key)
        self._variables[key] = value
        return value

    def parameter(self, name: str) -> Any:
        key = name.lower()
        for k, v in self.parameters.items():
            if k.lower() == key:
                return v
        return Unresolved(f"parameters('{name}') is not declared")


_MISSING = object()


def first_unresolved(value: Any) -> Unresolved | None:
    if isinstance(value, Unresolved):
        return value
    if isinstance(value, Mapping):
        for v in value.values():
            u = first_unresolved(v)
            if u:
                return u
    if isinstance(value, list):
        for v in value:
            u = first_unresolved(v)
            if u:
                return u
    return None


def evaluate(text: str, scope: Scope) -> Any:
    """One expression string (with its brackets) -> value or Unresolved."""
    try:
        node = parse(text[1:-1])
    except ExpressionError as err:
        return Unresolved(f"cannot parse {text[:120]}: {err}")
    return _eval(node, scope)


def evaluate_value(value: Any, scope: Scope) -> Any:
    """A JSON value with expressions anywhere in it; `[[` escapes a literal bracket."""
    if isinstance(value, str):
        if is_expression(value):
            return evaluate(value, scope)
        if value.startswith("[["):
            return value[1:]
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = evaluate(k, scope) if is_expression(k) else k
            if isinstance(key, Unresolved):
                out[f"<unresolved key {k[:80]}>"] = key  # the caller records it under this path
                continue
            out[str(key)] = evaluate_value(v, scope)
        return out
    if isinstance(value, list):
        return [evaluate_value(v, scope) for v in value]
    return value


def _eval(node: Node, scope: Scope) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "prop":
        base = _eval(node[1], scope)
        return _member(base, node[2])
    if kind == "index":
        base = _eval(node[1], scope)
        idx = _eval(node[2], scope)
        if isinstance(idx, Unresolved):
            return idx
        if isinstance(idx, str):
            return _member(base, idx)
        if isinstance(base, Unresolved):
            return base
        if isinstance(base, list) and isinstance(idx, int) and -len(base) <= idx < len(base):
            return base[idx]
        return Unresolved(f"index {idx!r} out of range")
    name: str = node[1]
    if name == "if":  # lazy: only the chosen branch is evaluated
        if len(node[2]) != 3:
            return Unresolved("if() takes 3 arguments")
        cond = _eval(node[2][0], scope)
        if isinstance(cond, Unresolved):
            return cond
        return _eval(node[2][1] if cond else node[2][2], scope)
    args = [_eval(a, scope) for a in node[2]]
    fn = _FUNCTIONS.get(name)
    if fn is None:
        return Unresolved(f"{node[3]}() needs the deployment to run (not evaluated offline)")
    if name not in _TOLERANT:
        bad = next((a for a in args if isinstance(a, Unresolved)), None)
        if bad is not None:
            return bad
    try:
        return fn(scope, *args)
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError) as err:
        return Unresolved(f"{name}() failed: {err}")


def _member(base: Any, name: str) -> Any:
    if isinstance(base, Unresolved):
        return base
    if isinstance(base, Mapping):
        for k, v in base.items():
            if k.lower() == name.lower():
                return v
        return Unresolved(f"property {name!r} not found")
    return Unresolved(f"property {name!r} of a {type(base).__name__}")


def _resource_id(scope: Scope, *args: Any) -> str:
    parts = [str(a) for a in args]
    ti = next((i for i, p in enumerate(parts) if "/" in p and "." in p.split("/", 1)[0]), None)
    if ti is None:
        raise ValueError("no resource type argument")
    before, rtype, names = parts[:ti], parts[ti], parts[ti + 1:]
    sub, rg = scope.subscription_id, scope.resource_group
    if len(before) == 1:
        rg = before[0]
    elif len(before) >= 2:
        sub, rg = before[0], before[1]
    if isinstance(sub, Unresolved):
        raise ValueError(sub.reason)
    if isinstance(rg, Unresolved):
        raise ValueError(rg.reason)
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{_typed_names(rtype, names)}"


def _typed_names(rtype: str, names: list[str]) -> str:
    ns, *types = rtype.split("/")
    if len(types) != len(names):
        raise ValueError(f"{rtype} needs {len(types)} name(s), got {len(names)}")
    return ns + "".join(f"/{t}/{n}" for t, n in zip(types, names, strict=True))


def _subscription_resource_id(scope: Scope, *args: Any) -> str:
    parts = [str(a) for a in args]
    sub = scope.subscription_id
    if parts and "/" not in parts[0]:
        sub, parts = parts[0], parts[1:]
    if isinstance(sub, Unresolved):
        raise ValueError(sub.reason)
    return f"/subscriptions/{sub}/providers/{_typed_names(parts[0], parts[1:])}"


def _tenant_resource_id(_scope: Scope, *args: Any) -> str:
    parts = [str(a) for a in args]
    return f"/providers/{_typed_names(parts[0], parts[1:])}"


def _extension_resource_id(_scope: Scope, base: Any, rtype: Any, *names: Any) -> str:
    return f"{base}/providers/{_typed_names(str(rtype), [str(n) for n in names])}"


def _subscription(scope: Scope) -> dict[str, Any]:
    sub = scope.subscription_id
    sid: Any = f"/subscriptions/{sub}" if isinstance(sub, str) else sub
    return {"id": sid, "subscriptionId": sub, "tenantId": scope.tenant_id,
            "displayName": Unresolved("subscription().displayName is not known offline")}


def _resource_group(scope: Scope) -> dict[str, Any]:
    sub, rg = scope.subscription_id, scope.resource_group
    rid: Any = (f"/subscriptions/{sub}/resourceGroups/{rg}" if isinstance(sub, str) and isinstance(rg, str)
                else sub if isinstance(sub, Unresolved) else rg)
    return {"id": rid, "name": rg, "type": "Microsoft.Resources/resourceGroups",
            "location": scope.resource_group_location, "properties": {"provisioningState": "Succeeded"}}


_FORMAT_ITEM = re.compile(r"\{(\d+)(?::([^}]*))?\}|\{\{|\}\}")


def _format(_scope: Scope, fmt: Any, *args: Any) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        value = args[int(m.group(1))]
        spec = m.group(2)
        if spec and isinstance(value, (int, float)) and spec.upper().startswith("N"):
            digits = int(spec[1:] or 2)
            return f"{value:,.{digits}f}"
        if spec and isinstance(value, int) and spec.upper().startswith("D"):
            return str(value).zfill(int(spec[1:] or 0))
        return _to_string(value)

    return _FORMAT_ITEM.sub(sub, str(fmt))


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def _concat(_scope: Scope, *args: Any) -> Any:
    if args and all(isinstance(a, list) for a in args):
        return [x for a in args for x in a]
    return "".join(_to_string(a) for a in args)


def _equals(_scope: Scope, a: Any, b: Any) -> bool:
    return bool(a == b)


def _empty(_scope: Scope, value: Any) -> bool:
    return value is None or (hasattr(value, "__len__") and len(value) == 0)


def _contains(_scope: Scope, container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return str(item).lower() in container.lower()
    if isinstance(container, Mapping):
        return any(str(k).lower() == str(item).lower() for k in container)
    return item in container


def _coalesce(_scope: Scope, *args: Any) -> Any:
    for a in args:
        if isinstance(a, Unresolved):
            return a  # an earlier unknown may or may not be null: cannot pick
        if a is not None:
            return a
    return None


def _union(_scope: Scope, *args: Any) -> Any:
    if all(isinstance(a, Mapping) for a in args):
        out: dict[str, Any] = {}
        for a in args:
            out.update(a)
        return out
    seen: list[Any] = []
    for a in args:
        for x in a:
            if x not in seen:
                seen.append(x)
    return seen


def _int(_scope: Scope, value: Any) -> int:
    return int(value)


def _bool(_scope: Scope, value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"bool({value!r})")
    return bool(value)


def _substring(_scope: Scope, s: Any, start: Any, length: Any = None) -> str:
    text = str(s)
    return text[int(start):] if length is None else text[int(start):int(start) + int(length)]


def _create_object(_scope: Scope, *args: Any) -> dict[str, Any]:
    if len(args) % 2:
        raise ValueError("createObject needs key/value pairs")
    return {str(args[i]): args[i + 1] for i in range(0, len(args), 2)}


def _first(_scope: Scope, v: Any) -> Any:
    return v[0] if v else None


def _last(_scope: Scope, v: Any) -> Any:
    return v[-1] if v else None


def _length(_scope: Scope, v: Any) -> int:
    return len(v)


def _num(fn: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    return lambda _scope, a, b: fn(int(a), int(b))


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "parameters": lambda scope, name: scope.parameter(str(name)),
    "variables": lambda scope, name: scope.variable(str(name)),
    "resourceid": _resource_id,
    "subscriptionresourceid": _subscription_resource_id,
    "tenantresourceid": _tenant_resource_id,
    "extensionresourceid": _extension_resource_id,
    "subscription": _subscription,
    "resourcegroup": _resource_group,
    "deployment": lambda scope: {"name": scope.deployment_name},
    "concat": _concat,
    "format": _format,
    "tolower": lambda _s, v: str(v).lower(),
    "toupper": lambda _s, v: str(v).upper(),
    "string": lambda _s, v: _to_string(v),
    "int": _int,
    "bool": _bool,
    "equals": _equals,
    "not": lambda _s, v: not v,
    "and": lambda _s, *v: all(v),
    "or": lambda _s, *v: any(v),
    "empty": _empty,
    "length": _length,
    "contains": _contains,
    "coalesce": _coalesce,
    "replace": lambda _s, v, old, new: str(v).replace(str(old), str(new)),
    "split": lambda _s, v, sep: str(v).split(sep) if isinstance(sep, str) else re.split(
        "|".join(map(re.escape, sep)), str(v)),
    "first": _first,
    "last": _last,
    "substring": _substring,
    "startswith": lambda _s, v, p: str(v).lower().startswith(str(p).lower()),
    "endswith": lambda _s, v, p: str(v).lower().endswith(str(p).lower()),
    "trim": lambda _s, v: str(v).strip(),
    "take": lambda _s, v, n: v[:int(n)],
    "skip": lambda _s, v, n: v[int(n):],
    "createarray": lambda _s, *v: list(v),
    "array": lambda _s, v: v if isinstance(v, list) else [v],
    "createobject": _create_object,
    "union": _union,
    "json": lambda _s, v: json.loads(str(v)),
    "add": _num(lambda a, b: a + b),
    "sub": _num(lambda a, b: a - b),
    "mul": _num(lambda a, b: a * b),
    "div": _num(lambda a, b: a // b),
    "mod": _num(lambda a, b: a % b),
    "min": lambda _s, *v: min(v[0] if len(v) == 1 and isinstance(v[0], list) else v),
    "max": lambda _s, *v: max(v[0] if len(v) == 1 and isinstance(v[0], list) else v),
    "less": lambda _s, a, b: a < b,
    "lessorequals": lambda _s, a, b: a <= b,
    "greater": lambda _s, a, b: a > b,
    "greaterorequals": lambda _s, a, b: a >= b,
    "null": lambda _s: None,
    "true": lambda _s: True,
    "false": lambda _s: False,
    "indexof": lambda _s, v, x: str(v).lower().find(str(x).lower()) if isinstance(v, str) else (
        v.index(x) if x in v else -1),
    "padleft": lambda _s, v, n, c=" ": _to_string(v).rjust(int(n), str(c)[:1]),
}
_TOLERANT = frozenset({"coalesce"})
