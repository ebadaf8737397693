"""shared.errortree: structured ARM / Activity Log error bodies -> OperationError trees."""

from __future__ import annotations

import json

import pytest

from shared.errortree import (
    MAX_NODES,
    depth_of,
    error_from_obj,
    error_from_status_message,
    leaf_codes,
    specificity,
)
from tests.conftest import load_json


def test_activity_log_status_message_json_string() -> None:
    entry = load_json("arm/activitylog/ActivityLog.Administrative.aks-managedclusters-write-failed.constructed.json")
    sm = entry["value"][0]["properties"]["statusMessage"]
    assert isinstance(sm, str)
    err = error_from_obj(sm, "activity_log")
    assert err is not None
    assert err.code == "ResourceOperationFailure"
    assert err.source == "activity_log"
    assert [d.code for d in err.details] == ["VMExtensionProvisioningError"]
    assert "outbound connection" in err.details[0].message
    assert all(n.source == "activity_log" for n in err.walk())


def test_real_aks_issue_168_status_message() -> None:
    sm = load_json(
        "arm/activitylog/ActivityLog.properties.statusMessage.aks-managedcluster-write-failed.real-Azure-AKS-issue168.json"
    )["statusMessage"]
    err = error_from_obj(sm)
    assert err is not None
    assert leaf_codes(err) == ["ControlPlaneProvisioningInternalError"]


def test_deployment_failed_details_message_is_json_string() -> None:
    body = load_json("arm-errors/DeploymentFailed.error.details-message-is-json-string.docs-wvd-troubleshoot.json")
    err = error_from_obj(body, "deployment")
    assert err is not None
    codes = [n.code for n in err.walk()]
    # DeploymentFailed -> Conflict -> (JSON string) ResourceDeploymentFailure -> VMExtensionProvisioningError
    assert codes == ["DeploymentFailed", "Conflict", "ResourceDeploymentFailure", "VMExtensionProvisioningError"]
    assert depth_of(err) == 4
    assert "dscextension" in err.walk()[-1].message


def test_three_levels_of_json_strings() -> None:
    leaf = {"code": "InvalidResourceReference", "message": "Resource /x referenced by resource /y was not found."}
    level3 = json.dumps({"status": "Failed", "error": {"code": "BadRequest", "message": json.dumps({"error": leaf})}})
    level2 = json.dumps({"status": "Failed", "error": {"code": "ResourceDeploymentFailure", "message": "m",
                                                       "details": [{"code": "DeploymentFailed", "message": level3}]}})
    top = json.dumps({"error": {"code": "DeploymentFailed", "message": "At least one...",
                                "details": [{"code": "Conflict", "message": level2}]}})
    err = error_from_obj(top)
    assert err is not None
    assert leaf_codes(err) == ["InvalidResourceReference"]
    assert specificity(err)[0] == 1


@pytest.mark.parametrize("fixture,code,expected_code", [
    ("arm/resources/DeploymentOperation.failed.statusCode-string.sdk-fixture.dotnet.json", "Conflict",
     "ServiceIsInMaintenance"),
    ("arm/resources/DeploymentOperation.failed.statusCode-integer.sdk-fixture.dotnet.json", 429, "TooManyRequests"),
])
def test_deployment_operation_status_code_string_or_int(fixture: str, code: object, expected_code: str) -> None:
    props = load_json(fixture)
    assert props["statusCode"] == code
    err = error_from_status_message(props["statusMessage"], props["statusCode"], "deployment")
    assert err is not None and err.code == expected_code


def test_status_code_only_fallback() -> None:
    assert error_from_status_message(None, 429).code == "429"  # type: ignore[union-attr]
    assert error_from_status_message("", "Conflict").code == "Conflict"  # type: ignore[union-attr]
    assert error_from_status_message(None, {"value": "BadRequest"}).code == "BadRequest"  # type: ignore[union-attr]
    assert error_from_status_message(None, "OK") is None
    assert error_from_status_message(None, None) is None
    assert error_from_status_message(None, True) is None


