"""`aks-triage preflight` as a user runs it (a subprocess): exit codes 0 / 1 / 2, what goes to stdout and
stderr, -o json against the published schema, -o sarif against the official SARIF 2.1.0 schema, table
and tsv rows; and `diagnose` saying "deferred" in one line instead of a traceback."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource

from shared.demo import scenarios
from tests.preflight import worlds as w
from tests.preflight.support import FIXTURES
from tests.test_cli import run


def write(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return str(path)


@pytest.fixture
def world_file(tmp_path: Path) -> str:
    return write(tmp_path / "world.json", w.world())


def _schema(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((resources.files("shared") / "schema" / f"{name}.schema.json")
                                     .read_text(encoding="utf-8"))
    return doc


def preflight_problems(doc: Any) -> list[str]:
    registry: Registry = Registry()
    for name in ("finding", "classification", "preflight"):
        res = Resource.from_contents(_schema(name))
        registry = registry.with_resource(_schema(name)["$id"], res).with_resource(f"{name}.schema.json", res)
    v = Draft202012Validator(_schema("preflight"), registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]


def sarif_problems(doc: Any) -> list[str]:
    schema = json.loads((FIXTURES / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    v = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]


def test_the_schemas_are_valid() -> None:
    for name in ("preflight", "preflight_knowledge"):
        doc = _schema(name)
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(doc)
    Draft4Validator.check_schema(json.loads((FIXTURES / "sarif-schema-2.1.0.json").read_text(encoding="utf-8")))


def test_the_knowledge_file_validates_and_names_real_checks_and_codes() -> None:
    from shared.checks.registry import REGISTRY

    knowledge = json.loads((resources.files("shared") / "preflight" / "knowledge.json").read_text(encoding="utf-8"))
    errors = list(Draft202012Validator(_schema("preflight_knowledge")).iter_errors(knowledge))
    assert errors == []
    catalog = json.loads((resources.files("shared") / "catalog" / "catalog.json").read_text(encoding="utf-8"))
    codes = {e["code"] for e in catalog["entries"]} | set(knowledge["codes_outside_the_catalog"])
    for check_id, by_op in knowledge["predicted_codes"].items():
        assert check_id in REGISTRY, f"knowledge.json names unknown check {check_id}"
        assert set(by_op.values()) <= codes, f"{check_id}: {by_op} not in the catalog"


def test_ok_exits_0_with_json_on_stdout_that_validates(tmp_path: Path, world_file: str) -> None:
    out = run("preflight", "--template", write(tmp_path / "aks.json", w.planned_cluster()), "--snapshot",
              world_file, "-o", "json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["verdict"] == "ok" and doc["operation"] == "create" and doc["predictions"] == []
    assert preflight_problems(doc) == []
    assert "Traceback" not in out.stderr


def test_will_fail_exits_1_and_the_report_validates(tmp_path: Path, world_file: str) -> None:
    body = w.planned_cluster(properties__kubernetesVersion="1.27.9",
                             properties__agentPoolProfiles__0__orchestratorVersion="1.27.9")
    out = run("preflight", "--template", write(tmp_path / "aks.json", body), "--snapshot", world_file, "-o", "json",
              home=tmp_path)
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["verdict"] == "will_fail" and doc["predictions"][0]["id"] == "kubernetes_version"
    assert doc["predictions"][0]["predicted_code"] == "AgentPoolK8sVersionNotSupported"
    assert preflight_problems(doc) == []
    assert len(doc["checks"]) >= 15


def test_the_published_schema_is_not_vacuous() -> None:
    assert preflight_problems({"schema_version": 1, "verdict": "maybe"})
    assert preflight_problems({"operation": "create", "Verdict": "ok"})


def test_text_output_leads_with_the_verdict_and_the_cause(tmp_path: Path) -> None:
    out = run("preflight", "--template", str(FIXTURES / "tfplan.json"), "--snapshot",
              write(tmp_path / "world.json", w.world()), home=tmp_path)
    assert out.returncode == 1, out.stderr
    first = out.stdout.splitlines()[0]
    assert first == "aks-pf-01: create WILL FAIL"
    assert "1. [will_fail] node_subnet_capacity -> InsufficientSubnetSize" in out.stdout
    assert "snet-user" in out.stdout and "fix:" in out.stdout


def test_table_and_tsv_show_one_row_per_prediction(tmp_path: Path, world_file: str) -> None:
    body = write(tmp_path / "aks.json", w.planned_cluster(
        properties__apiServerAccessProfile__authorizedIPRanges=["203.0.113.0/24"]))
    table = run("preflight", "--template", body, "--snapshot", world_file, "-o", "table", home=tmp_path)
    assert table.returncode == 1
    lines = table.stdout.splitlines()
    assert lines[0].split()[:5] == ["Verdict", "Operation", "Target", "Check", "Code"]
    assert "api_authorized_ranges" in lines[2] and "will_fail" in lines[2]
    tsv = run("preflight", "--template", body, "--snapshot", world_file, "-o", "tsv", home=tmp_path)
    assert tsv.stdout.split("\t")[:5] == ["will_fail", "create", "aks-pf-01", "api_authorized_ranges",
                                          "VMExtensionError_K8SAPIServerConnFail"]
    query = run("preflight", "--template", body, "--snapshot", world_file, "--query", "predictions[0].id", "-o",
                "tsv", home=tmp_path)
    assert query.stdout.strip() == "api_authorized_ranges"


def test_sarif_validates_against_the_official_schema_and_points_at_the_template_line(tmp_path: Path) -> None:
    tmpl = tmp_path / "main.json"
    tmpl.write_text((FIXTURES / "main.bicep.json").read_text(encoding="utf-8"), encoding="utf-8")
    out = run("preflight", "--template", str(tmpl), "--parameters", str(FIXTURES / "main.parameters.json"),
              "--subscription", w.SUB, "-g", w.RG, "--snapshot", write(tmp_path / "world.json", w.world()),
              "-o", "sarif", home=tmp_path)
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert sarif_problems(doc) == []
    run0 = doc["runs"][0]
    (result,) = run0["results"]
    assert result["ruleId"] == "kubernetes_version" and result["level"] == "error"
    region = result["locations"][0]["physicalLocation"]["region"]
    lines = tmpl.read_text(encoding="utf-8").splitlines()
    assert lines[region["startLine"] - 1].strip() == '"aks": {'
    assert run0["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "kubernetes_version"
    assert "AgentPoolK8sVersionNotSupported" in result["message"]["text"]


def test_sarif_of_an_ok_plan_validates_with_no_results(tmp_path: Path, world_file: str) -> None:
    out = run("preflight", "--template", write(tmp_path / "aks.json", w.planned_cluster()), "--snapshot", world_file,
              "-o", "sarif", home=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert sarif_problems(doc) == [] and doc["runs"][0]["results"] == []


def test_a_broken_sarif_document_is_caught() -> None:
    assert sarif_problems({"version": "2.1.0", "runs": [{"results": []}]})  # no tool


def test_day2_upgrade_from_a_snapshot(tmp_path: Path) -> None:
    world = write(tmp_path / "world.json", w.with_existing(w.world(), w.existing_cluster(
        properties__kubernetesVersion="1.29.9", properties__agentPoolProfiles__0__orchestratorVersion="1.29.9")))
    bad = run("preflight", "--cluster", w.CLUSTER_ID, "--upgrade-to", "1.31.2", "--snapshot", world, "-o", "json",
              home=tmp_path)
    assert bad.returncode == 1, bad.stderr
    assert json.loads(bad.stdout)["operation"] == "upgrade"
    good = run("preflight", "-g", w.RG, "-n", w.NAME, "--subscription", w.SUB, "--upgrade-to", "1.30.6", "--snapshot",
               world, home=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("aks-pf-01: upgrade OK")


@pytest.mark.parametrize(("args", "message"), [
    (["--template", "/nonexistent/aks.json"], "cannot read /nonexistent/aks.json: no such file"),
    (["--template", "{tmp}/bad.json"], "is not valid JSON"),
    (["--template", "{tmp}/other.json"], "cannot tell what the file is"),
    (["--template", "{tmp}/aks.json", "--cluster", w.CLUSTER_ID, "--upgrade-to", "1.31.1"], "give either --template"),
    (["--cluster", w.CLUSTER_ID], "give exactly one of --upgrade-to"),
    (["--cluster", w.CLUSTER_ID, "--scale", "system"], "give POOL=COUNT"),
    (["--cluster", w.CLUSTER_ID, "--upgrade-to", "1.31.1"], "does not exist"),
    ([], "give --template FILE, or the cluster"),
    (["--template", "{tmp}/aks.json", "--snapshot", "/nonexistent/snap.json"], "cannot read snapshot"),
])
def test_bad_input_exits_2_with_one_line_on_stderr(tmp_path: Path, world_file: str, args: list[str],
                                                   message: str) -> None:
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    write(tmp_path / "other.json", {"hello": 1})
    write(tmp_path / "aks.json", w.planned_cluster())
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--snapshot" not in argv:
        argv += ["--snapshot", world_file]
    out = run("preflight", *argv, home=tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aks-triage: ") and message in lines[0], out.stderr


def test_diagnose_says_deferred_in_one_line_when_the_state_store_is_down(tmp_path: Path) -> None:
    (tmp_path / "state.db").mkdir()  # SQLite cannot open a folder: the state store is down
    (folder,) = [p for p in scenarios() if p.name == "vnet-integration-subnet-29"]
    out = run("diagnose", "--event", str(folder / "event.json"), "--snapshot", str(folder / "snapshot.json"),
              "-o", "json", home=tmp_path)
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aks-triage: deferred: the local state store is unavailable")
    assert "Traceback" not in out.stderr and "run the same command again" in lines[0]


def test_live_without_azure_credentials_is_one_line_and_exit_3(tmp_path: Path) -> None:
    """No --snapshot: the process credential is used; none available -> exit 3, one line, nothing on stdout.
    (The managed-identity endpoint points at a closed loopback port, so nothing leaves the machine.)"""
    env_extra = {"IDENTITY_ENDPOINT": "http://127.0.0.1:9/token", "IDENTITY_HEADER": "x",
                 "AZURE_CONFIG_DIR": str(tmp_path / "no-az")}
    saved = {k: os.environ.get(k) for k in env_extra}
    os.environ.update(env_extra)
    try:
        out = run("preflight", "--cluster", w.CLUSTER_ID, "--upgrade-to", "1.31.1", home=tmp_path)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert out.returncode == 3, out.stderr
    assert out.stdout == ""
    lines = [line for line in out.stderr.splitlines() if not line.startswith("reading ")]
    assert len(lines) == 1 and lines[0].startswith("aks-triage: no Azure credentials: run `az login`")
    assert "Traceback" not in out.stderr and "Unclosed" not in out.stderr


def test_sarif_of_a_day2_prediction_has_a_logical_location_and_validates(tmp_path: Path) -> None:
    world = w.with_existing(w.world(), w.existing_cluster())
    world["resources"][w.NODE_SUBNET]["properties"]["addressPrefix"] = "10.42.0.0/27"
    out = run("preflight", "--cluster", w.CLUSTER_ID, "--scale", "system=40", "--snapshot",
              write(tmp_path / "world.json", world), "-o", "sarif", home=tmp_path)
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert sarif_problems(doc) == []
    (result,) = doc["runs"][0]["results"]
    assert result["ruleId"] == "node_subnet_capacity"
    assert result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == w.CLUSTER_ID
    assert "physicalLocation" not in result["locations"][0]
