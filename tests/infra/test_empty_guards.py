"""ARM evaluates a conditional module's scope (and Bicep's implicit dependsOn) before its condition,
so `split(x, '/')[2]` on a parameter whose default is '' fails the deployment with "array index out
of bounds" even when the module is switched off. Every index into a value derived from such a
parameter must sit in the non-empty branch of an `empty(x) ? ... : ...` guard.

Written for pycep's AST. pycep parses `!empty(x) ? a : b` as `!(empty(x) ? a : b)`, so only the
`empty(x) ? <fallback> : <indexed>` form is recognised (and used in infra/)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from tests.infra.conftest import INFRA, bicep_files, functions_called, parse_bicep, template, walk


def _names(node: Any) -> set[str]:
    return {n for n in walk(node) if isinstance(n, str)}


def _derived(tpl: dict[str, Any]) -> set[str]:
    """Parameters defaulting to '' plus every variable and loop item computed from them."""
    derived = {k for k, v in tpl.get("parameters", {}).items() if v.get("default") == ""}
    loops = [n for n in walk(tpl) if isinstance(n, dict) and isinstance(n.get("loop_type"), dict)]
    changed = True
    while changed:
        changed = False
        for name, var in tpl.get("variables", {}).items():
            if name not in derived and _names(var["value"]) & derived:
                derived.add(name)
                changed = True
        for loop in loops:
            detail = loop["loop_type"]["detail"]
            item = detail.get("item_name")
            if isinstance(item, str) and item not in derived and isinstance(detail.get("array_name"), str) \
                    and detail["array_name"] in derived:
                derived.add(item)
                changed = True
    return derived


def unguarded_indexes(node: Any, derived: set[str], guarded: frozenset[str] = frozenset()) -> list[Any]:
    found: list[Any] = []
    if isinstance(node, dict):
        op = node.get("operator") if isinstance(node.get("operator"), dict) else {}
        if op.get("type") == "conditional":
            ops = op["operands"]
            cond = ops["condition"]
            tested = frozenset(c["item_to_test"] for c in functions_called({"c": cond}, "empty")
                               if isinstance(c["item_to_test"], str)) if (
                isinstance(cond, dict) and cond.get("function", {}).get("type") == "empty") else frozenset()
            found += unguarded_indexes(cond, derived, guarded)
            found += unguarded_indexes(ops["true_value"], derived, guarded)
            found += unguarded_indexes(ops["false_value"], derived, guarded | tested)
            return found
        if op.get("type") == "index_accessor" and (_names(op["operands"]["operand_1"]) & derived) - guarded:
            found.append(node)
        for value in node.values():
            found += unguarded_indexes(value, derived, guarded)
    elif isinstance(node, list):
        for value in node:
            found += unguarded_indexes(value, derived, guarded)
    return found


def _check(tpl: dict[str, Any]) -> list[Any]:
    derived = _derived(tpl)
    return unguarded_indexes({k: tpl.get(k, {}) for k in ("variables", "resources", "modules", "outputs")}, derived)


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_no_index_into_an_empty_default_outside_an_empty_guard(path: Path):
    bad = _check(parse_bicep(path))
    assert not bad, f"{path.name}: unguarded index into a value whose default is '': {bad}"


def test_main_has_the_guarded_scopes_and_the_check_sees_them():
    """Not vacuous: main.bicep really indexes these parameters, inside guards."""
    tpl = template("main.bicep")
    derived = _derived(tpl)
    assert {"existingWorkspaceResourceId", "activityWorkspaceResourceId", "clusterIds", "clusterId"} <= derived
    indexes = [n for n in walk(tpl) if isinstance(n, dict)
               and isinstance(n.get("operator"), dict) and n["operator"].get("type") == "index_accessor"]
    assert len(indexes) >= 6


@pytest.mark.parametrize(("text", "expected"), [
    ("var ok = empty(a) ? 'x' : split(a, '/')[2]", 0),
    ("var bad = split(a, '/')[4]", 1),
    ("var bad = !empty(a) ? split(a, '/')[2] : 'x'", 1),  # pycep: !(empty(a) ? ... : ...) - not a guard
    ("var d = split(a, ',')\nvar bad = d[0]", 1),
    ("var ok = empty(b) ? 'x' : split(a, '/')[2]", 1),  # guards the wrong name
])
def test_the_guard_check_catches_unguarded_indexes(tmp_path, text, expected):
    sample = tmp_path / "sample.bicep"
    sample.write_text(f"param a string = ''\nparam b string = ''\n{text}\n")
    assert len(_check(BicepParser().parse(file_path=sample))) == expected


# --- hooks: the subscription azd provisioned into -----------------------------------------------------


def test_hooks_pass_the_azd_subscription_and_main_outputs_it():
    outputs = template("main.bicep")["outputs"]
    assert "AZURE_SUBSCRIPTION_ID" in outputs
    for script in (INFRA / "scripts").glob("postdeploy.*"):
        text = script.read_text()
        calls = re.findall(r"az functionapp function show.*?--function-name", text, flags=re.S)
        assert calls, script.name
        for call in calls:
            assert "--subscription" in call and "AZURE_SUBSCRIPTION_ID" in call, (script.name, call)
