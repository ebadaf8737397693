"""The registry's selection index: current, equivalent to selecting from every spec, safe when stale,
and what lets a worker import only the checks a failure selects."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.catalog import load_catalog
from shared.checklib.base import CheckMeta
from shared.checklib.ranking import select
from shared.checks import registry
from shared.classify import classify_text
from shared.models import Classification

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def fresh_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An index file of the test's own, read afresh by `registry.index()`."""
    path = tmp_path / "index.json"
    monkeypatch.setattr(registry, "INDEX_PATH", path)
    registry.index.cache_clear()
    yield path
    registry.index.cache_clear()


def test_index_file_is_what_the_specs_declare() -> None:
    stored = json.loads(registry.INDEX_PATH.read_text(encoding="utf-8"))
    assert stored == {"checks": registry.build_index()}, (
        "shared/checks/index.json is stale: run `python -m shared.checks.registry`")


def test_every_check_module_is_registered_once_under_its_own_id() -> None:
    modules = sorted(p.stem for p in (ROOT / "shared" / "checks").glob("*.py")
                     if p.stem not in ("__init__", "registry"))
    assert sorted(registry.CHECK_MODULES) == modules
    assert len(set(registry.CHECK_MODULES)) == len(registry.CHECK_MODULES)
    assert list(registry.REGISTRY) == list(registry.CHECK_MODULES)
    assert all(s.id == cid for cid, s in registry.REGISTRY.items())


def test_index_round_trips_each_spec() -> None:
    for s in registry.REGISTRY.values():
        meta = CheckMeta.of(s)
        assert CheckMeta.from_json(json.loads(json.dumps(meta.to_json()))) == meta


def _classifications() -> list[Classification]:
    """Every catalog entry's examples, a bare code per entry, and errors naming ARM properties and ids."""
    texts: list[str] = []
    for entry in load_catalog().entries:
        texts.append(entry.code)
        texts.extend(str(x) for x in list(entry.examples)[:3])
    texts += [
        '{"error":{"code":"InvalidParameter","target":"properties.apiServerAccessProfile.authorizedIPRanges",'
        '"message":"bad range"}}',
        '{"error":{"code":"InvalidParameter","target":"agentPoolProfiles[0].vnetSubnetID","message":"x"}}',
        "Code=\"Conflict\" Message=\"The network security group /subscriptions/0000/resourceGroups/rg/providers/"
        "Microsoft.Network/networkSecurityGroups/nsg1 is in use\"",
        "something nobody has documented",
        "",
    ]
    return [classify_text(t) for t in texts]


def test_selecting_from_the_index_equals_selecting_from_every_spec() -> None:
    everything = tuple(registry.REGISTRY.values())
    seen = 0
    for c in _classifications():
        assert [s.id for s in registry.selected(c)] == [s.id for s in select(everything, c)], c.code
        seen += 1
    assert seen > 100


def test_a_stale_entry_falls_back_to_every_spec_and_says_so(fresh_index: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    entries: list[dict[str, Any]] = registry.build_index()
    quota = next(e for e in entries if e["id"] == "vcpu_quota")
    quota["families"] = ["quota", "dns"]  # as if the spec had dropped "dns" after the index was written
    fresh_index.write_text(json.dumps({"checks": entries}), encoding="utf-8")
    c = classify_text("QuotaExceeded")
    with caplog.at_level(logging.ERROR, logger="shared.checks.registry"):
        chosen = registry.selected(c)
    assert [s.id for s in chosen] == [s.id for s in select(tuple(registry.REGISTRY.values()), c)]
    assert "vcpu_quota" in caplog.text and "python -m shared.checks.registry" in caplog.text


@pytest.mark.parametrize("content", ["{not json", json.dumps({"checks": [{"id": "cluster_state"}]}),
                                     json.dumps({"checks": [{"id": "x", "families": [], "targets": [],
                                                             "resource_kinds": [], "extra": 1}]})])
def test_an_unusable_or_incomplete_index_falls_back_to_every_spec(fresh_index: Path, content: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    fresh_index.write_text(content, encoding="utf-8")
    c = classify_text("SubnetIsFull")
    with caplog.at_level(logging.ERROR, logger="shared.checks.registry"):
        chosen = registry.selected(c)
    assert [s.id for s in chosen] == [s.id for s in select(tuple(registry.REGISTRY.values()), c)]
    assert "selecting from every check" in caplog.text


def test_a_missing_index_falls_back(fresh_index: Path) -> None:
    assert registry.index() is None
    assert registry.selected(classify_text("QuotaExceeded"))


def test_write_index_reports_whether_it_changed(tmp_path: Path) -> None:
    path = tmp_path / "index.json"
    assert registry.write_index(path) is True
    assert registry.write_index(path) is False
    assert json.loads(path.read_text(encoding="utf-8")) == {"checks": registry.build_index()}


def test_unknown_check_ids_are_refused() -> None:
    with pytest.raises(KeyError):
        registry.spec("no_such_check")
    with pytest.raises(AttributeError):
        registry.NO_SUCH_NAME  # noqa: B018


def test_a_fresh_process_imports_only_the_selected_checks() -> None:
    probe = (
        "import json, sys\n"
        "from shared.classify import classify_text\n"
        "from shared.checks.registry import selected\n"
        "chosen = [s.id for s in selected(classify_text('QuotaExceeded'))]\n"
        "loaded = sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('shared.checks.')\n"
        "                and m != 'shared.checks.registry')\n"
        "print(json.dumps({'chosen': chosen, 'loaded': loaded}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True)
    got = json.loads(out.stdout)
    assert got["chosen"] and len(got["chosen"]) < len(registry.CHECK_MODULES)
    assert got["loaded"] == sorted(got["chosen"])
