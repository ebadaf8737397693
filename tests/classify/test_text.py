"""Text clean-up: repeated-line collapsing, CI timestamps, wrapped codes (bounded, and never changing what an
error says)."""

from __future__ import annotations

from shared.classify import classify_text
from shared.classify.text import REPEAT_KEEP, collapse_repeats, join_wrapped_codes, preclean

POLL = "2026-11-20T10:00:{s:02d}Z INFO  azure.cli.core: request {r:08x} still running, attempt {s} of 90\n"


def _log(n: int) -> str:
    return "".join(POLL.format(s=i % 60, r=i * 2654435761 % (1 << 32)) for i in range(n))


def test_repeats_keep_the_first_copies_and_the_last() -> None:
    text = _log(200)
    out = collapse_repeats(text).strip("\n").split("\n")
    assert len(out) == REPEAT_KEEP + 1
    assert out[:REPEAT_KEEP] == text.split("\n")[:REPEAT_KEEP]
    assert out[-1] == text.strip("\n").split("\n")[-1]


def test_lines_that_differ_in_words_short_lines_and_short_texts_stay() -> None:
    names = ["".join(chr(ord("g") + (i // 20 ** k) % 20) for k in range(2)) for i in range(96)]  # g..z: not hex
    distinct = "".join(f"resource group rg-{w} in region {w}land could not be read now\n" for w in names)
    assert collapse_repeats(distinct) == distinct
    braces = "{\n" * 3000
    assert collapse_repeats(braces) == braces
    small = _log(3)
    assert collapse_repeats(small) == small


def test_a_polling_log_around_an_error_classifies_like_the_error() -> None:
    err = ("ERROR: (SubnetIsFull) Subnet default with address prefix 10.0.0.0/24 does not have enough capacity "
           "for 5 IP addresses.")
    result = classify_text(_log(150) + err + "\n" + _log(150))
    assert result.code == "SubnetIsFull"
    assert result.facts.ips_requested == 5


def test_ci_timestamps_are_stripped_on_every_line() -> None:
    text = "2024-05-01T10:00:00.1234567Z ERROR: (QuotaExceeded) x\n2024-05-01T10:00:01Z Code: QuotaExceeded\n"
    assert preclean(text) == "ERROR: (QuotaExceeded) x\nCode: QuotaExceeded\n"


def test_wrapped_code_is_joined_only_when_it_names_a_known_code() -> None:
    head = "x" * 50 + " ERROR: (VMExtensionError_K8SAPIServerC"
    assert "VMExtensionError_K8SAPIServerConnFail)" in join_wrapped_codes(head + "\nonnFail) more")
    assert join_wrapped_codes(head + "\nonnBroken) more") == head + "\nonnBroken) more"
    prose = "a" * 50 + " the cluster\nis running"
    assert join_wrapped_codes(prose) == prose
