"""Azure Policy rules evaluated against a planned resource body (pre-flight of RequestDisallowedByPolicy).

Pure: `evaluate_rule(rule_if, resource, params)` walks a policy rule's `if` (allOf / anyOf / not, field and
value conditions) over the body the operation would PUT and answers yes / no / cannot decide (with why).
The Azure Policy definition structure it follows: fields `type`, `name`, `fullName`, `kind`, `location`,
`id`, `tags`, `tags['k']` / `tags[k]` / `tags.k`, `identity.type` and resource-type aliases; operators
equals, notEquals, like, notLike, in, notIn, contains, notContains, containsKey, notContainsKey, exists,
less, lessOrEquals, greater, greaterOrEquals (string comparisons are case-insensitive); an alias with
`[*]` is true when the condition holds for every member. Expressions: `[parameters('p')]`,
`[concat(...)]` of literals and parameters, `[field('f')]`. Anything else (count, match, other template
functions, an alias without a known path) is "cannot decide": never a guess.

Aliases: the provider's alias list when a read carried it (`resourceTypes[].aliases[]` of
`GET /subscriptions/{s}/providers/Microsoft.ContainerService?$expand=resourceTypes/aliases`:
name, defaultPath, paths[].path), else the built-in table below of managedClusters aliases (name ->
path in the resource body). Doc: https://learn.microsoft.com/azure/governance/policy/concepts/definition-structure-policy-rule
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DOC_RULE = "https://learn.microsoft.com/azure/governance/policy/concepts/definition-structure-policy-rule"
DOC_ALIAS = "https://learn.microsoft.com/azure/governance/policy/concepts/definition-structure-alias"

_MC = "microsoft.containerservice/managedclusters/"
# managedClusters aliases whose body path is known (name without the type prefix -> path).
_AKS_ALIASES = {
    "kubernetesversion": "properties.kubernetesVersion",
    "enablerbac": "properties.enableRBAC",
    "disablelocalaccounts": "properties.disableLocalAccounts",
    "dnsprefix": "properties.dnsPrefix",
    "noderesourcegroup": "properties.nodeResourceGroup",
    "apiserveraccessprofile.enableprivatecluster": "properties.apiServerAccessProfile.enablePrivateCluster",
    "apiserveraccessprofile.authorizedipranges": "properties.apiServerAccessProfile.authorizedIPRanges",
    "apiserveraccessprofile.authorizedipranges[*]": "properties.apiServerAccessProfile.authorizedIPRanges[*]",
    "apiserveraccessprofile.enablevnetintegration": "properties.apiServerAccessProfile.enableVnetIntegration",
    "publicnetworkaccess": "properties.publicNetworkAccess",
    "networkprofile.networkplugin": "properties.networkProfile.networkPlugin",
    "networkprofile.networkpolicy": "properties.networkProfile.networkPolicy",
    "networkprofile.outboundtype": "properties.networkProfile.outboundType",
    "aadprofile.managed": "properties.aadProfile.managed",
    "aadprofile.enableazurerbac": "properties.aadProfile.enableAzureRBAC",
    "agentpoolprofiles[*].vmsize": "properties.agentPoolProfiles[*].vmSize",
    "agentpoolprofiles[*].count": "properties.agentPoolProfiles[*].count",
    "agentpoolprofiles[*].enableencryptionathost": "properties.agentPoolProfiles[*].enableEncryptionAtHost",
    "agentpoolprofiles[*].enablenodepublicip": "properties.agentPoolProfiles[*].enableNodePublicIP",
    "agentpoolprofiles[*].ostype": "properties.agentPoolProfiles[*].osType",
    "agentpoolprofiles[*].availabilityzones": "properties.agentPoolProfiles[*].availabilityZones",
    "agentpoolprofiles[*].orchestratorversion": "properties.agentPoolProfiles[*].orchestratorVersion",
    "sku.tier": "sku.tier",
    "sku.name": "sku.name",
}


_AP = "microsoft.containerservice/managedclusters/agentpools/"
_AP_PROPS = ("vmSize", "count", "minCount", "maxCount", "enableAutoScaling", "orchestratorVersion", "osType",
             "osSKU", "mode", "enableEncryptionAtHost", "enableNodePublicIP", "enableFIPS", "availabilityZones",
             "maxPods", "vnetSubnetID", "scaleSetPriority", "kubeletDiskType", "osDiskType")
# Aliases of the resources AKS creates in the node resource group, for the fields pre-flight knows.
_ALIASES = {
    **{_MC + k: v for k, v in _AKS_ALIASES.items()},
    **{_AP + k.casefold(): f"properties.{k}" for k in _AP_PROPS},
    "microsoft.compute/virtualmachinescalesets/sku.name": "sku.name",
    "microsoft.network/publicipaddresses/sku.name": "sku.name",
    "microsoft.network/publicipaddresses/sku.tier": "sku.tier",
    "microsoft.network/loadbalancers/sku.name": "sku.name",
}
AGENT_POOL_TYPE = "Microsoft.ContainerService/managedClusters/agentPools"


class Undecidable(Exception):
    """The rule uses something this evaluator cannot decide on the planned body."""


@dataclass(frozen=True)
class Outcome:
    matches: bool | None  # None: cannot decide
    why: str  # the deciding condition, or what could not be decided


_MISSING = object()


def alias_table(provider_bodies: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Alias name (lower) -> path, from provider bodies read with `$expand=resourceTypes/aliases`."""
    out: dict[str, str] = {}
    for prov in provider_bodies:
        for rt in prov.get("resourceTypes") or []:
            if not isinstance(rt, Mapping):
                continue
            for al in rt.get("aliases") or []:
                if not isinstance(al, Mapping) or not al.get("name"):
                    continue
                path = al.get("defaultPath")
                if not path:
                    paths = [p.get("path") for p in al.get("paths") or [] if isinstance(p, Mapping)]
                    path = paths[0] if paths else None
                if isinstance(path, str) and path:
                    out[str(al["name"]).casefold()] = path
    return out


