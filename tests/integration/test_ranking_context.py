"""ranking rule 3: evidence that only names the operation's context (its region, its cluster / agent
pool / subscription) is not evidence that the check found the cause. Found by the world matrix: a
check citing `location: westeurope` outranked the check that proved the SKU restriction, because the
SkuNotAvailable text says "in location 'westeurope'"."""

from __future__ import annotations

from shared.checklib.ranking import EVIDENCE_BOOST, score
from shared.checks.registry import REGISTRY
from shared.classify import classify_error
from shared.models import CheckResult, CheckStatus, Evidence, OperationError
from tests.integration import worlds as W
from tests.unit.checks.net_support import API_SUBNET

SKU_ERROR = W.w_sku_not_available().error
CLUSTER_POOL = f"{W.CLUSTER_ID}/agentPools/gpu"


def _fail(check: str, *evidence: Evidence) -> CheckResult:
    return CheckResult(id=check, status=CheckStatus.FAIL, summary=f"{check} failed", evidence=evidence)


def test_the_region_is_context_not_evidence() -> None:
    c = classify_error(OperationError(code=SKU_ERROR["code"], message=SKU_ERROR["message"]))
    assert c.facts.region == "westeurope"
    spec = REGISTRY["capacity_history"]
    cites_region = _fail(
        "capacity_history", Evidence(resource_id=W.CLUSTER_ID, property="location", value="westeurope")
    )
    cites_nothing = _fail("capacity_history")
    assert score(spec, cites_region, c) == score(spec, cites_nothing, c)


def test_the_operations_own_cluster_and_pool_are_context() -> None:
    message = f"Subnet {API_SUBNET} referenced by {CLUSTER_POOL} cannot be used because it contains external resources."
    c = classify_error(OperationError(code="SubnetWithExternalResourcesCannotBeUsedByOtherResources", message=message))
    spec = REGISTRY["apiserver_subnet"]
    on_cluster = _fail("apiserver_subnet", Evidence(resource_id=W.CLUSTER_ID, property="properties.x", value=1))
    on_subnet = _fail("apiserver_subnet", Evidence(resource_id=API_SUBNET, property="properties.x", value=1))
    bare = _fail("apiserver_subnet")
    assert score(spec, on_cluster, c) == score(spec, bare, c)
    assert score(spec, on_subnet, c) == score(spec, bare, c) + EVIDENCE_BOOST


def test_a_suspect_named_by_the_error_still_counts() -> None:
    c = classify_error(OperationError(code=SKU_ERROR["code"], message=SKU_ERROR["message"]))
    vmss = next(i for i in c.facts.ids() if "virtualMachineScaleSets" in i)
    spec = REGISTRY["node_resource_group"]
    names_vmss = _fail("node_resource_group", Evidence(resource_id=vmss, property="properties.x", value=1))
    assert score(spec, names_vmss, c) == score(spec, _fail("node_resource_group"), c) + EVIDENCE_BOOST
    # and the region inside a list of values is still context
    listed = _fail("capacity_history", Evidence(property="locations", value=["westeurope", "northeurope"]))
    assert score(REGISTRY["capacity_history"], listed, c) == score(
        REGISTRY["capacity_history"], _fail("capacity_history"), c
    )
