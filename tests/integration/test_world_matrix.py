"""The whole registry, end to end, on worlds with one planted fault and decoys.

Each world (tests/integration/worlds.py) is a realistic cluster in ARM with one failed operation,
ONE planted root cause and decoys a careless diagnoser would blame. It runs through the production
path of `aks-triage diagnose --snapshot`: shared.offline -> shared.pipeline.process (error retrieval
from the cluster status / Activity Log, the classifier, selection, every selected check of the full
shared.checks.registry.REGISTRY, ranking, the local publisher), over SnapshotArmReader. Nothing of
ours is mocked.

Asserted per world: the planted cause is ranked first; no decoy's check is among the failing causes.
A miss that is a known, reported defect (/tmp/iss/requests-J.md at the time of writing) is a strict
xfail naming it, so the suite stays green and the miss stays visible; when the defect is fixed the
xfail turns into a failure that asks for the mark to go.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.checks.registry import REGISTRY
from shared.models import CheckStatus
from tests.integration import worlds as W

# Misses whose cause is known and reported (/tmp/iss/requests-J.md, item number in brackets):
# world id -> the defect. A world whose planted check is not registered is marked by _params itself.
KNOWN_MISSES: dict[str, str] = {}


def _params() -> list[object]:
    out: list[object] = []
    for build in W.BUILDERS:
        world = build()
        why = []
        if world.planted not in REGISTRY:
            why.append(f"[1] {world.planted} is not in shared.checks.registry.REGISTRY yet")
        if world.id in KNOWN_MISSES:
            why.append(KNOWN_MISSES[world.id])
        marks = [pytest.mark.xfail(strict=True, reason="; ".join(why))] if why else []
        out.append(pytest.param(build, id=world.id, marks=marks))
    return out


def _table(finding: object) -> str:
    checks = getattr(finding, "checks", ())
    return "\n".join(f"  {r.id:30s} {r.status.value:14s} {r.summary[:160]}" for r in checks)


@pytest.mark.parametrize("build", _params())
async def test_planted_cause_first_and_no_decoy_blamed(build: object, tmp_path: Path) -> None:
    world: W.World = build()  # type: ignore[operator]
    finding = await W.diagnose(world, tmp_path)
    ranked = finding.root_causes
    assert ranked and ranked[0] == world.planted, (
        f"{world.id}: planted {world.planted} ({world.fault}); ranked {ranked}; "
        f"classified {finding.classification.code}/{finding.classification.subcategory} "
        f"{[str(f) for f in finding.classification.families]}\n{_table(finding)}"
    )
    blamed = [d for d in world.decoys if d.check in ranked]
    assert not blamed, f"{world.id}: decoys blamed {[(d.check, d.what) for d in blamed]}\n{_table(finding)}"


# Planted causes found without a remediation (requests-J.md item 9): world id -> the check.
NO_REMEDIATION: dict[str, str] = {
}


def _found_params() -> list[object]:
    out: list[object] = []
    for build in W.BUILDERS:
        world = build()
        if world.planted not in REGISTRY:
            continue
        marks = [pytest.mark.xfail(strict=True, reason=NO_REMEDIATION[world.id])] if world.id in NO_REMEDIATION else []
        out.append(pytest.param(build, id=world.id, marks=marks))
    return out


@pytest.mark.parametrize("build", _found_params())
async def test_the_planted_check_fails_and_says_what_to_do(build: object, tmp_path: Path) -> None:
    """Ranked or not, the planted check itself must find the fault (FAIL) and give a remediation."""
    world: W.World = build()  # type: ignore[operator]
    finding = await W.diagnose(world, tmp_path)
    planted = next((r for r in finding.checks if r.id == world.planted), None)
    assert planted is not None, f"{world.planted} was not selected for {finding.classification.code}"
    assert planted.status is CheckStatus.FAIL, f"{world.id}: {planted.status.value}: {planted.summary}"
    assert planted.remediation, f"{world.id}: {planted.id} FAIL without a remediation: {planted.summary}"


def test_worlds_are_distinct_and_cover_the_families() -> None:
    import json

    import jsonschema  # type: ignore[import-untyped]

    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "shared" / "schema" / "snapshot.schema.json").read_text(encoding="utf-8")
    )
    worlds = [b() for b in W.BUILDERS]
    families = {w.family for w in worlds}
    assert {
        "api_server_connectivity",
        "dns",
        "egress",
        "subnet_ips",
        "network_config",
        "quota",
        "capacity",
        "versions",
        "permissions",
        "locks",
        "registration",
        "policy",
        "identity",
    } <= families
    ids = [w.id for w in worlds]
    assert len(ids) == len(set(ids))
    for w in worlds:
        assert w.decoys, f"{w.id} has no decoy"
        assert w.source, f"{w.id} does not say where its error text comes from"
        snap = w.snapshot()
        jsonschema.validate(snap, schema)  # the file `aks-triage diagnose --snapshot` reads
        cluster = snap["resources"][W.CLUSTER_ID]["properties"]
        if w.sync:  # a synchronous 400 leaves the cluster as it was; only the Activity Log has the error
            assert cluster["provisioningState"] == "Succeeded" and "status" not in cluster
            assert snap["activity_log"][0]["properties"]["statusCode"] == "BadRequest"
        else:
            assert cluster["provisioningState"] == "Failed"
            assert cluster["status"]["provisioningError"] == w.error


@pytest.mark.parametrize(
    "build", [W.w_readonly_lock_on_scale, W.w_service_principal_secret_expired], ids=["async-scale", "sync-400"]
)
def test_the_cli_gives_the_same_ranking(build: object, tmp_path: Path) -> None:
    """`aks-triage diagnose --event ... --snapshot ... --json` as a subprocess ranks like the in-process path."""
    import asyncio
    import json
    import subprocess
    import sys

    world: W.World = build()  # type: ignore[operator]
    snap, event = tmp_path / "snapshot.json", tmp_path / "event.json"
    snap.write_text(json.dumps(world.snapshot()), encoding="utf-8")
    event.write_text(json.dumps([world.event()]), encoding="utf-8")
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "shared",
            "diagnose",
            "--event",
            str(event),
            "--snapshot",
            str(snap),
            "--home",
            str(tmp_path / "cli-home"),
            "--json",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (doc,) = json.loads(proc.stdout)
    in_process = asyncio.run(W.diagnose(world, tmp_path / "in-process"))
    assert doc["root_causes"] == list(in_process.root_causes)
    assert doc["root_causes"][0] == world.planted
