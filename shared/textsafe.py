"""Text that displays as it reads: the one definition of the invisible characters we strip, used at
intake, on the ARM error tree and in the card renderer (the last line of defence)."""

from __future__ import annotations

import re

# Characters that change how text displays without being visible: C0/C1 controls (tab and newline
# kept), soft hyphen, the Arabic letter mark, Hangul/halfwidth/Braille fillers, zero-width and
# direction marks, line/paragraph separators, bidi embeddings, overrides and isolates, invisible
# operators, the BOM and tag characters. Stripped from every event string we keep (Trojan-source
# style reordering and hidden text in cards and logs).
INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u2028-\u202e\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f]")


def strip_invisible(text: str, *, single_line: bool = False) -> str:
    """`text` without invisible/bidi characters (and with newlines as spaces when `single_line`)."""
    out = INVISIBLE.sub("", text)
    return " ".join(out.split()) if single_line else out
