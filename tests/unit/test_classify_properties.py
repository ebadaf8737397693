"""Property tests: any wrapping of a catalog example classifies like the bare example; no input raises."""

from __future__ import annotations

import json
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.catalog import catalog_index, load_catalog
from shared.classify import classify_error, classify_text, parse_error_text
from shared.classify.text import code_shaped
from shared.models import OperationError
from tests.classify.layouts import CODELESS, LAYOUTS

CATALOG = load_catalog()
EXAMPLES = [(e.id, ex.code, ex.message) for e in CATALOG.entries for ex in e.examples]

# A wrapper turns (code, message) into (head, core, tail): head + core + tail is the pasted text and
# the tail is what a truncating copy/paste may lose without losing the error itself.
Wrapper = Callable[[str, str], tuple[str, str, str]]


def _arm(code: str, msg: str) -> tuple[str, str, str]:
    core = json.dumps({"code": code, "message": msg})[:-1]
    return '{"error": ', core, '}, "status": "Failed"}'


def _status_message(code: str, msg: str) -> tuple[str, str, str]:
    inner = json.dumps({"status": "Failed", "error": {"code": "ResourceOperationFailure", "message": "The resource "
                        "operation completed with terminal provisioning state 'Failed'.",
                        "details": [{"code": code, "message": msg}]}})
    outer = json.dumps({"properties": {"statusCode": "Conflict", "statusMessage": inner}})
    return "", outer[:-8], outer[-8:]


def _deployment(levels: int) -> Wrapper:
    def wrap(code: str, msg: str) -> tuple[str, str, str]:
        body: dict[str, object] = {"code": code, "message": msg}
        for i in range(levels):
            container = "ResourceDeploymentFailure" if i % 2 == 0 else "DeploymentFailed"
            body = {"code": "Conflict", "message": json.dumps(
                {"status": "Failed", "error": {"code": container, "message": "At least one resource deployment "
                                               "operation failed.", "details": [body]}}, indent=1)}
        text = json.dumps({"status": "Failed", "error": {"code": "DeploymentFailed", "message": "At least one "
                           "resource deployment operation failed.", "details": [body]}})
        return "", text[:-3], text[-3:]
    return wrap


def _terraform_new(code: str, msg: str) -> tuple[str, str, str]:
    head = ('│ Error: creating Kubernetes Cluster (Subscription: "0000"\n│ Resource Group Name: "rg"\n'
            '│ Kubernetes Cluster Name: "aks"): performing CreateOrUpdate: unexpected status 400 (400 Bad '
            "Request) with error: ")
    return head, f"{code}: {msg}", '\n│\n│   with azurerm_kubernetes_cluster.aks,\n│   on main.tf line 1\n'


def _terraform_old(code: str, msg: str) -> tuple[str, str, str]:
    head = ("Error: creating Managed Kubernetes Cluster: containerservice.ManagedClustersClient#CreateOrUpdate: "
            "Failure sending request: StatusCode=400 -- Original Error: ")
    return head, f'Code="{code}" Message="{msg.replace(chr(34), chr(92) + chr(34))}"', ' Target="properties"'


def _az_new(code: str, msg: str) -> tuple[str, str, str]:
    return "ERROR: ", f"({code}) {msg}\nCode: {code}\n", f"Message: {msg}\n"


def _powershell(code: str, msg: str) -> tuple[str, str, str]:
    # PowerShell wraps each line of the record at the console width (120), mid-word.
    record = f"az : ERROR: ({code}) {msg}"
    wrapped = "\n".join(part[i: i + 120] or "" for part in record.split("\n")
                        for i in range(0, max(len(part), 1), 120))
    noise = ("\nAt line:1 char:1\n+ az aks upgrade -g rg -n aks ...\n+ ~~~~~~~~~~~~~~~~~~~~~\n"
             f"    + CategoryInfo          : NotSpecified: (ERROR: ({code[:6]}...:String) [], RemoteException\n"
             "    + FullyQualifiedErrorId : NativeCommandError\n")
    return "", wrapped, noise + f" \nCode: {code}\n"


def _dict_repr(code: str, msg: str) -> tuple[str, str, str]:
    text = repr({"code": code, "message": msg, "target": None, "details": []})
    return "", text[:-30] if len(text) > 60 else text, text[-30:] if len(text) > 60 else ""


WRAPPERS: list[Wrapper] = [_arm, _status_message, _deployment(1), _deployment(2), _deployment(3), _terraform_new,
                           _terraform_old, _az_new, _powershell, _dict_repr]