def _split(path: str) -> list[str]:
    """`properties.agentPoolProfiles[*].vmSize` -> ["properties", "agentPoolProfiles", "[*]", "vmSize"]."""
    out: list[str] = []
    for part in path.split("."):
        m = re.fullmatch(r"([^\[]*)((?:\[[^\]]*\])*)", part)
        if not m:
            raise Undecidable(f"path {path!r}")
        if m.group(1):
            out.append(m.group(1))
        out += re.findall(r"\[[^\]]*\]", m.group(2))
    return out


def _walk(node: Any, parts: list[str]) -> Any:
    """The value at a path; a list (one per member) once a `[*]` is crossed; _MISSING when absent."""
    if not parts:
        return node
    head, rest = parts[0], parts[1:]
    if head == "[*]":
        if not isinstance(node, list):
            return _MISSING
        return _Members([_walk(x, rest) for x in node])
    if head.startswith("["):
        raise Undecidable(f"array index {head}")
    if not isinstance(node, Mapping):
        return _MISSING
    key = next((k for k in node if isinstance(k, str) and k.casefold() == head.casefold()), None)
    if key is None:
        return _MISSING
    return _walk(node[key], rest)


class _Members(list[Any]):
    """Values of an alias's `[*]` members."""


@dataclass(frozen=True)
class Resource:
    """The planned resource as policy sees the request: type, name, location, tags and body.

    `partial`: a resource AKS creates itself (in the node resource group) of which only some fields are
    known (type, location, sku): any other field cannot be decided, rather than reading as absent.
    """

    id: str
    type: str
    body: Mapping[str, Any]
    aliases: Mapping[str, str]
    partial: bool = False
    label: str = ""  # how evidence names it ("public IP AKS creates in MC_...")
    # supports tags and location (Indexed-mode definitions evaluate only those); a child resource such as an
    # agent pool does not, and its location / tags are not something a rule can be decided on
    indexed: bool = True

    def _known(self, value: Any, name: str) -> Any:
        if value is _MISSING and self.partial:
            raise Undecidable(f"{name!r} of the {self.label or self.type} AKS creates is not known before it does")
        return value

    def field(self, name: str) -> Any:
        low = name.strip().casefold()
        b = self.body
        if low == "type":
            return self.type
        if low in ("name", "fullname"):
            return self._known(b.get("name", _MISSING), name)
        if low == "id":
            return self.id
        if not self.indexed and (low == "location" or low.startswith("tags")):
            raise Undecidable(f"{name!r} on {self.label or self.type}, which has no location or tags")
        if low in ("location", "kind"):
            return self._known(b.get(low, _MISSING), name)
        if low == "identity.type":
            ident = b.get("identity")
            return self._known(ident.get("type", _MISSING) if isinstance(ident, Mapping) else _MISSING, name)
        raw_tags = b.get("tags")
        tags: Mapping[str, Any] = raw_tags if isinstance(raw_tags, Mapping) else {}
        if low == "tags":
            return self._known(dict(tags) if "tags" in b else _MISSING, name)
        m = re.fullmatch(r"tags\[\s*'?(.+?)'?\s*\]|tags\.(.+)", name.strip(), flags=re.IGNORECASE)
        if m:
            key = (m.group(1) or m.group(2)).casefold()
            hit = next((k for k in tags if str(k).casefold() == key), None)
            return self._known(tags[hit] if hit is not None else _MISSING, name)
        own = self.type.casefold() + "/"
        if not low.startswith(own) or "/" in low[len(own) :]:
            return _MISSING  # an alias of another (or a child) resource type: absent on this one
        path = self.aliases.get(low) or _ALIASES.get(low)
        if path is None:
            raise Undecidable(f"alias {name!r} has no path this tool knows")
        return self._known(_walk(b, _split(path)), name)


