"""The OpenTelemetry app settings of the Function App (infra/app/function.bicep): what the Python
worker's azure-monitor-opentelemetry set-up reads on every cold start, and that the cold-start
benchmark runs with exactly these values (it parses the same Bicep).

Why each: OTEL_PYTHON_DISABLED_INSTRUMENTATIONS names every instrumentation the distro would load
except azure_sdk (our HTTP calls go through Azure SDK clients and aiohttp, which the distro does
not instrument; the httpx one would import httpx only to patch it). OTEL_EXPERIMENTAL_RESOURCE_
DETECTORS=azure_functions (what the worker defaults to; the distro's own default adds azure_vm,
an IMDS probe). APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL and APPLICATIONINSIGHTS_CONTROLPLANE_
DISABLED: the SDK's own usage telemetry and its OneSettings poll, background exporters and a
thread each. Live metrics and performance counters stay on: the worker calls
configure_azure_monitor without those arguments and the distro reads no setting for them.
(Checkov's Bicep parser fails on long comment blocks inside an array, so the reasons live here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points

from benchmarks.cold_wiring import deployed_telemetry_settings
from tests.infra.conftest import REPO
from tests.infra.test_bicep import app_settings

# Instrumentations whose libraries carry our HTTP calls: the Azure SDK clients (azure-core spans).
USED_INSTRUMENTATIONS = {"azure_sdk"}


def _distro_supported() -> tuple[str, ...]:
    from azure.monitor.opentelemetry._constants import _ALL_SUPPORTED_INSTRUMENTED_LIBRARIES

    return tuple(_ALL_SUPPORTED_INSTRUMENTED_LIBRARIES)


def test_benchmark_reads_the_deployed_settings() -> None:
    deployed = {k: v for k, v in app_settings().items()
                if k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "PYTHON_APPLICATIONINSIGHTS_"))
                and k not in ("APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING")}
    assert deployed_telemetry_settings() == deployed
    assert deployed["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "true"


def test_every_installed_instrumentation_we_do_not_use_is_disabled() -> None:
    disabled = set(app_settings()["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"].split(","))  # type: ignore[attr-defined]
    supported = set(_distro_supported())
    assert disabled <= supported, f"not instrumentations the distro knows: {sorted(disabled - supported)}"
    assert not disabled & USED_INSTRUMENTATIONS
    installed = {e.name for e in entry_points(group="opentelemetry_instrumentor")} & supported
    assert installed - USED_INSTRUMENTATIONS <= disabled, sorted(installed - USED_INSTRUMENTATIONS - disabled)


def test_resource_detectors_read_the_environment_only() -> None:
    """azure_vm (the distro's default list includes it) probes IMDS; the Functions detector reads env."""
    detectors = str(app_settings()["OTEL_EXPERIMENTAL_RESOURCE_DETECTORS"]).split(",")
    known = {e.name for e in entry_points(group="opentelemetry_resource_detector")}
    assert set(detectors) <= {"azure_functions", "azure_app_service"} and set(detectors) <= known, detectors


def test_exporter_switches_are_the_exporters_own_names() -> None:
    from azure.monitor.opentelemetry.exporter import _constants as c

    settings = app_settings()
    for name in (c._APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL, c._APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED):
        assert settings[name] == "true", name


_SETUP = r"""
import json, os, sys, threading
os.environ.setdefault("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "azure_functions")  # as the worker does
from azure.monitor.opentelemetry import configure_azure_monitor
configure_azure_monitor(connection_string=os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"], logger_name="")
from opentelemetry.sdk.resources import Resource
from opentelemetry import trace
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m.startswith("opentelemetry.instrumentation.")
                      and m.count(".") == 2),
    "httpx": "httpx" in sys.modules,
    "threads": sorted(t.name for t in threading.enumerate()),
    "cloud_role": trace.get_tracer_provider().resource.attributes.get("service.name"),
}))
sys.stdout.flush()
os._exit(0)
"""


def test_worker_setup_with_these_settings_loads_only_the_azure_sdk_instrumentation() -> None:
    """configure_azure_monitor as the worker calls it, in a fresh process with the deployed settings
    (loopback endpoints): no web-framework / requests / httpx instrumentor, no control-plane poller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_"))}
    env |= {k: str(v) for k, v in deployed_telemetry_settings().items()}
    env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = ("InstrumentationKey=00000000-0000-0000-0000-0000000000a1;"
                                                    "IngestionEndpoint=http://127.0.0.1:9/;"
                                                    "LiveEndpoint=http://127.0.0.1:9/")
    env |= {"WEBSITE_SITE_NAME": "func-aks-triage-test", "FUNCTIONS_WORKER_RUNTIME": "python"}  # as on Functions
    done = subprocess.run([sys.executable, "-c", _SETUP], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    loaded = {m.rsplit(".", 1)[1] for m in got["modules"]}
    assert not loaded & {"django", "fastapi", "flask", "httpx", "psycopg2", "requests", "urllib", "urllib3"}, loaded
    assert got["httpx"] is False
    assert "ConfigurationWorker" not in got["threads"], got["threads"]
    assert got["cloud_role"] == "func-aks-triage-test"  # the Functions resource detector did run
