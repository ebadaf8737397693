"""List parameters (MONITORED_SUBSCRIPTION_IDS, AKS_CLUSTER_IDS, alert emails): trimmed, de-duplicated,
empty entries ignored.

Bicep cannot run here, so the test evaluates main.bicep's own variable expressions (pycep AST) with a
small interpreter of exactly the functions they use; an expression that uses anything else fails the
test instead of being guessed at. ARM semantics: `split` keeps empty entries, `union` of arrays keeps
the first occurrence of each value in order, `trim` strips whitespace.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import template

SUB_A = "00000000-0000-0000-0000-00000000000a"
SUB_B = "00000000-0000-0000-0000-00000000000b"
DEPLOYMENT_SUB = "00000000-0000-0000-0000-0000000000d0"


class Unsupported(AssertionError):
    pass


def _union(*arrays: list[Any]) -> list[Any]:
    out: list[Any] = []
    for array in arrays:
        for item in array:
            if item not in out:
                out.append(item)
    return out


def evaluate(node: Any, env: dict[str, Any], variables: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [evaluate(n, env, variables) for n in node]
    if isinstance(node, str):
        if node in env:
            return env[node]
        if node in variables:
            return evaluate(variables[node]["value"], env, variables)
        return node  # a string literal (pycep keeps literals and identifiers alike)
    if not isinstance(node, dict):
        return node
    if "loop_type" in node:  # [for x in array: value]
        detail = node["loop_type"]["detail"]
        assert node.get("condition") is None, "filtered variable loops are not interpreted"
        array = evaluate(detail["array_name"], env, variables)
        return [evaluate(node["config"], {**env, detail["item_name"]: item}, variables) for item in array]
    if "function" in node:
        fn = node["function"]
        name, args = fn["type"], list(fn.get("parameters", {}).values())
        values = [evaluate(a, env, variables) for a in args]
        if name == "split":
            return values[0].split(values[1])
        if name == "replace":
            return values[0].replace(values[1], values[2])
        if name == "trim":
            return values[0].strip()
        if name == "to_lower":
            return values[0].lower()
        if name == "empty":
            return len(values[0]) == 0
        if name == "union":
            return _union(*values)
        if name == "contains":
            return values[1] in values[0]
        if name == "index_of":
            return values[0].index(values[1]) if values[1] in values[0] else -1
        if name == "take":
            return values[0][: max(values[1], 0)]
        if name == "skip":
            return values[0][max(values[1], 0) :]
        if name == "concat":
            return [item for array in values for item in array]
        if name == "subscription" and values == [None]:
            return {"subscriptionId": DEPLOYMENT_SUB}
        raise Unsupported(f"function {name} not interpreted")
    if "operator" in node:
        op = node["operator"]
        kind, ops = op["type"], op["operands"]
        if kind == "add":
            return evaluate(ops["operand_1"], env, variables) + evaluate(ops["operand_2"], env, variables)
        if kind == "not":
            return not evaluate(ops["bool_value"], env, variables)
        if kind == "conditional":
            branch = "true_value" if evaluate(ops["condition"], env, variables) else "false_value"
            return evaluate(ops[branch], env, variables)
        if kind == "property_accessor":
            return evaluate(ops["operand_1"], env, variables)[ops["operand_2"]]
        raise Unsupported(f"operator {kind} not interpreted")
    raise Unsupported(f"node {node} not interpreted")


def variable(name: str, **params: str) -> Any:
    variables = template("main.bicep")["variables"]
    return evaluate(variables[name]["value"], params, variables)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", [DEPLOYMENT_SUB]),
        (" , ;", [DEPLOYMENT_SUB]),
        (SUB_A, [SUB_A]),
        (f" {SUB_A} , {SUB_B.upper()};{SUB_B},, {SUB_A}\t", [SUB_A, SUB_B]),
        (f"{SUB_A},", [SUB_A]),
    ],
)
def test_monitored_subscriptions_are_trimmed_deduplicated_and_default_to_this_subscription(raw, expected):
    assert variable("subscriptionIds", monitoredSubscriptionIds=raw) == expected


def test_cluster_ids_ignore_empty_entries_and_duplicates():
    cluster = f"/subscriptions/{SUB_A}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1"
    assert variable("clusterIds", aksClusterIds="") == []
    assert variable("clusterIds", aksClusterIds=f" {cluster} ,,{cluster.upper()}; ") == [cluster.lower()]


def test_alert_emails_keep_their_case_but_lose_blanks_and_repeats():
    got = variable("emails", alertEmails=" Ops@contoso.example ; ,oncall@contoso.example,Ops@contoso.example ")
    assert got == ["Ops@contoso.example", "oncall@contoso.example"]
    assert variable("emails", alertEmails="") == []


def test_the_interpreter_refuses_what_it_does_not_know():
    node = {"function": {"type": "uniqueString", "parameters": {"a": "x"}}}
    with pytest.raises(Unsupported):
        evaluate(node, {}, {})
