"""Schema of the error catalog (shared/catalog/catalog.json).

Owns: the pydantic models the catalog file must satisfy. Our own data, so every model forbids
unknown keys: a typo in the JSON fails loudly at load time instead of silently dropping a rule.
Cross-field rules (unique ids, known check ids, doc URL hosts, examples that classify back to their
entry) are checked by tests/unit/test_catalog.py, because some need the classifier.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.models import Family

Transient = Literal["true", "false", "depends"]
Severity = Literal["critical", "error", "warning", "info"]
# generic = an HTTP-ish / ARM-wide code (BadRequest, Conflict) that names a kind of failure, not its cause.
Role = Literal["cause", "wrapper", "fallback", "generic"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Pattern(_Model):
    """A message fragment, matched case- and whitespace-insensitively; '*' = up to 80 chars of anything."""

    text: str = Field(min_length=2)
    # 3 = identifies the entry on its own; 2 = strong hint; 1 = only counts together with other evidence.
    weight: int = Field(ge=1, le=3)


class Subcategory(_Model):
    """A sub-cause recognised from diagnostic text; the first matching one (in order) wins."""

    id: str
    match: tuple[str, ...]
    # Tried only after no subcategory matched on `match` (tool exit codes, generic words like "timeout").
    weak_match: tuple[str, ...] = ()
    cause: str | None = None  # cause id in Entry.causes this subcategory points at
    family: Family | None = None  # the failure family this sub-cause is, when it differs from the entry's
    transient: Transient | None = None  # overrides the entry's value when set


class Cause(_Model):
    id: str
    text: str
    transient: Transient


class Example(_Model):
    """An error as ARM reports it; `code` None = the message arrives without a code."""

    code: str | None
    message: str = Field(min_length=1)
    # False when only the code identifies the failure (no documented message text to match on).
    message_only: bool = True


class Entry(_Model):
    id: str = Field(min_length=1)
    code: str = Field(min_length=1)  # canonical code reported for this entry
    documented: bool  # a Microsoft article names the code
    title: str
    category: str
    severity: Severity
    transient: Transient
    role: Role = "cause"
    operations: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # other spellings / RP names; reported as `code`
    variant_codes: tuple[str, ...] = ()  # distinct codes of the same failure; reported as observed
    code_regexes: tuple[str, ...] = ()  # full-match shapes, e.g. <Feature>FeatureFlagNotEnabled
    generic_hosts: tuple[str, ...] = ()  # generic codes this entry arrives under (OperationNotAllowed, ...)
    supersedes: tuple[str, ...] = ()  # codes this entry beats when its own patterns match
    related: tuple[str, ...] = ()
    linux_exit_statuses: tuple[int, ...] = ()
    windows_exit_statuses: tuple[int, ...] = ()
    patterns: tuple[Pattern, ...] = ()
    subcategories: tuple[Subcategory, ...] = ()
    default_subcategory: str | None = None
    causes: tuple[Cause, ...] = ()
    # What kind of failure this is, primary first: which checks can explain it is decided by the
    # checks themselves (CheckSpec.families), never listed here.
    families: tuple[Family, ...] = ()
    guidance: str = ""
    docs: tuple[str, ...] = ()
    examples: tuple[Example, ...] = ()
    # Where the code, its message templates and examples come from: repo+path or a URL (Microsoft
    # docs, specs, AgentBaker, azure-cli / azure-powershell / terraform-provider-azurerm sources).
    sources: tuple[str, ...] = ()

    @field_validator("docs")
    @classmethod
    def _https_docs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for url in v:
            if not url.startswith(("https://learn.microsoft.com/", "https://aka.ms/")):
                raise ValueError(f"doc URL must be https on learn.microsoft.com or aka.ms: {url}")
        return v


class ExitStatus(_Model):
    """One AgentBaker CSE exit status: constant name and meaning; entry_id when an article covers it."""

    status: int = Field(ge=0, le=255)
    name: str
    meaning: str
    entry_id: str | None = None
    family: Family | None = None  # e.g. 50 ERR_OUTBOUND_CONN_FAIL -> egress
    # The code AKS reports for this status (VMExtensionError_<Name> on Linux, the constant on Windows);
    # None = reported as VMExtensionProvisioningError with the constant as a fact.
    code: str | None = None


class ExitStatusTables(_Model):
    linux: tuple[ExitStatus, ...]
    windows: tuple[ExitStatus, ...]


class CatalogSource(_Model):
    reference: str
    reference_counts: dict[str, int]
    agentbaker_linux: str
    agentbaker_windows: str


class Catalog(_Model):
    version: int
    source: CatalogSource
    connectivity_subcategories: tuple[str, ...]
    wrapper_codes: dict[str, str]  # container code -> entry used when nothing is inside
    generic_codes: dict[str, str | None]  # generic code -> default entry (None = Unclassified)
    entries: tuple[Entry, ...]
    cse_exit_statuses: ExitStatusTables
    # HTTP status (as text) -> generic code, for errors that carry only a status ("RESPONSE 409",
    # "Operation failed with status: 'Bad Request'").
    http_statuses: dict[str, str] = {}
    http_reasons: dict[str, str] = {}  # reason phrase (lower case) -> generic code
    # Container code -> the fixed text ARM / AKS put in its message: a paste holding only that text (no
    # code) still names its container, reported at low confidence instead of Unknown.
    container_templates: dict[str, tuple[str, ...]] = {}

    def entry(self, entry_id: str) -> Entry:
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise KeyError(entry_id)
