"""Every form a SAS signature or token can take in a log line is redacted, registered or not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.redact import REDACTED, install_redaction, redact

SIG = "Zm9vYmFyLXNpZy12YWx1ZS0xMjM0NTY3ODkw"
HOOK = f"https://prod.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig={SIG}"


@pytest.mark.parametrize("line", [
    f"sig={SIG}",
    f"url ...?sv=1.0\\u0026sig={SIG}\\u0026x=1",
    f"url ...%3Fsv%3D1.0%26sig%3D{SIG}%26x%3D1",
    json.dumps({"sig": SIG}),
    json.dumps({"access_token": SIG, "token_type": "Bearer"}),
    str({"sig": SIG}),
    f"the signature is {SIG} (bare value)",
    f"Authorization: Bearer {SIG}",
    f"400 body: {json.dumps({'error': {'message': 'bad url ' + HOOK}})}",
])
def test_signature_and_token_values_never_survive(line: str) -> None:
    install_redaction(HOOK)
    out = redact(line)
    assert SIG not in out, out
    assert REDACTED in out


def test_unregistered_escaped_signatures_are_still_redacted() -> None:
    other = "c2Vjb25kLXNpZ25hdHVyZS1hYmNkZWZnaGlq"
    for line in (f"a\\u0026sig={other}", f"a%26sig%3D{other}", json.dumps({"sig": other})):
        assert other not in redact(line), line


def test_redaction_is_installed_without_any_secret_configured() -> None:
    """A fresh process with no Teams webhook configured still redacts SAS signatures and tokens."""
    code = (
        "import asyncio, io, logging, sys\n"
        "import shared.handlers as h\n"
        "h.build_azure_deps = lambda settings, *intake: object()\n"
        "asyncio.run(h.get_deps())\n"
        "buf = io.StringIO(); logging.basicConfig(stream=buf, level=logging.INFO, force=True)\n"
        "logging.getLogger('azure.core').info('GET https://x.blob.core.windows.net/c?sv=1&sig=%s',"
        " 'QUJDREVGR0hJSktMTU5PUA')\n"
        "logging.getLogger('httpx').info('Authorization: Bearer %s', 'dG9rZW4tdmFsdWUtMTIzNDU2')\n"
        "sys.stdout.write(buf.getvalue())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKS_TRIAGE_") and "TEAMS" not in k}
    env["AKS_TRIAGE_SDK_LOG_LEVEL"] = "INFO"  # the SDK's request lines are off by default; redacted when on
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
                         cwd=Path(__file__).resolve().parents[2], check=True).stdout
    assert "GET https://x.blob.core.windows.net" in out
    assert "QUJDREVGR0hJSktMTU5PUA" not in out and "dG9rZW4tdmFsdWUtMTIzNDU2" not in out
