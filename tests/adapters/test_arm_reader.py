"""AzureArmReader: the real azure-mgmt-resource client over HTTPS against the local ARM emulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from shared.azure import arm as arm_module
from shared.azure.arm import AzureArmReader, activity_log_filter, get_arm_reader
from shared.local.snapshot import Snapshot, SnapshotArmReader
from shared.ports import ArmError, ArmForbidden, ArmNotFound, ArmReader, ArmThrottled, ArmUnavailable
from shared.settings import Settings
from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server, fake_credential  # noqa: F401
from tests.emulators.sample_data import (
    CLUSTER_ID,
    CORRELATION,
    EVENT_TIME,
    POOL_ID,
    SUB,
    SUBNET_ID,
    SYSTEM_POOL_ID,
    failed_world,
)

API = "2025-05-01"

MakeReader = Callable[..., AzureArmReader]


@pytest.fixture
async def make_reader(arm_emulator: ArmEmulator,  # noqa: F811
                      fake_credential: FakeAsyncCredential) -> AsyncIterator[MakeReader]:  # noqa: F811
    made: list[AzureArmReader] = []

    def make(**settings: Any) -> AzureArmReader:
        defaults: dict[str, Any] = {"arm_retry_after_cap_s": 0.2, "arm_retry_total": 2, "arm_cache_ttl_s": 60}
        defaults.update(settings)
        clock = defaults.pop("clock", time.monotonic)
        reader = AzureArmReader(Settings(**defaults), credential=fake_credential, base_url=arm_emulator.base_url,
                                connection_verify=arm_emulator.ca_file, retry_backoff_factor=0.01, clock=clock)
        made.append(reader)
        return reader

    yield make
    for r in made:
        await r.aclose()


@pytest.fixture
def world(arm_emulator: ArmEmulator) -> Snapshot:  # noqa: F811
    snap = Snapshot.from_obj(failed_world())
    arm_emulator.serve(snap)
    return snap


def test_reader_implements_the_port(make_reader: MakeReader) -> None:
    reader = make_reader()
    assert isinstance(reader, ArmReader)
    assert isinstance(reader.for_run(), ArmReader)


async def test_same_bodies_as_the_snapshot_reader(world: Snapshot, make_reader: MakeReader,
                                                  arm_emulator: ArmEmulator) -> None:  # noqa: F811
    reader = make_reader()
    offline = SnapshotArmReader(world)
    ids = [CLUSTER_ID, CLUSTER_ID.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"), POOL_ID, SYSTEM_POOL_ID,
           SUBNET_ID, f"{CLUSTER_ID}/agentPools"]
    for rid in ids:
        assert await reader.get(rid, API) == await offline.get(rid, API), rid
    for rid in (f"{CLUSTER_ID}/agentPools/missing", f"/subscriptions/{SUB}/resourceGroups/nope"):
        with pytest.raises(ArmNotFound):
            await offline.get(rid, API)
        with pytest.raises(ArmNotFound) as err:
            await reader.get(rid, API)
        assert err.value.status == 404 and err.value.code == "ResourceNotFound"
    start, end = EVENT_TIME - timedelta(hours=6), EVENT_TIME + timedelta(minutes=30)
    online = await reader.activity_log(SUB, correlation_id=CORRELATION, start=start, end=end)
    # the same entries, with the fields the reader asks for ($select)
    selected = arm_module.ACTIVITY_SELECT.split(",")
    assert online == [{k: v for k, v in e.items() if k in selected}
                      for e in await offline.activity_log(SUB, correlation_id=CORRELATION, start=start, end=end)]
    assert len(online) == 1
    by_resource = await reader.activity_log(SUB, resource_id=CLUSTER_ID, start=start, end=end)
    assert by_resource == online
    # the api-version is sent verbatim; the Activity Log uses its only version
    assert {r.api_version for r in arm_emulator.log} == {API, "2015-04-01"}


async def test_bearer_token_and_scope(world: Snapshot, make_reader: MakeReader, arm_emulator: ArmEmulator,  # noqa: F811
                                      fake_credential: FakeAsyncCredential) -> None:  # noqa: F811
    await make_reader().get(CLUSTER_ID, API)
    assert arm_emulator.authorization_headers == ["Bearer fake-token"]
    assert fake_credential.scopes[0] == ("https://management.azure.com/.default",)


async def test_forbidden_says_which_role_on_which_scope(world: Snapshot, make_reader: MakeReader,
                                                        arm_emulator: ArmEmulator) -> None:  # noqa: F811
    arm_emulator.forbid(SUBNET_ID)
    with pytest.raises(ArmForbidden) as err:
        await make_reader().get(SUBNET_ID, "2024-05-01")
    assert err.value.status == 403 and err.value.code == "AuthorizationFailed"
    assert "needs role Reader" in err.value.message
    assert SUBNET_ID in err.value.message
    assert len(arm_emulator.log) == 1  # 403 is not retried


async def test_429_retry_after_60_is_capped(world: Snapshot, make_reader: MakeReader,
                                            arm_emulator: ArmEmulator) -> None:  # noqa: F811
    arm_emulator.throttle(CLUSTER_ID, times=1, retry_after="60")
    reader = make_reader(arm_retry_after_cap_s=0.3)
    t0 = time.perf_counter()
    body = await reader.get(CLUSTER_ID, API)
    elapsed = time.perf_counter() - t0
    assert body["name"] == "aks-prod-01"
    assert [r.status for r in arm_emulator.log] == [429, 200]
    assert 0.25 <= elapsed < 2.0, elapsed
    gap = arm_emulator.log[1].started - arm_emulator.log[0].finished
    assert 0.25 <= gap < 1.5, gap
    assert reader.reads_made == 2


async def test_429_forever_becomes_throttled_after_capped_retries(world: Snapshot, make_reader: MakeReader,
                                                                  arm_emulator: ArmEmulator) -> None:  # noqa: F811
    arm_emulator.throttle(CLUSTER_ID, times=-1, retry_after="60")
    reader = make_reader(arm_retry_after_cap_s=0.2, arm_retry_total=2)
    t0 = time.perf_counter()
    with pytest.raises(ArmThrottled) as err:
        await reader.get(CLUSTER_ID, API)
    elapsed = time.perf_counter() - t0
    assert err.value.status == 429 and err.value.code == "TooManyRequests"
    assert len(arm_emulator.log) == 3  # first try + retry_total
    assert elapsed < 2.0, elapsed


async def test_retries_stop_at_the_time_budget(world: Snapshot, make_reader: MakeReader,
                                               arm_emulator: ArmEmulator) -> None:  # noqa: F811
    """retry_total=10 but the budget (max(check_timeout/2, cap+1) = 1.4 s) stops after ~3 waits."""
    arm_emulator.throttle(CLUSTER_ID, times=-1, retry_after="60")
    reader = make_reader(arm_retry_after_cap_s=0.4, arm_retry_total=10, check_timeout_s=1)
    t0 = time.perf_counter()
    with pytest.raises(ArmThrottled):
        await reader.get(CLUSTER_ID, API)
    elapsed = time.perf_counter() - t0
    assert 3 <= len(arm_emulator.log) <= 5
    assert elapsed < 2.0, elapsed


async def test_500_becomes_unavailable_after_retries(world: Snapshot, make_reader: MakeReader,
                                                     arm_emulator: ArmEmulator) -> None:  # noqa: F811
    arm_emulator.fail(500, CLUSTER_ID)
    reader = make_reader(arm_retry_total=1)
    with pytest.raises(ArmUnavailable) as err:
        await reader.get(CLUSTER_ID, API)
    assert err.value.status == 500 and err.value.code == "InternalServerError"
    assert len(arm_emulator.log) == 2


async def test_transient_500_is_retried(world: Snapshot, make_reader: MakeReader,
                                        arm_emulator: ArmEmulator) -> None:  # noqa: F811
    arm_emulator.fail(503, CLUSTER_ID, times=1)
    assert (await make_reader().get(CLUSTER_ID, API))["name"] == "aks-prod-01"
    assert [r.status for r in arm_emulator.log] == [503, 200]


async def test_connection_refused_is_unavailable(fake_credential: FakeAsyncCredential,  # noqa: F811
                                                 arm_emulator: ArmEmulator) -> None:  # noqa: F811
    from tests.azurite_support import free_port

    reader = AzureArmReader(Settings(arm_retry_total=0), credential=fake_credential,
                            base_url=f"https://127.0.0.1:{free_port()}", connection_verify=arm_emulator.ca_file)
    try:
        with pytest.raises(ArmUnavailable) as err:
            await reader.get(CLUSTER_ID, API)
        assert err.value.status == 0 and err.value.code == "ConnectionError"
    finally:
        await reader.aclose()


async def test_untrusted_certificate_is_refused(world: Snapshot, fake_credential: FakeAsyncCredential,  # noqa: F811
                                                arm_emulator: ArmEmulator) -> None:  # noqa: F811
    """Without the test CA passed explicitly, TLS verification fails: nothing relies on env CA vars."""
    reader = AzureArmReader(Settings(arm_retry_total=0), credential=fake_credential,
                            base_url=arm_emulator.base_url, connection_verify=True)
    try:
        with pytest.raises(ArmUnavailable) as err:
            await reader.get(CLUSTER_ID, API)
        assert "CERTIFICATE_VERIFY_FAILED" in err.value.message or err.value.code == "ConnectionError"
    finally:
        await reader.aclose()
    assert arm_emulator.gets == 0


async def test_concurrent_gets_of_one_id_share_one_request(world: Snapshot, make_reader: MakeReader,
                                                           arm_emulator: ArmEmulator) -> None:  # noqa: F811
    arm_emulator.latency_s = 0.1
    reader = make_reader()
    bodies = await asyncio.gather(*(reader.get(CLUSTER_ID, API) for _ in range(20)))
    assert len(arm_emulator.requests_for(CLUSTER_ID)) == 1
    assert reader.reads_made == 1 and reader.coalesced == 19
    assert all(b == bodies[0] for b in bodies)
    assert len({id(b) for b in bodies}) == 20  # every caller gets its own copy


async def test_coalescing_across_runs_and_per_run_read_once(world: Snapshot, make_reader: MakeReader,
                                                            arm_emulator: ArmEmulator) -> None:  # noqa: F811
    arm_emulator.latency_s = 0.05
    reader = make_reader(arm_cache_ttl_s=0)  # no shared cache: only coalescing and the run cache
    runs = [reader.for_run() for _ in range(5)]
    await asyncio.gather(*(r.get(CLUSTER_ID, API) for r in runs for _ in range(4)))
    assert len(arm_emulator.requests_for(CLUSTER_ID)) == 1
    assert sum(r.reads_made for r in runs) == 1  # one run is charged, the others waited
    for r in runs:  # later reads in the same run never go back to ARM, whatever the TTL
        await r.get(CLUSTER_ID, API)
    assert len(arm_emulator.requests_for(CLUSTER_ID)) == 1
    await reader.for_run().get(CLUSTER_ID, API)  # a new run with TTL 0 reads again
    assert len(arm_emulator.requests_for(CLUSTER_ID)) == 2


async def test_run_remembers_errors_and_bodies_are_isolated(world: Snapshot, make_reader: MakeReader,
                                                            arm_emulator: ArmEmulator) -> None:  # noqa: F811
    reader = make_reader(arm_cache_ttl_s=0)
    run = reader.for_run()
    arm_emulator.forbid(SUBNET_ID)
    for _ in range(3):
        with pytest.raises(ArmForbidden):
            await run.get(SUBNET_ID, "2024-05-01")
    assert len(arm_emulator.requests_for(SUBNET_ID)) == 1
    body = await run.get(CLUSTER_ID, API)
    body["properties"]["provisioningState"] = "Mutated by a buggy check"
    assert (await reader.for_run().get(CLUSTER_ID, API))["properties"]["provisioningState"] == "Failed"


async def test_shared_cache_expires_after_ttl(world: Snapshot, make_reader: MakeReader,
                                              arm_emulator: ArmEmulator) -> None:  # noqa: F811
    now = [1000.0]
    reader = make_reader(arm_cache_ttl_s=60, clock=lambda: now[0])
    await reader.for_run().get(CLUSTER_ID, API)
    r2 = reader.for_run()
    await r2.get(CLUSTER_ID, API)
    assert r2.reads_made == 0 and reader.cache_hits == 1
    with pytest.raises(ArmNotFound):
        await reader.get(f"{CLUSTER_ID}/agentPools/gone", API)
    with pytest.raises(ArmNotFound):
        await reader.get(f"{CLUSTER_ID}/agentPools/gone", API)  # 404s are cached too
    assert len(arm_emulator.requests_for(f"{CLUSTER_ID}/agentPools/gone")) == 1
    now[0] += 61
    await reader.for_run().get(CLUSTER_ID, API)
    assert len(arm_emulator.requests_for(CLUSTER_ID)) == 2


async def test_errors_other_than_404_are_not_shared_across_runs(world: Snapshot, make_reader: MakeReader,
                                                                arm_emulator: ArmEmulator) -> None:  # noqa: F811
    reader = make_reader()
    arm_emulator.forbid(SUBNET_ID, times=1)
    with pytest.raises(ArmForbidden):
        await reader.for_run().get(SUBNET_ID, "2024-05-01")
    assert (await reader.for_run().get(SUBNET_ID, "2024-05-01"))["name"] == "snet-aks-nodes"


async def test_concurrency_bound_is_honoured(arm_emulator: ArmEmulator,  # noqa: F811
                                             make_reader: MakeReader) -> None:
    ids = [f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v{i}"
           for i in range(12)]
    for rid in ids:
        arm_emulator.put(rid, {"id": rid})
    arm_emulator.latency_s = 0.1
    reader = make_reader(arm_concurrency=3)
    t0 = time.perf_counter()
    await asyncio.gather(*(reader.get(rid, "2024-05-01") for rid in ids))
    elapsed = time.perf_counter() - t0
    assert arm_emulator.max_in_flight == 3
    assert reader.max_in_flight == 3
    assert elapsed >= 0.4  # 12 requests / 3 slots x 0.1 s


async def test_collections_follow_next_link(world: Snapshot, make_reader: MakeReader,
                                            arm_emulator: ArmEmulator) -> None:  # noqa: F811
    pools = [{"id": f"{CLUSTER_ID}/agentPools/p{i}", "name": f"p{i}"} for i in range(5)]
    arm_emulator.put(f"{CLUSTER_ID}/agentPools", {"value": pools})
    arm_emulator.page_size = 2
    body = await make_reader().get(f"{CLUSTER_ID}/agentPools", API)
    assert body == {"value": pools}
    assert [r.query.get("$skiptoken") for r in arm_emulator.log] == [None, "2", "4"]


async def test_next_link_to_another_host_is_not_followed(world: Snapshot, make_reader: MakeReader,
                                                         arm_emulator: ArmEmulator) -> None:  # noqa: F811
    arm_emulator.put(f"{CLUSTER_ID}/agentPools", {"value": [], "nextLink": "https://attacker.example/steal?x=1"})
    with pytest.raises(ArmUnavailable) as err:
        await make_reader().get(f"{CLUSTER_ID}/agentPools", API)
    assert err.value.code == "UntrustedNextLink"
    assert len(arm_emulator.log) == 1


async def test_activity_log_pages_and_filter(world: Snapshot, make_reader: MakeReader,
                                             arm_emulator: ArmEmulator) -> None:  # noqa: F811
    base = world.activity_log[0]
    started = {"value": "Started", "localizedValue": "Started"}
    world.activity_log[:] = [dict(base, eventDataId=f"id-{i}", status=started) for i in range(4)]
    world.activity_log.append(dict(base, eventDataId="id-4"))
    arm_emulator.page_size = 2
    start, end = EVENT_TIME - timedelta(hours=6), EVENT_TIME + timedelta(minutes=30)
    events = await make_reader().activity_log(SUB, correlation_id=CORRELATION.upper(), start=start, end=end)
    assert [e["eventDataId"] for e in events] == [f"id-{i}" for i in range(5)]
    assert len(arm_emulator.log) == 3
    flt = arm_emulator.log[0].query["$filter"]
    assert flt == ("eventTimestamp ge '2024-11-21T06:35:10Z' and eventTimestamp le '2024-11-21T13:05:10Z' "
                   f"and correlationId eq '{CORRELATION}'")
    assert arm_emulator.log[0].path == f"/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values"


@pytest.mark.security
@pytest.mark.parametrize("bad", [
    "not-an-id", "https://attacker.example/subscriptions/x", f"/subscriptions/{SUB}/resourceGroups/rg?x=1",
    f"/subscriptions/{SUB}/resourceGroups/../../providers/x", f"/subscriptions/{SUB}/resourceGroups/rg#frag",
    f"/subscriptions/{SUB}/resourceGroups/r g", "//attacker.example/x", "/subscriptions/notaguid/resourceGroups/rg",
    f"/subscriptions/{SUB}/resourceGroups/rg%2F..", "",
])
async def test_invalid_ids_never_reach_arm(bad: str, make_reader: MakeReader,
                                           arm_emulator: ArmEmulator) -> None:  # noqa: F811
    with pytest.raises(ArmError) as err:
        await make_reader().get(bad, API)
    assert err.value.code == "InvalidResourceId"
    assert arm_emulator.log == []


@pytest.mark.security
@pytest.mark.parametrize("kwargs", [
    {"correlation_id": "x' or 1 eq 1 or correlationId eq 'y"},
    {"correlation_id": "55555555-5555-5555-5555-55555555555"},
    {"resource_id": f"/subscriptions/{SUB}/resourceGroups/rg' or 'a' eq 'a"},
])
async def test_activity_filter_is_built_only_from_validated_values(kwargs: dict[str, str], make_reader: MakeReader,
                                                                   arm_emulator: ArmEmulator) -> None:  # noqa: F811
    with pytest.raises(ArmError):
        await make_reader().activity_log(SUB, **kwargs)  # type: ignore[arg-type]  # str-valued kwargs by design
    with pytest.raises(ArmError):
        await make_reader().activity_log("not-a-guid", correlation_id=CORRELATION)
    assert arm_emulator.log == []


async def test_snapshot_reader_time_window_with_7_digit_fractions(world: Snapshot) -> None:
    start, end = EVENT_TIME - timedelta(hours=6), EVENT_TIME + timedelta(minutes=30)
    events = await SnapshotArmReader(world).activity_log(SUB, correlation_id=CORRELATION, start=start, end=end)
    assert len(events) == 1


def test_filter_text() -> None:
    f = activity_log_filter(correlation_id=None, resource_id=CLUSTER_ID, start=EVENT_TIME, end=EVENT_TIME)
    assert f.endswith(f"resourceUri eq '{CLUSTER_ID}'")


async def test_a_cancelled_caller_does_not_cancel_the_shared_read(world: Snapshot, make_reader: MakeReader,
                                                                  arm_emulator: ArmEmulator) -> None:  # noqa: F811
    arm_emulator.latency_s = 0.3
    reader = make_reader()
    impatient = asyncio.ensure_future(reader.get(CLUSTER_ID, API))
    patient = asyncio.ensure_future(reader.get(CLUSTER_ID, API))
    await asyncio.sleep(0.05)
    impatient.cancel()
    assert (await patient)["name"] == "aks-prod-01"
    assert impatient.cancelled()
    assert len(arm_emulator.log) == 1


async def test_burst_of_events_over_few_clusters_reads_each_resource_once(
        arm_emulator: ArmEmulator, make_reader: MakeReader) -> None:  # noqa: F811
    """200 events over 10 clusters; each diagnosis reads cluster, pools and subnet (3 distinct each)."""
    clusters = [f"/subscriptions/{SUB}/resourceGroups/rg{i}/providers/Microsoft.ContainerService/managedClusters/c{i}"
                for i in range(10)]
    for i, cid in enumerate(clusters):
        subnet = f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s{i}"
        arm_emulator.put(cid, {"id": cid, "properties": {"subnet": subnet}})
        arm_emulator.put(f"{cid}/agentPools/np", {"id": f"{cid}/agentPools/np", "name": "np"})
        arm_emulator.put(subnet, {"id": subnet})
    arm_emulator.latency_s = 0.02
    reader = make_reader(arm_concurrency=8)

    async def diagnose(n: int) -> int:
        run = reader.for_run()
        cluster = await run.get(clusters[n % 10], API)
        await asyncio.gather(run.get(f"{clusters[n % 10]}/agentPools", API),
                             run.get(cluster["properties"]["subnet"], "2024-05-01"),
                             run.get(clusters[n % 10], API))
        return run.reads_made

    per_run = await asyncio.gather(*(diagnose(n) for n in range(200)))
    distinct = 30
    ratio = arm_emulator.gets / distinct
    print(f"burst: {arm_emulator.gets} GETs for {distinct} distinct resources -> ratio {ratio:.2f}; "
          f"coalesced={reader.coalesced} cache_hits={reader.cache_hits}")
    assert ratio <= 1.2
    assert sum(per_run) == reader.reads_made == arm_emulator.gets


async def test_process_wide_factory_reuses_one_reader(arm_emulator: ArmEmulator,  # noqa: F811
                                                      fake_credential: FakeAsyncCredential) -> None:  # noqa: F811
    settings = Settings()
    try:
        a = get_arm_reader(settings, credential=fake_credential, base_url=arm_emulator.base_url,
                           connection_verify=arm_emulator.ca_file)
        b = get_arm_reader(settings)
        assert a is b
    finally:
        await arm_module.aclose()
    assert arm_module._READER is None
    assert not fake_credential.closed  # an injected credential belongs to the caller


async def test_production_credential_path_with_a_fake_identity_endpoint(
        world: Snapshot, arm_emulator: ArmEmulator, httpserver: Any,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """make_async_credential() -> the real ManagedIdentityCredential (App Service flavour) -> ARM."""
    client_id = "22222222-2222-2222-2222-222222222222"
    httpserver.expect_request("/msi/token", method="GET").respond_with_json({
        "access_token": "msi-token", "expires_on": str(int(time.time()) + 3600),
        "resource": "https://management.azure.com", "token_type": "Bearer", "client_id": client_id})
    monkeypatch.setenv("IDENTITY_ENDPOINT", httpserver.url_for("/msi/token"))
    monkeypatch.setenv("IDENTITY_HEADER", "secret-header")
    monkeypatch.setenv("AZURE_CLIENT_ID", client_id)
    for var in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    reader = AzureArmReader(Settings(arm_retry_total=0), base_url=arm_emulator.base_url,
                            connection_verify=arm_emulator.ca_file)
    try:
        assert type(reader._credential).__name__ == "ManagedIdentityCredential"
        assert (await reader.get(CLUSTER_ID, API))["name"] == "aks-prod-01"
    finally:
        await reader.aclose()
    token_request = httpserver.log[0][0]
    assert token_request.headers["X-IDENTITY-HEADER"] == "secret-header"
    assert token_request.args["resource"] == "https://management.azure.com"
    assert token_request.args["client_id"] == client_id
    assert arm_emulator.authorization_headers == ["Bearer msi-token"]
    httpserver.clear()


async def test_run_waiters_survive_the_first_reader_being_cancelled(world: Snapshot, make_reader: MakeReader,
                                                                   arm_emulator: ArmEmulator) -> None:  # noqa: F811
    arm_emulator.latency_s = 0.2
    run = make_reader().for_run()
    first = asyncio.ensure_future(run.get(CLUSTER_ID, API))
    await asyncio.sleep(0.02)
    second = asyncio.ensure_future(run.get(CLUSTER_ID, API))
    await asyncio.sleep(0.02)
    first.cancel()
    assert (await second)["name"] == "aks-prod-01"
    assert len(arm_emulator.log) == 1  # the shared read went on; the waiter joined it again


async def test_sequential_waves_hit_the_shared_cache(arm_emulator: ArmEmulator,  # noqa: F811
                                                     make_reader: MakeReader) -> None:
    """Events arriving over time (10 waves of 20) rather than all at once: the TTL cache carries them."""
    clusters = [f"/subscriptions/{SUB}/resourceGroups/rg{i}/providers/Microsoft.ContainerService/managedClusters/c{i}"
                for i in range(10)]
    for cid in clusters:
        arm_emulator.put(cid, {"id": cid})
    reader = make_reader(arm_cache_ttl_s=60)
    for wave in range(10):
        runs = [reader.for_run() for _ in range(20)]
        await asyncio.gather(*(r.get(clusters[(wave * 20 + n) % 10], API) for n, r in enumerate(runs)))
    assert arm_emulator.gets == 10
    assert reader.cache_hits >= 180 - reader.coalesced


async def test_region_sku_list_is_read_as_resource_skus_list_with_a_location_filter(
        world: Snapshot, make_reader: MakeReader, arm_emulator: ArmEmulator) -> None:  # noqa: F811
    """Checks name the region's SKU list `.../Microsoft.Compute/locations/<region>/skus` (what snapshots
    key it by); ARM serves it as ResourceSkus_List with `$filter=location eq '<region>'`, paged."""
    skus = [{"resourceType": "virtualMachines", "name": f"Standard_D{i}s_v5", "locations": ["westeurope"]}
            for i in (2, 4, 8)]
    arm_emulator.put(f"/subscriptions/{SUB}/providers/Microsoft.Compute/skus", {"value": skus})
    arm_emulator.page_size = 2
    body = await make_reader().get(f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/WestEurope/skus",
                                   "2021-07-01")
    assert body == {"value": skus}
    first = arm_emulator.log[0]
    assert first.path.endswith("/providers/Microsoft.Compute/skus")
    assert first.query["$filter"] == "location eq 'westeurope'" and first.query["api-version"] == "2021-07-01"
    assert len(arm_emulator.log) == 2  # the nextLink page too


def test_cache_lifetimes_are_spread_over_a_fifth_of_the_ttl() -> None:
    """A burst's entries, read together, do not all expire at the same moment."""
    cache = arm_module._TtlCache(60, clock=lambda: 0.0)
    lifetimes = [cache.lifetime((f"/subscriptions/{SUB}/resourceGroups/rg{i}", API)) for i in range(200)]
    assert all(48.0 <= t <= 60.0 for t in lifetimes)
    assert max(lifetimes) - min(lifetimes) > 10.0  # spread, not one wave
    assert lifetimes[3] == cache.lifetime((f"/subscriptions/{SUB}/resourceGroups/rg3", API))  # stable per key
