"""The noise rules as data: decisions from plain group values, no store, no sink, no clock."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

from shared.noise import policy
from shared.noise.policy import Decision, escalation_due, occurrence, resolved_by, stored_decision
from shared.render.rows import iso_z
from tests.factories import T0

WINDOW = timedelta(minutes=60)
CID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1"


def group(**values: object) -> dict[str, object]:
    base: dict[str, object] = {"status": "open", "first_seen": iso_z(T0), "window_start": iso_z(T0),
                               "window_count": 1, "total_count": 1, "cluster_id": CID, "agent_pool": "",
                               "transient": "true", "escalated_at": ""}
    return {**base, **values}


def test_policy_module_imports_nothing_that_does_io() -> None:
    tree = ast.parse(Path(policy.__file__).read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names <= {"__future__", "hashlib", "dataclasses", "datetime", "typing"}, names


def test_first_occurrence_opens_with_a_card() -> None:
    decision, start = occurrence(None, [], event_key="e1", finding_id="f1", now=T0, window=WINDOW)
    assert decision == Decision(True, 1, 1, "open", T0) and start == T0


def test_within_the_window_counts_and_after_it_posts_again() -> None:
    inside, start = occurrence(group(), [["e1", "f1", True, 1, "open"]], event_key="e2", finding_id="f2",
                               now=T0 + timedelta(minutes=10), window=WINDOW)
    assert (inside.send_card, inside.count, inside.total, start) == (False, 2, 2, T0)
    later = T0 + timedelta(minutes=61)
    after, start = occurrence(group(window_count=5, total_count=5), [], event_key="e9", finding_id="f9",
                              now=later, window=WINDOW)
    assert (after.send_card, after.count, after.total, after.first_seen, start) == (True, 1, 6, T0, later)


def test_a_counted_event_replays_and_a_twin_is_a_duplicate() -> None:
    recent = [["e1", "f1", True, 1, "open"]]
    again, _ = occurrence(group(), recent, event_key="e1", finding_id="f1", now=T0, window=WINDOW)
    assert again.send_card and again.count == 1 and again.twin_of is None
    twin, _ = occurrence(group(), recent, event_key="e2", finding_id="f1", now=T0, window=WINDOW)
    assert twin.twin_of == "e1" and not twin.send_card


def test_a_closed_group_starts_fresh() -> None:
    decision, _ = occurrence(group(status="resolved", total_count=7), [], event_key="e3", finding_id="f3",
                             now=T0 + timedelta(minutes=5), window=WINDOW)
    assert (decision.send_card, decision.count, decision.total) == (True, 1, 1)


def test_stored_decision_is_replayed_exactly() -> None:
    ev = {"count": 3, "send_card": False, "total": 40, "group_status": "escalated", "first_seen": iso_z(T0)}
    assert stored_decision(ev, T0 + timedelta(hours=1)) == Decision(False, 3, 40, "escalated", T0)
    assert stored_decision({"status": "claimed"}, T0) is None


def test_escalation_is_due_once_for_transient_groups_past_the_threshold() -> None:
    day = T0 + timedelta(hours=24)
    kw = {"now": day, "after": timedelta(hours=24), "transient": ("true", "depends")}
    assert escalation_due(group(), **kw)  # type: ignore[arg-type]
    assert not escalation_due(group(transient="false"), **kw)  # type: ignore[arg-type]
    assert not escalation_due(group(escalated_at=iso_z(day)), **kw)  # type: ignore[arg-type]
    assert not escalation_due(group(), now=day - timedelta(seconds=1), after=timedelta(hours=24),
                              transient=("true",))


def test_a_pool_write_resolves_only_that_pools_groups() -> None:
    groups = [group(agent_pool="np1"), group(agent_pool="np2"), group(cluster_id=CID + "x")]
    assert resolved_by(groups, cluster_id=CID.upper(), agent_pool="NP1") == [groups[0]]
    assert resolved_by(groups, cluster_id=CID, agent_pool=None) == groups[:2]
