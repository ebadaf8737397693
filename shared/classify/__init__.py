"""Error classification: any pasted or fetched AKS error -> the most specific catalog entry.

Public API:
    classify_error(err: OperationError) -> Classification   (pipeline: a normalised ARM error tree)
    classify_text(text: str) -> Classification               (CLI / raw text in any shape)
    parse_error_text(text: str) -> OperationError            (best-effort tree from raw text)

Pure: no I/O besides loading the packaged catalog once. None of these raise on any str input.
"""

from shared.classify.engine import classify_error, classify_text
from shared.classify.normalizer import parse_error_text

__all__ = ["classify_error", "classify_text", "parse_error_text"]
