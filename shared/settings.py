"""The one reader of environment variables.

Every field is one app setting (upper-cased, prefix AKS_TRIAGE_) in infra/app/function.bicep and
one key in local.settings.json.sample; tests/infra checks all three agree. Identity-based storage
connections keep the Functions `__` convention (AzureWebJobsStorage__queueServiceUri) and are read
by the host, not here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

MAX_RETRY_STEPS = 16
ENV_PREFIX = "AKS_TRIAGE_"


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "aks-triage"


def env_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The AKS_TRIAGE_* settings present in the environment, by field name. Names match without
    regard to case; an empty value counts as unset (Bicep sets unconfigured optional settings to "",
    e.g. no Teams webhook)."""
    env = os.environ if environ is None else environ
    fields = {ENV_PREFIX.lower() + name: name for name in Settings.model_fields}
    out: dict[str, str] = {}
    for key, value in env.items():
        name = fields.get(key.lower())
        if name is not None and value != "":
            out[name] = value
    return out


class Settings(BaseModel):
    """`Settings()` reads the environment; keyword arguments override what it says. Values arrive as
    text and are validated like any other input (lax: "8" is 8)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**env_values(), **values})

    # ARM
    arm_endpoint: str = "https://management.azure.com"
    arm_concurrency: int = Field(8, ge=1, le=32, description="parallel ARM reads per process")
    arm_retry_total: int = Field(3, ge=0, le=10)
    arm_retry_after_cap_s: float = Field(10.0, ge=0, le=120, description="cap on ARM's Retry-After")
    arm_cache_ttl_s: float = Field(60.0, ge=0, le=3600, description="shared read cache across work items")
    check_timeout_s: float = Field(20.0, gt=0, le=300)

    # Error retrieval
    activity_log_source: Literal["rest", "workspace", "both"] = "rest"
    activity_workspace_id: str | None = None  # workspace that receives the subscription Activity Log
    # Delay before re-reading an error that is not in any source yet, by attempt (the last entry
    # repeats until error_deadline_min). The Activity Log lags the failure by 3-20 minutes (Azure
    # Monitor's ingestion-time figures): steps of at most 30 s keep the card within 30 s of the entry
    # at any lag, for one status GET + one Activity Log query per attempt (about 60 by a 30 min
    # deadline). "15,30,60,120" reads less and posts up to 120 s after the entry.
    error_retry_schedule_s: tuple[int, ...] = (15, 30)
    error_deadline_min: int = Field(30, ge=1, le=1440)

    # Queues and state (storage account comes from AzureWebJobsStorage / __queueServiceUri)
    storage_account_url: str | None = None  # https://<acct>.queue.core.windows.net base, identity auth
    storage_connection_string: SecretStr | None = None  # Azurite / local only
    work_queue: str = "aks-triage-work"
    state_table: str = "akstriagestate"

    # Log Analytics (Logs Ingestion API)
    logs_ingestion_endpoint: str | None = None
    dcr_immutable_id: str | None = None
    dcr_stream: str = "Custom-AKSTriageFindings_CL"
    findings_workspace_id: str | None = None  # for failure history (capacity check)

    # Teams
    teams_webhook_url: SecretStr | None = None
    teams_max_per_second: float = Field(4.0, gt=0, le=4.0)
    workbook_url: str | None = None

    # Findings as CloudEvents 1.0 (shared/azure/eventgrid.py): an Event Grid custom topic endpoint
    # (https://<topic>.<region>-1.eventgrid.azure.net/api/events), or a namespace endpoint together
    # with the namespace topic's name. Empty = no Event Grid sink.
    findings_topic_endpoint: str | None = None
    findings_namespace_topic: str | None = Field(None, pattern=r"^[A-Za-z0-9-]{3,50}$")

    # Noise control
    group_window_min: int = Field(60, ge=1, le=10080)
    escalate_after_h: float = Field(24.0, gt=0, le=720)

    # Level of the Azure SDKs' Python loggers ("azure.*"). The Functions worker sets the root logger
    # to INFO and forwards every record to the host (and its OpenTelemetry handler exports them), so
    # at INFO azure-core would log each request's URL and headers, about 40 records per finding.
    sdk_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    # Offline / CLI
    home: Path = Field(default_factory=default_home)

    @field_validator("findings_topic_endpoint")
    @classmethod
    def _https_topic(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith("https://"):
            raise ValueError("the findings topic endpoint must be an https:// URL")
        return value

    @field_validator("error_retry_schedule_s", mode="before")
    @classmethod
    def _split_schedule(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(int(part) for part in value.split(",") if part.strip())
        return value

    @field_validator("error_retry_schedule_s")
    @classmethod
    def _check_schedule(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not 1 <= len(value) <= MAX_RETRY_STEPS or any(not 1 <= d <= 3600 for d in value):
            raise ValueError(f"1 to {MAX_RETRY_STEPS} delays, each 1-3600 s (e.g. 15,30,60,120)")
        return value

    def error_retry_delay_s(self, attempt: int) -> int:
        """Delay before retry number `attempt + 1` (attempt counts the reads already made, from 0)."""
        schedule = self.error_retry_schedule_s
        return schedule[min(max(attempt, 0), len(schedule) - 1)]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