def test_pascal_case_keys_and_target() -> None:
    err = error_from_obj({"Code": "QuotaExceeded", "Message": "Operation could not be completed",
                          "Target": "vmss", "Details": [{"CODE": "x", "MESSAGE": "y"}]})
    assert err is not None
    assert (err.code, err.target, err.details[0].code) == ("QuotaExceeded", "vmss", "x")


def test_error_detail_with_additional_info_and_int_code() -> None:
    err = error_from_obj({"code": 409, "message": "m", "additionalInfo": [{"type": "PolicyViolation", "info": {}}]})
    assert err is not None and err.code == "409"


def test_async_operation_status_body() -> None:
    body = load_json("arm-errors/AsyncOperation.status.failed.aks.constructed.json")["response"]["body"]
    err = error_from_obj(body)
    assert err is not None and err.code == "VMExtensionProvisioningError" and err.details == ()


def test_prose_before_json() -> None:
    err = error_from_obj('Deployment failed. Details: {"error":{"code":"SkuNotAvailable","message":"m"}}')
    assert err is not None and err.code == "SkuNotAvailable"


@pytest.mark.parametrize("value", [
    None, "", "   ", "not json", "{", "{\"a\": 1}", 42, 3.5, True, [], [1, 2], {}, {"status": "Failed"},
    {"error": None}, {"error": "plain"}, {"error": {"foo": "bar"}}, b"bytes", object(), float("nan"),
    "[" * 100_000, "{\"error\":" * 50_000, {"code": None, "message": None},
])
def test_never_raises_and_returns_none_for_non_errors(value: object) -> None:
    assert error_from_obj(value) is None


def test_deeply_nested_strings_are_capped() -> None:
    # Each JSON-string level doubles the backslashes, so the text grows exponentially (15 levels
    # ~ 430 KB, 16 ~ 850 KB). Parsing stops at the depth cap, and above the size cap, without raising.
    s: object = {"code": "Leaf", "message": "bottom"}
    for i in range(15):
        s = json.dumps({"error": {"code": f"L{i}", "message": s}})
    err = error_from_obj(s)
    assert err is not None
    assert err.code == "L14"
    assert 4 <= depth_of(err) <= 13
    bigger = json.dumps({"error": {"code": "L15", "message": s}})
    assert error_from_obj(bigger) is None


def test_huge_fanout_is_capped() -> None:
    body = {"error": {"code": "Top", "message": "m", "details": [
        {"code": f"C{i}", "message": "x", "details": [{"code": f"D{i}-{j}"} for j in range(50)]} for i in range(50)
    ]}}
    err = error_from_obj(body)
    assert err is not None
    assert len(err.walk()) <= MAX_NODES + 1


def test_huge_message_is_truncated() -> None:
    err = error_from_obj({"code": "C", "message": "x" * 1_000_000})
    assert err is not None and len(err.message) <= 16 * 1024 + 1


def test_self_referencing_dict_does_not_loop() -> None:
    d: dict[str, object] = {"code": "Loop", "message": "m"}
    d["details"] = [d]
    err = error_from_obj(d)
    assert err is not None and err.code == "Loop"


def test_subcode_and_inner_error_become_the_specific_child() -> None:
    """AKS carries the specific cause in `subcode` / `innerError`: the tree holds it as a child, so the
    classifier's most-specific-code rule sees it on the pipeline path too."""
    from shared.classify import classify_error

    sub = error_from_obj({"code": "BadRequest", "message": "Version 1.25.5 is not supported in this region.",
                          "subcode": "AgentPoolK8sVersionNotSupported"}, "cluster_status")
    assert sub is not None and [d.code for d in sub.details] == ["AgentPoolK8sVersionNotSupported"]
    assert classify_error(sub).code == "AgentPoolK8sVersionNotSupported"
    inner = error_from_obj({"error": {"code": "InvalidParameter", "message": "m",
                                      "innerError": {"code": "SubnetIsFull", "message": "no free IPs"}}}, "x")
    assert inner is not None and inner.walk()[-1].code == "SubnetIsFull" and inner.walk()[-1].message == "no free IPs"
    same = error_from_obj({"code": "SubnetIsFull", "message": "m", "subcode": "subnetisfull"}, "x")
    assert same is not None and same.details == ()
