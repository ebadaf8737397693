"""Settings from the environment: AKS_TRIAGE_* names, text validated like any input, keywords win."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.settings import Settings, env_values


def test_values_come_from_prefixed_names_whatever_their_case() -> None:
    env = {"AKS_TRIAGE_ARM_CONCURRENCY": "12", "aks_triage_work_queue": "q2", "ARM_CONCURRENCY": "3",
           "AKS_TRIAGE_NOT_A_SETTING": "x"}
    assert env_values(env) == {"arm_concurrency": "12", "work_queue": "q2"}


def test_empty_values_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKS_TRIAGE_TEAMS_WEBHOOK_URL", "")
    monkeypatch.setenv("AKS_TRIAGE_GROUP_WINDOW_MIN", "")
    s = Settings()
    assert s.teams_webhook_url is None
    assert s.group_window_min == 60


def test_text_is_validated_into_the_field_types(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AKS_TRIAGE_ARM_CONCURRENCY", "12")
    monkeypatch.setenv("AKS_TRIAGE_ESCALATE_AFTER_H", "1.5")
    monkeypatch.setenv("AKS_TRIAGE_HOME", str(tmp_path))
    monkeypatch.setenv("AKS_TRIAGE_ACTIVITY_LOG_SOURCE", "both")
    monkeypatch.setenv("AKS_TRIAGE_TEAMS_WEBHOOK_URL", "https://example.invalid/hook")
    s = Settings()
    assert (s.arm_concurrency, s.escalate_after_h, s.home, s.activity_log_source) == (12, 1.5, tmp_path, "both")
    assert s.teams_webhook_url is not None and s.teams_webhook_url.get_secret_value() == "https://example.invalid/hook"
    assert "example.invalid" not in repr(s)


def test_keywords_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKS_TRIAGE_ARM_CONCURRENCY", "12")
    monkeypatch.setenv("AKS_TRIAGE_WORK_QUEUE", "from-env")
    s = Settings(arm_concurrency=2)
    assert (s.arm_concurrency, s.work_queue) == (2, "from-env")


@pytest.mark.parametrize(("name", "value"), [("AKS_TRIAGE_ARM_CONCURRENCY", "many"),
                                             ("AKS_TRIAGE_ARM_CONCURRENCY", "99"),
                                             ("AKS_TRIAGE_ACTIVITY_LOG_SOURCE", "kusto"),
                                             ("AKS_TRIAGE_FINDINGS_TOPIC_ENDPOINT", "http://plain")])
def test_a_bad_value_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as err:
        Settings()
    assert name.removeprefix("AKS_TRIAGE_").lower() in str(err.value)


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.arm_concurrency = 3  # type: ignore[misc]


@pytest.mark.parametrize(("value", "level"),
                         [(None, logging.WARNING), ("INFO", logging.INFO), ("ERROR", logging.ERROR)])
def test_the_composition_root_sets_the_sdk_loggers_level(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                                         level: int) -> None:
    """The worker runs the root logger at INFO and forwards every record: azure-core's per-request
    INFO lines stay out unless the setting asks for them."""
    from shared import handlers, redact
    from shared.settings import get_settings

    if value is None:
        monkeypatch.delenv("AKS_TRIAGE_SDK_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("AKS_TRIAGE_SDK_LOG_LEVEL", value)
    monkeypatch.setattr(redact, "install_redaction", lambda *secrets: None)
    sdk = logging.getLogger("azure")
    monkeypatch.setattr(sdk, "level", sdk.level)  # restored after the test
    get_settings.cache_clear()
    try:
        handlers._settings_with_logging()
    finally:
        get_settings.cache_clear()
    assert sdk.level == level
    policy = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
    assert policy.isEnabledFor(logging.INFO) is (level <= logging.INFO)
