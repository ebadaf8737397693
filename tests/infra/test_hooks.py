"""The azd hooks, run with `sh` against stand-in `az` / `azd` executables on PATH that record their
arguments (the real CLIs would need a tenant). Checks the decisions the hooks make, not Azure."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra.conftest import INFRA, REPO

PREPROVISION = INFRA / "scripts" / "preprovision.sh"


def _shim(bin_dir: Path, name: str, exit_code: int, log: Path) -> None:
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit {exit_code}\n')
    script.chmod(0o755)


def _run(tmp_path: Path, function_exists: bool, env: dict[str, str]) -> list[str]:
    if shutil.which("sh") is None:
        pytest.skip("no sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    log.write_text("")
    _shim(bin_dir, "az", 0 if function_exists else 3, log)
    _shim(bin_dir, "azd", 0, log)
    proc = subprocess.run(["sh", str(PREPROVISION)], env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return log.read_text().splitlines()


PROVISIONED = {"AZURE_SUBSCRIPTION_ID": "11111111-1111-1111-1111-111111111111", "AZURE_RESOURCE_GROUP": "rg-x",
               "AZURE_FUNCTION_APP_NAME": "func-x", "DEPLOY_EVENT_SUBSCRIPTIONS": "true"}


def test_fresh_environment_provisions_without_event_subscriptions(tmp_path):
    calls = _run(tmp_path, function_exists=False, env={"DEPLOY_EVENT_SUBSCRIPTIONS": "true"})
    assert calls == ["azd env set DEPLOY_EVENT_SUBSCRIPTIONS false"]  # nothing to ask Azure about yet


def test_after_azd_down_the_stale_flag_is_turned_off(tmp_path):
    calls = _run(tmp_path, function_exists=False, env=PROVISIONED)
    assert calls[-1] == "azd env set DEPLOY_EVENT_SUBSCRIPTIONS false"
    (show,) = [c for c in calls if c.startswith("az functionapp function show")]
    assert "--subscription 11111111-1111-1111-1111-111111111111" in show and "--function-name on_aks_event" in show


def test_rerun_with_the_function_deployed_keeps_the_subscriptions(tmp_path):
    calls = _run(tmp_path, function_exists=True, env=PROVISIONED)
    assert calls[-1] == "azd env set DEPLOY_EVENT_SUBSCRIPTIONS true"


def test_azure_yaml_runs_the_preprovision_hook_on_both_platforms():
    hooks = yaml.safe_load((REPO / "azure.yaml").read_text())["hooks"]["preprovision"]
    for platform in ("posix", "windows"):
        script = REPO / hooks[platform]["run"]
        assert script.is_file(), script
        text = script.read_text()
        assert "--subscription" in text and "DEPLOY_EVENT_SUBSCRIPTIONS" in text
    assert os.access(PREPROVISION, os.X_OK)
