"""The workbook JSON (infra/workbook/aks-triage.workbook.json, deployed verbatim by
infra/app/monitoring.bicep) is valid, complete, and only uses parameters it declares.
Column-level checking of its queries is in test_kql.py (Kusto parser)."""

from __future__ import annotations

import json
import re

from tests.infra.conftest import INFRA, functions_called, template

WORKBOOK = INFRA / "workbook" / "aks-triage.workbook.json"
FINDINGS_TABLE = "AKSTriageFindings_CL"
PARAM_REF = re.compile(r"\{(\w+)(?::(\w+))?\}")


def items(workbook: dict):
    for item in workbook["items"]:
        yield item
        if item["type"] == 12:
            yield from items(item["content"])


def workbook_queries(workbook: dict) -> dict[str, str]:
    out = {}
    for item in items(workbook):
        if item["type"] == 3:
            out[item["name"]] = item["content"]["query"]
        elif item["type"] == 9:
            for param in item["content"]["parameters"]:
                if "query" in param:
                    out[f"param:{param['name']}"] = param["query"]
    return out


def declared_parameters(workbook: dict) -> dict[str, dict]:
    params = {}
    for item in items(workbook):
        if item["type"] == 9:
            params.update({p["name"]: p for p in item["content"]["parameters"]})
        elif item["type"] == 3 and "exportParameterName" in item["content"]:
            params[item["content"]["exportParameterName"]] = {"type": 1, "exported": True}
    return params


def substitute_parameters(query: str, workbook: dict) -> str:
    """Expand {Param} the way Workbooks does, with sample values of each parameter's type."""
    params = declared_parameters(workbook)

    def expand(m: re.Match) -> str:
        name, suffix = m.group(1), m.group(2)
        assert name in params, f"query uses undeclared parameter {{{name}}}"
        kind = params[name]["type"]
        if kind == 4:  # time range
            return {None: "between (datetime(2025-01-01) .. datetime(2025-01-08))", "start": "datetime(2025-01-01)",
                    "end": "datetime(2025-01-08)", "grain": "1h"}[suffix]
        if kind == 2 and params[name].get("multiSelect"):
            return "'*', '/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c'"
        return "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c"

    return PARAM_REF.sub(expand, query)


def load() -> dict:
    return json.loads(WORKBOOK.read_text())


def test_workbook_is_what_monitoring_bicep_deploys():
    tpl = template("app/monitoring.bicep")
    loads = [c["file_path"] for c in functions_called(tpl, "load_json_content")]
    assert "../workbook/aks-triage.workbook.json" in loads
    (workbook,) = [r for r in tpl["resources"].values() if r["type"] == "Microsoft.Insights/workbooks"]
    props = workbook["config"]["properties"]
    assert props["category"] == "workbook" and props["version"] == "Notebook/1.0"
    assert props["sourceId"] == "workspaceId"


def test_workbook_structure():
    wb = load()
    assert wb["version"] == "Notebook/1.0"
    names = [i["name"] for i in items(wb)]
    assert len(names) == len(set(names)), "item names must be unique"
    for item in items(wb):
        if item["type"] == 3:
            content = item["content"]
            assert content["version"] == "KqlItem/1.0"
            assert content["queryType"] == 0
            assert content["resourceType"] == "microsoft.operationalinsights/workspaces"
            if item["name"] in FIXED_TIME_CONTEXT:  # compares two fixed weeks, whatever the range picked
                assert content["timeContext"]["durationMs"] >= 14 * 24 * 3600 * 1000
                assert "timeContextFromParameter" not in content
            else:
                assert content["timeContextFromParameter"] == "TimeRange"


def test_every_parameter_reference_is_declared():
    wb = load()
    declared = declared_parameters(wb)
    texts = list(workbook_queries(wb).values())
    texts += [i["content"].get("title", "") for i in items(wb)]
    for text in texts:
        for name, _ in PARAM_REF.findall(text):
            assert name in declared, f"undeclared workbook parameter {{{name}}}"
    for item in items(wb):
        vis = item.get("conditionalVisibility")
        if vis:
            assert vis["parameterName"] in declared


