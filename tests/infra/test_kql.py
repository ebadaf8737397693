"""Every KQL query that deploys (alert rules, workbook) parses and type-checks against the tables
it reads, with Microsoft's Kusto parser (npm @kusto/language-service-next, run through Node).

The findings table is declared from shared/schema/findings_table.json, so a query that names a
column the code does not write fails here (KS142), as do syntax and type errors.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.infra.conftest import INFRA, body, template, variable_load
from tests.infra.test_workbook import substitute_parameters, workbook_queries

pytestmark = pytest.mark.node

SAMPLE_APP_INSIGHTS_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-x"
    "/providers/Microsoft.Insights/components/appi-x"
)


def deployed_alert_queries() -> dict[str, tuple[str, list[str], str | None]]:
    """Rule -> (query exactly as alerts.bicep renders it, dimension names, measure column)."""
    tpl = template("app/alerts.bicep")
    out = {}
    severities = [m["finding"] for m in tpl["variables"]["severityMap"]["value"]]
    for name, rule in tpl["resources"].items():
        if rule["type"] != "Microsoft.Insights/scheduledQueryRules":
            continue
        (criterion,) = body(rule)["properties"]["criteria"]["allOf"]
        params = criterion["query"]["function"]["parameters"]
        text = (INFRA / "app" / variable_load(tpl, params["original_string"], "load_text_content")).read_text()
        anchor = tpl["variables"][params["old_string"]]["value"]
        replacement = params["new_string"]
        dims = [d["name"] for d in criterion["dimensions"]]
        measure = criterion.get("metricMeasureColumn")
        if "${s.finding}" in replacement:
            for sev in severities:
                out[f"{name}[{sev}]"] = (text.replace(anchor, replacement.replace("${s.finding}", sev)), dims, measure)
        else:
            rendered = re.sub(r"\$\{[^}]+\}", SAMPLE_APP_INSIGHTS_ID, replacement)
            out[name] = (text.replace(anchor, rendered), dims, measure)
    return out


NEGATIVE_CONTROLS = {
    "unknown_column": "AKSTriageFindings_CL | where Statuss == 'open'",
    "unknown_table": "AKSTriageFinding_CL | take 1",
    "type_error": "AKSTriageFindings_CL | where OccurrenceCount > 'many'",
    "syntax_error": "AKSTriageFindings_CL | wher Status == 'open'",
    "app_column": "AppRequests | where Succes == false",
    "fine": "AKSTriageFindings_CL | summarize arg_max(TimeGenerated, *) by FindingId",
}


def app_history_query() -> str:
    """The query the app itself runs for Deps.history (shared/azure/findings_history.py)."""
    from shared.azure.findings_history import history_query
    from shared.compose import capacity_codes

    cluster = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-x"
               "/providers/Microsoft.ContainerService/managedClusters/aks-x")
    return history_query(cluster, capacity_codes())


def workbook_batch() -> dict[str, str]:
    workbook = json.loads((INFRA / "workbook" / "aks-triage.workbook.json").read_text())
    return {f"workbook:{name}": substitute_parameters(query, workbook)
            for name, query in workbook_queries(workbook).items()}


@pytest.fixture(scope="module")
def results(kusto):
    """One Node process for every query in this module (the parser's warm-up dominates)."""
    batch = {f"control:{k}": v for k, v in NEGATIVE_CONTROLS.items()}
    batch |= {f"alert:{k}": v[0] for k, v in deployed_alert_queries().items()}
    batch |= workbook_batch()
    batch["app:failure-history"] = app_history_query()
    return kusto(batch)


def errors(result: dict) -> list[str]:
    return [f"{d['code']} {d['message']} at {d['text']!r}" for d in result["diagnostics"]]


def test_the_checker_rejects_broken_queries(results):
    """Negative controls: the checker really knows the schema (else every other test is vacuous)."""
    codes = {k.split(":", 1)[1]: {d["code"] for d in v["diagnostics"]}
             for k, v in results.items() if k.startswith("control:")}
    assert "KS142" in codes["unknown_column"]
    assert "KS204" in codes["unknown_table"]
    assert "KS106" in codes["type_error"]
    assert codes["syntax_error"]
    assert "KS142" in codes["app_column"]
    assert codes["fine"] == set()


def test_alert_queries_typecheck_and_yield_the_alert_dimensions(results):
    deployed = deployed_alert_queries()
    assert len(deployed) == 4  # three severities + health
    for name, (query, dims, measure) in deployed.items():
        result = results[f"alert:{name}"]
        assert not errors(result), f"{name}:\n{query}\n{errors(result)}"
        columns = dict(c.split(":", 1) for c in result["columns"])
        assert set(dims) <= set(columns), f"{name}: dimensions {dims} not in output {columns}"
        if measure:
            assert columns[measure] in {"long", "int", "real"}, (name, measure, columns)
    findings = [q for k, (q, _, _) in deployed.items() if k.startswith("findingsRules")]
    for sev, query in zip(("critical", "error", "warning"), findings, strict=True):
        assert f'let targetSeverity = "{sev}";' in query
    assert SAMPLE_APP_INSIGHTS_ID in deployed["healthRule"][0]


def test_findings_alert_follows_the_latest_row_of_each_group_over_the_escalation_period():
    """The alert must stay fired until the group's resolved row, not resolve when rows age out."""
    text = (INFRA / "queries" / "findings-alert.kql").read_text()
    assert "summarize arg_max(TimeGenerated, *) by ClusterId, ErrorCode" in text
    assert text.index("arg_max") < text.index('Status != "resolved"')  # filter after picking the latest row
    tpl = template("app/alerts.bicep")
    window = tpl["parameters"]["findingsWindow"]["default"]
    days = {"P1D": 24, "P2D": 48}.get(window) or int(re.fullmatch(r"PT(\d+)H", window).group(1))  # type: ignore[union-attr]
    from shared.settings import Settings

    assert days > Settings.model_fields["escalate_after_h"].default, (window, "shorter than the escalation period")


def test_workbook_queries_typecheck(results):
    workbook = {k: v for k, v in results.items() if k.startswith("workbook:")}
    assert len(workbook) >= 10
    broken = {name: errors(r) for name, r in workbook.items() if errors(r)}
    assert not broken, json.dumps(broken, indent=2)
    # Result shapes the visualisations rely on.
    cols = {name.split(":", 1)[1]: [c.split(":")[0] for c in r["columns"]] for name, r in workbook.items()}
    assert {"ErrorCode", "Failures"} <= set(cols["failures-over-time-by-code"])
    assert "Doc" in cols["findings"] and "Doc" in cols["cluster-findings"]
    assert "ClusterId" in cols["top-clusters"]  # exported as SelectedCluster
    assert cols["param:Cluster"][:2] == ["value", "label"]


def test_the_apps_failure_history_query_typechecks_and_has_the_rows_the_check_reads(results):
    result = results["app:failure-history"]
    assert not errors(result), errors(result)
    assert [c.split(":")[0] for c in result["columns"]] == ["FindingId", "cluster_id", "region", "code", "time"]
