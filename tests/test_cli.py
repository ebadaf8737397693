"""`aks-triage` as a user runs it: a real subprocess, exit codes, stdout JSON, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.demo import scenarios

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AKS_TRIAGE_HOME": str(home)}
    for key in list(env):  # never reach a real Azure sink or Teams from a test
        if key.startswith("AKS_TRIAGE_") and key != "AKS_TRIAGE_HOME":
            env.pop(key)
    return subprocess.run([sys.executable, "-m", "shared", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, input=stdin, timeout=180, check=False)


def seed(name: str) -> Path:
    (path,) = [p for p in scenarios() if p.name == name]
    return path


@pytest.mark.parametrize("folder", scenarios(), ids=lambda p: p.name)
def test_diagnose_snapshot_names_the_planted_fault_first(folder: Path, tmp_path: Path) -> None:
    expected = json.loads((folder / "expected.json").read_text())
    out = run("diagnose", "--event", str(folder / "event.json"), "--snapshot", str(folder / "snapshot.json"),
              "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    (finding,) = json.loads(out.stdout)  # always a list
    assert finding["code"] == expected["code"]
    assert finding["root_causes"][0] == expected["first_root_cause"]
    top = next(c for c in finding["checks"] if c["id"] == expected["first_root_cause"])
    assert top["status"] == "fail" and top["evidence"] and top["docs"]
    assert set(top) >= {"id", "status", "evidence", "remediation", "docs"}
    if expected["first_root_cause"] != "capacity_history":
        assert top["remediation"].startswith("az ")
    # The embedded default sink now holds the row; `findings --json` reads it back.
    listed = run("findings", "--json", home=tmp_path)
    rows = json.loads(listed.stdout)
    assert len(rows) == 1 and rows[0]["error_code"] == expected["code"]
    assert rows[0]["root_cause"] == expected["first_root_cause"]


def test_replaying_the_same_event_gives_one_row_and_one_card(tmp_path: Path) -> None:
    folder = seed("apiserver-connfail-authorized-ranges")
    for _ in range(2):
        out = run("diagnose", "--event", str(folder / "event.json"), "--snapshot", str(folder / "snapshot.json"),
                  home=tmp_path)
        assert out.returncode == 0, out.stderr
    rows = json.loads(run("findings", "--json", home=tmp_path).stdout)
    assert len(rows) == 1
    cards = list((tmp_path / "cards").glob("*.json"))
    assert len(cards) == 1


def test_findings_filters_by_cluster_name(tmp_path: Path) -> None:
    for name in ("capacity-heavy-usage", "vnet-integration-subnet-29"):
        folder = seed(name)
        assert run("diagnose", "--event", str(folder / "event.json"), "--snapshot",
                   str(folder / "snapshot.json"), home=tmp_path).returncode == 0
    every = json.loads(run("findings", "--json", home=tmp_path).stdout)
    assert len(every) == 2
    one = json.loads(run("findings", "--json", "--cluster", every[0]["cluster_name"], home=tmp_path).stdout)
    assert [r["cluster_name"] for r in one] == [every[0]["cluster_name"]]


def test_classify_json_contract(tmp_path: Path) -> None:
    text = ('{"code":"VMExtensionProvisioningError","message":"VM has reported a failure when processing '
            "extension 'vmssCSE'. Error message: \\\"Enable failed: failed to execute command: command "
            'terminated with exit status=51 curl: (28) Failed to connect to 10.0.0.4 port 443: Connection '
            'timed out\\""}')
    out = run("classify", "--json", text, home=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    for key in ("code", "category", "subcategory", "transient", "exit_status", "docs", "facts",
                "confidence", "matched_on"):
        assert key in doc
    assert doc["code"] == "VMExtensionError_K8SAPIServerConnFail"
    assert doc["subcategory"] == "timeout" and doc["exit_status"] == 51
    stdin = run("classify", "--json", "-", home=tmp_path, stdin=text)
    assert json.loads(stdin.stdout)["code"] == doc["code"]


@pytest.mark.parametrize(("args", "needle"), [
    (["diagnose", "--event", "/nonexistent/event.json"], "no such file"),
    (["diagnose", "--event", "{tmp}/bad.json"], "not valid JSON"),
    (["diagnose", "--event", "{tmp}/notevent.json"], "invalid event"),
    (["diagnose", "--event", "{tmp}/other.json", "--snapshot", "{tmp}/other.json"], "no failed AKS operation"),
    (["diagnose", "--event", "{seed}", "--snapshot", "{tmp}/bad.json"], "not JSON"),
    (["diagnose", "--cluster", "/subscriptions/x/resourceGroups/y"], "not an AKS cluster"),
    (["diagnose"], "exactly one of"),
    (["classify", "   "], "no error text"),
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(args: list[str], needle: str, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "notevent.json").write_text('{"id": "x", "eventType": "Microsoft.Resources.ResourceWriteFailure"}')
    (tmp_path / "other.json").write_text(json.dumps({
        "id": "1", "eventType": "Microsoft.Storage.BlobCreated", "eventTime": "2026-01-01T00:00:00Z",
        "subject": "/x", "data": {}, "resources": {}}))
    seed_event = str(seed("capacity-heavy-usage") / "event.json")
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{seed}", seed_event) for a in args]
    out = run(*argv, home=tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aks-triage: ")
    assert needle in lines[0]
    assert "Traceback" not in out.stderr


def test_demo_runs_the_seed_scenarios_and_writes_outputs(tmp_path: Path) -> None:
    out_dir = tmp_path / "demo-out"
    out = run("demo", "--out", str(out_dir), "--no-png", home=tmp_path)
    assert out.returncode == 0, out.stderr
    for folder in scenarios():
        assert folder.name in out.stdout
        assert (out_dir / f"{folder.name}.finding.json").exists()
        assert list((out_dir / "cards" / folder.name).glob("*.json"))
    assert "[3/3]" in out.stderr  # progress indication
    rows = json.loads(run("findings", "--json", "--home", str(out_dir), home=tmp_path).stdout)
    assert len(rows) == len(scenarios())
    # The bundled snapshots hold what every selected check reads: no check is left undecided.
    assert "could not decide" not in out.stdout
    for folder in scenarios():
        doc = json.loads((out_dir / f"{folder.name}.finding.json").read_text(encoding="utf-8"))
        doc = doc[0] if isinstance(doc, list) else doc
        assert [c["id"] for c in doc["checks"] if c["status"] == "error"] == [], folder.name


def test_no_azure_credentials_is_one_line_and_exit_3(tmp_path: Path) -> None:
    env_extra = {"IDENTITY_ENDPOINT": "http://127.0.0.1:9/token", "IDENTITY_HEADER": "x",
                 "AZURE_CONFIG_DIR": str(tmp_path / "no-az")}
    os.environ.update(env_extra)
    try:
        out = run("diagnose", "-g", "rg", "-n", "c1", "--subscription", "00000000-0000-0000-0000-000000000001",
                  home=tmp_path)
    finally:
        for key in env_extra:
            os.environ.pop(key)
    assert out.returncode == 3
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("aks-triage: no Azure credentials: run `az login`")
    assert out.stdout == ""


def test_output_query_and_snake_case_contract(tmp_path: Path) -> None:
    folder = seed("capacity-heavy-usage")
    out = run("diagnose", "--event", str(folder / "event.json"), "--snapshot", str(folder / "snapshot.json"),
              "-o", "tsv", "--query", "[0].code", home=tmp_path)
    assert out.returncode == 0 and out.stdout == "AKSCapacityHeavyUsage\n"
    rows = json.loads(run("findings", "-o", "json", home=tmp_path).stdout)
    assert all(k == k.lower() for k in rows[0]) and isinstance(rows[0]["transient"], (bool, type(None)))
    bad = run("findings", "--query", "[", home=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("aks-triage: --query")


def test_classify_reads_at_file(tmp_path: Path) -> None:
    f = tmp_path / "tf.txt"
    f.write_text('Code="QuotaExceeded" Message="exceeding approved standardDSv3Family Cores quota."')
    out = run("classify", f"@{f}", "-o", "json", home=tmp_path)
    assert out.returncode == 0 and json.loads(out.stdout)["code"] == "QuotaExceeded"


def test_demo_out_onto_a_file_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    out = run("demo", "--out", str(f), "--no-png", home=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_diagnose_text_leads_with_the_cause_and_titles_the_docs(tmp_path: Path) -> None:
    folder = seed("apiserver-connfail-authorized-ranges")
    out = run("diagnose", "--event", str(folder / "event.json"), "--snapshot", str(folder / "snapshot.json"),
              home=tmp_path)
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith("aks-weu-02: authorized IP ranges") and "VMExtensionError" not in first
    assert "  fix:\n    az aks update" in out.stdout
    assert "API Server Authorized IP Ranges in Azure Kubernetes Service (AKS): https://" in out.stdout
    assert "Diagnose and solve problems: https://portal.azure.com/#@" in out.stdout
    assert " min" not in first and "1066702" not in out.stdout


def test_demo_table_shows_the_top_cause_summary(tmp_path: Path) -> None:
    out = run("demo", "--out", str(tmp_path / "demo"), "--no-png", home=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    table = out.stdout.splitlines()
    assert table[0].split()[:3] == ["scenario", "code", "top"]
    assert any("api_authorized_ranges: authorized IP ranges" in line for line in table)
    assert all(line.rstrip().endswith("yes") for line in table[1:4])


def test_findings_table_and_show_carry_the_event_time(tmp_path: Path) -> None:
    folder = seed("capacity-heavy-usage")
    assert run("diagnose", "--event", str(folder / "event.json"), "--snapshot", str(folder / "snapshot.json"),
               home=tmp_path).returncode == 0
    event = json.loads((folder / "event.json").read_text(encoding="utf-8"))
    first = event[0] if isinstance(event, list) else event
    when = str(first.get("eventTime") or first.get("time"))[:16]  # to the minute: the store writes ISO Z
    table = run("findings", home=tmp_path)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.startswith("Event time") and "Written" in header
    assert row.startswith(when), (when, row)
    rows = json.loads(run("findings", "--json", home=tmp_path).stdout)
    shown = run("findings", "show", rows[0]["finding_id"], home=tmp_path)
    assert f"  event     {when}" in shown.stdout, shown.stdout
