"""Issue 8.3: nothing is built into a query or a URL from unvalidated text.

* KQL: the one query (AzureActivity by correlation id) takes a validated GUID only.
* Activity Log OData $filter: GUIDs, validated resource ids and datetimes only.
* ARM request URLs: resource ids must parse as ARM ids; a hostile id never reaches the wire.
* nextLink: followed only to the configured ARM host (the bearer token never leaves it).
* ARM bodies: any JSON (deep, huge, wrong types) gives an error tree or None, never an exception.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.azure.activity_workspace import azure_activity_query
from shared.azure.arm import activity_log_filter, validate_guid, validate_resource_id
from shared.errortree import error_from_obj
from shared.models import OperationError
from shared.ports import ArmError
from tests.reliability.harness import cluster_id

pytestmark = pytest.mark.security

T1 = datetime(2026, 11, 21, tzinfo=UTC)
INJECTIONS = ["x' or 1==1 //", "'; drop table AzureActivity; //", "' | take 100000 | where '1'=='1",
              "00000000-0000-0000-0000-000000000000' or 1==1", "6513270e-269e-4d37-b2a7-4de452e6b438\n| take 1",
              "", " ", "%27", "\u0000", "a" * 5000]
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.mark.parametrize("value", INJECTIONS)
def test_kql_refuses_non_guid_correlation_ids(value: str) -> None:
    with pytest.raises(ArmError):
        azure_activity_query(value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_kql_contains_nothing_but_a_guid_from_input(text: str) -> None:
    try:
        q = azure_activity_query(text)
    except ArmError:
        return
    literals = re.findall(r"'([^']*)'", q)
    assert [lit for lit in literals if lit not in ("Failure", "Failed")] == [text.strip().lower()]
    assert GUID.fullmatch(text.strip().lower())


@pytest.mark.parametrize("value", INJECTIONS)
def test_odata_filter_refuses_hostile_ids(value: str) -> None:
    if value == "":  # no correlation id at all: the filter is the time range alone
        assert "correlationId" not in activity_log_filter(correlation_id=value, resource_id=None, start=T1, end=T1)
        return
    with pytest.raises(ArmError):
        activity_log_filter(correlation_id=value, resource_id=None, start=T1 - timedelta(hours=1), end=T1)
    with pytest.raises(ArmError):
        activity_log_filter(correlation_id=None, resource_id=f"/subscriptions/{value}", start=T1, end=T1)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_accepted_resource_ids_carry_no_url_or_query_syntax(text: str) -> None:
    try:
        rid = validate_resource_id(text)
    except ArmError:
        return
    assert not set(rid) & set("'\"?#% \t\r\n\\&<>|;"), rid
    assert "/../" not in rid + "/" and "//" not in rid


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_guid_validation(text: str) -> None:
    try:
        g = validate_guid(text)
    except ArmError:
        return
    assert GUID.fullmatch(g)


async def test_hostile_resource_ids_never_reach_arm(arm_emulator: Any, tls: Any) -> None:
    from shared.azure.arm import AzureArmReader
    from shared.settings import Settings
    from tests.emulators.plugin import FakeAsyncCredential

    reader = AzureArmReader(Settings(arm_retry_total=0), credential=FakeAsyncCredential(),
                            base_url=arm_emulator.base_url, connection_verify=tls.ca_file)
    try:
        for value in [cluster_id(1) + "?api-version=1&$expand=x", cluster_id(1) + "/../../providers/x",
                      "https://evil.example" + cluster_id(1), cluster_id(1) + "#frag", cluster_id(1) + " x",
                      "/subscriptions/x'|take 1/resourceGroups/rg", "//evil.example/x"]:
            with pytest.raises(ArmError) as info:
                await reader.get(value, "2025-05-01")
            assert info.value.status == 400
        with pytest.raises(ArmError):
            await reader.get(cluster_id(1), "2025-05-01&api-version=1")
        with pytest.raises(ArmError):
            await reader.activity_log("x' or 1==1", correlation_id=str(uuid.uuid4()))
    finally:
        await reader.aclose()
    assert arm_emulator.log == [], [r.path for r in arm_emulator.log]


async def test_next_link_to_another_host_is_not_followed(arm_emulator: Any, tls: Any) -> None:
    from shared.azure.arm import AzureArmReader
    from shared.settings import Settings
    from tests.emulators.plugin import FakeAsyncCredential

    pools = cluster_id(1) + "/agentPools"
    arm_emulator.put(pools, {"value": [{"name": "a"}], "nextLink": "https://evil.example/steal?x=1"})
    reader = AzureArmReader(Settings(arm_retry_total=0), credential=FakeAsyncCredential(token="tok-SECRET"),
                            base_url=arm_emulator.base_url, connection_verify=tls.ca_file)
    try:
        with pytest.raises(ArmError) as info:
            await reader.get(pools, "2025-05-01")
    finally:
        await reader.aclose()
    assert "UntrustedNextLink" in str(info.value) or info.value.code == "UntrustedNextLink"


arm_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
    | st.sampled_from(["code", "message", "details", "error", '{"error":{"code":"X","message":"{\\"code\\":1}"}}']),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(
        st.sampled_from(["code", "Code", "message", "details", "error", "target", "statusMessage", "x"]),
        kids, max_size=5),
    max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(arm_json)
def test_error_tree_from_any_arm_body(body: Any) -> None:
    err = error_from_obj(body, "arm")
    assert err is None or isinstance(err, OperationError)
    if err is not None:
        assert len(err.walk()) <= 250


def test_error_tree_bounds_deep_and_huge_bodies() -> None:
    deep: Any = {"code": "Leaf", "message": "m"}
    for i in range(5000):
        deep = {"code": f"L{i}", "message": "m", "details": [deep]}
    err = error_from_obj(deep, "arm")
    assert err is not None and len(err.walk()) <= 250
    nested_str: Any = json.dumps({"code": "Inner", "message": "x"})
    for _ in range(14):  # each level doubles the backslashes: 14 levels is ~100 KB
        nested_str = json.dumps({"error": {"code": "Wrap", "message": nested_str}})
    assert error_from_obj(nested_str, "arm") is not None
    wide = {"error": {"code": "Wide", "message": "m", "details": [{"code": f"C{i}", "message": "z" * 10_000}
                                                                  for i in range(5000)]}}
    err = error_from_obj(wide, "arm")
    assert err is not None and len(err.walk()) <= 250
    assert error_from_obj("[" * 100_000 + "]" * 100_000, "arm") is None
