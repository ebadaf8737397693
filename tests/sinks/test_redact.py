"""Secrets never reach log output: the webhook URL (and its sig=), bearer tokens, JWTs."""

from __future__ import annotations

import logging

import pytest

from shared.redact import REDACTED, install_redaction, redact

pytestmark = pytest.mark.security
HOOK = ("https://prod-00.westeurope.logic.azure.com:443/workflows/abc123/triggers/manual/paths/invoke"
        "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zm9vYmFyc2VjcmV0c2lnbmF0dXJl")


def test_all_forms_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction(HOOK)
    log = logging.getLogger("anything.at.all")
    with caplog.at_level(logging.INFO):
        log.info("posting to %s", HOOK)
        log.info("json %s", HOOK.replace("/", "\\/"))
        log.info("header Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2ln")
        log.info('HTTP Request: POST https://x.example/a?b=1&sig=other-secret "HTTP/1.1 202 Accepted"')
        try:
            raise RuntimeError(f"failed calling {HOOK}")
        except RuntimeError:
            log.exception("boom")
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "Zm9vYmFy" not in text and "other-secret" not in text and "eyJzdWIi" not in text
    assert text.count(REDACTED) >= 5 and "boom" in text and "RuntimeError" in text


def test_redact_leaves_ordinary_text_alone() -> None:
    assert redact("code=SubnetIsFull in aks-prod-01") == "code=SubnetIsFull in aks-prod-01"
