"""Keep secrets out of logs: the Teams webhook URL (its `sig=` grants posting), SAS signatures and
bearer tokens, whichever logger or library emits them (httpx logs every request URL at INFO).

`install_redaction(*secrets)` wraps the process-wide LogRecord factory once, so every record is
redacted when it is created, before any handler or formatter sees it: the message with its args
merged, the formatted exception and the stack. Later calls add secrets. `RedactingFilter` does the
same as a handler filter, for handlers that build records themselves.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

REDACTED = "***"

_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*")
_KEYS = r"sig|signature|access_token|refresh_token|id_token|client_secret|password"
# key=value in a URL, also when the URL itself was JSON-escaped (\u0026sig=) or percent-encoded
# (%26sig%3D): the key may follow any non-letter, the value ends at the next separator in any form.
_SIG = re.compile(r"(?i)(?<![a-z])(" + _KEYS + r")(=|%3D)((?:(?!%26|\\u0026)[^&\s\"'<>\\])+)")
# "sig": "value" in JSON, 'sig': 'value' in a Python repr
_SIG_PAIR = re.compile(r"(?i)([\"'])(" + _KEYS + r")\1(\s*:\s*)([\"'])((?:(?!\4)[^\\]|\\.)*)\4")
_SENSITIVE = frozenset(_KEYS.split("|"))
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def _variants(secret: str) -> set[str]:
    """The forms a URL secret can take in a log line: as is, JSON-escaped, percent-encoded, sans query."""
    out = {secret, secret.replace("/", "\\/"), secret.replace("&", "\\u0026"), quote(secret, safe="")}
    try:
        parts = urlsplit(secret)
    except ValueError:
        parts = None
    if parts is not None and parts.scheme and parts.netloc and parts.query:
        out.add(f"{parts.scheme}://{parts.netloc}{parts.path}?{parts.query}")
        out.add(parts.query)
        # the bare value of each sensitive parameter, as written and decoded/encoded
        for key, value in parse_qsl(parts.query, keep_blank_values=False):
            if key.lower() in _SENSITIVE:
                out.update({value, quote(value, safe=""), quote(value, safe="/+="), unquote(value)})
    return {v for v in out if len(v) >= 8}


def register_secret(*secrets: str) -> None:
    with _lock:
        for s in secrets:
            if s:
                _secrets.update(_variants(s))


def redact(text: str) -> str:
    """`text` with every registered secret, bearer token, JWT and SAS-style signature replaced."""
    if not text:
        return text
    for s in sorted(_secrets, key=len, reverse=True):  # longest first: whole URL before its query
        if s in text:
            text = text.replace(s, REDACTED)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _SIG.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _SIG_PAIR.sub(
        lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{REDACTED}{m.group(4)}", text)
    return _JWT.sub(REDACTED, text)


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep the raw parts, redacted
        message = f"{record.msg} {record.args}"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def install_redaction(*secrets: str) -> None:
    """Register `secrets` and make sure every LogRecord in the process is redacted (idempotent)."""
    global _installed
    register_secret(*secrets)
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