def resolve(expr: Any, params: Mapping[str, Any], resource: Resource | None = None) -> Any:
    """A policy language value: literals pass; `[parameters('p')]`, `[concat(...)]`, `[field('f')]`."""
    if not isinstance(expr, str) or not (expr.startswith("[") and expr.endswith("]")) or expr.startswith("[["):
        return expr[1:] if isinstance(expr, str) and expr.startswith("[[") else expr
    return _call(expr[1:-1].strip(), params, resource)


def _args(text: str) -> list[str]:
    out, depth, cur, quoted = [], 0, "", False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if not quoted and depth == 0 and ch == ",":
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _call(text: str, params: Mapping[str, Any], resource: Resource | None) -> Any:
    if re.fullmatch(r"'(?:[^']|'')*'", text):
        return text[1:-1].replace("''", "'")
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    m = re.fullmatch(r"(\w+)\((.*)\)", text, flags=re.DOTALL)
    if not m:
        raise Undecidable(f"expression {text!r}")
    fn, args = m.group(1).casefold(), [_call(a, params, resource) for a in _args(m.group(2))]
    if fn == "parameters" and len(args) == 1:
        key = next((k for k in params if k.casefold() == str(args[0]).casefold()), None)
        if key is None:
            raise Undecidable(f"parameter {args[0]!r} has no value")
        return params[key]
    if fn == "concat":
        if all(isinstance(a, list) for a in args):
            return [x for a in args for x in a]
        return "".join(str(a) for a in args)
    if fn == "field" and len(args) == 1 and resource is not None:
        value = resource.field(str(args[0]))
        if value is _MISSING or isinstance(value, _Members):
            raise Undecidable(f"field({args[0]!r}) in an expression")
        return value
    raise Undecidable(f"template function {fn}()")


def _norm(value: Any, location: bool) -> Any:
    if isinstance(value, bool):  # a boolean property compares with "true" / "false"
        return "true" if value else "false"
    if isinstance(value, str):
        low = value.casefold()
        return low.replace(" ", "") if location else low
    return value


def _test(op: str, actual: Any, want: Any, location: bool) -> bool:
    """One operator on one (non-member) value; _MISSING is an absent property."""
    a, w = _norm(actual, location), want
    if op == "exists":
        wanted = str(want).casefold() == "true" if isinstance(want, str) else bool(want)
        return (actual is not _MISSING and actual is not None) == wanted
    if op in ("equals", "notequals"):
        hit = actual is not _MISSING and a == _norm(w, location)
        return hit if op == "equals" else not hit
    if op in ("in", "notin"):
        if not isinstance(w, list):
            raise Undecidable(f"{op} needs an array, got {type(w).__name__}")
        hit = actual is not _MISSING and a in [_norm(x, location) for x in w]
        return hit if op == "in" else not hit
    if op in ("like", "notlike"):
        pattern = ".*".join(re.escape(part) for part in str(_norm(w, location)).split("*"))
        hit = isinstance(a, str) and re.fullmatch(pattern, a, flags=re.DOTALL) is not None  # only * is a wildcard
        return hit if op == "like" else not hit
    if op in ("contains", "notcontains"):
        hit = isinstance(a, str) and str(_norm(w, location)) in a
        return hit if op == "contains" else not hit
    if op in ("containskey", "notcontainskey"):
        hit = isinstance(actual, Mapping) and str(w).casefold() in {str(k).casefold() for k in actual}
        return hit if op == "containskey" else not hit
    if op in ("less", "lessorequals", "greater", "greaterorequals"):
        if actual is _MISSING:
            return False
        try:
            x, y = (float(actual), float(w)) if not isinstance(actual, str) else (a, _norm(w, location))
            res = {"less": x < y, "lessorequals": x <= y, "greater": x > y, "greaterorequals": x >= y}[op]
        except (TypeError, ValueError) as err:
            raise Undecidable(f"{op} on {actual!r} and {w!r}") from err
        return bool(res)
    raise Undecidable(f"operator {op}")


