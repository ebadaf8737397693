"""Shared helpers for the infra tests: parsed Bicep templates and the Kusto checker.

Bicep cannot be compiled here, so the tests read pycep-parser's AST. pycep keeps identifiers and
string literals both as plain strings, keeps `'${...}'` interpolations as text and nests the body
of looped / conditional resources and modules under extra `config` keys; the helpers below
undo exactly that much and no more.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
SCHEMA_FILE = REPO / "shared" / "schema" / "findings_table.json"
KQL_CHECKER = Path(__file__).with_name("kql_check.js")
KUSTO_PACKAGE = REPO / "node_modules" / "@kusto" / "language-service-next"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parse_bicep(path: Path) -> dict[str, Any]:
    from pycep import BicepParser

    return BicepParser().parse(file_path=path)


def template(relative: str) -> dict[str, Any]:
    return parse_bicep(INFRA / relative)


def body(entry: dict[str, Any]) -> dict[str, Any]:
    """The `{name:, properties:, ...}` body of a resource or module, unwrapping loops/conditions."""
    config = entry["config"]
    while "config" in config and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def resources_of_type(tpl: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in tpl.get("resources", {}).items() if v["type"] == rtype and not v["existing"]}


def walk(node: Any):
    """Every dict and list inside an AST node, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def functions_called(tpl: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Parameters of every call of Bicep function `name` (pycep's snake_case type) in a template."""
    return [
        n["function"]["parameters"]
        for n in walk(tpl)
        if isinstance(n, dict) and isinstance(n.get("function"), dict) and n["function"].get("type") == name
    ]


def variable_load(tpl: dict[str, Any], var: str, function: str = "load_json_content") -> str:
    """The file path a `var x = loadJsonContent('...')` / loadTextContent variable loads."""
    value = tpl["variables"][var]["value"]
    assert value["function"]["type"] == function, f"var {var} is not {function}(...): {value}"
    return value["function"]["parameters"]["file_path"]


def accessor(node: Any) -> tuple[str, str] | None:
    """`a.b` -> ("a", "b"); anything else -> None."""
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor":
        ops = node["operator"]["operands"]
        if isinstance(ops["operand_1"], str) and isinstance(ops["operand_2"], str):
            return ops["operand_1"], ops["operand_2"]
    return None


def dotted(node: Any) -> str | None:
    """`a.b.c` (nested property accessors) -> "a.b.c"; a bare identifier -> itself; else None."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor":
        ops = node["operator"]["operands"]
        left, right = dotted(ops["operand_1"]), dotted(ops["operand_2"])
        return f"{left}.{right}" if left and right else None
    return None


def project_loop(loop: dict[str, Any], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluate `[for x in <anything>: { key: x.field, ... }]` over `items` (field projections only)."""
    item_name = loop["loop_type"]["detail"]["item_name"]
    out = []
    for item in items:
        row = {}
        for key, expr in loop["config"].items():
            acc = accessor(expr)
            assert acc is not None and acc[0] == item_name, f"{key}: not a projection of {item_name}: {expr}"
            row[key] = item[acc[1]]
        out.append(row)
    return out


@pytest.fixture(scope="session")
def findings_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


# --- Kusto ---------------------------------------------------------------------------------------


def kusto_tables(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings table from the source-of-truth file plus the transcribed App Insights tables."""
    extra = json.loads(Path(__file__).with_name("kql_tables.json").read_text())["tables"]
    return [{"name": schema["table"], "columns": schema["columns"]}, *extra]


@pytest.fixture(scope="session")
def kusto(findings_schema):
    """check(queries: dict[id, query]) -> dict[id, {"diagnostics": [...], "columns": [...]}]."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (CI installs Node 20)")
    if not KUSTO_PACKAGE.is_dir():
        pytest.skip("@kusto/language-service-next missing: run `npm install` at the repo root")
    tables = kusto_tables(findings_schema)

    def check(queries: dict[str, str]) -> dict[str, dict[str, Any]]:
        batch = {"tables": tables, "queries": [{"id": k, "query": v} for k, v in queries.items()]}
        proc = subprocess.run(
            [node, str(KQL_CHECKER)], input=json.dumps(batch), capture_output=True, text=True,
            timeout=120, cwd=REPO, check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return {r["id"]: r for r in json.loads(proc.stdout)}

    return check
