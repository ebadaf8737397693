"""Issue 8.4: secrets and identity.

* The Teams webhook URL (its `sig=` grants posting) and bearer tokens never reach a log line:
  the redaction installed by shared.redact covers the message, its args, tracebacks, and what
  third-party loggers (aiohttp at DEBUG) print while the real notifier posts.
* No secret-looking literal in the shipped code, infra or settings sample.
* Managed identity only: no key/secret/SAS credential types in the app; in Functions the
  credential is ManagedIdentityCredential; the storage account disallows shared keys.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared.redact import REDACTED, RedactingFilter, install_redaction, redact

pytestmark = pytest.mark.security

ROOT = Path(__file__).resolve().parents[2]
URL = ("https://prod-12.westeurope.logic.azure.com:443/workflows/0123abcd/triggers/manual/paths/invoke"
       "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEF")
SIG = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEF"
JWT = ("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0"
       ".c2lnbmF0dXJlc2lnbmF0dXJl")


@pytest.fixture
def captured() -> Any:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def test_redaction_of_every_form_of_the_webhook_url_and_tokens(captured: io.StringIO) -> None:
    install_redaction(URL)
    log = logging.getLogger("aks_triage.test")
    log.info("posting to %s", URL)
    log.info("json-escaped: %s", URL.replace("/", "\\/"))
    log.info("query only: %s", URL.split("?", 1)[1])
    log.warning("headers: {'Authorization': 'Bearer %s'}", JWT)
    log.warning("bare jwt %s and another sas https://x.blob.core.windows.net/c?sv=1&sig=Zm9vYmFyYmF6cXV4", JWT)
    try:
        raise RuntimeError(f"POST {URL} failed")
    except RuntimeError:
        log.exception("boom")
    out = captured.getvalue()
    assert SIG not in out and JWT not in out and "Zm9vYmFyYmF6cXV4" not in out, out
    assert out.count(REDACTED) >= 6


def test_redacting_filter_on_a_handler_of_its_own() -> None:
    install_redaction(URL)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "url=%s", (URL,), None)
    RedactingFilter().filter(record)
    assert SIG not in record.getMessage()
    assert SIG not in redact(f"text {URL} text")


async def test_teams_notifier_never_logs_or_raises_with_the_url(captured: io.StringIO, tls: Any) -> None:
    import ssl

    import aiohttp
    from pytest_httpserver import HTTPServer
    from werkzeug.wrappers import Response

    from shared.notify.teams import TeamsNotifier
    from shared.ports import SinkError

    for name in ("aiohttp", "aiohttp.client"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=tls.server_context)
    server.start()
    statuses = iter([500, 202, 404])
    path = "/workflows/0123abcd/triggers/manual/paths/invoke"
    # A hostile/buggy endpoint that echoes the request URL back in its error body.
    server.expect_request(path).respond_with_handler(
        lambda req: Response(f"bad request to {req.url}", status=next(statuses)))
    url = f"https://127.0.0.1:{server.port}{path}?api-version=2016-06-01&sig={SIG}"
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=tls.ca_file)))
    notifier = TeamsNotifier(SecretStr(url), client=http, backoff_base_s=0.01, backoff_max_s=0.02)
    try:
        message = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                       "content": {"type": "AdaptiveCard", "version": "1.5",
                                                                   "body": []}}]}
        await notifier.send(message)  # 500 then 202
        with pytest.raises(SinkError) as info:
            await notifier.send(message)  # 404 whose body echoes the URL
        logging.getLogger("aks_triage.test").error("send failed: %s", info.value)
    finally:
        await http.close()
        server.stop()
    out = captured.getvalue()
    assert "127.0.0.1" in out or "Teams" in out  # the loggers did run
    assert SIG not in out, [line for line in out.splitlines() if SIG in line][:3]
    assert SIG not in repr(notifier) and SIG not in str(notifier.__dict__.get("_url"))
    # The exception text must not carry the secret either (the endpoint echoes the URL in its body).
    assert SIG not in str(info.value)


SECRET_PATTERNS = {
    "storage account key": re.compile(r"AccountKey=[A-Za-z0-9+/]{40,}={0,2}"),
    "SAS / webhook signature": re.compile(r"[?&]sig=[A-Za-z0-9%+/=]{16,}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "client secret literal": re.compile(r"(?i)client_?secret\s*[=:]\s*['\"][^'\"\s]{8,}['\"]"),
    "JWT": re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    "password literal": re.compile(r"(?i)\bpassword\s*[=:]\s*['\"][^'\"\s]{6,}['\"]"),
    "instrumentation key": re.compile(r"InstrumentationKey=[0-9a-f-]{36}"),
}
SHIPPED = ["shared", "function_app.py", "infra", "host.json", "local.settings.json.sample", "scripts"]


def test_no_secret_literals_in_shipped_code_and_infra() -> None:
    hits = []
    for entry in SHIPPED:
        base = ROOT / entry
        files = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()] if base.exists() else []
        for path in files:
            if path.suffix in {".pyc", ".png"} or "__pycache__" in path.parts or "node_modules" in path.parts:
                continue
            text = path.read_text(encoding="utf-8", errors="ignore")
            for what, rx in SECRET_PATTERNS.items():
                for m in rx.finditer(text):
                    hits.append(f"{path.relative_to(ROOT)}: {what}: {m.group(0)[:40]}")
    assert not hits, hits


def test_no_key_or_secret_credentials_in_the_app() -> None:
    banned = re.compile(r"\b(ClientSecretCredential|CertificateCredential|UsernamePasswordCredential|"
                        r"AzureNamedKeyCredential|AzureSasCredential|AzureKeyCredential|SharedKeyCredentialPolicy|"
                        r"generate_\w*sas|account_key)\b")
    hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()[:100]}"
            for p in (ROOT / "shared").rglob("*.py") for i, line in enumerate(p.read_text().splitlines(), 1)
            if banned.search(line)]
    assert not hits, hits


def test_functions_environment_gets_managed_identity(monkeypatch: Any) -> None:
    from azure.identity.aio import ManagedIdentityCredential

    from shared.azure.credentials import make_async_credential

    for var in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "x")
    monkeypatch.setenv("AZURE_CLIENT_ID", "22222222-2222-2222-2222-222222222222")
    cred = make_async_credential()
    assert isinstance(cred, ManagedIdentityCredential)


def test_storage_account_disallows_shared_keys_and_roles_are_least_privilege() -> None:
    import json

    storage = (ROOT / "infra" / "app" / "storage.bicep").read_text()
    assert re.search(r"allowSharedKeyAccess:\s*false", storage)
    roles = json.loads((ROOT / "infra" / "app" / "roles.json").read_text())
    names = {k for k in roles if not k.startswith("_")}
    assert not names & {"Owner", "Contributor", "UserAccessAdministrator", "KeyVaultAdministrator"}, names
