"""THE list of checks. Adding a check = one module, one line here, one test file (then
`python -m shared.checks.registry` refreshes the selection index; a unit test says when it is stale).

Network engineers add their lines in the first block, platform checks in the second; one line per
check (its module name, which is its id) so a diff shows exactly what was added.

A worker imports only the checks a failure selects: selection reads `index.json` (each check's
families, targets and resource kinds, generated from the specs by this module), and `selected()`
imports just the chosen modules. A chosen spec that disagrees with its index entry, or an index
that does not list exactly these modules, makes `selected()` log it and select from every spec
instead, so a stale index costs time, never a wrong selection. `REGISTRY` (every spec, imported on
first use) serves pre-flight, the offline tools and the tests.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.checklib.base import CheckMeta, CheckSpec

if TYPE_CHECKING:
    from shared.models import Classification

log = logging.getLogger(__name__)

CHECK_MODULES: tuple[str, ...] = (
    # --- network / connectivity checks ---
    "cluster_state",
    "api_authorized_ranges",
    "nsg_apiserver_egress",
    "nsg_vnet_integration",
    "route_apiserver",
    "firewall_aks_fqdns",
    "firewall_tls_inspection",
    "private_endpoint_apiserver",
    "private_dns_zone_link",
    "vnet_custom_dns",
    "apiserver_subnet",
    "cidr_overlap",
    "outbound_connectivity",
    "egress_bootstrap",
    # --- platform checks (capacity, quota, identity, policy, versions) ---
    "identity_subnet_permissions",
    "identity_role_assignments",
    "service_principal_credentials",
    "feature_registration",
    "provider_registration",
    "policy_denial",
    "node_resource_group",
    "resource_locks",
    "capacity_history",
    "node_subnet_capacity",
    "vcpu_quota",
    "public_ip_quota",
    "sku_availability",
    "kubernetes_version",
)

CHECK_IDS: frozenset[str] = frozenset(CHECK_MODULES)
INDEX_PATH = Path(__file__).with_name("index.json")

if TYPE_CHECKING:
    REGISTRY: dict[str, CheckSpec[Any]]


def spec(check_id: str) -> CheckSpec[Any]:
    """One registered check's spec (imports its module)."""
    if check_id not in CHECK_IDS:
        raise KeyError(f"no registered check {check_id!r}")
    found: CheckSpec[Any] = importlib.import_module(f"shared.checks.{check_id}").SPEC
    if found.id != check_id:
        raise ValueError(f"shared.checks.{check_id} declares id {found.id!r}: module name and id must agree")
    return found


@cache
def all_specs() -> dict[str, CheckSpec[Any]]:
    """Every registered spec, in registry order."""
    return {cid: spec(cid) for cid in CHECK_MODULES}


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":
        return all_specs()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_index() -> list[dict[str, Any]]:
    """The selection index as written to index.json: one entry per check, in registry order."""
    return [CheckMeta.of(s).to_json() for s in all_specs().values()]


@cache
def index() -> tuple[CheckMeta, ...] | None:
    """The selection index, or None when it is missing, unreadable or lists other checks than
    CHECK_MODULES (logged: selection then reads every spec)."""
    try:
        raw = json.loads(INDEX_PATH.read_text(encoding="utf-8"))
        metas = tuple(CheckMeta.from_json(e) for e in raw["checks"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.error("check index %s unusable (%s): selecting from every check", INDEX_PATH.name, err)
        return None
    if tuple(m.id for m in metas) != CHECK_MODULES:
        log.error("check index %s is stale (run `python -m shared.checks.registry`): selecting from every check",
                  INDEX_PATH.name)
        return None
    return metas


@cache
def _spec_declaring(meta: CheckMeta) -> CheckSpec[Any] | None:
    """The spec of an index entry, or None when the spec declares otherwise (a stale entry); compared
    once per entry, since neither changes while the process runs."""
    found = spec(meta.id)
    return found if CheckMeta.of(found) == meta else None


def selected(classification: Classification) -> list[CheckSpec[Any]]:
    """The specs that can explain this failure, in registry order; imports only those checks."""
    from shared.checklib.ranking import select

    metas = index()
    if metas is not None:
        chosen = select(metas, classification)
        found = [_spec_declaring(m) for m in chosen]
        specs = [s for s in found if s is not None]
        if len(specs) == len(found):
            return specs
        stale = [m.id for m, s in zip(chosen, found, strict=True) if s is None]
        log.error("check index entries %s differ from their specs (run `python -m shared.checks.registry`): "
                  "selecting from every check", stale)
    return select(tuple(all_specs().values()), classification)


def write_index(path: Path = INDEX_PATH) -> bool:
    """Write index.json from the specs; True when it changed."""
    text = json.dumps({"checks": build_index()}, indent=1) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


if __name__ == "__main__":
    changed = write_index()
    sys.stdout.write(f"{INDEX_PATH}: {'written' if changed else 'already current'}\n")
