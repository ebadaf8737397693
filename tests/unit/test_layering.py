"""The architecture rules that can be checked mechanically (design card, style rules 2 and 4)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SDK_PREFIXES = ("azure.mgmt", "azure.monitor", "azure.data", "azure.identity", "azure.storage", "azure.core")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def test_only_shared_azure_imports_azure_sdks() -> None:
    offenders = []
    for path in (ROOT / "shared").rglob("*.py"):
        if (ROOT / "shared" / "azure") in path.parents:
            continue
        for name in _imports(path):
            if name.startswith(SDK_PREFIXES):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_function_app_imports_only_azure_functions_and_our_handlers() -> None:
    """Bindings only (plus the collector's start-up set-up, stdlib `gc`): no logic, no SDK at indexing."""
    names = _imports(ROOT / "function_app.py")
    assert "azure.functions" in names
    for name in names:
        assert name in ("azure.functions", "gc") or name.startswith("shared.handlers"), name


def test_core_modules_do_not_import_the_sdk_at_import_time() -> None:
    """Cold start: importing the pipeline must not pull any Azure SDK into the process."""
    import subprocess
    import sys

    code = ("import sys, shared.pipeline, shared.handlers, shared.events; "
            "bad=[m for m in sys.modules if m.startswith(('azure.mgmt','azure.identity','azure.monitor',"
            "'azure.data','azure.storage'))]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


def test_checks_do_not_import_other_checks() -> None:
    """What checks share lives in shared/checklib/; a check module imports no other check."""
    offenders = []
    for path in (ROOT / "shared" / "checks").glob("*.py"):
        if path.name in ("registry.py", "__init__.py"):
            continue
        for name in _imports(path):
            if name == "shared.checks" or name.startswith("shared.checks."):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []
