"""The error-retry schedule: parsed from the app setting, used by attempt, validated."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import Settings


def test_default_schedule_steps_up_then_repeats_its_last_delay() -> None:
    settings = Settings()
    assert [settings.error_retry_delay_s(a) for a in range(6)] == [15, 30, 30, 30, 30, 30]


def test_app_setting_is_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKS_TRIAGE_ERROR_RETRY_SCHEDULE_S", "5, 10,40")
    settings = Settings()
    assert settings.error_retry_schedule_s == (5, 10, 40)
    assert settings.error_retry_delay_s(1) == 10
    assert settings.error_retry_delay_s(9) == 40


@pytest.mark.parametrize("bad", ["", "0,30", "15,abc", "15,4000"])
def test_invalid_schedules_are_rejected_with_the_expected_shape(bad: str) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"error_retry_schedule_s": bad})
