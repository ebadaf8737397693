"""Which checks run for a failure, and which failing check most likely explains it.

Owns the algorithm only; the knowledge is data on the check specs (families, relevance, targets,
resource kinds) and on the catalog entries (the failure's families). No error code and no check id
appears here.

Selection: every check whose families meet the classification's families, plus every check whose
ARM property or resource kind the error names. When nothing matches (an unknown or generic error),
every check runs: reads are cached, and a check that does not apply says so at no cost.

Ranking (FAIL only; ERROR / SKIPPED / NOT_APPLICABLE are not causes):
1. relevance: the spec's relevance for the classification's families, the primary family full,
   each later one discounted; per sub-category when the spec declares it;
2. the error names the property the check evaluates (ARM error `target`): strong boost;
3. the FAIL's evidence names a resource or value the error names: boost. Only what can single out a
   suspect counts: the operation's own context (its region, the cluster / agent pool / subscription
   the operation ran on) is named by nearly every error and cited by nearly every check, so
   matching it says nothing about which check found the cause;
4. the FAIL contradicts what the operation asked for (`blocks_request`): boost;
5. a likely cause that could not be proven (`confidence: likely`) ranks below a proven one;
then the check id, so the order is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from shared.armid import ResourceKind, kind_of
from shared.checklib.base import CheckSpec
from shared.models import CheckResult, CheckStatus, Classification, Evidence, Family

SECONDARY_FAMILY_DISCOUNT = 0.2  # per position after the primary family
TARGET_BOOST = 60
KIND_RELEVANCE = 55  # selected only because the error names a resource of a kind the check reads
EVIDENCE_BOOST = 30
BLOCKS_REQUEST_BOOST = 25
LIKELY_PENALTY = 20


class Selectable(Protocol):
    """What selection reads of a check: a CheckSpec, or its CheckMeta from the registry's index."""

    @property
    def families(self) -> frozenset[Family]: ...
    @property
    def resource_kinds(self) -> frozenset[ResourceKind]: ...
    def names_target(self, target: str | None) -> bool: ...


S = TypeVar("S", bound=Selectable)


def select(specs: Sequence[S], c: Classification) -> list[S]:
    """The checks that can explain this failure, in registry order."""
    families = set(c.families)
    kinds = {r.kind for r in c.facts.resources}
    chosen = [s for s in specs
              if s.families & families or s.names_target(c.facts.target) or {str(k) for k in s.resource_kinds} & kinds]
    return chosen or list(specs)


def relevance(spec: CheckSpec[Any], c: Classification) -> float:
    best = 0.0
    for i, fam in enumerate(c.families):
        weight = spec.relevance_for(fam, c.subcategory) if fam in spec.families else 0
        best = max(best, weight * max(0.0, 1.0 - SECONDARY_FAMILY_DISCOUNT * i))
    if not c.families:
        best = float(max(spec.relevance.values(), default=50)) / 2
    if best == 0 and {str(k) for k in spec.resource_kinds} & {r.kind for r in c.facts.resources}:
        best = KIND_RELEVANCE
    return best


# Kinds of id that locate the operation rather than a suspect (see the module docstring, rule 3).
CONTEXT_KINDS = frozenset({ResourceKind.MANAGED_CLUSTER, ResourceKind.AGENT_POOL, ResourceKind.SUBSCRIPTION})


def _is_context(value: str, c: Classification) -> bool:
    region = (c.facts.region or "").strip().lower()
    if region and value.strip().lower().replace(" ", "") == region.replace(" ", ""):
        return True
    return value.startswith("/") and kind_of(value) in CONTEXT_KINDS


def _names_error(ev: Evidence, c: Classification) -> bool:
    facts = c.facts
    if ev.resource_id and not _is_context(ev.resource_id, c) and facts.mentions(ev.resource_id):
        return True
    values = ev.value if isinstance(ev.value, (list, tuple)) else [ev.value]
    return any(isinstance(v, str) and len(v) > 3 and not _is_context(v, c) and facts.mentions(v)
               for v in values[:20])


def score(spec: CheckSpec[Any] | None, result: CheckResult, c: Classification) -> float:
    s = relevance(spec, c) if spec is not None else 0.0
    if spec is not None and spec.names_target(c.facts.target):
        s += TARGET_BOOST
    if any(_names_error(ev, c) for ev in result.evidence):
        s += EVIDENCE_BOOST
    if result.blocks_request:
        s += BLOCKS_REQUEST_BOOST
    if result.confidence == "likely":
        s -= LIKELY_PENALTY
    return s


def rank(classification: Classification, results: Sequence[CheckResult],
         specs: Mapping[str, CheckSpec[Any]]) -> tuple[str, ...]:
    """Failing check ids, most likely root cause first (deterministic)."""
    failing = [r for r in results if r.status is CheckStatus.FAIL]
    scored = [(-score(specs.get(r.id), r, classification), r.id) for r in failing]
    return tuple(cid for _, cid in sorted(scored))