_OPS = (
    "equals",
    "notequals",
    "like",
    "notlike",
    "in",
    "notin",
    "contains",
    "notcontains",
    "containskey",
    "notcontainskey",
    "exists",
    "less",
    "lessorequals",
    "greater",
    "greaterorequals",
    "match",
    "matchinsensitively",
    "notmatch",
    "notmatchinsensitively",
)


def _condition(cond: Mapping[str, Any], resource: Resource, params: Mapping[str, Any]) -> tuple[bool, str]:
    low = {k.casefold(): k for k in cond}
    if "allof" in low or "anyof" in low:
        key = low.get("allof") or low["anyof"]
        parts = cond[key]
        if not isinstance(parts, list):
            raise Undecidable(f"{key} is not a list")
        results: list[tuple[bool | None, str]] = []
        for part in parts:
            try:
                results.append(_condition(part, resource, params))
            except Undecidable as err:
                results.append((None, str(err)))
        decisive = key.casefold() != "allof"  # anyOf: one True decides; allOf: one False decides
        hit = next((w for r, w in results if r is decisive), None)
        if hit is not None:
            return decisive, hit
        undecided = next((w for r, w in results if r is None), None)
        if undecided is not None:
            raise Undecidable(undecided)
        return not decisive, " and ".join(w for _, w in results)
    if "not" in low:
        inner, why = _condition(cond[low["not"]], resource, params)
        return not inner, f"not ({why})"
    if "count" in low:
        raise Undecidable("count expressions")
    ops = [k for k in low if k in _OPS]
    if len(ops) != 1:
        raise Undecidable(f"condition {sorted(cond)}")
    op = ops[0]
    if op.startswith(("match", "notmatch")):
        raise Undecidable(f"operator {low[op]}")
    want = resolve(cond[low[op]], params, resource)
    if "field" in low:
        name = str(resolve(cond[low["field"]], params, resource))  # a field may be an expression (concat)
        actual = resource.field(name)
        location = name.strip().casefold() == "location"
        label = f"{name} {low[op]} {want!r}"
    elif "value" in low:
        actual = resolve(cond[low["value"]], params, resource)
        location = False
        label = f"value {actual!r} {low[op]} {want!r}"
    else:
        raise Undecidable(f"condition without field or value: {sorted(cond)}")
    if isinstance(actual, _Members):
        if not actual:
            raise Undecidable(f"{name!r}: no members to evaluate")
        ok = all(_test(op, m, want, location) for m in actual)
        return ok, f"{label} (every member: {list(actual)!r})"
    shown = "absent" if actual is _MISSING else repr(actual)
    return _test(op, actual, want, location), f"{label} (planned: {shown})"


def evaluate_rule(rule_if: Any, resource: Resource, params: Mapping[str, Any]) -> Outcome:
    """Does the rule's `if` match the planned resource?"""
    if not isinstance(rule_if, Mapping):
        return Outcome(None, "the rule has no 'if' object")
    try:
        ok, why = _condition(rule_if, resource, params)
    except Undecidable as err:
        return Outcome(None, f"cannot evaluate {err}")
    return Outcome(ok, why)


def parameter_values(
    assigned: Mapping[str, Any] | None, declared: Mapping[str, Any] | None, outer: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Parameter values: the assignment's (or a set's reference's, resolved against the set's own values),
    else the definition's defaultValue."""
    out: dict[str, Any] = {}
    for name, spec in (declared or {}).items():
        if isinstance(spec, Mapping) and "defaultValue" in spec:
            out[name] = spec["defaultValue"]
    for name, val in (assigned or {}).items():
        value = val.get("value") if isinstance(val, Mapping) else val
        if outer is not None:
            try:
                value = resolve(value, outer)
            except Undecidable:
                continue  # stays unset: a condition reading it cannot decide
        out[name] = value
    return out


def effect_of(then: Any, params: Mapping[str, Any]) -> str | None:
    effect = then.get("effect") if isinstance(then, Mapping) else None
    try:
        value = resolve(effect, params)
    except Undecidable:
        return None
    return value if isinstance(value, str) else None
