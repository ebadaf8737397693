"""THE list of checks. Adding a check = one module, one line here, one test file.

Network engineers add their lines in the first block, platform checks in the second; keep one
import and one mapping entry per check so a diff shows exactly what was added.
"""

from __future__ import annotations

from typing import Any

from shared.checks.base import CheckSpec

# --- network / connectivity checks ---
# (lines added by the checks modules: `from shared.checks import x` + `x.SPEC,` below)

# --- platform checks (capacity, quota, identity, policy, versions) ---

_SPECS: tuple[CheckSpec[Any], ...] = (
    # --- network specs ---
    # --- platform specs ---
)

REGISTRY: dict[str, CheckSpec[Any]] = {spec.id: spec for spec in _SPECS}
CHECK_IDS: frozenset[str] = frozenset(REGISTRY)


def get_specs(ids: list[str] | tuple[str, ...]) -> list[CheckSpec[Any]]:
    """Specs for the ids a classification asks for, unknown ids skipped (the catalog test forbids them)."""
    return [REGISTRY[i] for i in ids if i in REGISTRY]