def _expected(code: str | None, message: str) -> tuple[str, str]:
    bare = classify_error(OperationError(code=code or "Unknown", message=message))
    return bare.entry_id, bare.code


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(example=st.sampled_from(EXAMPLES), wrappers=st.lists(st.sampled_from(WRAPPERS), min_size=1, max_size=2),
       cut=st.floats(min_value=0.0, max_value=1.0))
def test_any_wrapping_classifies_like_the_example(example: tuple[str, str | None, str],
                                                  wrappers: list[Wrapper], cut: float) -> None:
    entry_id, code, message = example
    want_entry, want_code = _expected(code, message)
    assert want_entry == entry_id
    code_for_wrap = code or "BadRequest"  # a message-only error still arrives under some generic code
    head, core, tail = "", message, ""
    text_code = code_for_wrap
    for wrap in wrappers:
        h, c, t = wrap(text_code, head + core + tail)
        head, core, tail = h, c, t[: max(0, int(len(t) * cut))] if wrap is wrappers[-1] else t
        text_code = "DeploymentFailed"  # outer layers wrap the previous text as a container error
    result = classify_text(head + core + tail)
    assert result.entry_id == want_entry, (result.matched_on, [w.__name__ for w in wrappers])
    assert result.code.lower() == want_code.lower()


@settings(max_examples=200, deadline=None)
@given(example=st.sampled_from(EXAMPLES), escapes=st.integers(min_value=1, max_value=3))
def test_json_escaping_levels_do_not_matter(example: tuple[str, str | None, str], escapes: int) -> None:
    _entry_id, code, message = example
    text = json.dumps({"code": code or "BadRequest", "message": message})
    for _ in range(escapes):
        text = json.dumps({"statusMessage": text})
    assert classify_text(text).entry_id == _expected(code, message)[0]


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=2000))
def test_arbitrary_text_never_raises(text: str) -> None:
    result = classify_text(text)
    assert result.code and result.entry_id
    tree = parse_error_text(text)
    assert isinstance(tree.code, str) and len(tree.walk()) <= 2000


_SHAPED = st.lists(st.sampled_from(['{"error":{"code":"', '"message":"', '"details":[', 'Code="', '\\"', "{'code': '",
                                    "(Code: ", "│ Error: ", "exit status=", "SubnetIsFull", "statusMessage", "}", "]",
                                    "\\\\\\\"", "51", "VMExtensionProvisioningError", "Connection timed out"]),
                   max_size=60).map("".join)


@settings(max_examples=200, deadline=None)
@given(text=_SHAPED)
def test_error_shaped_garbage_never_raises(text: str) -> None:
    result = classify_error(parse_error_text(text))
    assert result.code and result.confidence in ("high", "medium", "low")


# --- truncated codes and the layouts of tests/classify/layouts.py ----------------------------

_IDX = catalog_index()
_CODES = sorted({c for e in CATALOG.entries if e.role != "fallback" for c in (e.code, *e.aliases, *e.variant_codes)
                 if c.lower() in _IDX.codes})


@settings(max_examples=300, deadline=None)
@given(code=st.sampled_from(_CODES), keep=st.integers(min_value=8, max_value=120),
       lead=st.sampled_from(["AKS create fails with ", "ERROR: (", 'Code="', "Error: upgrade: ", "Title: ",
                             '{"error": {"code": "']))
def test_a_code_cut_short_classifies_to_its_own_code_when_the_prefix_is_unique(code: str, keep: int,
                                                                              lead: str) -> None:
    cut = code[: min(keep, len(code))]
    result = classify_text(lead + cut)
    if cut.lower() == code.lower():
        assert result.code.lower() == _IDX.codes[code.lower()][1].lower(), result.matched_on
    elif _IDX.prefix_code(cut) == code.lower() and not _IDX.known(cut) and code_shaped(cut):
        assert result.code.lower() == _IDX.codes[code.lower()][1].lower(), (cut, result.matched_on)
    else:
        assert result.code  # ambiguous or a code of its own: no guess is asserted


@settings(max_examples=300, deadline=None)
@given(example=st.sampled_from([x for x in EXAMPLES if x[1]]), layout=st.sampled_from(sorted(LAYOUTS)),
       cut=st.floats(min_value=0.5, max_value=1.0))
def test_any_layout_cut_after_its_code_keeps_a_specific_code(example: tuple[str, str | None, str], layout: str,
                                                            cut: float) -> None:
    entry_id, code, message = example
    assert code is not None
    if classify_error(OperationError(code=code, message="")).entry_id != entry_id:
        return  # the code is a wrapper / generic one: the message decides, and the cut may remove it
    text = LAYOUTS[layout](None if layout in CODELESS else code, message)
    if layout in CODELESS:
        return
    end = text.find(code) + len(code)
    assert classify_text(text[: end + int((len(text) - end) * cut)]).entry_id == entry_id
