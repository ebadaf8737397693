"""Text clean-up shared by the normaliser and the evidence extractors.

Owns: bounding the input (hostile 1 MB pastes), stripping terminal decoration (Terraform box
characters, PowerShell error-record noise), collapsing escape levels of JSON-in-JSON, and the
code-shaped-token regexes. Every regex here is linear: literal anchors, bounded repeats, no nested
quantifiers, so run time grows with input size and not faster.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.catalog.loader import CatalogIndex

# The analysed window: ARM error bodies are kilobytes; anything past this is CSE stdout noise or an
# attack. Head keeps the outer error, tail keeps a truncated inner one.
WINDOW_HEAD = 64 * 1024
WINDOW_TAIL = 32 * 1024


def window(text: str) -> str:
    if len(text) <= WINDOW_HEAD + WINDOW_TAIL:
        return text
    return text[:WINDOW_HEAD] + "\n" + text[-WINDOW_TAIL:]


_TF_BOX = re.compile(r"(?m)^[ \t]*[│╷╵┃|][ \t]?")
_PS_NOISE = re.compile(
    r"(?m)^[ \t]*(?:At line:\d+[^\n]*|At [^\n]{0,200}char:\d+[^\n]*|\+[ \t]{0,8}(?:CategoryInfo|FullyQualifiedErrorId)"
    r"[^\n]*|\+ [^\n]*|\+ ?~+[^\n]*)$"
)
_PS_PREFIX = re.compile(r"(?m)^[ \t]*[A-Za-z][\w.-]{0,40} : (?=ERROR|\(|Code|Deployment|Operation|The |Long running)")
# A PowerShell error record starts with the command name: `az : ERROR: ...`, `New-AzAksCluster : ...`.
_PS_START = re.compile(r"[ \t]*[A-Za-z][\w.-]{0,40} : (?:ERROR|\(|Code|Operation|Long running)")
# Runs of two or more: a lone backslash is already squashed, and every match costs a replacement call.
_BACKSLASHES = re.compile(r"\\\\+")
_AFTER_BACKSLASH = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = (
    ('\\"', '"'), ("\\'", "'"), ("\\n", "\n"), ("\\r", " "), ("\\t", " "), ("\\/", "/"),
    ("\\u0027", "'"), ("\\u0022", '"'), ("\\u003c", "<"), ("\\u003e", ">"), ("\\u0026", "&"),
    ("\\u003C", "<"), ("\\u003E", ">"),
)


def _ps_record_unwrap(text: str) -> str:
    """PowerShell prints its first error record (`az : ERROR: ...` up to `At line:`) hard-wrapped at
    the console width, cutting words and codes in half. Lines exactly as long as the longest line
    of the record were cut there: join each to the next without a separator."""
    end = text.find("\nAt line:")
    if end < 0:
        end = len(text)  # trailer cut off by the paste: the whole text is the record
    if end > 256 * 1024:
        return text
    block = text[:end].split("\n")
    width = max(len(x) for x in block)
    if len(block) < 2 or width < 60:
        return text
    joined = "".join(x if len(x) == width and i + 1 < len(block) else x + "\n" for i, x in enumerate(block))
    return joined.rstrip("\n") + text[end:]


# Terminal colour / cursor escapes (CI logs): ESC [ params letter, and the bare `[31m` left when ESC is lost.
_ANSI = re.compile(r"\x1b\[[0-9;?]{0,20}[A-Za-z]|\x1b[()][A-Z0-9]|(?<![\w\]])\[[0-9]{1,3}(?:;[0-9]{1,3}){0,4}m")
# CI log line prefixes: ISO timestamps (GitHub Actions, Azure Pipelines), `##[error]` / `::error::` markers.
_CI_PREFIX = re.compile(r"(?m)^[ \t]{0,8}(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z?[ \t]{1,4})?"
                        r"(?:##\[(?:error|warning|section|debug|command)\]|::(?:error|warning)[^:\n]{0,200}::)?")
_TIMESTAMP_ONLY = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z?[ \t]{1,4}")
# The same after a line break: led by the literal newline, so the scan skips between lines at C speed
# (a multi-line `^` pattern is tried at every position).
_TIMESTAMP_LINE = re.compile(r"\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z?[ \t]{1,4}")
# Markdown a user added around the paste: code fences, block quotes, bold / inline-code markers.
_MD_FENCE = re.compile(r"(?m)^[ \t>]{0,8}(?:```|~~~)[A-Za-z0-9_+-]{0,20}[ \t]*$")
_MD_QUOTE = re.compile(r"(?m)^[ \t]{0,3}(?:>[ \t]?){1,4}")
_TYPOGRAPHIC = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
                              "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'", "\u00a0": " ",
                              "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u200b": ""})


def decorations(text: str) -> str:
    """Layout noise that carries no meaning: ANSI escapes, CI timestamps, markdown, typographic quotes
    (Pulumi prints `Code=\u201cX\u201d`)."""
    # A one-character `in` is a memchr; a longer literal is a slow scan, so its rarest character is
    # asked first (a literal can't be in a text that lacks one of its characters).
    if "\x1b" in text or ("[" in text and ("[0m" in text or "[31m" in text)):
        text = _ANSI.sub("", text)
    if ("#" in text and "##[" in text) or ("::" in text and ("::error" in text or "::warning" in text)):
        text = _CI_PREFIX.sub("", text)
    elif "T" in text[:40] and _TIMESTAMP_ONLY.match(text):
        text = _TIMESTAMP_LINE.sub("\n", _TIMESTAMP_ONLY.sub("", text, count=1))
    if ("`" in text and "```" in text) or ("~" in text and "~~~" in text):
        text = _MD_FENCE.sub("", text)
    if ">" in text and ("\n>" in text or text.lstrip().startswith(">")):
        text = _MD_QUOTE.sub("", text)
    if not text.isascii():
        text = text.translate(_TYPOGRAPHIC)
    return text


def preclean(text: str) -> str:
    """Remove decoration that wraps pasted errors: Terraform's box drawing, PowerShell's record noise,
    CI-log timestamps and ANSI colours, markdown, typographic quotes.

    PowerShell's `+ CategoryInfo : ... (ERROR: (SubnetI...:String)` line holds a cut-off copy of the
    code, which must not be read as a code of its own.
    """
    if "\r" in text:  # a one-character `in` is a memchr; each replace is a full pass
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = collapse_repeats(decorations(text))
    # Unwrap first: line lengths are only meaningful before other decoration is stripped.
    powershell = "CategoryInfo" in text or "At line:" in text or "FullyQualifiedErrorId" in text
    if powershell or _PS_START.match(text):
        text = _ps_record_unwrap(text)
    if "│" in text or "╷" in text or "┃" in text:
        text = _TF_BOX.sub("", text)
    if powershell:
        text = _PS_NOISE.sub("", text)
    if " : " in text:
        text = _PS_PREFIX.sub("", text)
    if "message: '" in text and "''" in text:
        text = text.replace("''", "'")  # YAML single-quoted scalar (kubectl -o yaml conditions)
    return join_wrapped_codes(text)


# A word cut by a console wrap: `...(VMExtensionError_K8SAPIServerC` + newline + `onnFail)`.
_WORD_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
MIN_WRAP_WIDTH = 40  # narrower lines are not terminal wraps
_WORD_AFTER = re.compile(r"[ \t]{0,20}([A-Za-z0-9_]{1,120})")
MAX_WRAP_LINES = 4000  # line breaks examined per text
MAX_WRAP_JOINS = 200


_WORD_SET = frozenset(_WORD_CHARS)


def _cut_code_start(tail: str, idx: CatalogIndex) -> str | None:
    """The last word of `tail` when it could be the first half of a known code a wrap cut in two."""
    a = tail[len(tail.rstrip(_WORD_CHARS)):]
    return a if len(a) >= 3 and a[0].isalpha() and idx.is_prefix_of_known(a) else None


def join_wrapped_codes(text: str) -> str:
    """Join the two halves of a code a hard line wrap cut in two, when together they name a known code.

    Walks the line breaks (str.find, C speed) and looks only at the word on each side of one."""
    if "\n" not in text:
        return text
    from shared.catalog.loader import catalog_index  # the catalog imports nothing from here

    idx = catalog_index()
    known = idx.wrap_words
    # A join needs a line of MIN_WRAP_WIDTH or more ending in a word character (ASCII: the cut word is
    # at least 3 of them) whose last word starts a known code. Most logs have none: the distinct lines
    # are checked in one comprehension, and the walk below runs only when one qualifies.
    ends = [line for line in dict.fromkeys(text.split("\n")) if len(line) >= MIN_WRAP_WIDTH and line[-1] in _WORD_SET]
    if not any(_cut_code_start(line[-121:], idx) for line in ends):
        return text
    out: list[str] = []
    last = 0
    joins = 0
    pos = text.find("\n")
    line_start = 0
    lines = 0
    while pos >= 0 and lines < MAX_WRAP_LINES and joins < MAX_WRAP_JOINS:
        lines += 1
        # Only a long line can have been cut by a terminal; only a word character before the break.
        if pos - line_start >= MIN_WRAP_WIDTH and (text[pos - 1].isalnum() or text[pos - 1] == "_"):
            # Most line ends are ordinary words: only the start of a known code name is worth a look.
            a = _cut_code_start(text[max(last, pos - 121): pos], idx)
            after = _WORD_AFTER.match(text, pos + 1) if a is not None else None
            if a is not None and after is not None:
                b = after.group(1)
                if (a + b).lower() in known and a.lower() not in known:
                    out.append(text[last: pos - len(a)])
                    out.append(a + b)
                    last = after.end()
                    joins += 1
        line_start = pos + 1
        pos = text.find("\n", pos + 1)
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


# Lines that differ only in digits and hex letters (timestamps, counters, request ids) are one line
# repeated: a polling CLI log, a CSE retry loop. Kept: the first two and the last of each.
_HEXISH = str.maketrans("", "", "0123456789abcdefABCDEF")
_HEX_BYTES = b"0123456789abcdefABCDEF"
REPEAT_MIN_CHARS = 4096  # shorter texts are left alone
REPEAT_MIN_LINE = 40  # short lines (JSON braces, blank lines) are never collapsed
REPEAT_KEEP = 2


# The last text collapse_repeats returned. Its output is a fixed point (every key is left at most
# REPEAT_KEEP + 1 times, which a second pass keeps), so the classifier's second call on the same,
# unchanged text returns at once. An identity check: any other string is collapsed anew.
_FIXED_POINT: list[str] = [""]


def collapse_repeats(text: str) -> str:
    """Drop the middle copies of lines repeated with only their numbers / ids changed."""
    if len(text) < REPEAT_MIN_CHARS or text is _FIXED_POINT[0] or text.count("\n") < 2 * REPEAT_KEEP + 2:
        return text
    out = _collapse(text)
    _FIXED_POINT[0] = out
    return out


def _collapse(text: str) -> str:
    # The keys come from one translate over the whole text (line breaks are kept, so keyed lines line
    # up with the lines; utf-8 bytes compare like the text); one walk then drops, of every key of long
    # lines seen more than REPEAT_KEEP times, the copies after the first REPEAT_KEEP and before the last.
    keyed = text.encode("utf-8", "surrogatepass").translate(None, _HEX_BYTES).split(b"\n")
    lines = text.split("\n")
    counts = Counter([k for k, line in zip(keyed, lines, strict=True) if len(line) >= REPEAT_MIN_LINE])
    # A key seen REPEAT_KEEP + 1 times keeps every copy (the first REPEAT_KEEP and the last): only keys
    # seen more often drop any, so a text already collapsed comes back without a walk.
    total = {k: n for k, n in counts.items() if n > REPEAT_KEEP + 1}
    if not total:
        return text
    seen = dict.fromkeys(total, 0)
    out: list[str] = []
    for k, line in zip(keyed, lines, strict=True):
        n = seen.get(k)
        if n is not None and len(line) >= REPEAT_MIN_LINE:
            n += 1
            seen[k] = n
            if REPEAT_KEEP < n < total[k]:
                continue
        out.append(line)
    return "\n".join(out)


def flatten(text: str) -> str:
    """Collapse every escape level: `\\\\\\"` (JSON-in-JSON-in-JSON) and `\\"` both become `"`.

    Runs of backslashes are first squashed to one (a single linear regex with a literal
    replacement), then the few escapes that matter are replaced with plain `str.replace`, so a
    megabyte of backslashes costs one pass.
    """
    if "\\" not in text:
        return text
    last = _LAST_FLAT[0]  # one tuple read: safe if another thread replaces it
    if text is last[0]:  # the same string object again (the parser and the classifier both flatten it)
        return last[1]
    src = text
    if "\\\\" in text:  # squashing runs of backslashes: nothing to do without a run of two
        text = _BACKSLASHES.sub(r"\\", text)
    # Replacing removes backslashes and adds none, so an escape absent now stays absent: only the
    # escapes whose second character follows some backslash are looked for (each `in` is a scan).
    after = set(_AFTER_BACKSLASH.findall(text)) if text.count("\\") <= 2000 else None
    for old, new in _ESCAPES:
        if (after is None or old[1] in after) and old in text:
            text = text.replace(old, new)
    _LAST_FLAT[0] = (src, text)
    return text


_LAST_FLAT: list[tuple[str, str]] = [("", "")]  # (input, output) of the last flatten that did work


def squeeze(text: str) -> str:
    """Lower case, no whitespace: message fragments still match after line wrapping / re-indenting."""
    return "".join(text.lower().split())


# Code-shaped tokens in free text, one regex per layout. Each runs on the lower-cased text and
# starts with a literal, so the regex engine scans for that literal at C speed; the code itself is
# cut from the original text at the same offsets.
#   code: X / Code="X" / "code": "X" / 'code': 'X' / SubCode: X / ErrorCode: X / (Code:X)
#   (X) message          (az CLI, newer layout; also PowerShell `az : ERROR: (X) ...`)
#   with error: X: msg   (Terraform azurerm on go-azure-sdk)
#   Azure Error: X       (older msrestazure / az CLI)
#   CSE failed with 'X'  (newer AKS RP text)
#   CSE Error: X         (Windows CSE)
_CODE_RXS = (
    re.compile(r"code[\"']?[ \t]{0,16}[:=][ \t]{0,3}[\"'(]?[ \t]{0,2}([a-z][a-z0-9_]{1,100})"),
    re.compile(r"\(([a-z][a-z0-9_]{2,100})\)(?=[\s:]|$)"),
    re.compile(r"with error:[ \t]{0,3}([a-z][a-z0-9_]{2,100}):"),
    re.compile(r"error:[ \t]{1,3}([a-z][a-z0-9_]{2,100}):[ \t]"),  # `Error: ProvisioningFailed: ...`
    re.compile(r"azure error:[ \t]{0,3}([a-z][a-z0-9_]{2,100})"),
    re.compile(r"cse failed with '([a-z0-9_]{3,100})'"),
    re.compile(r"cse error:[ \t]{0,3}([a-z0-9_]{3,100})"),
)
_CODE_LITERALS = ("code", "(", "with error:", "error:", "azure error:", "cse failed with '", "cse error:")
_CODE_KEY_PREFIXES = ("internalerror", "error", "sub")


def _code_key_ok(low: str, start: int) -> bool:
    """`code` must start a word, optionally after error/sub/internalError (not StatusCode, ExitCode)."""
    for prefix in _CODE_KEY_PREFIXES:
        if low.startswith(prefix, start - len(prefix)) and start >= len(prefix):
            start -= len(prefix)
            break
    return start == 0 or not (low[start - 1].isalnum() or low[start - 1] == "_")


def find_codes(text: str, limit: int = 40) -> list[tuple[str, int, int]]:
    """(code as written, start, end) of explicit codes in `text`, in order of appearance."""
    low = text.lower()
    same = len(low) == len(text)
    hits: list[tuple[int, int, int, int]] = []
    has_error = "error:" in low  # in three of the literals: without it, none of them is there
    for i, rx in enumerate(_CODE_RXS):
        lit = _CODE_LITERALS[i]
        # Each regex starts with its literal: absent, it cannot match.
        if "error:" in lit and not has_error:
            continue
        if lit != "error:" and lit not in low:
            continue
        n = 0
        for m in rx.finditer(low):
            if i == 0 and not _code_key_ok(low, m.start()):
                continue
            hits.append((m.start(), m.end(), m.start(1), m.end(1)))
            n += 1
            if n >= limit:
                break
    hits.sort()
    return [((text if same else low)[s1:e1], s, e) for s, e, s1, e1 in hits[:limit]]


# An unknown word only counts as a code when it is shaped like one: CamelCase with two or more
# humps (QuotaExceeded), or an UPPER/lower name with underscores (ERR_..., ErrCode_...).
_CODE_SHAPE = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+|[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+")
_NOT_CODES = frozenset(
    w.lower() for w in (
        "Message", "Status", "None", "Null", "True", "False", "Details", "Target", "Minimum", "Code", "Error",
        "InnerError", "ErrorMessage", "ErrorCode", "StatusCode", "ActivityId", "RequestId", "CorrelationId",
        "ResourceGroup", "ResourceGroupName", "SubscriptionId", "ExitCode", "Output", "ExecDuration",
        "KernelStartTime", "CSEStartTime", "GuestAgentStartTime", "SystemdSummary", "BootDatapoints",
        "ClientError", "ServerError", "NotSpecified", "RemoteException", "NativeCommandError", "String",
        "PowerShell", "Microsoft", "Azure", "Kubernetes", "ManagedCluster", "AgentPool", "HTTP", "OK",
    )
)


def code_shaped(token: str) -> bool:
    return token.lower() not in _NOT_CODES and bool(_CODE_SHAPE.fullmatch(token))


WORD_RX = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,120}")

EXIT_RX = re.compile(
    r"(?i:exit status[=: ][ \t]{0,2}|\"?exitcode\"?[ \t]{0,2}[:=][ \t]{0,2}[\"|]?[ \t]{0,2}|exit code:[ \t]{0,2})"
    r"(\d{1,3})(?!\d)"
)
# The same shapes, each led by a literal, for the lower-cased text (a case-insensitive alternation
# tries every position; these skip to their literal at C speed).
_EXIT_RXS = (
    re.compile(r"exit status[=: ][ \t]{0,2}(\d{1,3})(?!\d)"),
    re.compile(r"exitcode\"?[ \t]{0,2}[:=][ \t]{0,2}[\"|]?[ \t]{0,2}(\d{1,3})(?!\d)"),
    re.compile(r"exit code:[ \t]{0,2}(\d{1,3})(?!\d)"),
)
MAX_EXIT_STATUSES = 20


def exit_statuses(low: str, probe: Probe | None = None) -> list[int]:
    """CSE exit statuses in the lower-cased text, in order of appearance (at most MAX_EXIT_STATUSES)."""
    if not (probe.has("exit") if probe is not None and probe.text is low else "exit" in low):
        return []
    found: list[tuple[int, int]] = []
    for rx in _EXIT_RXS:
        for n, m in enumerate(rx.finditer(low)):
            if n >= MAX_EXIT_STATUSES:
                break
            found.append((m.start(), int(m.group(1))))
    found.sort()
    return [status for _pos, status in found[:MAX_EXIT_STATUSES]]


WINDOWS_HINTS = ("windows_cse_error", "exitcode: |", "customscriptextension", "windowscsehelper", "c:\\azuredata",
                 "c:/azuredata", "exitcode:|")


# --- literal probe ------------------------------------------------------------------------------
# `literal in text` on a 10 KB text costs microseconds per literal in CPython, and a message is asked
# about a hundred literals (gates in front of fact regexes, layout hints, template pieces). Most are
# absent. A literal can only occur in a text when each of its word runs (maximal runs of letters,
# digits, `_`) lies inside one of the text's words, so a check against the text's distinct words
# joined (a fraction of a long log's size) rules most literals out; the exact `in` then runs only for
# the literals that pass. Same answers as `in`, always.

# Every ASCII byte that is not a word character becomes a space (the classifier's tokenizer); bytes
# >= 128 (UTF-8 sequences of non-ASCII characters) are kept, so the result decodes to the same text
# str.translate with the ASCII table would give, several times faster.
_TOKEN_BYTES = bytes(c if c >= 128 or chr(c).isalnum() or c == 95 else 32 for c in range(256))
PROBE_MIN_CHARS = 2048  # shorter texts: a plain `in` is as cheap as the word check


def word_split(text: str) -> list[str]:
    """The words of `text`: ASCII non-word characters and whitespace separate them."""
    return text.encode("utf-8", "surrogatepass").translate(_TOKEN_BYTES).decode("utf-8", "surrogatepass").split()


# literal -> (needles that must be in " " + joined words + " ", words that must be words of the text,
# whether the literal is one word run and nothing else). A word run of the literal bounded on both
# sides by separators inside the literal is a whole word of the text; bounded on the left only, it
# starts one (" run"); on the right only, it ends one ("run "); else it lies somewhere inside one. A
# literal that is a single run is in the text exactly when it is inside one of its words: the needle
# answers for it, without the `in` over the text.
_Spec = tuple[tuple[str, ...], tuple[str, ...], bool]
_SPECS: dict[str, _Spec] = {}
_RUN_RX = re.compile(r"\S+")


def _spec(literal: str) -> _Spec:
    spec = _SPECS.get(literal)
    if spec is None:
        spaced = literal.encode("utf-8", "surrogatepass").translate(_TOKEN_BYTES).decode("utf-8", "surrogatepass")
        needles: list[str] = []
        exact: list[str] = []
        for m in _RUN_RX.finditer(spaced):
            left, right = m.start() > 0, m.end() < len(spaced)
            run = m.group(0)
            if left and right:
                exact.append(run)
            else:
                needles.append((" " if left else "") + run + (" " if right else ""))
        whole = spaced == literal and _RUN_RX.fullmatch(literal) is not None  # no separator in it
        spec = (tuple(needles), tuple(exact), whole)
        if len(_SPECS) < 65536:
            _SPECS[literal] = spec
    return spec


MIN_PIECE = 16  # average characters per piece below which splitting costs more than deduplicating saves


def unique_parts(text: str, sep: str = "\n") -> str:
    """The distinct pieces of `text` between `sep`s, in order of first appearance, joined by `sep`. For a
    separator that is not a word character this has the words of `text` (no word spans it), and a
    literal without `sep` is in it exactly when it is in `text` (it lies inside one piece). A polling
    log is half repeated lines, even once collapsed, and its lines repeat pieces between quotes. Short
    pieces (`{'code': {'code': ...`) are not worth a string each: the text itself is returned."""
    if text.count(sep) * MIN_PIECE > len(text):
        return text
    return sep.join(dict.fromkeys(text.split(sep)))


class Probe:
    """`probe.has(lit)` == `lit in probe.text`, answered from the text's distinct words first.

    Below PROBE_MIN_CHARS `has` is the text's own `__contains__` (no word set is built). Past it the
    exact `in` runs on the text's distinct pieces between `sep`s (`unique_parts`: `uniq`) for a literal
    without `sep`, and every answer is kept: the classifier and the fact scans ask some literals more
    than once."""

    __slots__ = ("_joined", "_memo", "_sep", "_uniq", "_words", "has", "long", "text")

    def __init__(self, text: str, words: set[str] | frozenset[str] | None = None, uniq: str | None = None,
                 sep: str = "\n") -> None:
        self.text = text
        self._sep = sep
        self._joined = ""
        self._uniq = text
        self._memo: dict[str, bool] = {}
        self._words: set[str] | frozenset[str] = frozenset()
        self.has: Callable[[str], bool] = text.__contains__
        self.long = len(text) >= PROBE_MIN_CHARS
        if self.long:
            if words is None:
                uniq = unique_parts(text, sep) if uniq is None else uniq
                words = set(word_split(uniq))
            self._uniq = text if uniq is None else uniq
            self._words = words
            self._joined = " " + " ".join(words) + " "
            self.has = self._has_long

    def _has_long(self, literal: str) -> bool:
        hit = self._memo.get(literal)
        if hit is not None:
            return hit
        spec = _SPECS.get(literal)
        needles, exact, whole = _spec(literal) if spec is None else spec
        words = self._words
        for w in exact:
            if w not in words:
                self._memo[literal] = False
                return False
        joined = self._joined
        for needle in needles:
            if needle not in joined:
                self._memo[literal] = False
                return False
        hit = whole or literal in (self.text if self._sep in literal else self._uniq)
        self._memo[literal] = hit
        return hit

    def any(self, literals: tuple[str, ...]) -> bool:
        return any(map(self.has, literals))  # map + any iterate in C

    def present(self, literals: tuple[str, ...]) -> list[str]:
        """The literals that are in the text, in order."""
        return list(filter(self.has, literals))
