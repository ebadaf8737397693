"""The JSON contract: the shipped JSON Schema files (draft 2020-12) hold, and the CLI's real output
(a subprocess, as a user runs it) validates against them; the docs titles file covers every doc URL."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource

from shared.demo import scenarios
from tests.test_cli import run

SCHEMAS = ("finding", "classification", "doc_titles", "snapshot")


def schema(name: str) -> dict[str, Any]:
    text = (resources.files("shared") / "schema" / f"{name}.schema.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def validator(name: str) -> Draft202012Validator:
    registry: Registry = Registry()
    for other in SCHEMAS:
        doc = schema(other)
        resource = Resource.from_contents(doc)
        registry = registry.with_resource(doc["$id"], resource).with_resource(f"{other}.schema.json", resource)
    return Draft202012Validator(schema(name), registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def problems(name: str, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(name).iter_errors(doc)]


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_files_are_valid_draft_2020_12(name: str) -> None:
    doc = schema(name)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(doc)


@pytest.mark.parametrize("folder", scenarios(), ids=lambda p: p.name)
def test_diagnose_output_validates_against_the_finding_schema(folder: Path, tmp_path: Path) -> None:
    out = run("diagnose", "--event", str(folder / "event.json"), "--snapshot", str(folder / "snapshot.json"),
              "-o", "json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    findings = json.loads(out.stdout)
    assert isinstance(findings, list) and findings
    for finding in findings:
        assert problems("finding", finding) == []


def test_classify_output_validates_against_the_classification_schema(tmp_path: Path) -> None:
    text = ('{"code": "QuotaExceeded", "message": "Operation could not be completed as it results in exceeding '
            'approved standardDSv3Family Cores quota. Location: westeurope, Current Limit: 10, Current Usage: 8, '
            'Additional Required: 4, (Minimum) New Limit Required: 12."}')
    out = run("classify", "-o", "json", text, home=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert problems("classification", doc) == []
    assert doc["code"] == "QuotaExceeded" and doc["transient"] in (True, False, None)


def test_a_document_breaking_the_contract_is_caught() -> None:
    """The schema is not vacuous: a PascalCase key style or a string transient fails it."""
    bad = {"SchemaVersion": 1, "transient": "false"}
    found = problems("finding", bad)
    assert any("schema_version" in p for p in found) and any("transient" in p for p in found)
    assert problems("classification", {"code": "X", "entry_id": "X", "category": "c", "severity": "error",
                                       "transient": "false", "confidence": "high", "matched_on": "code",
                                       "docs": [], "facts": {}})


@pytest.mark.parametrize("folder", scenarios(), ids=lambda p: p.name)
def test_bundled_snapshots_validate_against_the_snapshot_schema(folder: Path) -> None:
    assert problems("snapshot", json.loads((folder / "snapshot.json").read_text(encoding="utf-8"))) == []


def _cited_doc_urls() -> set[str]:
    from shared.checks.registry import REGISTRY

    urls = {u for spec in REGISTRY.values() for u in spec.docs}
    catalog = json.loads((resources.files("shared") / "catalog" / "catalog.json").read_text(encoding="utf-8"))
    urls |= {u for entry in catalog["entries"] for u in entry.get("docs", [])}
    return urls


def test_every_doc_url_the_catalog_and_the_checks_cite_has_a_title() -> None:
    titles = json.loads((resources.files("shared") / "catalog" / "doc_titles.json").read_text(encoding="utf-8"))
    assert problems("doc_titles", titles) == []
    cited = _cited_doc_urls()
    assert len(cited) > 50  # the catalog and the checks were actually read
    missing = sorted(u for u in cited if u not in titles["titles"])
    assert missing == [], f"add these to shared/catalog/doc_titles.json: {missing}"