# Views that must not fold rows to one per finding, and why (each is checked in test_workbook_has_the_required_views).
NOT_PER_FINDING = {
    "mttr": "needs every row of a (cluster, code) group: the first open row and the resolved row",
    "health-dead-lettered": "the app's own traces (AppTraces), not findings",
    "health-latency": "the first row that sent a card, per finding (arg_min)",
}
FIXED_TIME_CONTEXT = {"week-over-week"}


def test_every_findings_query_deduplicates_by_finding_id():
    for name, query in workbook_queries(load()).items():
        if name.startswith("param:") or name in NOT_PER_FINDING:
            continue  # distinct values only / see NOT_PER_FINDING
        assert query.startswith(FINDINGS_TABLE), name
        assert "summarize arg_max(TimeGenerated, *)" in query and "by FindingId" in query, name


def test_workbook_has_the_required_views():
    wb = load()
    by_name = {i["name"]: i for i in items(wb)}
    queries = workbook_queries(wb)
    assert "by bin(FirstSeen, {TimeRange:grain}), ErrorCode" in queries["failures-over-time-by-code"]
    assert by_name["failures-over-time-by-code"]["content"]["visualization"] == "timechart"
    assert "by Category" in queries["failures-by-category"]
    assert "Status" in queries["open-vs-resolved"]
    assert "Transient" in queries["transient-vs-configuration"]
    top = by_name["top-clusters"]["content"]
    assert top["exportFieldName"] == "ClusterId" and top["exportParameterName"] == "SelectedCluster"
    link_columns = {f["columnMatch"] for f in by_name["findings"]["content"]["gridSettings"]["formatters"]
                    if f["formatter"] == 7}
    assert link_columns == {"Doc", "Portal", "ActivityLog"} and "DocUrls" in queries["findings"]
    assert "/activitylog" in queries["findings"] and "CorrelationId" in queries["findings"]
    assert "EventTime" in queries["findings"]
    drill = by_name["cluster-drilldown"]
    assert drill["conditionalVisibility"]["parameterName"] == "SelectedCluster"
    assert all("'{SelectedCluster}'" in queries[i["name"]] for i in drill["content"]["items"])


def test_workbook_has_the_platform_team_views():
    """Issue 16.9: MTTR, root causes, splits, filters, Unknown rate, week over week, app health."""
    wb = load()
    queries = workbook_queries(wb)
    params = declared_parameters(wb)
    for name in ("Severity", "Status", "ErrorCode", "Category", "Cluster"):
        assert params[name].get("multiSelect") is True, name
    by_name = {i["name"]: i for i in items(wb)}
    drilldown = {i["name"] for i in by_name["cluster-drilldown"]["content"]["items"]}  # one cluster, everything
    for name, query in queries.items():  # every fleet-wide per-finding view honours every filter
        if name.startswith("param:") or name in set(NOT_PER_FINDING) | drilldown or "by FindingId" not in query:
            continue
        for column, param in (("Severity", "Severity"), ("Status", "Status"), ("ErrorCode", "ErrorCode")):
            assert f"{column} in ({{{param}}})" in query, (name, param)
    mttr = queries["mttr"]
    assert "Status in ('open', 'escalated')" in mttr and "Status == 'resolved'" in mttr
    assert "by ClusterId, ErrorCode" in mttr  # the alert's group key
    assert "by RootCause" in queries["top-root-causes"]
    for name, column in (("by-subscription", "SubscriptionId"), ("by-region", "Region"),
                         ("by-operation", "Operation"), ("by-agent-pool", "AgentPool")):
        assert column in queries[name], name
    assert "ErrorCode == 'Unknown'" in queries["unknown-rate"]
    assert "ago(14d)" in queries["week-over-week"] and "ago(7d)" in queries["week-over-week"]
    assert "AksTriageDeadLettered" in queries["health-dead-lettered"]
    latency = queries["health-latency"]
    assert "(TimeGenerated - EventTime)" in latency and "AlertSent == true" in latency


def test_the_dead_letter_view_matches_the_event_the_app_logs():
    from shared.handlers import DEAD_LETTER_EVENT

    assert DEAD_LETTER_EVENT in workbook_queries(load())["health-dead-lettered"]
